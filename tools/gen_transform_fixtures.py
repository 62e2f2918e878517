"""Generates the parity fixtures of occreid-data's transforms, samplers and occluders.

Outputs go to crates/occreid-data/tests/fixtures/transforms/ and are committed: `cargo test` never runs
Python. Re-run after changing this script:

    .venv/bin/pip install torchvision==0.26.0 pillow   # matches torch 2.11.0
    .venv/bin/python tools/gen_transform_fixtures.py

What is produced and who it checks:
* input images (PNG, plus one JPEG) drawn deterministically here;
* torchvision 0.26 / Pillow outputs of Resize (bilinear, bicubic; up- and down-scaling), the four
  colour adjustments, ToTensor + Normalize, Pad(10) + crop, and two composed pipelines with fixed
  random parameters (PNG for 8-bit outputs, .npy for float tensors);
* reference runs of the random algorithms the spec describes (BoT RandomErasing, DAAO occluder box,
  IGO BatchIncErasing, BoT RandomIdentitySampler, light-reid ClassUniformlySampler) driven by Python's
  `random` module after `random.seed(s)`, recorded as .npy. The Rust side replays them with `PyRandom`.
  These are restated here from the algorithm descriptions in shared/spec/methods.md §1.1, §1.3, §2.1,
  §2.2, §3.2 (the reference repositories are not dependencies of this project).
"""
import math
import os
import random
from collections import defaultdict

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "crates", "occreid-data", "tests", "fixtures", "transforms")
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def save_png(img, name):
    img.save(os.path.join(OUT, name), optimize=True)


def save_npy(arr, name):
    np.save(os.path.join(OUT, name), arr)


