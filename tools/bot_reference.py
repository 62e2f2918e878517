"""reid-strong-baseline's BoT in PyTorch (spec §1.1), shared by the tools/ scripts that generate parity
fixtures or run the PyTorch peer of a benchmark, so there is one reference definition of each piece:

- `ce_ls`: CrossEntropyLabelSmooth (eps 0.1);
- `triplet`: batch-hard triplet on Euclidean distances (BoT's addmm order, clamp 1e-12, sqrt; torch.max /
  torch.min mining; MarginRankingLoss, margin 0.3);
- `center_loss` / `CenterLoss`: BoT's center loss with the [1e-12, 1e12] clamp;
- `Baseline`: torchvision ResNet in BoT form (last stride 1, no ReLU after the stem BN) -> GAP -> BNNeck
  (BatchNorm1d, bias frozen at 0) -> bias-free classifier ~ N(0, std); training forward gives
  (logits, pooled feature), eval forward the BNNeck feature;
- `lr_at`: WarmupMultiStepLR per (1-based) epoch.

Import from a script in tools/ (its folder is on sys.path): `from bot_reference import ce_ls, ...`.
"""
import torch
import torch.nn.functional as F
import torchvision


def ce_ls(x, y, eps=0.1):
    log_probs = F.log_softmax(x, dim=1)
    # float32 whatever the logits' dtype, as BoT's `torch.zeros(log_probs.size())` (spec §3.11 item 4): in a
    # float64 run the smoothed weights are float32 numbers.
    t = torch.zeros(log_probs.size(), device=x.device).scatter_(1, y.unsqueeze(1), 1)
    t = (1 - eps) * t + eps / x.size(1)
    return (-t * log_probs).mean(0).sum()


def triplet(f, y, margin=0.3):
    n = f.size(0)
    d = f.pow(2).sum(1, keepdim=True).expand(n, n)
    d = d + d.t()
    d = torch.addmm(d, f, f.t(), beta=1, alpha=-2).clamp(min=1e-12).sqrt()
    pos = y.expand(n, n).eq(y.expand(n, n).t())
    d_ap, _ = torch.max(d[pos].contiguous().view(n, -1), 1)
    d_an, _ = torch.min(d[~pos].contiguous().view(n, -1), 1)
    return torch.nn.MarginRankingLoss(margin=margin)(d_an, d_ap, torch.ones_like(d_an))


def center_loss(f, y, c):
    b, k = f.size(0), c.size(0)
    d = f.pow(2).sum(1, keepdim=True).expand(b, k) + c.pow(2).sum(1, keepdim=True).expand(k, b).t()
    d = torch.addmm(d, f, c.t(), beta=1, alpha=-2)
    mask = y.unsqueeze(1).expand(b, k).eq(torch.arange(k, device=f.device).expand(b, k))
    return (d * mask.float()).clamp(min=1e-12, max=1e12).sum() / b


class CenterLoss(torch.nn.Module):
    """Centres as a parameter named `centers` (BoT's state-dict name), drawn from N(0, 1) unless `init`."""

    def __init__(self, num_classes, dim, init=torch.randn):
        super().__init__()
        self.centers = torch.nn.Parameter(init(num_classes, dim))

    def forward(self, f, y):
        return center_loss(f, y, self.centers)


class Baseline(torch.nn.Module):
    def __init__(self, num_classes, backbone="resnet18", classifier_std=0.001):
        super().__init__()
        m = getattr(torchvision.models, backbone)(weights=None)  # kaiming-normal fan-out convs, BN 1 / 0
        block = m.layer4[0]
        bottleneck_blocks = backbone in ("resnet50", "resnet101", "resnet152")
        (block.conv2 if bottleneck_blocks else block.conv1).stride = (1, 1)  # last stride 1
        block.downsample[0].stride = (1, 1)
        del m.fc
        self.base = m
        dim = 2048 if bottleneck_blocks else 512
        self.bottleneck = torch.nn.BatchNorm1d(dim)
        self.bottleneck.bias.requires_grad_(False)
        self.classifier = torch.nn.Linear(dim, num_classes, bias=False)
        if classifier_std is not None:
            torch.nn.init.normal_(self.classifier.weight, std=classifier_std)

    def forward(self, x):
        m = self.base
        x = m.maxpool(m.bn1(m.conv1(x)))  # BoT: no ReLU after the stem BN
        x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
        g = F.adaptive_avg_pool2d(x, 1).flatten(1)
        feat = self.bottleneck(g)
        return (self.classifier(feat), g) if self.training else feat


def lr_at(epoch, base, warmup_epochs, warmup_factor, milestones, gamma=0.1):
    if epoch < warmup_epochs:
        w = warmup_factor * (1 - epoch / warmup_epochs) + epoch / warmup_epochs
    else:
        w = 1.0
    return base * w * gamma ** sum(m <= epoch for m in milestones)
