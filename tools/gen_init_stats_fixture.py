"""Fixture: statistics of a freshly initialised torchvision ResNet-18 and ResNet-50 (torch 2.11 /
torchvision 0.26, `weights=None`), so the tests can check that occreid's from-scratch init follows
torchvision's (conv: kaiming-normal fan-out; BatchNorm: weight 1, bias 0, running mean 0, var 1).

Per state-dict tensor (fc.* and num_batches_tracked left out): numel, min, max, mean, std.
Writes crates/occreid-model/tests/fixtures/torchvision_init_stats.json.
Run: .venv/bin/python tools/gen_init_stats_fixture.py
"""
import json
import pathlib

import torch
import torchvision

out = pathlib.Path(__file__).resolve().parent.parent / "crates/occreid-model/tests/fixtures/torchvision_init_stats.json"
torch.manual_seed(0)
stats = {}
for arch in ("resnet18", "resnet50"):
    model = getattr(torchvision.models, arch)(weights=None)
    stats[arch] = {
        name: {"numel": t.numel(), "min": t.min().item(), "max": t.max().item(), "mean": t.mean().item(),
               "std": t.float().std().item() if t.numel() > 1 else 0.0}
        for name, t in model.state_dict().items()
        if not name.startswith("fc.") and not name.endswith("num_batches_tracked")
    }
out.write_text(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__, "stats": stats}) + "\n")
print(f"wrote {out} ({out.stat().st_size} bytes)")
