"""Load an ONNX file safely and check it.

* External data must live inside the model's folder (no absolute paths, no ``..``).
* ``onnx.checker`` must accept the model.
* Exactly one non-constant graph input (IR<4 exports also list initializers as inputs)
  and one graph output.
* The batch dimension is fixed to 1; every other dimension must be a positive constant.
* Sizes are checked before anything is allocated: every initializer, the input and
  every inferred tensor shape hold at most ``MAX_TENSOR_ELEMENTS`` elements (the
  compiler builds index maps and tables as large as a tensor).
* Opsets must be ones this onnx knows; every node input is produced by an earlier node,
  an initializer or a graph input (a clear message for dangling inputs and cycles);
  names starting with ``__bnncc`` are reserved; duplicate node names are made unique
  (onnxruntime, the reference, refuses them).
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from onnx import external_data_helper

from ..errors import BnnccError, UnsupportedError, first_line, shown
from ..onnx_shapes import infer_shapes
from ..reference import graph_input_name

MAX_FILE_BYTES = 2 * 1024**3
# 16 Mi elements (64 MiB of float32) per tensor: far above any network that fits a
# microcontroller, far below what would exhaust the host while compiling
MAX_TENSOR_ELEMENTS = 1 << 24
RESERVED_PREFIX = "__bnncc"


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
        if not path.exists():
            raise BnnccError("no such file", where=name)
        if not path.is_file():  # a device, a FIFO: could block or never end
            raise BnnccError("not a regular file", where=name)
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
    _check_strings(m, name)
    _check_opsets(m, name)
    _check_names(m, name)
    _check_initializer_sizes(m, name)
    _load_external(m, base, name)
    _check_tensors_readable(m, name)
    _check_wiring(m, name)
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
    _check_shapes(m, name)
    return m, name


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


def _too_big(what: str, n: int) -> str:
    return (f"{what} has {n} elements; the limit is {MAX_TENSOR_ELEMENTS} per tensor "
            f"(bnncc.frontend.load.MAX_TENSOR_ELEMENTS)")


def _check_strings(m: onnx.ModelProto, name: str) -> None:
    """protobuf hands out invalid UTF-8 in string fields as bytes: refuse it once here."""
    g = m.graph
    fields = [("graph name", g.name)] + [("opset domain", o.domain) for o in m.opset_import]
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        fields.append(("tensor name", vi.name))
    for t in g.initializer:
        fields += [("initializer name", t.name)] + [("external data entry", e.key) for e in t.external_data]
        fields += [("external data entry", e.value) for e in t.external_data]
    for n in g.node:
        fields += [("node name", n.name), ("op type", n.op_type), ("domain", n.domain)]
        fields += [("tensor name", t) for t in list(n.input) + list(n.output)]
        fields += [("attribute name", a.name) for a in n.attribute]
    for what, v in fields:
        if not isinstance(v, str):
            raise BnnccError(f"{what} {shown(repr(v), 60)} is not valid UTF-8", where=name)


def _check_tensors_readable(m: onnx.ModelProto, name: str) -> None:
    """Every initializer and constant attribute converts to an array (known data type,
    as many values as its dims say): the passes may read any of them."""
    from onnx import numpy_helper

    tensors = [(f"initializer '{shown(t.name)}'", t) for t in m.graph.initializer]
    for n in m.graph.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                tensors.append((f"attribute '{shown(a.name)}' of node '{shown(n.name or n.op_type)}'", a.t))
                if _numel(a.t.dims) > MAX_TENSOR_ELEMENTS:
                    raise UnsupportedError(_too_big(tensors[-1][0], _numel(a.t.dims)), where=name)
    for what, t in tensors:
        try:
            numpy_helper.to_array(t)
        except Exception as exc:
            raise BnnccError(f"{what} cannot be read ({type(exc).__name__}: {_first_line(exc)})", where=name) from None


def _check_opsets(m: onnx.ModelProto, name: str) -> None:
    newest = onnx.defs.onnx_opset_version()
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx") and not 1 <= o.version <= newest:
            raise UnsupportedError(f"the model imports opset {o.version} of the default ONNX domain; "
                                   f"this onnx knows opsets 1 to {newest}", where=name)


def _check_names(m: onnx.ModelProto, name: str) -> None:
    g = m.graph
    names = [i.name for i in g.input] + [o.name for o in g.output] + [t.name for t in g.initializer]
    names += [n.name for n in g.node] + [t for n in g.node for t in list(n.input) + list(n.output)]
    for t in names:
        if t.startswith(RESERVED_PREFIX):
            raise UnsupportedError(f"name '{shown(t)}' starts with '{RESERVED_PREFIX}', which bnncc reserves "
                                   "for the tensors it adds", where=name)
    seen: set[str] = set(n.name for n in g.node)
    used: set[str] = set()
    for n in g.node:
        if n.name and n.name in used:
            k = 2
            while f"{n.name}#{k}" in seen:
                k += 1
            n.name = f"{n.name}#{k}"
            seen.add(n.name)
        used.add(n.name)


def _check_initializer_sizes(m: onnx.ModelProto, name: str) -> None:
    for t in m.graph.initializer:
        if any(d < 0 for d in t.dims):
            raise BnnccError(f"initializer '{shown(t.name)}' has a negative dimension {list(t.dims)}", where=name)
        n = _numel(t.dims)
        if n > MAX_TENSOR_ELEMENTS:
            raise UnsupportedError(_too_big(f"initializer '{shown(t.name)}'", n), where=name)


def _check_wiring(m: onnx.ModelProto, name: str) -> None:
    """Every input of a node comes from an initializer, a graph input or an earlier node."""
    g = m.graph
    producer: dict[str, int] = {}
    for k, n in enumerate(g.node):
        for o in n.output:
            if o in producer:
                raise BnnccError(f"tensor '{shown(o)}' is produced twice (the graph must be in SSA form)",
                                 where=f"node '{shown(n.name or o)}' ({shown(n.op_type, 40)})")
            if o:
                producer[o] = k
    known = {i.name for i in g.input} | {t.name for t in g.initializer}
    for k, n in enumerate(g.node):
        for i in n.input:
            if not i or i in known or producer.get(i, k) < k:
                continue
            where = f"node '{shown(n.name or (n.output[0] if n.output else '?'))}' ({shown(n.op_type, 40)})"
            if i not in producer:
                raise BnnccError(f"input '{shown(i)}' is not produced by any node, initializer or graph input",
                                 where=where)
            if _on_cycle(g, k):
                raise BnnccError(f"the graph has a cycle: input '{shown(i)}' depends on this node's own output",
                                 where=where)
            raise BnnccError(f"nodes are not in topological order: input '{shown(i)}' is produced by a later node",
                             where=where)


def _on_cycle(g, start: int) -> bool:
    """Does node ``start`` reach itself through the data edges?"""
    consumers: dict[str, list[int]] = {}
    for k, n in enumerate(g.node):
        for i in n.input:
            consumers.setdefault(i, []).append(k)
    seen, stack = set(), [start]
    while stack:
        k = stack.pop()
        for o in g.node[k].output:
            for c in consumers.get(o, ()):
                if c == start:
                    return True
                if c not in seen:
                    seen.add(c)
                    stack.append(c)
    return False


def _check_shapes(m: onnx.ModelProto, name: str) -> None:
    """Every tensor shape that inference can tell, within the element limit."""
    try:
        shapes = infer_shapes(m)
    except BnnccError as exc:
        raise BnnccError(str(exc), where=name) from None
    for t, shape in sorted(shapes.items()):
        dims = [d for d in shape if isinstance(d, int)]
        if any(d < 0 for d in dims):
            raise BnnccError(f"tensor '{shown(t)}' has a negative dimension {list(shape)}", where=name)
        n = _numel(dims)
        if n > MAX_TENSOR_ELEMENTS:
            raise UnsupportedError(_too_big(f"tensor '{shown(t)}' of shape {list(shape)}", n), where=name)


def _load_external(m: onnx.ModelProto, base: Path | None, name: str) -> None:
    tensors = [t for t in external_data_helper._get_all_tensors(m) if external_data_helper.uses_external_data(t)]
    if not tensors:
        return
    if base is None:
        raise BnnccError("the model refers to external data but was not loaded from a file", where=name)
    for t in tensors:
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        tname = shown(t.name)
        try:
            target = (base / loc).resolve()
            exists = target.exists()
        except (OSError, ValueError) as exc:  # too long, NUL bytes, loops of links
            raise BnnccError(f"tensor '{tname}' has an unusable external data location '{shown(loc, 60)}' "
                             f"({type(exc).__name__})", where=name) from None
        if not loc or Path(loc).is_absolute() or base not in target.parents:
            raise BnnccError(f"tensor '{tname}' refers to external data '{shown(loc)}' outside the model's folder", where=name)
        if not exists:
            raise BnnccError(f"tensor '{tname}' refers to missing external data file '{shown(loc)}'", where=name)
        if not target.is_file():
            raise BnnccError(f"tensor '{tname}' refers to external data '{shown(loc)}', which is not a regular file",
                             where=name)
        # read exactly the tensor's bytes: check offset/length against the file before loading
        try:
            item = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
            offset = int(info.get("offset", 0) or 0)
            length = int(info["length"]) if info.get("length") else None
        except Exception:
            raise BnnccError(f"tensor '{tname}' has a malformed external data entry or type", where=name) from None
        need = _numel(t.dims) * item
        size = target.stat().st_size
        if offset < 0 or (length is not None and length != need) or offset + need > size:
            raise BnnccError(f"tensor '{tname}': external data '{shown(loc)}' (file of {size} bytes, offset {offset}, "
                             f"length {length}) does not hold the tensor's {need} bytes", where=name)
        if length is None:
            external_data_helper.set_external_data(t, location=loc, offset=offset or None, length=need)
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
        if d.HasField("dim_value") and d.dim_value <= 0:
            raise UnsupportedError(f"graph input '{shown(iname)}' has dimension {k} = {d.dim_value}; "
                                   "dimensions must be positive", where=name)
        if not d.HasField("dim_value"):
            what = shown(d.dim_param or "unknown", 40)
            raise UnsupportedError(f"graph input '{shown(iname)}' has dynamic dimension {k} ('{what}'); "
                                   "only the batch may be dynamic", where=name)
    n = _numel(d.dim_value for d in dims)
    if n > MAX_TENSOR_ELEMENTS:
        raise UnsupportedError(_too_big(f"graph input '{shown(iname)}' of shape {[d.dim_value for d in dims]}", n),
                               where=name)
    # drop stale intermediate annotations (they may still carry a symbolic batch)
    del m.graph.value_info[:]
    for o in m.graph.output:
        if o.type.tensor_type.HasField("shape"):
            o.type.tensor_type.ClearField("shape")
