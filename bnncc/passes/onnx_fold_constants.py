"""ONNX pass: fold every node whose value does not depend on the graph input.

Matches: nodes whose inputs are all initializers/``Constant`` outputs (``Sign(W)``,
``BipolarQuant(W, s)``, weight ``Transpose``, ``Pow(var, 0.5)`` ...), and ``Shape`` of a
tensor whose shape is static (the batch is fixed to 1 by the loader), which turns
Shape->Gather->Unsqueeze->Concat->Reshape flatten chains into a constant shape.

Rewrites: each such node into an initializer holding its value.

Identity relied on: the value is computed by the reference engine itself (onnxruntime
on a one-node model, custom ops lowered as in ``bnncc.reference``), so folding cannot
change any float result; e.g. ``BipolarQuant(0) = +1`` and ``Sign(0) = 0`` come out
exactly as the reference defines them.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import BnnccError
from ..onnx_shapes import infer_shapes
from ..reference import session

MAX_FOLD_ELEMENTS = 1 << 26


def _opsets(m):
    return [helper.make_opsetid(o.domain, o.version) for o in m.opset_import]


def _eval_node(m: onnx.ModelProto, node, consts: dict) -> list[np.ndarray]:
    inits = [numpy_helper.from_array(np.asarray(consts[i]), i) for i in dict.fromkeys(node.input) if i]
    g = helper.make_graph([node], "fold", [], [onnx.ValueInfoProto(name=o) for o in node.output if o], initializer=inits)
    sub = helper.make_model(g, opset_imports=_opsets(m), ir_version=max(m.ir_version, 4))
    sess = session(sub)
    return sess.run([o for o in node.output if o], {})


def run(m: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(m)
    g = out.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    shapes = None
    keep = []
    for node in g.node:
        where = f"node '{node.name or node.output[0]}' ({node.op_type})"
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            try:
                (val,) = _eval_node(out, node, consts)
            except BnnccError as exc:
                raise BnnccError(str(exc), where=where) from None
            consts[node.output[0]] = val
            continue
        if node.op_type == "Shape" and node.domain in ("", "ai.onnx") and node.input[0] not in consts:
            if shapes is None:
                shapes = infer_shapes(out)
            shp = shapes.get(node.input[0])
            if shp is not None and all(isinstance(d, int) and d > 0 for d in shp):
                start = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "start"), 0)
                end = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "end"), None)
                consts[node.output[0]] = np.array(shp[start:end], dtype=np.int64)
                continue
        inputs = [i for i in node.input if i]
        if inputs and all(i in consts for i in inputs):
            if sum(np.asarray(consts[i]).size for i in inputs) > MAX_FOLD_ELEMENTS:
                raise BnnccError(f"constant inputs exceed {MAX_FOLD_ELEMENTS} elements", where=where)
            try:
                vals = _eval_node(out, node, consts)
            except BnnccError as exc:
                raise BnnccError(f"cannot evaluate constant node: {exc}", where=where) from None
            for name, v in zip([o for o in node.output if o], vals):
                consts[name] = v
            continue
        keep.append(node)
    del g.node[:]
    g.node.extend(keep)
    used = {i for n in keep for i in n.input} | {o.name for o in g.output}
    del g.initializer[:]
    g.initializer.extend(numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items() if k in used)
    inits = {i.name for i in g.initializer}
    real_inputs = [i for i in g.input if i.name not in inits and i.name not in consts]
    del g.input[:]
    g.input.extend(real_inputs)
    return out
