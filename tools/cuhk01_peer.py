"""PyTorch peer of `occreid train --config configs/demo.toml` on a real dataset (tools/bench_cuhk01.sh).

reid-strong-baseline's BoT (spec §1.1) with the hyper-parameters of configs/demo.toml (which inherits
configs/bot_r50.toml), trained from torchvision's default random init (no ImageNet weights) on the split
written by `occreid data split`, so both sides see the same identities and images:
- torchvision resnet18 in BoT form (no ReLU after the stem BN, last stride 1) -> GAP -> BNNeck (BatchNorm1d,
  bias frozen at 0) -> bias-free classifier ~ N(0, 0.001);
- loss = CE with label smoothing 0.1 (BNNeck logits) + batch-hard triplet, margin 0.3 (pooled feature)
  + 0.0005 x center loss (pooled feature; centres ~ N(0, 1), own SGD lr 0.5, grads x 1/0.0005);
- Adam(betas 0.9/0.999, eps 1e-8), weight decay 5e-4 on every trainable parameter; warmup multi-step lr per
  epoch e (1-based): 7e-4 x w(e) x 0.1^[e >= 15], w(e) = 0.01 (1 - e/3) + e/3 for e < 3, else 1;
- BoT's RandomIdentitySampler, P x K = 8 x 4 (batch 32);
- train: Resize(128, 64) bilinear, flip 0.5, Pad(5) + RandomCrop, ToTensor, Normalize(ImageNet), BoT's
  RandomErasing(p 0.5, area 0.02-0.4, aspect 0.3-3.33, fill = ImageNet mean after normalising);
- test: Resize + Normalize, BNNeck feature, L2-normalised, squared Euclidean distance, torchreid's
  `eval_market1501` (max_rank 50, stable tie order) plus mINP.
torch.set_num_threads(2), DataLoader num_workers 2; seeds 0 (torch, random, numpy).
Model, losses and lr come from tools/bot_reference.py, as in the step-parity fixtures of occreid's tests.

Prints one JSON line: {"R1", "R5", "R10", "mAP", "mINP" (percent), "epochs", "seconds", "train_seconds", ...}.
Run: .venv/bin/python tools/cuhk01_peer.py --split SPLIT.json --epochs 20
"""
import argparse
import copy
import json
import math
import random
import time
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T
from PIL import Image

from bot_reference import Baseline, CenterLoss, ce_ls, triplet
from bot_reference import lr_at as reference_lr
from peer_eval import eval_market1501

ap = argparse.ArgumentParser()
ap.add_argument("--split", required=True, help="JSON written by `occreid data split`")
ap.add_argument("--epochs", type=int, default=20)  # demo.toml train.epochs
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()

# configs/demo.toml over configs/bot_r50.toml.
H, W, PAD = 128, 64, 5
BATCH, K = 32, 4
FLIP_P, RE_P = 0.5, 0.5
BASE_LR, WD, BETAS, EPS = 0.0007, 0.0005, (0.9, 0.999), 1e-8
MILESTONES, GAMMA, WARMUP_FACTOR, WARMUP_EPOCHS = (15,), 0.1, 0.01, 3
LABEL_SMOOTH, MARGIN, TRIPLET_W, CENTER_W, CENTER_LR = 0.1, 0.3, 1.0, 0.0005, 0.5
TEST_BATCH, MAX_RANK = 128, 50
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
random.seed(a.seed)
np.random.seed(a.seed)

split = json.load(open(a.split))
train = [(s["path"], s["pid"], s["camid"]) for s in split["train"]]
query = [(s["path"], s["pid"], s["camid"]) for s in split["query"]]
gallery = [(s["path"], s["pid"], s["camid"]) for s in split["gallery"]]
num_classes = len({p for _, p, _ in train})
assert sorted({p for _, p, _ in train}) == list(range(num_classes)), "train pids must be 0..N-1"


class RandomErasing:
    """reid-strong-baseline data/transforms/transforms.py, mean = cfg.INPUT.PIXEL_MEAN."""

    def __init__(self, probability=0.5, sl=0.02, sh=0.4, r1=0.3, mean=(0.4914, 0.4822, 0.4465)):
        self.probability, self.sl, self.sh, self.r1, self.mean = probability, sl, sh, r1, mean

    def __call__(self, img):
        if random.uniform(0, 1) >= self.probability:
            return img
        for _ in range(100):
            area = img.size()[1] * img.size()[2]
            target_area = random.uniform(self.sl, self.sh) * area
            aspect_ratio = random.uniform(self.r1, 1 / self.r1)
            h = int(round(math.sqrt(target_area * aspect_ratio)))
            w = int(round(math.sqrt(target_area / aspect_ratio)))
            if w < img.size()[2] and h < img.size()[1]:
                x1 = random.randint(0, img.size()[1] - h)
                y1 = random.randint(0, img.size()[2] - w)
                for c in range(3):
                    img[c, x1:x1 + h, y1:y1 + w] = self.mean[c]
                return img
        return img


normalize = T.Normalize(mean=MEAN, std=STD)
train_tf = T.Compose([
    T.Resize((H, W), interpolation=T.InterpolationMode.BILINEAR),
    T.RandomHorizontalFlip(p=FLIP_P),
    T.Pad(PAD),
    T.RandomCrop((H, W)),
    T.ToTensor(),
    normalize,
    RandomErasing(probability=RE_P, mean=MEAN),
])
test_tf = T.Compose([T.Resize((H, W), interpolation=T.InterpolationMode.BILINEAR), T.ToTensor(), normalize])