def pedestrian(w, h, seed):
    """Smooth background, blocky 'body', sharp edges and a noisy patch: exercises ringing and clipping."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img[..., 0] = 40 + 150 * xx / max(w - 1, 1)
    img[..., 1] = 200 - 120 * yy / max(h - 1, 1)
    img[..., 2] = 128 + 100 * np.sin(xx / 3.0 + yy / 7.0)
    cx = w / 2
    body = (np.abs(xx - cx) < w * 0.25) & (yy > h * 0.2) & (yy < h * 0.6)
    img[body] = rng.integers(0, 256, 3)
    legs = (np.abs(xx - cx) < w * 0.2) & (yy >= h * 0.6) & (yy < h * 0.95)
    img[legs] = rng.integers(0, 256, 3)
    head = (xx - cx) ** 2 + (yy - h * 0.12) ** 2 < (w * 0.12) ** 2
    img[head] = [255, 220, 180]
    img[0:2, :, :] = 255  # saturated edge rows
    img[-2:, :, :] = 0
    ph, pw = max(h // 6, 2), max(w // 4, 2)
    img[h // 3 : h // 3 + ph, 1 : 1 + pw] = rng.integers(0, 256, (ph, pw, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def colorful(w, h, seed):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    arr[: h // 4] = np.linspace(0, 255, w).astype(np.uint8)[None, :, None]  # greys (s == 0 path)
    arr[h // 4 : h // 2, :, 0] = 255  # saturated reds
    return Image.fromarray(arr, "RGB")


def to_tensor_norm(img):
    return T.Normalize(MEAN, STD)(T.ToTensor()(img))


def images():
    market = pedestrian(64, 128, 1)
    small = pedestrian(41, 97, 2)
    large = pedestrian(120, 200, 3)
    color = colorful(32, 48, 4)
    for n, im in [("in_market.png", market), ("in_small.png", small), ("in_large.png", large), ("in_color.png", color)]:
        save_png(im, n)
    # JPEG: compares our decoder with Pillow's libjpeg (lossy decoders may differ by a few levels).
    pedestrian(64, 128, 5).save(os.path.join(OUT, "in_photo.jpg"), quality=90)
    save_png(Image.open(os.path.join(OUT, "in_photo.jpg")).convert("RGB"), "pil_decoded_photo.png")
    return market, small, large, color


def resize_cases(market, small, large):
    cases = [
        ("market", market, 256, 128),
        ("small", small, 256, 128),
        ("small", small, 384, 128),
        ("large", large, 64, 32),
        ("large", large, 77, 45),
        ("small", small, 64, 32),  # height shrinks > 2x more than width: Pillow runs the vertical pass first
        ("large", large, 50, 110),
    ]
    for src_name, src, h, w in cases:
        for interp, tag in [(T.InterpolationMode.BILINEAR, "bilinear"), (T.InterpolationMode.BICUBIC, "bicubic")]:
            out = T.Resize((h, w), interpolation=interp)(src)
            save_png(out, f"resize_{src_name}_{h}x{w}_{tag}.png")


def color_cases(color):
    ops = {
        "brightness": F.adjust_brightness,
        "contrast": F.adjust_contrast,
        "saturation": F.adjust_saturation,
        "hue": F.adjust_hue,
    }
    factors = {
        "brightness": [0.75, 1.25],
        "contrast": [0.0, 0.85, 1.15],
        "saturation": [0.0, 0.75, 1.25],
        "hue": [-0.5, -0.2, 0.1, 0.45],
    }
    for name, fs in factors.items():
        for f in fs:
            save_png(ops[name](color, f), f"color_{name}_{f}.png")


def tensor_cases(color, small):
    save_npy(to_tensor_norm(color).numpy(), "tensor_color.npy")
    padded = T.Pad(10)(color)
    crops = [(0, 0), (20, 20), (7, 13)]
    save_npy(np.stack([to_tensor_norm(F.crop(padded, i, j, 48, 32)).numpy() for i, j in crops]), "padcrop_color.npy")
    # Test transform at a small size (bilinear downscale) end to end.
    test_t = T.Compose([T.Resize((64, 32)), T.ToTensor(), T.Normalize(MEAN, STD)])
    save_npy(test_t(small).numpy(), "test_small_64x32.npy")
    # BoT train pipeline with fixed draws: flip, crop (i, j) = (3, 17), erase rows 5..25, cols 2..14.
    x = F.hflip(T.Resize((64, 32))(small))
    x = F.crop(T.Pad(10)(x), 3, 17, 64, 32)
    t = to_tensor_norm(x)
    for c in range(3):
        t[c, 5:25, 2:14] = MEAN[c]
    save_npy(t.numpy(), "bot_train_small_64x32.npy")
    # DAAO pipeline with fixed draws: bicubic, flip, saturation 1.2 -> brightness 0.8 -> contrast 1.1.
    x = F.hflip(T.Resize((64, 32), interpolation=T.InterpolationMode.BICUBIC)(small))
    x = F.adjust_contrast(F.adjust_brightness(F.adjust_saturation(x, 1.2), 0.8), 1.1)
    save_npy(to_tensor_norm(x).numpy(), "daao_train_small_64x32.npy")


# ---- reference random algorithms driven by Python's `random` ----

def bot_random_erasing_rect(h, w, p=0.5, sl=0.02, sh=0.4, r1=0.3):
    """BoT RandomErasing on a CxHxW tensor (spec §1.1); returns (applied, top, left, eh, ew)."""
    if random.uniform(0, 1) >= p:
        return (0, -1, -1, -1, -1)
    for _ in range(100):
        area = h * w
        target_area = random.uniform(sl, sh) * area
        aspect_ratio = random.uniform(r1, 1 / r1)
        eh = int(round(math.sqrt(target_area * aspect_ratio)))
        ew = int(round(math.sqrt(target_area / aspect_ratio)))
        if ew < w and eh < h:
            x1 = random.randint(0, h - eh)
            y1 = random.randint(0, w - ew)
            return (1, x1, y1, eh, ew)
    return (0, -2, -2, -2, -2)


def erasing_cases():
    rows = []
    for seed in range(200):
        random.seed(seed)
        img = torch.zeros(3, 256, 128)
        applied, x1, y1, eh, ew = bot_random_erasing_rect(256, 128)
        if applied:
            for c in range(3):
                img[c, x1 : x1 + eh, y1 : y1 + ew] = MEAN[c]
            # The recorded rectangle must be exactly where the tensor was written.
            nz = torch.nonzero(img[0])
            assert nz[:, 0].min() == x1 and nz[:, 0].max() == x1 + eh - 1
        rows.append([seed, applied, x1, y1, eh, ew])
    save_npy(np.array(rows, dtype=np.float64), "erasing_bot_seeds.npy")


def daao_box(h, w):
    """DAAO get_zuoibiao (spec §2.1 step 2) on a donor of size h x w: (left, top, right, bottom) or None."""
    for _ in range(100):
        area = h * w
        target_area = random.uniform(0.05, 0.2) * area
        aspect_ratio = random.uniform(0.3, 1 / 0.3)
        bh = int(round(math.sqrt(target_area * aspect_ratio)))
        bw = int(round(math.sqrt(target_area / aspect_ratio)))
        if bw < w and bh < h:
            x1 = random.randint(0, h - bh)
            y1 = random.randint(0, w - bw)
            return (y1, x1, y1 + bw, x1 + bh)
    return None


def daao_cases(market, large):
    rows = []
    for seed in range(100):
        random.seed(seed)
        h, w = (128, 64) if seed % 2 == 0 else (256, 128)
        left, top, right, bottom = daao_box(h, w)
        rows.append([seed, h, w, left, top, right, bottom])
    save_npy(np.array(rows, dtype=np.float64), "daao_boxes.npy")
    # PIL crop/paste at the same coordinates (donor larger than target: paste clips at the border).
    target = market
    donor = large
    box = (50, 150, 110, 190)
    occ = target.copy()
    occ.paste(donor.crop(box), box[:2])
    save_png(occ, "daao_paste_market_from_large.png")


def igo(x, epoch, h, w):
    """IGOAS BatchIncErasing.forward (spec §3.2) on a normalised batch; returns (x, mask, rect, fills)."""
    area = h * w
    if epoch <= 55:
        target_area = area * (0.1 + 0.4 * epoch / 90)
    else:
        target_area = area * (1 / 3)
    for _ in range(1000000):
        if math.sqrt(target_area) <= w:
            aspect_ratio = random.uniform(0.5, 1)
            rh = int(round(math.sqrt(target_area * aspect_ratio)))
            rw = int(round(math.sqrt(target_area / aspect_ratio)))
        else:
            rw = w
            rh = int(round(target_area / rw))
        if rw <= w and rh <= h:
            sx = random.randint(0, h - rh)
            sy = random.randint(0, w - rw)
            mask = x.new_ones([x.size()[0], 1, h, w])
            mask[:, :, sx : sx + rh, sy : sy + rw] = 0
            fills = [random.uniform(0, 1) for _ in range(3)]
            for c in range(3):
                x[:, c, sx : sx + rh, sy : sy + rw] = fills[c]
            return x, mask, (sx, sy, rh, rw), fills


def igo_cases():
    rows = []
    epochs = [0, 1, 10, 20, 30, 40, 50, 53, 54, 55, 56, 89]
    for epoch in epochs:
        for seed in range(8):
            random.seed(1000 * epoch + seed)
            x = torch.zeros(2, 3, 384, 128)
            x, mask, (sx, sy, rh, rw), fills = igo(x, epoch, 384, 128)
            assert int((mask == 0).sum()) == 2 * rh * rw
            f32 = [float(x[0, c, sx, sy]) for c in range(3)]  # the fill as stored in the f32 tensor
            rows.append([epoch, 1000 * epoch + seed, sx, sy, rh, rw] + f32)
    save_npy(np.array(rows, dtype=np.float64), "igo_draws.npy")


def bot_identity_sampler(pids, batch_size, k):
    """BoT RandomIdentitySampler.__iter__ (spec §1.3); every id here has >= k images."""
    index_dic = defaultdict(list)
    for i, pid in enumerate(pids):
        index_dic[pid].append(i)
    pid_list = list(index_dic.keys())
    p = batch_size // k
    batch_idxs_dict = defaultdict(list)
    for pid in pid_list:
        idxs = list(index_dic[pid])
        assert len(idxs) >= k
        random.shuffle(idxs)
        cur = []
        for idx in idxs:
            cur.append(idx)
            if len(cur) == k:
                batch_idxs_dict[pid].append(cur)
                cur = []
    avai = list(pid_list)
    final = []
    while len(avai) >= p:
        for pid in random.sample(avai, p):
            final.extend(batch_idxs_dict[pid].pop(0))
            if len(batch_idxs_dict[pid]) == 0:
                avai.remove(pid)
    return final


class ClassUniform:
    """light-reid ClassUniformlySampler (spec §2.2): per pass shuffle classes, k images per class."""

    def __init__(self, pids, k):
        self.k = k
        self.class_dict = {}
        for i, pid in enumerate(pids):
            self.class_dict.setdefault(pid, []).append(i)

    def generate(self):
        out = []
        d = self.class_dict.copy()  # shallow: the per-class lists are shuffled in place, across passes
        keys = list(d.keys())
        random.shuffle(keys)
        for key in keys:
            value = d[key]
            if len(value) >= self.k:
                random.shuffle(value)
                out.extend(value[0 : self.k])
            else:
                value = value * self.k
                random.shuffle(value)
                out.extend(value[0 : self.k])
        return out


def sampler_cases():
    rng = np.random.default_rng(7)
    # 30 ids (pool branch of random.sample) and 100 ids (set branch), 4..9 images each, interleaved order.
    for n_ids, name in [(30, "small"), (100, "large")]:
        pids = []
        for pid in range(n_ids):
            pids += [pid * 3 + 1] * int(rng.integers(4, 10))
        perm = rng.permutation(len(pids))
        pids = [pids[i] for i in perm]
        save_npy(np.array(pids, dtype=np.int64), f"sampler_{name}_pids.npy")
        random.seed(11)
        stream = bot_identity_sampler(pids, 64, 4) + bot_identity_sampler(pids, 64, 4)
        save_npy(np.array(stream, dtype=np.int64), f"sampler_{name}_bot_seed11_2epochs.npy")
    # Class-uniform: some ids with fewer than k = 4 images.
    pids = []
    for pid in range(12):
        pids += [pid] * int(rng.integers(1, 8))
    perm = rng.permutation(len(pids))
    pids = [pids[i] for i in perm]
    save_npy(np.array(pids, dtype=np.int64), "sampler_cu_pids.npy")
    random.seed(5)
    cu = ClassUniform(pids, 4)
    stream = cu.generate() + cu.generate() + cu.generate()
    save_npy(np.array(stream, dtype=np.int64), "sampler_cu_seed5_3passes.npy")


def pyrandom_cases():
    rows = []
    for seed in [0, 1, 42, 2**32 + 7]:
        random.seed(seed)
        r = [random.random() for _ in range(3)]
        ints = [random.randint(0, n) for n in (1, 6, 255, 1000, 2**31)]
        rows.append([float(seed)] + r + [float(v) for v in ints])
    save_npy(np.array(rows, dtype=np.float64), "pyrandom.npy")


def main():
    os.makedirs(OUT, exist_ok=True)
    print("torch", torch.__version__, "torchvision", torchvision.__version__, "Pillow", Image.__version__)
    market, small, large, color = images()
    resize_cases(market, small, large)
    color_cases(color)
    tensor_cases(color, small)
    erasing_cases()
    daao_cases(market, large)
    igo_cases()
    sampler_cases()
    pyrandom_cases()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total / 1024:.0f} KiB, to {OUT}")


if __name__ == "__main__":
    main()
