"""Parity fixtures for occreid-model's ResNets and weight loading (torchvision 0.26 / torch 2.11).

Writes crates/occreid-model/tests/fixtures/:
* torchvision_keys.json: every state-dict key and shape of torchvision resnet18/34/50/101 (no weights).
* small_state.pth / small_state.safetensors / small_state_module_prefix.pth: a few stem tensors with
  known values plus an `fc.weight` and `num_batches_tracked`, to test loading by name.
* forward_<arch>.npy: the output feature map of torchvision's ResNet with deterministic weights and input
  (formula below, reproduced exactly in the Rust test), in BoT form (stem ReLU removed, last stride 1),
  eval mode, and for resnet18 also train-mode BN.

Deterministic values: tensor number t (state-dict order), flat element k:
  u = ((k * 7919 + t * 104729) % 2001 - 1000) / 1000.0   (float64, exact on both sides)
  conv weight: u / sqrt(fan_in); BN weight: 1 + u / 10; BN bias and running_mean: u / 10;
  running_var: 1 + (u + 1) / 4; then cast to float32. Input element k: ((k * 31) % 255) / 127.5 - 1.
Run: .venv/bin/python tools/gen_model_fixtures.py
"""
import json
import pathlib

import numpy as np
import torch
import torchvision
from safetensors.torch import save_file

out = pathlib.Path(__file__).resolve().parent.parent / "crates/occreid-model/tests/fixtures"
out.mkdir(parents=True, exist_ok=True)
archs = ["resnet18", "resnet34", "resnet50", "resnet101"]


def unit(n, t):
    k = np.arange(n, dtype=np.int64)
    return ((k * 7919 + t * 104729) % 2001 - 1000) / 1000.0


def deterministic_state(model):
    state = {}
    for t, (name, v) in enumerate(model.state_dict().items()):
        if name.endswith("num_batches_tracked"):
            state[name] = v
            continue
        u = unit(v.numel(), t)
        if name.endswith("running_var"):
            x = 1 + (u + 1) / 4
        elif name.endswith("running_mean"):
            x = u / 10
        elif v.dim() == 4 or name.startswith("fc.weight"):
            x = u / np.sqrt(np.prod(v.shape[1:]))
        elif name.endswith("weight"):
            x = 1 + u / 10
        else:
            x = u / 10
        state[name] = torch.from_numpy(x.astype(np.float32).reshape(v.shape))
    return state


def bot_form(model, arch):
    model.relu = torch.nn.Identity()  # the stem's ReLU; blocks have their own
    block = model.layer4[0]
    (block.conv2 if arch in ("resnet50", "resnet101") else block.conv1).stride = (1, 1)
    block.downsample[0].stride = (1, 1)
    return model


keys = {}
for arch in archs:
    m = getattr(torchvision.models, arch)(weights=None)
    keys[arch] = [[k, list(v.shape)] for k, v in m.state_dict().items()]
json.dump(keys, open(out / "torchvision_keys.json", "w"))

x = torch.from_numpy((((np.arange(2 * 3 * 64 * 32) * 31) % 255) / 127.5 - 1).astype(np.float32).reshape(2, 3, 64, 32))
for arch in ["resnet18", "resnet50"]:
    m = getattr(torchvision.models, arch)(weights=None)
    m.load_state_dict(deterministic_state(m))
    m = bot_form(m, arch)
    trunk = torch.nn.Sequential(*list(m.children())[:-2])
    with torch.no_grad():
        trunk.eval()
        np.save(out / f"forward_{arch}_eval.npy", trunk(x).numpy())
        if arch == "resnet18":
            trunk.train()
            np.save(out / f"forward_{arch}_train.npy", trunk(x).numpy())

small = {
    "conv1.weight": torch.arange(64 * 3 * 7 * 7, dtype=torch.float32).reshape(64, 3, 7, 7) / 1000,
    "bn1.weight": torch.linspace(0.5, 1.5, 64),
    "bn1.bias": torch.linspace(-1, 1, 64),
    "bn1.running_mean": torch.full((64,), 0.25),
    "bn1.running_var": torch.full((64,), 2.0),
    "bn1.num_batches_tracked": torch.tensor(7),
    "fc.weight": torch.ones(10, 512),
}
torch.save(small, out / "small_state.pth")
torch.save({"module." + k: v for k, v in small.items()}, out / "small_state_module_prefix.pth")
save_file({k: v for k, v in small.items() if k != "bn1.num_batches_tracked"}, out / "small_state.safetensors")
print("wrote", sorted(p.name for p in out.iterdir()))
