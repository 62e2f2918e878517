"""Parity fixture for occreid's LossScaler against torch.amp.GradScaler (torch 2.11, CPU, float32).

Two parameters w (4,) and v (3,) under Adam(lr 0.01, betas 0.9/0.999, eps 1e-8, weight decay 5e-4), wrapped
in GradScaler(init_scale 2^16, growth_factor 2, backoff_factor 0.5, growth_interval 3). Step k's loss is
sum(w * a_k) + sum(v^2 * b_k). Some a_k hold 1e35: the loss stays finite in float32, but the scaled
gradient 1e35 * scale overflows to inf, which is the overflow GradScaler exists for; those updates must be
skipped and the scale halved. Records, after each step: the scale, whether the parameters moved, and w, v.

Writes crates/occreid-train/tests/fixtures/grad_scaler_steps.json.
Run: .venv/bin/python tools/gen_grad_scaler_fixture.py
"""
import json
import pathlib

import torch

out = pathlib.Path(__file__).resolve().parent.parent / "crates/occreid-train/tests/fixtures/grad_scaler_steps.json"
w = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0, 0.25]))
v = torch.nn.Parameter(torch.tensor([1.5, -0.5, 0.75]))
init = {"w": w.tolist(), "v": v.tolist()}
opt = torch.optim.Adam([w, v], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4)
scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)

OVERFLOW_STEPS = {2, 7, 8}
steps = []
for k in range(14):
    a = [((k * 3 + i * 5) % 7 - 3) / 4 for i in range(4)]
    if k in OVERFLOW_STEPS:
        a[k % 4] = 1e35
    b = [((k * 5 + i * 3) % 5 - 2) / 3 for i in range(3)]
    before = torch.cat([w.detach(), v.detach()]).clone()
    opt.zero_grad()
    loss = (w * torch.tensor(a)).sum() + (v.pow(2) * torch.tensor(b)).sum()
    assert torch.isfinite(loss), k
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    moved = not torch.equal(before, torch.cat([w.detach(), v.detach()]))
    steps.append({"a": a, "b": b, "scale": scaler.get_scale(), "stepped": moved,
                  "w": w.tolist(), "v": v.tolist()})

out.write_text(json.dumps({"torch": torch.__version__, "growth_interval": 3, "lr": 0.01, "init": init,
                           "steps": steps}, indent=1) + "\n")
print(f"wrote {out}: scales {[s['scale'] for s in steps]}, stepped {[s['stepped'] for s in steps]}")
