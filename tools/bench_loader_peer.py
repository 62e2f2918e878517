"""Peer for `occreid bench loader`: torchvision + PIL through a PyTorch DataLoader with BoT's train
transforms, over the same Market-layout train folder, same batch size and number of workers.
Run: .venv/bin/python tools/bench_loader_peer.py ROOT [--workers 2] [--epochs 2]
"""
import argparse
import pathlib
import time

import torch
import torchvision.transforms as T
from PIL import Image

ap = argparse.ArgumentParser()
ap.add_argument("root")
ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--epochs", type=int, default=2)
ap.add_argument("--batch-size", type=int, default=64)
a = ap.parse_args()
torch.set_num_threads(1)
paths = sorted(pathlib.Path(a.root, "bounding_box_train").glob("*.jpg"))
mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
transform = T.Compose([T.Resize((256, 128)), T.RandomHorizontalFlip(0.5), T.Pad(10), T.RandomCrop((256, 128)),
                       T.ToTensor(), T.Normalize(mean, std), T.RandomErasing(p=0.5, value=mean)])


class Folder(torch.utils.data.Dataset):
    def __len__(self):
        return len(paths)

    def __getitem__(self, i):
        return transform(Image.open(paths[i]).convert("RGB")), int(paths[i].name[:4])


loader = torch.utils.data.DataLoader(Folder(), batch_size=a.batch_size, shuffle=False, num_workers=a.workers,
                                     persistent_workers=a.workers > 0)
for _ in loader:  # warm-up epoch: worker start-up excluded
    pass
t = time.perf_counter()
n = 0
for _ in range(a.epochs):
    for x, _ in loader:
        n += x.shape[0]
s = time.perf_counter() - t
print(f"torchvision {__import__('torchvision').__version__} DataLoader: {n} images in {s:.2f} s = {n / s:.0f} images/s "
      f"({a.workers} workers, batch {a.batch_size})")
