"""Load an ONNX file safely and check it.

* External data must live inside the model's folder (no absolute paths, no ``..``).
* ``onnx.checker`` must accept the model.
* Exactly one non-constant graph input (IR<4 exports also list initializers as inputs)
  and one graph output.
* The batch dimension is fixed to 1; every other dimension must be a positive constant.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from onnx import external_data_helper

from ..errors import BnnccError, UnsupportedError, first_line
from ..reference import graph_input_name

MAX_FILE_BYTES = 2 * 1024**3


def _first_line(exc: Exception) -> str:
    return first_line(exc)[:300]


def load(model: str | os.PathLike | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """Return (checked model with batch 1, display name)."""
    if isinstance(model, onnx.ModelProto):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        name = m.graph.name or "model"
        base = None
    else:
        path = Path(model)
        name = str(path)
        if not path.is_file():
            raise BnnccError("no such file", where=name)
        size = path.stat().st_size
        if size == 0:
            raise BnnccError("file is empty", where=name)
        if size > MAX_FILE_BYTES:
            raise BnnccError(f"file is {size} bytes; bnncc accepts models up to {MAX_FILE_BYTES} bytes", where=name)
        try:
            m = onnx.load(str(path), load_external_data=False)
        except Exception as exc:
            raise BnnccError(f"not a readable ONNX model ({_first_line(exc)})", where=name) from None
        base = path.resolve().parent
    if not m.graph.node:
        raise BnnccError("the graph has no nodes", where=name)
    _load_external(m, base, name)
    # Brevitas exports use custom domains without importing them (the zoo's TFC does)
    have = {o.domain for o in m.opset_import}
    for domain in sorted({n.domain for n in m.graph.node} - have - {"ai.onnx"}):
        m.opset_import.append(onnx.helper.make_opsetid(domain, 1))
    try:
        onnx.checker.check_model(m)
    except Exception as exc:
        raise BnnccError(f"onnx.checker rejects the model: {_first_line(exc)}", where=name) from None
    if len(m.graph.output) != 1:
        raise UnsupportedError(f"the graph has {len(m.graph.output)} outputs; bnncc compiles single-output graphs", where=name)
    try:
        iname = graph_input_name(m)
    except BnnccError as exc:
        raise BnnccError(str(exc), where=name) from None
    _fix_batch(m, iname, name)
    return m, name


def _load_external(m: onnx.ModelProto, base: Path | None, name: str) -> None:
    tensors = [t for t in external_data_helper._get_all_tensors(m) if external_data_helper.uses_external_data(t)]
    if not tensors:
        return
    if base is None:
        raise BnnccError("the model refers to external data but was not loaded from a file", where=name)
    for t in tensors:
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        target = (base / loc).resolve()
        if not loc or Path(loc).is_absolute() or base not in target.parents:
            raise BnnccError(f"tensor '{t.name}' refers to external data '{loc}' outside the model's folder", where=name)
        if not target.is_file():
            raise BnnccError(f"tensor '{t.name}' refers to missing external data file '{loc}'", where=name)
    try:
        external_data_helper.load_external_data_for_model(m, str(base))
    except Exception as exc:
        raise BnnccError(f"cannot load external data ({_first_line(exc)})", where=name) from None


def _fix_batch(m: onnx.ModelProto, iname: str, name: str) -> None:
    vi = next(i for i in m.graph.input if i.name == iname)
    tt = vi.type.tensor_type
    if tt.elem_type != onnx.TensorProto.FLOAT:
        raise UnsupportedError(f"graph input '{iname}' must be float32", where=name)
    if not tt.HasField("shape") or len(tt.shape.dim) == 0:
        raise UnsupportedError(f"graph input '{iname}' has no static shape", where=name)
    dims = tt.shape.dim
    d0 = dims[0]
    if d0.HasField("dim_value") and d0.dim_value not in (0, 1):
        raise UnsupportedError(f"graph input '{iname}' has batch size {d0.dim_value}; bnncc compiles for batch 1", where=name)
    d0.Clear()
    d0.dim_value = 1
    for k, d in enumerate(dims[1:], start=1):
        if not d.HasField("dim_value") or d.dim_value <= 0:
            what = d.dim_param or "unknown"
            raise UnsupportedError(f"graph input '{iname}' has dynamic dimension {k} ('{what}'); only the batch may be dynamic", where=name)
    # drop stale intermediate annotations (they may still carry a symbolic batch)
    del m.graph.value_info[:]
    for o in m.graph.output:
        if o.type.tensor_type.HasField("shape"):
            o.type.tensor_type.ClearField("shape")
