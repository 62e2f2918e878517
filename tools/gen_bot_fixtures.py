"""Parity fixtures for the BoT head, losses, Adam and the warmup schedule (torch 2.11, CPU, float32).

The loss definitions follow reid-strong-baseline (spec §1.1): CrossEntropyLabelSmooth, batch-hard triplet
with torch.max / torch.min mining and MarginRankingLoss, center loss with the [1e-12, 1e12] clamp, BNNeck =
BatchNorm1d with a frozen zero bias. Values and input gradients come from torch autograd.
Writes crates/occreid-model/tests/fixtures/bot_parity.json.
Run: .venv/bin/python tools/gen_bot_fixtures.py
"""
import json
import pathlib

import torch

from bot_reference import ce_ls, center_loss, triplet

torch.manual_seed(0)
out = pathlib.Path(__file__).resolve().parent.parent / "crates/occreid-model/tests/fixtures/bot_parity.json"
B, D, C = 8, 16, 5
labels = torch.tensor([0, 0, 3, 3, 1, 1, 4, 4])
feats = torch.randn(B, D)
logits = torch.randn(B, C) * 3
centers = torch.randn(C, D)


def tolist(t):
    return t.detach().reshape(-1).tolist()


result = {"B": B, "D": D, "C": C, "labels": labels.tolist(), "features": tolist(feats), "logits": tolist(logits),
          "centers": tolist(centers)}
for name, fn, args in [("ce_ls", ce_ls, [logits, labels]), ("triplet", triplet, [feats, labels]),
                       ("center", center_loss, [feats, labels, centers])]:
    leaves = [a.clone().requires_grad_(a.is_floating_point()) for a in args]
    loss = fn(*leaves)
    loss.backward()
    result[name] = {"loss": loss.item(), "grads": [tolist(l.grad) for l in leaves if l.requires_grad]}

bn = torch.nn.BatchNorm1d(D)
bn.bias.requires_grad_(False)
x = feats.clone().requires_grad_(True)
w = torch.linspace(-1, 1, B * D).reshape(B, D)
bn.train()
y = bn(x)
(y * w).sum().backward()
bn.eval()
result["bnneck"] = {"weights": tolist(w), "train_out": tolist(y), "grad_input": tolist(x.grad),
                    "grad_weight": tolist(bn.weight.grad), "bias_grad_is_none": bn.bias.grad is None,
                    "running_mean": tolist(bn.running_mean), "running_var": tolist(bn.running_var),
                    "eval_out": tolist(bn(feats))}

p = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0, 0.0, 3.0]))
opt = torch.optim.Adam([p], lr=3.5e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4)
grads = [[0.1, -0.2, 0.3, 0.0, 1.0], [-0.5, 0.5, 0.1, 0.2, -1.0], [1e-3, 2.0, -3.0, 0.5, 0.0]]
traj = []
for g in grads:
    opt.zero_grad()
    (p * torch.tensor(g)).sum().backward()
    opt.step()
    traj.append(tolist(p))
result["adam"] = {"lr": 3.5e-4, "weight_decay": 5e-4, "init": [0.5, -1.0, 2.0, 0.0, 3.0], "grads": grads,
                  "trajectory": traj}


class WarmupMultiStepLR(torch.optim.lr_scheduler.LRScheduler):
    """BoT solver/lr_scheduler.py semantics: linear warmup from factor to 1 over warmup_iters, then
    gamma ** bisect_right(milestones, last_epoch)."""

    def __init__(self, optimizer, milestones, gamma, warmup_factor, warmup_iters):
        self.milestones, self.gamma = milestones, gamma
        self.warmup_factor, self.warmup_iters = warmup_factor, warmup_iters
        super().__init__(optimizer)

    def get_lr(self):
        import bisect
        factor = 1
        if self.last_epoch < self.warmup_iters:
            alpha = self.last_epoch / self.warmup_iters
            factor = self.warmup_factor * (1 - alpha) + alpha
        return [base * factor * self.gamma ** bisect.bisect_right(self.milestones, self.last_epoch)
                for base in self.base_lrs]


opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=3.5e-4)
sched = WarmupMultiStepLR(opt, [40, 70], 0.1, 0.01, 10)  # construction steps once: last_epoch = 0
lrs = []
for epoch in range(1, 121):
    sched.step()  # ignite EPOCH_STARTED handler
    lrs.append(opt.param_groups[0]["lr"])
result["bot_schedule"] = {"base_lr": 3.5e-4, "milestones": [40, 70], "gamma": 0.1, "warmup_factor": 0.01,
                          "warmup_epochs": 10, "lr_per_epoch_from_1": lrs}
json.dump(result, open(out, "w"))
print("wrote", out, out.stat().st_size, "bytes")
