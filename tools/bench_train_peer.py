"""Peer for `occreid bench train`: reid-strong-baseline's model and trainer step in PyTorch on the CPU (or
CUDA), same backbone, input size, batch, threads and step count as ours. Prints one JSON line:
{"train_images_per_s": x, "extract_images_per_s": y, "threads": n, "device": d}.
Run: .venv/bin/python tools/bench_train_peer.py --backbone resnet50 --threads 2 [--device cuda] [--amp]
"""
import argparse
import json
import time

import torch

from bot_reference import Baseline, ce_ls, center_loss, triplet

ap = argparse.ArgumentParser()
ap.add_argument("--backbone", default="resnet50")
ap.add_argument("--height", type=int, default=256)
ap.add_argument("--width", type=int, default=128)
ap.add_argument("--batch-size", type=int, default=16)
ap.add_argument("--instances", type=int, default=4)
ap.add_argument("--extract-batch", type=int, default=64)
ap.add_argument("--steps", type=int, default=10)
ap.add_argument("--warmup", type=int, default=2)
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--classes", type=int, default=751)
ap.add_argument("--device", default="cpu")
ap.add_argument("--amp", action="store_true")
a = ap.parse_args()
if a.threads > 0:
    torch.set_num_threads(a.threads)
dev = torch.device(a.device)
torch.manual_seed(0)


model = Baseline(a.classes, backbone=a.backbone).to(dev)
centers = torch.nn.Parameter(torch.randn(a.classes, model.bottleneck.num_features, device=dev))
opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3.5e-4, weight_decay=5e-4)
opt_c = torch.optim.SGD([centers], lr=0.5)
scaler = torch.amp.GradScaler("cuda", enabled=a.amp)
x = torch.randn(a.batch_size, 3, a.height, a.width, device=dev)
y = torch.arange(a.batch_size // a.instances, device=dev).repeat_interleave(a.instances)


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def step():
    opt.zero_grad()
    opt_c.zero_grad()
    with torch.autocast(dev.type, enabled=a.amp):
        score, feat = model(x)
    # The losses in float32 outside autocast, as occreid computes its distances (losses.rs:
    # `outside_autocast`); in float16 the distances' 1e-12 clamp is 0 and sqrt's gradient there is NaN.
    loss = ce_ls(score.float(), y) + triplet(feat.float(), y) + 0.0005 * center_loss(feat.float(), y, centers)
    scaler.scale(loss).backward()
    scaler.unscale_(opt_c)  # the centres' true gradient before BoT's 1/0.0005 rescale (as occreid's scaler)
    centers.grad.data *= 1.0 / 0.0005
    scaler.step(opt)
    scaler.step(opt_c)
    scaler.update()
    return loss.item()


model.train()
for _ in range(a.warmup):
    step()
sync()
t = time.perf_counter()
for _ in range(a.steps):
    step()
sync()
train_ips = a.steps * a.batch_size / (time.perf_counter() - t)

model.eval()
xe = torch.randn(a.extract_batch, 3, a.height, a.width, device=dev)
with torch.no_grad(), torch.autocast(dev.type, enabled=a.amp):
    for _ in range(a.warmup):
        model(xe)
    sync()
    t = time.perf_counter()
    for _ in range(a.steps):
        model(xe)
    sync()
extract_ips = a.steps * a.extract_batch / (time.perf_counter() - t)
print(json.dumps({"train_images_per_s": train_ips, "extract_images_per_s": extract_ips,
                  "threads": torch.get_num_threads(), "device": a.device}))
