"""The Python side of tools/bench_export.sh: an `occreid export` pair run the way a deployment would run
it, on the same images as `occreid extract`: PIL decode + resize + normalise (the card's settings), then
the ONNX file in onnxruntime (CPU) and the TorchScript file in PyTorch (torch.jit.load), in batches.

    bench_export_peer.py MODEL.pt MODEL.onnx IMAGE_LIST BATCH

Prints one JSON object: images, preprocessing seconds, and per runtime the model seconds, model-only and
end-to-end images/s.
"""
import json
import sys
import time

import numpy as np
import onnx
import onnxruntime
import torch
from PIL import Image

ts_path, onnx_path, list_path, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
paths = [p for p in open(list_path).read().splitlines() if p]
card = json.loads({p.key: p.value for p in onnx.load(onnx_path).metadata_props}["occreid"])
inp = card["input"]
resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[inp["interpolation"]]
mean = np.array(inp["mean"], dtype=np.float32).reshape(3, 1, 1)
std = np.array(inp["std"], dtype=np.float32).reshape(3, 1, 1)

t = time.perf_counter()
images = np.stack(
    [
        (np.asarray(Image.open(p).convert("RGB").resize((inp["width"], inp["height"]), resample), dtype=np.float32)
         .transpose(2, 0, 1) / 255.0 - mean) / std
        for p in paths
    ]
).astype(np.float32)
prep = time.perf_counter() - t
chunks = [images[i : i + batch] for i in range(0, len(images), batch)]

session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
session.run(["features"], {"images": chunks[0]})  # warm-up
t = time.perf_counter()
for c in chunks:
    session.run(["features"], {"images": c})
ort_s = time.perf_counter() - t

module = torch.jit.load(ts_path, map_location="cpu").eval()
with torch.no_grad():
    module(torch.from_numpy(chunks[0]))  # warm-up (the first call also optimises the graph)
    t = time.perf_counter()
    for c in chunks:
        module(torch.from_numpy(c))
    ts_s = time.perf_counter() - t

n = len(images)
out = {"images": n, "preprocess_seconds": prep, "torch_threads": torch.get_num_threads()}
for name, s in [("onnxruntime", ort_s), ("torchscript_python", ts_s)]:
    out[name] = {"model_seconds": s, "model_images_per_s": n / s, "end_to_end_images_per_s": n / (s + prep)}
print(json.dumps(out))
