"""The reference semantics: onnxruntime with every graph optimization disabled.

onnxruntime cannot run the QONNX/FINN custom ops, so ``lower_custom_ops`` rewrites them
into standard ONNX ops first, following the ops' own definitions:

* ``BipolarQuant(x, s)`` (domains ``onnx.brevitas``, ``qonnx.custom_op.general``):
  ``+s if x >= 0 else -s``, so **0 maps to +s** (unlike ``Sign``).  Lowered as
  ``Where(Less(x, 0), -s, s)``.
* ``MultiThreshold(x, T)`` (``finn.custom_op.general`` / ``qonnx.custom_op.general``):
  ``out_scale * (number of thresholds t with x >= t) + out_bias``, per channel; the
  channel axis follows ``data_layout`` or, without it, qonnx's guess from the rank
  (2: NC, 3: NWC, 4: NCHW).  Lowered as a sum of ``Cast(Not(Less(x, t)))``.
* ``Quant(x, scale, zeropt, bitwidth)`` (QONNX IntQuant, as its specification writes it):
  ``(round(clamp(x / scale + zeropt, min_int, max_int)) - zeropt) * scale`` with
  ``min_int``/``max_int`` from ``signed``/``narrow``.  A signed 1-bit Quant therefore has
  the levels {-scale, 0}: it is **not** bipolar (qonnx's executor special-cases it as
  bipolar; we follow the specification and let the compiler refuse it).

The comparisons use ``Less`` so a NaN input maps to the "x >= t" side; qonnx's numpy
code maps NaN the other way.  bnncc treats NaN inputs as undefined.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .errors import BnnccError, UnsupportedError, first_line
from .onnx_shapes import infer_shapes

BIPOLAR_DOMAINS = ("onnx.brevitas", "qonnx.custom_op.general", "finn.custom_op.general")
MULTITHRESHOLD_DOMAINS = ("finn.custom_op.general", "qonnx.custom_op.general")
QUANT_DOMAINS = ("onnx.brevitas", "qonnx.custom_op.general")


def is_custom(node: onnx.NodeProto) -> bool:
    return node.domain not in ("", "ai.onnx")


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            v = helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


class _Lowerer:
    def __init__(self, model: onnx.ModelProto):
        self.model = model
        g = model.graph
        self.consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        for n in g.node:
            if n.op_type == "Constant" and not is_custom(n):
                t = _attr(n, "value")
                if t is not None:
                    self.consts[n.output[0]] = numpy_helper.to_array(t)
        try:
            self.ranks = {k: len(v) for k, v in infer_shapes(model).items()}
        except Exception:  # only MultiThreshold needs ranks; it reports a clear error without
            self.ranks = {}
        self.new_inits: list[TensorProto] = []
        self.counter = 0
        self.needs_round = False

    def const(self, value, stem):
        self.counter += 1
        name = f"__bnncc_ref_{stem}_{self.counter}"
        self.new_inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def tmp(self, stem):
        self.counter += 1
        return f"__bnncc_ref_{stem}_{self.counter}"

    def lower(self, node) -> list[onnx.NodeProto]:
        where = f"node '{node.name or node.output[0]}' ({node.op_type})"
        if node.op_type == "BipolarQuant" and node.domain in BIPOLAR_DOMAINS:
            x, s = node.input[0], node.input[1]
            neg = self.tmp("negscale")
            cond = self.tmp("isneg")
            zero = self.const(np.float32(0.0), "zero")
            return [
                helper.make_node("Neg", [s], [neg]),
                helper.make_node("Less", [x, zero], [cond]),
                helper.make_node("Where", [cond, neg, s], [node.output[0]]),
            ]
        if node.op_type == "MultiThreshold" and node.domain in MULTITHRESHOLD_DOMAINS:
            return self.lower_multithreshold(node, where)
        if node.op_type in ("Quant", "IntQuant") and node.domain in QUANT_DOMAINS:
            return self.lower_quant(node, where)
        raise UnsupportedError(f"custom op {node.domain}.{node.op_type} is not supported", where=where)

    def lower_multithreshold(self, node, where):
        x, tname = node.input[0], node.input[1]
        if tname not in self.consts:
            raise UnsupportedError("MultiThreshold thresholds must be a constant", where=where)
        thr = np.asarray(self.consts[tname], dtype=np.float32)
        if thr.ndim != 2:
            raise BnnccError(f"MultiThreshold thresholds must be 2-D [C, B], got shape {list(thr.shape)}", where=where)
        rank = self.ranks.get(x)
        if rank is None:
            raise BnnccError("cannot infer the rank of the MultiThreshold input", where=where)
        layout = _attr(node, "data_layout", "") or {2: "NC", 3: "NWC", 4: "NCHW"}.get(rank)
        cdim = layout.index("C") if layout and "C" in layout else 1
        out_scale = np.float32(_attr(node, "out_scale", 1.0))
        out_bias = np.float32(_attr(node, "out_bias", 0.0))
        nodes = []
        total = None
        for i in range(thr.shape[1]):
            shape = [1] * rank
            shape[cdim] = thr.shape[0]
            t = self.const(thr[:, i].reshape(shape), "thr")
            lt, ge, gef = self.tmp("lt"), self.tmp("ge"), self.tmp("gef")
            nodes += [
                helper.make_node("Less", [x, t], [lt]),
                helper.make_node("Not", [lt], [ge]),
                helper.make_node("Cast", [ge], [gef], to=TensorProto.FLOAT),
            ]
            if total is None:
                total = gef
            else:
                acc = self.tmp("count")
                nodes.append(helper.make_node("Add", [total, gef], [acc]))
                total = acc
        scaled = self.tmp("scaled")
        nodes += [
            helper.make_node("Mul", [total, self.const(out_scale, "oscale")], [scaled]),
            helper.make_node("Add", [scaled, self.const(out_bias, "obias")], [node.output[0]]),
        ]
        return nodes

    def lower_quant(self, node, where):
        if len(node.input) < 4:
            raise UnsupportedError(f"Quant needs 4 inputs (x, scale, zeropt, bitwidth), got {len(node.input)}",
                                   where=where)
        x, scale, zeropt, bitwidth = node.input[:4]
        if bitwidth not in self.consts:
            raise UnsupportedError("Quant bit width must be a constant", where=where)
        bits = quant_bits(self.consts[bitwidth], where)
        signed = int(_attr(node, "signed", 1))
        narrow = int(_attr(node, "narrow", 0))
        mode = str(_attr(node, "rounding_mode", "ROUND")).upper()
        lo, hi = quant_int_range(bits, signed, narrow)
        rounding = {"ROUND": "Round", "HALF_EVEN": "Round", "FLOOR": "Floor", "CEIL": "Ceil"}.get(mode)
        if rounding is None:
            raise UnsupportedError(f"Quant rounding_mode {mode} is not supported", where=where)
        if rounding == "Round":
            self.needs_round = True
        t1, t2, t3, t4, t5, t6 = (self.tmp("q") for _ in range(6))
        return [
            helper.make_node("Div", [x, scale], [t1]),
            helper.make_node("Add", [t1, zeropt], [t2]),
            helper.make_node("Max", [t2, self.const(np.float32(lo), "qmin")], [t3]),
            helper.make_node("Min", [t3, self.const(np.float32(hi), "qmax")], [t4]),
            helper.make_node(rounding, [t4], [t5]),
            helper.make_node("Sub", [t5, zeropt], [t6]),
            helper.make_node("Mul", [t6, scale], [node.output[0]]),
        ]


MAX_QUANT_BITS = 32


def quant_bits(value, where: str) -> int:
    """Quant's bit width: one integer from 1 to MAX_QUANT_BITS (a larger one would make
    the integer range, and everything derived from it, astronomically large)."""
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if v.size != 1 or not np.isfinite(v[0]) or v[0] != int(v[0]) or not 1 <= v[0] <= MAX_QUANT_BITS:
        shown = f"{v[0]:g}" if v.size == 1 else f"of {v.size} values"
        raise UnsupportedError(f"Quant bit width {shown} is not one integer from 1 to {MAX_QUANT_BITS}", where=where)
    return int(v[0])


def quant_int_range(bits: int, signed: int, narrow: int) -> tuple[int, int]:
    """QONNX Quant's integer range [min_int, max_int] (its specification's table)."""
    if signed:
        return -(2 ** (bits - 1)) + (1 if narrow else 0), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1 - (1 if narrow else 0)


def lower_custom_ops(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy of ``model`` in which every supported custom op is standard ONNX."""
    if not any(is_custom(n) for n in model.graph.node):
        return model
    low = _Lowerer(model)
    nodes = []
    for n in model.graph.node:
        nodes.extend(low.lower(n) if is_custom(n) else [n])
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    out.graph.initializer.extend(low.new_inits)
    del out.opset_import[:]
    version = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] + [9])
    if low.needs_round and version < 11:
        version = 11  # Round; the ops used elsewhere keep their meaning from opset 9 to 11
    out.opset_import.extend([helper.make_opsetid("", version)])
    return out