class ImageDataset(torch.utils.data.Dataset):
    def __init__(self, items, transform):
        self.items, self.transform = items, transform

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, pid, camid = self.items[i]
        return self.transform(Image.open(path).convert("RGB")), pid, camid


class RandomIdentitySampler(torch.utils.data.Sampler):
    """reid-strong-baseline data/samplers/triplet_sampler.py."""

    def __init__(self, data_source, batch_size, num_instances):
        self.num_instances = num_instances
        self.num_pids_per_batch = batch_size // num_instances
        self.index_dic = defaultdict(list)
        for index, (_, pid, _) in enumerate(data_source):
            self.index_dic[pid].append(index)
        self.pids = list(self.index_dic.keys())
        self.length = 0
        for pid in self.pids:
            num = max(len(self.index_dic[pid]), num_instances)
            self.length += num - num % num_instances

    def __iter__(self):
        batch_idxs_dict = defaultdict(list)
        for pid in self.pids:
            idxs = copy.deepcopy(self.index_dic[pid])
            if len(idxs) < self.num_instances:
                idxs = list(np.random.choice(idxs, size=self.num_instances, replace=True))
            random.shuffle(idxs)
            batch_idxs = []
            for idx in idxs:
                batch_idxs.append(idx)
                if len(batch_idxs) == self.num_instances:
                    batch_idxs_dict[pid].append(batch_idxs)
                    batch_idxs = []
        avai_pids = copy.deepcopy(self.pids)
        final_idxs = []
        while len(avai_pids) >= self.num_pids_per_batch:
            for pid in random.sample(avai_pids, self.num_pids_per_batch):
                final_idxs.extend(batch_idxs_dict[pid].pop(0))
                if len(batch_idxs_dict[pid]) == 0:
                    avai_pids.remove(pid)
        self.length = len(final_idxs)
        return iter(final_idxs)

    def __len__(self):
        return self.length


def lr_at(epoch):
    return reference_lr(epoch, BASE_LR, WARMUP_EPOCHS, WARMUP_FACTOR, MILESTONES, GAMMA)


def extract(model, items):
    loader = torch.utils.data.DataLoader(ImageDataset(items, test_tf), batch_size=TEST_BATCH, shuffle=False,
                                         num_workers=a.workers)
    feats = []
    with torch.no_grad():
        for x, _, _ in loader:
            feats.append(model(x))
    return F.normalize(torch.cat(feats), dim=1, p=2)  # FEAT_NORM = yes


model = Baseline(num_classes)
center = CenterLoss(num_classes, 512)
opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr_at(1), betas=BETAS, eps=EPS,
                       weight_decay=WD)
opt_center = torch.optim.SGD(center.parameters(), lr=CENTER_LR)
train_loader = torch.utils.data.DataLoader(ImageDataset(train, train_tf), batch_size=BATCH,
                                           sampler=RandomIdentitySampler(train, BATCH, K), num_workers=a.workers)

start = time.perf_counter()
for epoch in range(1, a.epochs + 1):
    lr = lr_at(epoch)
    for g in opt.param_groups:
        g["lr"] = lr
    model.train()
    t0, sums, n, correct, steps = time.perf_counter(), defaultdict(float), 0, 0, 0
    for img, pid, _ in train_loader:
        opt.zero_grad()
        opt_center.zero_grad()
        score, feat = model(img)
        terms = {"id": ce_ls(score, pid, LABEL_SMOOTH), "triplet": TRIPLET_W * triplet(feat, pid, MARGIN),
                 "center": CENTER_W * center(feat, pid)}
        loss = sum(terms.values())
        loss.backward()
        opt.step()
        for p in center.parameters():
            p.grad.data *= 1.0 / CENTER_W
        opt_center.step()
        for k, v in terms.items():
            sums[k] += v.item()
        correct += (score.argmax(1) == pid).sum().item()
        n += pid.numel()
        steps += 1
    dt = time.perf_counter() - t0
    print(f"epoch {epoch:3d} lr {lr:.2e} loss {sum(sums.values()) / steps:.4f} "
          + " ".join(f"{k} {v / steps:.4f}" for k, v in sums.items())
          + f" acc {correct / n:.3f} {n / dt:.1f} img/s", flush=True)
train_seconds = time.perf_counter() - start

model.eval()
qf, gf = extract(model, query), extract(model, gallery)
distmat = (qf.pow(2).sum(1, keepdim=True) + gf.pow(2).sum(1, keepdim=True).t() - 2 * qf @ gf.t()).numpy()
arr = lambda items, i: np.asarray([s[i] for s in items], dtype=np.int64)  # noqa: E731
cmc, mAP, mINP, valid = eval_market1501(distmat, arr(query, 1), arr(gallery, 1), arr(query, 2), arr(gallery, 2))
print(json.dumps({"R1": 100 * cmc[0], "R5": 100 * cmc[4], "R10": 100 * cmc[9], "mAP": 100 * mAP,
                  "mINP": 100 * mINP, "valid_queries": valid, "epochs": a.epochs,
                  "seconds": time.perf_counter() - start, "train_seconds": train_seconds,
                  "train_images": len(train), "train_ids": num_classes, "query": len(query),
                  "gallery": len(gallery), "threads": torch.get_num_threads(), "workers": a.workers,
                  "torch": torch.__version__, "torchvision": torchvision.__version__}))
