"""Peer for `occreid bench train --method sdcn --peer`: the SDCN + VGN stage-2 training step (spec §2.5,
intended reading) in PyTorch, the way OPR-DAAO's `core/train.py` computes it: SDCN on the occluded then the
full view (non-local block after layer4), the frozen VGN (eval mode) on the full view without gradients, the
non-local block recomputed for the verification features, W1 = the VGN's BN classifier, CE-LS (x8),
batch-hard triplets (x3), consistency MSE (x2), two Adam optimisers (SDCN, non-local). Random inputs, same
backbone, input size, pairs per batch, threads and step count as ours. The ResNet is written out here (the
torchvision layout: bottleneck stride on conv2, no stem ReLU, last stride 1) so only torch is needed.
Prints one JSON line: {"train_pairs_per_s": x, "threads": n, "device": d}.
Run: .venv/bin/python tools/bench_sdcn_peer.py --backbone resnet50 --batch-size 32 --threads 2
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_resnet import channels, make_layer

ap = argparse.ArgumentParser()
ap.add_argument("--backbone", default="resnet50")
ap.add_argument("--height", type=int, default=256)
ap.add_argument("--width", type=int, default=128)
ap.add_argument("--batch-size", type=int, default=32)
ap.add_argument("--instances", type=int, default=4)
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--warmup", type=int, default=1)
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--classes", type=int, default=751)
ap.add_argument("--device", default="cpu")
ap.add_argument("--amp", action="store_true")
a = ap.parse_args()
if a.threads > 0:
    torch.set_num_threads(a.threads)
dev = torch.device(a.device)
torch.manual_seed(0)

class Net(nn.Module):
    """Res50BNNeck / Res50BNNeckk: ResNet (no stem ReLU, last stride 1), GAP/GMP/sum, shared BNClassifier."""

    def __init__(self, backbone, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layers = nn.ModuleList(
            [make_layer(backbone, i, 64 if i == 1 else channels(backbone, i - 1), [1, 2, 2, 1][i - 1]) for i in range(1, 5)])
        c_in = self.dim = channels(backbone, 4)
        self.bn = nn.BatchNorm1d(c_in)
        self.bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(c_in, classes, bias=False)

    def stages(self, x):
        y = F.max_pool2d(self.bn1(self.conv1(x)), 3, 2, 1)
        out = []
        for layer in self.layers:
            y = layer(y)
            out.append(y)
        return out

    def cls(self, v):
        return self.classifier(self.bn(v))


class NonLocal(nn.Module):
    def __init__(self, c):
        super().__init__()
        i = c // 2
        self.inter = i
        self.g = nn.Sequential(nn.Conv2d(c, i, 1), nn.MaxPool2d(2))
        self.theta = nn.Conv2d(c, i, 1)
        self.phi = nn.Sequential(nn.Conv2d(c, i, 1), nn.MaxPool2d(2))
        self.W = nn.Sequential(nn.Conv2d(i, c, 1), nn.BatchNorm2d(c))
        nn.init.constant_(self.W[1].weight, 0)
        nn.init.constant_(self.W[1].bias, 0)

    def forward(self, x):
        b, _, h, w = x.shape
        g = self.g(x).view(b, self.inter, -1).permute(0, 2, 1)
        t = self.theta(x).view(b, self.inter, -1).permute(0, 2, 1)
        p = self.phi(x).view(b, self.inter, -1)
        y = torch.matmul(F.softmax(torch.matmul(t, p), dim=-1), g)
        w_y = self.W(y.permute(0, 2, 1).contiguous().view(b, self.inter, h, w))
        return w_y + x, w_y


def ce_ls(x, y, eps=0.1):
    q = torch.zeros(x.shape, device=x.device).scatter_(1, y.unsqueeze(1), 1)
    q = (1 - eps) * q + eps / x.shape[1]
    return (-q * F.log_softmax(x, 1)).mean(0).sum()


def triplet(f, y, margin=0.3):
    n = f.shape[0]
    d = (f.pow(2).sum(1, keepdim=True).expand(n, n) + f.pow(2).sum(1, keepdim=True).expand(n, n).t())
    d = d.addmm(f, f.t(), beta=1, alpha=-2).clamp(min=1e-12).sqrt()
    same = y.expand(n, n).eq(y.expand(n, n).t())
    ap_ = d.masked_fill(~same, float("-inf")).max(1)[0]
    an = d.masked_fill(same, float("inf")).min(1)[0]
    return F.margin_ranking_loss(an, ap_, torch.ones_like(an), margin=margin)


def heads(net, nl, x):
    out = net.stages(x)
    z, _ = nl(out[3])
    gap = F.adaptive_avg_pool2d(z, 1).flatten(1)
    gmp = F.adaptive_max_pool2d(z, 1).flatten(1)
    s = gap + gmp
    return (gap, gmp, s), (net.cls(gap), net.cls(gmp), net.cls(s)), out[2], out[3]


sdcn = Net(a.backbone, a.classes).to(dev).train()
nl = NonLocal(sdcn.dim).to(dev).train()
vgn = Net(a.backbone, a.classes).to(dev).eval()
for p in vgn.parameters():
    p.requires_grad_(False)
opt = torch.optim.Adam([p for p in sdcn.parameters() if p.requires_grad], lr=2e-4, weight_decay=5e-4)
opt_nl = torch.optim.Adam(nl.parameters(), lr=3.5e-5, weight_decay=5e-4)
scaler = torch.amp.GradScaler("cuda", enabled=a.amp)
x_f = torch.randn(a.batch_size, 3, a.height, a.width, device=dev)
x_o = torch.randn(a.batch_size, 3, a.height, a.width, device=dev)
y = torch.arange(a.batch_size // a.instances, device=dev).repeat_interleave(a.instances)


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def step():
    opt.zero_grad()
    opt_nl.zero_grad()
    with torch.autocast(dev.type, enabled=a.amp):
        _, (s_gap_o, s_gmp_o, s_sum_o), out3_o, out4_o = heads(sdcn, nl, x_o)
        (f_gap, f_gmp, f_sum), (s_gap, s_gmp, s_sum), _, out4_f = heads(sdcn, nl, x_f)
        with torch.no_grad():
            v = vgn.stages(x_f)
            vgn3, vgn4 = v[2], v[3]
        v_o = F.adaptive_avg_pool2d(nl(out4_o)[1] + vgn4, 1).flatten(1)
        v_f = F.adaptive_avg_pool2d(nl(out4_f)[1] + vgn4, 1).flatten(1)
        lo, lf = vgn.cls(v_o), vgn.cls(v_f)
    # float32 outside autocast, as occreid's losses (see tools/bench_train_peer.py).
    loss = (0.1 * (ce_ls(s_gap_o.float(), y) + ce_ls(s_gmp_o.float(), y) + ce_ls(s_sum_o.float(), y))
            + ce_ls(s_gap.float(), y) + ce_ls(s_gmp.float(), y) + ce_ls(s_sum.float(), y)
            + triplet(f_gap.float(), y) + triplet(f_gmp.float(), y) + triplet(f_sum.float(), y)
            + 0.01 * (F.mse_loss(out4_o.float(), vgn4.float()) + F.mse_loss(out3_o.float(), vgn3.float()))
            + 0.001 * (ce_ls(lo.float(), y) + ce_ls(lf.float(), y)))
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.step(opt_nl)
    scaler.update()
    return loss.item()


for _ in range(a.warmup):
    step()
sync()
t = time.perf_counter()
for _ in range(a.steps):
    step()
sync()
pairs = a.steps * a.batch_size / (time.perf_counter() - t)
print(json.dumps({"train_pairs_per_s": pairs, "threads": torch.get_num_threads(), "device": a.device}))