def session(model: onnx.ModelProto):
    """An onnxruntime session with graph optimizations disabled (the reference)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 4  # fatal only: its error lines would break the CLI's one-line errors
    opts.intra_op_num_threads = 1
    try:
        return _Session(ort.InferenceSession(lower_custom_ops(model).SerializeToString(), opts,
                                             providers=["CPUExecutionProvider"]))
    except BnnccError:
        raise
    except Exception as exc:  # onnxruntime's own messages are multi-line
        raise BnnccError(f"onnxruntime cannot load the model: {first_line(exc)}") from None


def _ort_errors() -> tuple[type, ...]:
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidArgument", "NoSuchFile", "NoModel", "EngineError", "RuntimeException", "InvalidProtobuf",
             "ModelLoaded", "NotImplemented", "InvalidGraph", "EPFail")
    return tuple(c for c in (getattr(state, n, None) for n in names) if isinstance(c, type))


class _Session:
    """An onnxruntime session whose evaluation failures (a model that loads but cannot
    run: bad parameter shapes, ...) are BnnccErrors."""

    def __init__(self, sess):
        self._sess = sess

    def run(self, names, feeds):
        try:
            return self._sess.run(names, feeds)
        except _ort_errors() as exc:
            raise BnnccError(f"onnxruntime cannot evaluate the model: {first_line(exc)[:300]}") from None

    def __getattr__(self, attr):
        return getattr(self._sess, attr)


def graph_input_name(model: onnx.ModelProto) -> str:
    """The real input: the graph input that is not an initializer (IR<4 files list both)."""
    inits = {i.name for i in model.graph.initializer}
    real = [i.name for i in model.graph.input if i.name not in inits]
    if len(real) != 1:
        listed = ", ".join(f"'{n[:60]}'" for n in real[:4]) + (", ..." if len(real) > 4 else "")
        raise UnsupportedError(f"model must have exactly one non-constant input, found {len(real)}"
                               + (f" ({listed}; an initializer may be missing)" if real else ""))
    return real[0]


def expose_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """A copy of ``model`` whose graph outputs include the intermediate tensors ``names``."""
    have = {o.name for o in model.graph.output}
    missing = [n for n in names if n not in have]
    if not missing:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for n in missing:
        out.graph.output.append(onnx.ValueInfoProto(name=n))
    return out


def run_reference(model: onnx.ModelProto, inputs: np.ndarray, outputs: list[str] | None = None) -> list[np.ndarray]:
    """Run ``inputs`` (N samples, each of the model's input shape without the batch
    dimension, or with a leading 1) one sample at a time; returns one array per output,
    stacked over the N samples (each sample's batch dimension of 1 removed)."""
    names = outputs or [o.name for o in model.graph.output]
    model = expose_outputs(model, names)
    sess = session(model)
    iname = graph_input_name(model)
    results = [[] for _ in names]
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    for x in np.asarray(inputs, dtype=np.float32):
        outs = sess.run(names, {iname: x.reshape(shape)})
        for acc, o in zip(results, outs):
            acc.append(np.asarray(o)[0] if np.ndim(o) > 0 and np.shape(o)[0] == 1 else np.asarray(o))
    return [np.stack(r) for r in results]
