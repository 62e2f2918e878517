"""Runs an `occreid export` pair in other runtimes than occreid's: the TorchScript file in PyTorch
(`torch.jit.load`) and the ONNX file in onnxruntime (CPU), on a batch of already normalised images, in
chunks of each given batch size. Used by crates/occreid-cli/tests/export_cli.rs, which compares the
results with `occreid extract`'s features for the same images.

    check_export.py MODEL.pt MODEL.onnx INPUTS.npy OUT_PREFIX BATCH [BATCH ...]

Writes OUT_PREFIX.{torchscript,onnx}.b{BATCH}.npy ([N, D] float32) and prints the two model cards as one
JSON object: what a user of each runtime reads from the file.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime
import torch

ts_path, onnx_path, inputs_path, prefix = sys.argv[1:5]
batches = [int(b) for b in sys.argv[5:]]
images = np.load(inputs_path)

extra = {"occreid.json": ""}
scripted = torch.jit.load(ts_path, map_location="cpu", _extra_files=extra).eval()
session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
onnx_card = {p.key: p.value for p in onnx.load(onnx_path).metadata_props}["occreid"]

for b in batches:
    chunks = [images[i : i + b] for i in range(0, len(images), b)]
    with torch.no_grad():
        ts = np.concatenate([scripted(torch.from_numpy(c)).numpy() for c in chunks])
    ox = np.concatenate([session.run(["features"], {"images": c})[0] for c in chunks])
    np.save(f"{prefix}.torchscript.b{b}.npy", ts.astype(np.float32))
    np.save(f"{prefix}.onnx.b{b}.npy", ox.astype(np.float32))

print(json.dumps({"torchscript": json.loads(extra["occreid.json"]), "onnx": json.loads(onnx_card)}))
