# Run by `occreid export --format onnx` (crates/occreid-train/src/export.rs) with the Python whose torch
# holds the libtorch occreid runs on: a traced TorchScript embedding -> ONNX through PyTorch's own exporter.
# argv: traced.pt out.onnx card_json opset card_key
import json
import sys
import warnings

traced, out, card_json, opset, key = sys.argv[1:6]
import torch  # noqa: E402

card = json.loads(card_json)
module = torch.jit.load(traced, map_location="cpu").eval()
example = torch.zeros(2, 3, card["input"]["height"], card["input"]["width"])
with warnings.catch_warnings():
    # The TorchScript-based exporter is the one that takes a traced graph; it warns that torch.export's
    # is now the default, which cannot read TorchScript.
    warnings.simplefilter("ignore")
    torch.onnx.export(
        module,
        (example,),
        out,
        dynamo=False,
        opset_version=int(opset),
        input_names=["images"],
        output_names=["features"],
        dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
    )
import onnx  # noqa: E402

model = onnx.load(out)
entry = model.metadata_props.add()
entry.key = key
entry.value = card_json
model.doc_string = "occreid {} embedding, {}x{} input, {}-d features".format(
    card["method"], card["input"]["height"], card["input"]["width"], card["feature_dim"]
)
onnx.checker.check_model(model)
onnx.save(model, out)
