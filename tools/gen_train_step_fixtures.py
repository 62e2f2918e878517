"""Parity fixture for whole BoT training steps (torch 2.11 / torchvision 0.26, CPU, float32 or float64).

Builds reid-strong-baseline's model (spec §1.1) on torchvision's resnet18 in BoT form (no stem ReLU, last
stride 1) + BNNeck (frozen zero bias) + bias-free classifier, and runs its trainer step
(`create_supervised_trainer_with_center`) three times: Adam(lr from the warmup schedule for epochs 1..3,
wd 5e-4) on the model, loss = CE_ls + triplet + 0.0005 * center, then the centres' grads x 1/0.0005 and
SGD(lr 0.5) on the centres. BN running statistics update as in training.

Deterministic initial values (both sides): tensors sorted by name (num_batches_tracked excluded), tensor t,
flat element k: u = ((k * 7919 + t * 104729) % 2001 - 1000) / 1000; running_var 1 + (u + 1) / 4,
running_mean u / 10, tensors with >= 2 dims u / sqrt(fan_in), other `weight`s 1 + u / 10, other tensors
u / 10, except bottleneck.bias = 0. Input of step s, element k: ((k * 31 + s * 17) % 255) / 127.5 - 1.

Why float64 too: three float32 steps amplify the last-bit differences between two CPUs' float32 kernels
(libtorch picks kernels per CPU; measured: step 2's id loss 1.5e-4 apart between an Intel Xeon fixture and an
AMD EPYC run), so the trajectory is compared in float64, where the same amplification stays near 1e-10; the
float32 file keeps the first step (one forward and backward, no amplification) and the optimiser replay.

Writes crates/occreid-train/tests/fixtures/bot_train_steps.json (float32) or bot_train_steps_f64.json.
Run: .venv/bin/python tools/gen_train_step_fixtures.py [float32|float64]  (needs bootstrap.sh --peers)
"""
import json
import pathlib
import sys

import numpy as np
import torch

from bot_reference import Baseline, CenterLoss, ce_ls, lr_at, triplet

torch.use_deterministic_algorithms(True)
dtype_name = sys.argv[1] if len(sys.argv) > 1 else "float32"
dtype = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
fixtures = pathlib.Path(__file__).resolve().parent.parent / "crates/occreid-train/tests/fixtures"
out = fixtures / ("bot_train_steps.json" if dtype == torch.float32 else "bot_train_steps_f64.json")
B, C, H, W, STEPS = 8, 4, 64, 32, 3
labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])


model, center = Baseline(C, classifier_std=None).to(dtype), CenterLoss(C, 512, init=torch.zeros).to(dtype)
tensors = {**model.state_dict(), **{"center_loss." + k: v for k, v in center.state_dict().items()}}
names = sorted(n for n in tensors if not n.endswith("num_batches_tracked"))
with torch.no_grad():
    for t, name in enumerate(names):
        v = tensors[name]
        k = np.arange(v.numel(), dtype=np.int64)
        u = ((k * 7919 + t * 104729) % 2001 - 1000) / 1000.0
        if name == "bottleneck.bias":
            x = np.zeros_like(u)
        elif name.endswith("running_var"):
            x = 1 + (u + 1) / 4
        elif name.endswith("running_mean"):
            x = u / 10
        elif v.dim() >= 2:
            x = u / np.sqrt(np.prod(v.shape[1:]))
        elif name.endswith("weight"):
            x = 1 + u / 10
        else:
            x = u / 10
        # float32-rounded in either dtype: the Rust side builds the same values as f32.
        v.copy_(torch.from_numpy(x.astype(np.float32).reshape(v.shape)))


def lr(epoch):
    return lr_at(epoch, base=3.5e-4, warmup_epochs=10, warmup_factor=0.01, milestones=(40, 70))


params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.Adam(params, lr=lr(1), weight_decay=5e-4)
opt_center = torch.optim.SGD(center.parameters(), lr=0.5)
steps = []
model.train()
for s in range(STEPS):
    for g in opt.param_groups:
        g["lr"] = lr(s + 1)
    n = B * 3 * H * W
    img = torch.from_numpy((((np.arange(n) * 31 + s * 17) % 255) / 127.5 - 1).astype(np.float32).reshape(B, 3, H, W))
    img = img.to(dtype)
    opt.zero_grad()
    opt_center.zero_grad()
    score, feat = model(img)
    terms = {"id": ce_ls(score, labels), "triplet": triplet(feat, labels), "center": 0.0005 * center(feat, labels)}
    loss = sum(terms.values())
    loss.backward()
    opt.step()
    for p in center.parameters():
        p.grad.data *= 1.0 / 0.0005
    opt_center.step()
    steps.append({"lr": lr(s + 1), **{k: v.item() for k, v in terms.items()}})

final = {**model.state_dict(), **{"center_loss." + k: v for k, v in center.state_dict().items()}}
full = {"classifier.weight", "center_loss.centers", "bottleneck.weight", "bottleneck.running_mean",
        "bottleneck.running_var", "base.layer4.1.bn2.weight"}
summary = {}
for name in names:
    v = final[name].detach().reshape(-1).double()
    summary[name] = {"sum": v.sum().item(), "abs_sum": v.abs().sum().item(), "head": v[:16].tolist()}
    if name in full:
        summary[name]["values"] = v.tolist()
if dtype == torch.float64:
    json.dump({"B": B, "C": C, "H": H, "W": W, "dtype": dtype_name, "labels": labels.tolist(), "steps": steps,
               "final": summary}, open(out, "w"))
    print("wrote", out, out.stat().st_size, "bytes")
    sys.exit(0)
# The optimisers alone: 8 steps on 48 values with gradients spanning 1e-7..1e1 (Adam's eps regime included).
g = torch.Generator().manual_seed(0)
p0 = torch.randn(48, generator=g)
grads = torch.randn(8, 48, generator=g) * torch.logspace(-7, 1, 48)
optim = {"init": p0.tolist(), "grads": grads.tolist(), "lrs": [1e-3 * (s + 1) for s in range(8)]}
for name, make in [("adam", lambda q: torch.optim.Adam([q], lr=1e-3, weight_decay=5e-4)),
                   ("sgd", lambda q: torch.optim.SGD([q], lr=1e-3, momentum=0.9, weight_decay=5e-4))]:
    q = torch.nn.Parameter(p0.clone())
    o = make(q)
    traj = []
    for s in range(8):
        for group in o.param_groups:
            group["lr"] = optim["lrs"][s]
        q.grad = grads[s].clone()
        o.step()
        traj.append(q.detach().clone().tolist())
    optim[name] = traj
json.dump({"B": B, "C": C, "H": H, "W": W, "labels": labels.tolist(), "steps": steps, "final": summary,
           "optim": optim}, open(out, "w"))
print("wrote", out, out.stat().st_size, "bytes")
