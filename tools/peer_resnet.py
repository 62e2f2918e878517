"""A torchvision-layout ResNet written out with torch only (the benchmark peers need no torchvision):
bottleneck stride on conv2 (v1.5), default init. `Block` is torchvision's BasicBlock / Bottleneck;
`make_layer(backbone, index, c_in, stride)` builds layer1..4; `channels(backbone, index)` their widths.
"""
import torch.nn as nn
import torch.nn.functional as F

BLOCKS = {"resnet18": ([2, 2, 2, 2], False), "resnet34": ([3, 4, 6, 3], False),
          "resnet50": ([3, 4, 6, 3], True), "resnet101": ([3, 4, 23, 3], True)}


class Block(nn.Module):
    def __init__(self, c_in, planes, stride, bottleneck):
        super().__init__()
        exp = 4 if bottleneck else 1
        if bottleneck:
            self.convs = nn.ModuleList([nn.Conv2d(c_in, planes, 1, bias=False),
                                        nn.Conv2d(planes, planes, 3, stride, 1, bias=False),
                                        nn.Conv2d(planes, planes * exp, 1, bias=False)])
            self.bns = nn.ModuleList([nn.BatchNorm2d(planes), nn.BatchNorm2d(planes), nn.BatchNorm2d(planes * exp)])
        else:
            self.convs = nn.ModuleList([nn.Conv2d(c_in, planes, 3, stride, 1, bias=False),
                                        nn.Conv2d(planes, planes, 3, 1, 1, bias=False)])
            self.bns = nn.ModuleList([nn.BatchNorm2d(planes), nn.BatchNorm2d(planes)])
        self.down = None
        if stride != 1 or c_in != planes * exp:
            self.down = nn.Sequential(nn.Conv2d(c_in, planes * exp, 1, stride, bias=False), nn.BatchNorm2d(planes * exp))

    def forward(self, x):
        y = x
        for k, (c, b) in enumerate(zip(self.convs, self.bns)):
            y = b(c(y))
            if k < len(self.convs) - 1:
                y = F.relu(y)
        return F.relu(y + (x if self.down is None else self.down(x)))


def channels(backbone, index):
    return (64 << (index - 1)) * (4 if BLOCKS[backbone][1] else 1)


def make_layer(backbone, index, c_in, stride):
    blocks, bottleneck = BLOCKS[backbone]
    layer = []
    for b in range(blocks[index - 1]):
        layer.append(Block(c_in if b == 0 else channels(backbone, index), 64 << (index - 1), stride if b == 0 else 1, bottleneck))
    return nn.Sequential(*layer)
