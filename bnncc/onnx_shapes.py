"""Shape inference that sees through the custom ops.

QONNX/FINN custom ops (BipolarQuant, MultiThreshold, Quant) are elementwise: their
output has the shape of their first input.  onnx's shape inference does not know them,
so we infer on a copy where each is an ``Identity`` of its first input.
"""

from __future__ import annotations

import onnx
from onnx import helper

from .errors import BnnccError, first_line


def _custom(node) -> bool:
    return node.domain not in ("", "ai.onnx")


def infer_shapes(model: onnx.ModelProto) -> dict[str, tuple]:
    """Map tensor name -> shape tuple (ints, or strings for symbolic dims)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    nodes = []
    for n in m.graph.node:
        if _custom(n):
            nodes.append(helper.make_node("Identity", [n.input[0]], [n.output[0]], name=n.name))
        else:
            nodes.append(n)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    del m.graph.value_info[:]
    keep = [helper.make_opsetid(o.domain, o.version) for o in m.opset_import if o.domain in ("", "ai.onnx")]
    del m.opset_import[:]
    m.opset_import.extend(keep or [helper.make_opsetid("", 13)])
    try:
        inferred = onnx.shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
    except Exception as exc:  # onnx's InferenceError and friends: a model that contradicts itself
        raise BnnccError(f"ONNX shape inference fails: {first_line(exc)[:300]}") from None
    shapes = {}
    for vi in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim)
    for init in model.graph.initializer:
        shapes[init.name] = tuple(init.dims)
    return shapes
