"""Peer for `occreid bench train --method igoas --peer`: the IGOAS training step (spec §3.1-3.4) in PyTorch
the way bfe.py and torchreid's ImageSoftmaxEngine compute it after the fixbase epochs: per DataParallel-like
shard, IGO (Python `random` rectangle and fills) on a copy of the batch, the shared trunk (stem with ReLU,
layers 1-3) once on [clean, occluded], the global branch (layer41, res_part1, GAP, reduction1, classifier1)
on the clean half, the adversarial branch (CBAM, layer42, res_part2, CBAM, GMP, reduction2, classifier2) on
the occluded half, classifier3 on the concatenation; self-weighted CE-LS (weights not detached) + the mask
loss on both branches; one Adam step. Random inputs, same backbone, input size, batch, shards, threads and
step count as ours. Prints one JSON line: {"train_images_per_s": x, "threads": n, "device": d}.
Run: .venv/bin/python tools/bench_igoas_peer.py --backbone resnet50 --batch-size 64 --threads 2
"""
import argparse
import json
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_resnet import Block, channels, make_layer

ap = argparse.ArgumentParser()
ap.add_argument("--backbone", default="resnet50")
ap.add_argument("--height", type=int, default=384)
ap.add_argument("--width", type=int, default=128)
ap.add_argument("--batch-size", type=int, default=64)
ap.add_argument("--shards", type=int, default=2)
ap.add_argument("--steps", type=int, default=2)
ap.add_argument("--warmup", type=int, default=1)
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--classes", type=int, default=751)
ap.add_argument("--device", default="cpu")
ap.add_argument("--amp", action="store_true")
ap.add_argument("--epoch", type=int, default=10)
a = ap.parse_args()
if a.threads > 0:
    torch.set_num_threads(a.threads)
dev = torch.device(a.device)
torch.manual_seed(0)
random.seed(1)


class Cbam(nn.Module):
    def __init__(self, c, r=16):
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)
        self.conv_after_concat = nn.Conv2d(2, 1, 3, padding=1)

    def forward(self, x):
        mlp = lambda v: self.fc2(F.relu(self.fc1(v)))
        x = x * torch.sigmoid(mlp(F.adaptive_avg_pool2d(x, 1)) + mlp(F.adaptive_max_pool2d(x, 1)))
        s = torch.cat([x.mean(1, keepdim=True), x.max(1, keepdim=True)[0]], 1)
        return x * torch.sigmoid(self.conv_after_concat(s))


class Igoas(nn.Module):
    def __init__(self, backbone, classes):
        super().__init__()
        c3, c4 = channels(backbone, 3), channels(backbone, 4)
        bottleneck = c4 == 2048
        self.layer0 = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        self.trunk = nn.Sequential(*[make_layer(backbone, i, 64 if i == 1 else channels(backbone, i - 1), 1 if i == 1 else 2)
                                     for i in (1, 2, 3)])
        self.layer41 = make_layer(backbone, 4, c3, 1)
        self.layer42 = make_layer(backbone, 4, c3, 1)
        self.res_part1 = Block(c4, 512, 1, bottleneck)
        self.res_part2 = Block(c4, 512, 1, bottleneck)
        self.att1, self.att_module2 = Cbam(c3), Cbam(c4)
        self.reduction1 = nn.Sequential(nn.Linear(c4, 512), nn.BatchNorm1d(512), nn.ReLU())
        self.reduction2 = nn.Sequential(nn.Linear(c4, 512), nn.BatchNorm1d(512), nn.ReLU())
        self.classifier1 = nn.Linear(512, classes)
        self.classifier2 = nn.Linear(512, classes)
        self.classifier3 = nn.Linear(1024, classes)

    def igo(self, x, epoch):
        _, _, h, w = x.shape
        area = h * w * ((0.1 + 0.4 * epoch / 90) if epoch <= 55 else 1 / 3)
        while True:
            if area ** 0.5 <= w:
                ar = random.uniform(0.5, 1)
                rh, rw = round((area * ar) ** 0.5), round((area / ar) ** 0.5)
            else:
                rh, rw = round(area / w), w
            if rw <= w and rh <= h:
                break
        sx, sy = random.randint(0, h - rh), random.randint(0, w - rw)
        mask = torch.ones(x.shape[0], 1, h, w, device=x.device)
        mask[:, :, sx:sx + rh, sy:sy + rw] = 0
        for c in range(3):
            x[:, c, sx:sx + rh, sy:sy + rw] = random.uniform(0, 1)
        return x, mask

    def forward(self, x, epoch):
        x_occ, mask = self.igo(x.clone(), epoch)
        b = x.shape[0]
        t = self.trunk(self.layer0(torch.cat([x, x_occ])))
        f1 = self.res_part1(self.layer41(t[:b]))
        f2 = self.att_module2(self.res_part2(self.layer42(self.att1(t[b:]))))
        v1 = self.reduction1(F.adaptive_avg_pool2d(f1, 1).flatten(1))
        v2 = self.reduction2(F.adaptive_max_pool2d(f2, 1).flatten(1))
        m = F.interpolate(mask, size=f1.shape[2:], mode="bilinear", align_corners=True)
        p1, p2 = f1.mean(1, keepdim=True), f2.mean(1, keepdim=True)
        return (self.classifier1(v1), self.classifier2(v2), self.classifier3(torch.cat([v1, v2], 1)),
                p1, p1 * m, p2, p2 * m)


def ce_ls(x, y, eps=0.1):
    q = torch.zeros(x.shape, device=x.device).scatter_(1, y.unsqueeze(1), 1)
    q = (1 - eps) * q + eps / x.shape[1]
    return (-q * F.log_softmax(x, 1)).mean(0).sum()


model = Igoas(a.backbone, a.classes).to(dev).train()
opt = torch.optim.Adam(model.parameters(), lr=3e-4, weight_decay=5e-4)
scaler = torch.amp.GradScaler("cuda", enabled=a.amp)
x = torch.randn(a.batch_size, 3, a.height, a.width, device=dev)
y = torch.arange(a.batch_size, device=dev) % a.classes


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def step():
    opt.zero_grad()
    with torch.autocast(dev.type, enabled=a.amp):
        outs = [model(xs, a.epoch) for xs in x.chunk(a.shards)]
        y1, y2, y3, p1, t1, p2, t2 = [torch.cat([o[k] for o in outs]) for k in range(7)]
        losses = torch.stack([ce_ls(y1.float(), y), ce_ls(y2.float(), y), ce_ls(y3.float(), y)])
        loss = (F.softmax(losses, 0) * losses).sum() + F.mse_loss(p1.float(), t1.float()) + F.mse_loss(p2.float(), t2.float())
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    return loss.item()


for _ in range(a.warmup):
    step()
sync()
t = time.perf_counter()
for _ in range(a.steps):
    step()
sync()
print(json.dumps({"train_images_per_s": a.steps * a.batch_size / (time.perf_counter() - t),
                  "threads": torch.get_num_threads(), "device": a.device}))
