"""Random small binarized neural networks (BNNs) as ONNX models, for property tests.

A generated model is sequential::

    input -> [elementwise chain] -> binarizer        (or, with real_input: the chain
                                                      feeds the first layer directly)
          -> (binary layer -> [MaxPool] -> chain -> binarizer -> [MaxPool]) * (L - 1)
          -> binary layer -> float tail -> [ArgMax | TopK indices]

Binary layers have weights in {-1, +1} (an initializer, or ``Sign`` of a float one):
``Conv`` layers come first, then ``Flatten``/``Reshape`` and ``MatMul``/``Gemm`` layers.
Binarizers are ``Sign`` (dialect "onnx"; **0 maps to 0**), QONNX ``BipolarQuant``
("qonnx"; x >= 0 -> +1) or FINN ``MultiThreshold`` ("finn"; x >= T -> +1); "mixed"
picks one per binarizer.

Ties are generated on purpose, because that is where an exact compiler can go wrong:

* inputs: some samples have elements exactly at the input binarizer's threshold
  (the chain constants are dyadic, so the tie value is computed exactly);
* hidden layers: the accumulator of a binary layer is an integer (plus the layer's
  bias); for a small integer ``t`` per channel (of the parity of the fan-in when the
  layer's inputs are all +-1) the chain's parameters are chosen so that
  ``chain(t + bias)`` is exactly the binarizer's threshold -- by BatchNormalization
  with ``beta = 0, mean = t + bias``, by a dyadic BatchNormalization with ``beta != 0``,
  or by emulating an arbitrary chain the way onnxruntime computes it (``_emulate``)
  and subtracting the result (``Sign``/``BipolarQuant``) or using it as the
  ``MultiThreshold`` threshold.  ``gamma = 0`` channels and ``Mul 0`` make constant
  channels.

Every binarizer is recorded as a ``Probe`` so tests can check in the reference that
ties really happen.  Only onnx.helper / numpy_helper are used to build models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

F32 = np.float32
QONNX_DOMAIN = "qonnx.custom_op.general"
FINN_DOMAIN = "finn.custom_op.general"
KINDS = ("dense", "conv")
DIALECTS = ("onnx", "qonnx", "finn", "mixed")
_BINARIZERS = {
    "onnx": ("Sign",),
    "qonnx": ("BipolarQuant",),
    "finn": ("MultiThreshold",),
    "mixed": ("Sign", "BipolarQuant", "MultiThreshold"),
}
_SPECIAL_SIZES = (1, 2, 3, 7, 31, 32, 33, 63, 64, 65, 70)
_MAX_FLAT = 2048          # largest C*H*W of a conv output (keeps dense layers small)
# onnxruntime's Gemm starts from the bias and adds partial sums block by block, so only
# biases that keep every partial sum exact (dyadic, small) have an order-free result;
# bnncc refuses the others (MatMul + Add and Conv biases are added after the sum).


@dataclass
class Probe:
    """One binarizer of a generated model.

    ``tensor`` is the binarizer's input and ``output`` its output; ``threshold``
    (broadcastable to the reference's stacked ``[N, C, ...]`` value of ``tensor``) is
    where it switches: 0 for Sign/BipolarQuant, T for MultiThreshold.  ``engineered``
    says that parameters were chosen so that a reachable value hits it exactly.
    ``layer`` is 0 for the input binarizer, i after binary layer i."""

    tensor: str
    output: str
    threshold: np.ndarray
    binarizer: str
    layer: int
    engineered: bool


@dataclass
class BnnCase:
    """A generated model with its inputs; unpacks as ``model, inputs, description``."""

    model: onnx.ModelProto
    inputs: np.ndarray
    description: str
    probes: list[Probe] = field(default_factory=list)
    recipe: str = ""  # how to rebuild it, set by ``bnn_cases``

    def __iter__(self):
        return iter((self.model, self.inputs, self.description))

    def __repr__(self) -> str:  # hypothesis prints falsifying examples with repr
        return f"BnnCase({self.recipe or self.description!r})"


# --------------------------------------------------------------------------- graph


class _Graph:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self.domains: set[str] = set()
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, value, stem: str = "c") -> str:
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], domain: str = "", n_out: int = 1, **attrs):
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.name("n_" + op), domain=domain, **attrs))
        if domain:
            self.domains.add(domain)
        return outs[0] if n_out == 1 else outs


# --------------------------------------------------------------------------- values


def _size(rng, lo: int, hi: int) -> int:
    """A size in [lo, hi], often one of the awkward ones (odd, around 32 and 64)."""
    special = [s for s in _SPECIAL_SIZES if lo <= s <= hi]
    if special and rng.random() < 0.4:
        return int(rng.choice(special))
    return int(rng.integers(lo, hi + 1))


def _dyadic(rng, shape, lo=-4.0, hi=4.0, step=0.125) -> np.ndarray:
    """Multiples of ``step`` (a power of two) in [lo, hi]: exact in every sum we form."""
    return (rng.integers(int(lo / step), int(hi / step) + 1, size=shape) * step).astype(F32)


def _scales(rng, shape, allow_zero=False) -> np.ndarray:
    """Random nonzero multipliers/divisors of either sign, magnitude in [1/4, 4]."""
    v = (np.exp(rng.uniform(np.log(0.25), np.log(4.0), size=shape)) * rng.choice([-1, 1], size=shape)).astype(F32)
    if allow_zero and v.size > 1 and rng.random() < 0.2:
        v.reshape(-1)[rng.integers(v.size)] = 0
    return v


def _const_shape(rng, rank: int, channels: int, per: str) -> tuple:
    """Shape of a constant broadcast against a ``[1, C]`` / ``[1, C, H, W]`` tensor."""
    if per == "scalar":
        return [(), (1,)][rng.integers(2)]
    if rank == 2:
        return [(channels,), (1, channels)][rng.integers(2)]
    return [(channels, 1, 1), (1, channels, 1, 1)][rng.integers(2)]


def _channel_view(values: np.ndarray, rank: int) -> np.ndarray:
    """Per-channel values as ``[1, C]`` or ``[1, C, 1, 1]``."""
    return np.asarray(values, F32).reshape((1, -1) + (1,) * (rank - 2))


# --------------------------------------------------------------------------- chains
# A chain is a list of (op_type, argument): ("Add"|"Sub"|"Mul"|"Div", constant array)
# or ("BatchNormalization", (gamma, beta, mean, var, epsilon)).


def _emulate(ops, x: np.ndarray) -> np.ndarray:
    """Apply a chain to ``x`` ([1, C, ...] float32) with onnxruntime's float32 roundings.
    onnxruntime's BatchNormalization computes ``x * s + (beta - mean * s)`` with
    ``s = gamma * (1 / sqrt(var + eps))``."""
    x = np.asarray(x, F32)
    for op, arg in ops:
        if op == "BatchNormalization":
            gamma, beta, mean, var, eps = arg
            scale = (F32(1) / np.sqrt(var + F32(eps))).astype(F32) * gamma
            shift = beta - mean * scale
            x = x * _channel_view(scale, x.ndim) + _channel_view(shift, x.ndim)
        else:
            x = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](x, arg)
        x = x.astype(F32)
    return x


def _emit_chain(g: _Graph, x: str, ops) -> str:
    for op, arg in ops:
        if op == "BatchNormalization":
            gamma, beta, mean, var, eps = arg
            names = [g.const(v, s) for v, s in zip((gamma, beta, mean, var), ("gamma", "beta", "mean", "var"))]
            x = g.node(op, [x] + names, epsilon=float(eps))
        else:
            x = g.node(op, [x, g.const(arg, op.lower() + "_c")])
    return x


def _chain_desc(ops) -> str:
    return ",".join("BN" if op == "BatchNormalization" else f"{op}{list(np.shape(a))}" for op, a in ops) or "-"


def _random_bn(rng, channels: int, dyadic_std: bool = False):
    gamma = rng.normal(size=channels).astype(F32)
    if channels > 1:  # at least one negative
        i = rng.integers(channels)
        gamma[i] = -abs(gamma[i])
    gamma[rng.random(channels) < 0.15] = 0
    if channels > 3 and rng.random() < 0.5:
        gamma[rng.integers(channels)] = 0
    beta = rng.normal(size=channels).astype(F32)
    mean = (rng.normal(size=channels) * 2).astype(F32)
    if dyadic_std:  # var + eps is exactly a power of 4: 1 / sqrt(.) is exact
        eps = F32(2.0**-10)
        var = (F32(4.0) ** rng.integers(-1, 3, size=channels).astype(F32) - eps).astype(F32)
    else:
        eps = F32(rng.choice([1e-5, 1e-3, 0.1]))
        var = rng.uniform(0.05, 4.0, size=channels).astype(F32)
    return gamma, beta, mean, var, eps


def _random_op(rng, channels: int, rank: int):
    op = str(rng.choice(["BatchNormalization", "Add", "Sub", "Mul", "Div"]))
    if op == "BatchNormalization":
        return op, _random_bn(rng, channels)
    shape = _const_shape(rng, rank, channels, str(rng.choice(["scalar", "channel"])))
    if op in ("Add", "Sub"):
        value = (rng.normal(size=shape) * 3).astype(F32)
    else:
        value = _scales(rng, shape, allow_zero=op == "Mul")
    return op, value


# --------------------------------------------------------------------------- binarizers


def _emit_binarizer(g: _Graph, x: str, kind: str, threshold: np.ndarray | None, rank: int, rng) -> str:
    """``threshold`` ([C, 1] or [1, 1]) is used by MultiThreshold only."""
    if kind == "Sign":
        return g.node("Sign", [x])
    if kind == "BipolarQuant":
        return g.node("BipolarQuant", [x, g.const(F32(1.0), "scale")], domain=QONNX_DOMAIN)
    attrs = dict(out_scale=2.0, out_bias=-1.0, out_dtype="BIPOLAR")
    if rng.random() < 0.3:
        attrs["data_layout"] = "NC" if rank == 2 else "NCHW"
    return g.node("MultiThreshold", [x, g.const(threshold, "thresh")], domain=FINN_DOMAIN, **attrs)


def _mt_threshold(rng, per_channel: np.ndarray) -> np.ndarray:
    """MultiThreshold thresholds [C, 1], or [1, 1] (taken from one channel)."""
    v = np.asarray(per_channel, F32).reshape(-1)
    if v.size > 1 and rng.random() < 0.3:
        return v[[rng.integers(v.size)]].reshape(1, 1)
    return v.reshape(-1, 1)


# --------------------------------------------------------------------------- stages


def _input_ops(rng, shape: list[int]):
    """An elementwise chain on the graph input with dyadic constants: (recipe, ops)."""
    rank, channels = len(shape), shape[1]
    full = tuple(shape)
    recipe = str(rng.choice(["none", "2x-1", "add", "affine", "sub-div"]))
    per = lambda: str(rng.choice(["scalar", "channel", "element"]))  # noqa: E731

    def const(kind, p):
        shp = full[int(rng.integers(2)):] if p == "element" else _const_shape(rng, rank, channels, p)
        if kind == "offset":
            return _dyadic(rng, shp, -2, 2)
        return (rng.choice([-1, 1], size=shp) * 2.0 ** rng.integers(-1, 3, size=shp)).astype(F32)

    ops = {
        "none": lambda: [],
        "2x-1": lambda: [("Mul", np.array(2, F32)), ("Sub", np.array([1], F32))],
        "add": lambda: [("Add", const("offset", per()))],
        "affine": lambda: [("Mul", const("scale", per())), ("Add", const("offset", per()))],
        "sub-div": lambda: [("Sub", const("offset", per())), ("Div", const("scale", per()))],
    }[recipe]()
    return recipe, ops


def _input_stage(g: _Graph, rng, shape: list[int], binarizer: str):
    """Chain + binarizer on the graph input; returns (output, tie values per element,
    probe, description).  Chain constants are dyadic so the tie inverts exactly."""
    rank, channels = len(shape), shape[1]
    full = tuple(shape)
    recipe, ops = _input_ops(rng, shape)

    if binarizer == "MultiThreshold":
        t_ch = _dyadic(rng, channels, -1, 1, 0.25)
        thr = _mt_threshold(rng, t_ch)
        thr_view = _channel_view(thr.reshape(-1), rank) if thr.size > 1 else thr.reshape((1,) * rank)
    else:
        thr, thr_view = None, np.zeros((1,) * rank, F32)
    target = np.broadcast_to(thr_view, full).astype(np.float64)
    for op, arg in reversed(ops):  # invert the chain (exact: dyadic constants)
        a = np.asarray(arg, np.float64)
        target = target - a if op == "Add" else target + a if op == "Sub" else target / a if op == "Mul" else target * a
    tie = np.broadcast_to(target, full).astype(F32)
    assert np.array_equal(_emulate(ops, tie), np.broadcast_to(thr_view, full)), "input tie is not exact"

    pre = _emit_chain(g, "input", ops)
    out = _emit_binarizer(g, pre, binarizer, thr, rank, rng)
    probe = Probe(pre, out, thr_view, binarizer, 0, True)
    return out, tie[0], probe, f"in{shape[1:]} {recipe}:{_chain_desc(ops)} {binarizer}"


def _weights(g: _Graph, rng, shape, stem: str) -> tuple[str, str]:
    """+-1 weights: an initializer, or Sign of a float initializer (never 0)."""
    if rng.random() < 0.6:
        return g.const(rng.choice([-1.0, 1.0], size=shape).astype(F32), stem), "pm1"
    w = rng.normal(size=shape).astype(F32)
    w[w == 0] = 1
    return g.node("Sign", [g.const(w, stem + "_float")]), "Sign(w)"


def _bias(rng, n: int, fan_in: int, exact_only: bool):
    if rng.random() < 0.5:
        return None
    if exact_only or rng.random() < 0.5:
        return _dyadic(rng, n, -4, 4, 0.5 if rng.random() < 0.5 else 1.0)
    return (rng.normal(size=n) * np.sqrt(fan_in)).astype(F32)


def _dense_layer(g: _Graph, rng, x: str, k: int, n: int):
    """MatMul or Gemm; returns (output, bias or None, description)."""
    if rng.random() < 0.5:
        w, wd = _weights(g, rng, (k, n), "W")
        return g.node("MatMul", [x, w]), None, f"MatMul {k}->{n} {wd}"
    trans_b = int(rng.integers(2))
    w, wd = _weights(g, rng, (n, k) if trans_b else (k, n), "W")
    bias = _bias(rng, n, k, exact_only=True)
    inputs = [x, w] + ([g.const(bias if rng.random() < 0.7 else bias.reshape(1, n), "B")] if bias is not None else [])
    y = g.node("Gemm", inputs, alpha=1.0, beta=1.0, transB=trans_b)
    return y, bias, f"Gemm(transB={trans_b},bias={bias is not None}) {k}->{n} {wd}"


def _out_size(size: int, k: int, s: int, p0: int, p1: int, d: int = 1) -> int:
    return (size + p0 + p1 - d * (k - 1) - 1) // s + 1


def _conv_layer(g: _Graph, rng, x: str, shape: list[int], max_width: int):
    """2-D Conv; returns (output, new shape, fan-in, bias or None, description)."""
    _, c, h, w = shape
    for _ in range(50):
        ks = rng.integers(1, 4, size=2)
        st_ = rng.integers(1, 3, size=2)
        dil = rng.choice([1, 1, 2], size=2)
        pads = rng.choice([0, 0, 1, 2], size=4)
        ho = _out_size(h, ks[0], st_[0], pads[0], pads[2], dil[0])
        wo = _out_size(w, ks[1], st_[1], pads[1], pads[3], dil[1])
        if ho >= 1 and wo >= 1:
            break
    else:
        ks, st_, dil, pads, ho, wo = np.ones(2, int), np.ones(2, int), np.ones(2, int), np.zeros(4, int), h, w
    m = _size(rng, 1, max(1, min(max_width, _MAX_FLAT // (ho * wo))))
    wname, wd = _weights(g, rng, (m, c, int(ks[0]), int(ks[1])), "W")
    bias = _bias(rng, m, c * int(ks.prod()), exact_only=False)
    inputs = [x, wname] + ([g.const(bias, "B")] if bias is not None else [])
    attrs = dict(kernel_shape=[int(v) for v in ks], strides=[int(v) for v in st_],
                 pads=[int(v) for v in pads], dilations=[int(v) for v in dil])
    if rng.random() < 0.5:
        attrs["group"] = 1
    y = g.node("Conv", inputs, **attrs)
    desc = (f"Conv {c}x{h}x{w}->{m}x{ho}x{wo} k={list(attrs['kernel_shape'])} s={attrs['strides']} "
            f"p={attrs['pads']} d={attrs['dilations']} bias={bias is not None} {wd}")
    return y, [1, m, ho, wo], c * int(ks.prod()), bias, desc


def _maxpool(g: _Graph, rng, x: str, shape: list[int]):
    """A MaxPool that fits ``shape``, or None."""
    _, c, h, w = shape
    ks = rng.integers(2, 4, size=2)
    st_ = rng.integers(1, 3, size=2)
    pads = rng.integers(0, 2, size=4)
    ho = _out_size(h, ks[0], st_[0], pads[0], pads[2])
    wo = _out_size(w, ks[1], st_[1], pads[1], pads[3])
    if h + pads[0] + pads[2] < ks[0] or w + pads[1] + pads[3] < ks[1] or ho < 1 or wo < 1:
        return None
    y = g.node("MaxPool", [x], kernel_shape=[int(v) for v in ks], strides=[int(v) for v in st_],
               pads=[int(v) for v in pads])
    return y, [1, c, ho, wo], f"MaxPool k={ks.tolist()} s={st_.tolist()} p={pads.tolist()}"


def _hidden_chain(rng, channels: int, rank: int, base: np.ndarray, binarizer: str):
    """The chain between a binary layer and its binarizer.  ``base`` ([1, C, ...]) is
    ``t + bias`` for the per-channel tie accumulator ``t``.  Returns (ops, threshold
    for MultiThreshold, probe threshold, engineered, description)."""
    strategy = str(rng.choice(["bn_zero", "bn_dyadic", "exact", "random"], p=[0.3, 0.2, 0.35, 0.15]))
    b = base.reshape(-1)
    if strategy in ("bn_zero", "bn_dyadic"):
        gamma, beta, mean, var, eps = _random_bn(rng, channels, dyadic_std=strategy == "bn_dyadic")
        if strategy == "bn_dyadic":  # beta != 0 and BN(t + bias) == 0 exactly: all dyadic
            gamma = np.where(gamma == 0, gamma, _dyadic(rng, channels, -2, 2, 0.25)).astype(F32)
            mean = _dyadic(rng, channels, -4, 4, 0.25)
            beta = (-(b.astype(np.float64) - mean) * gamma / np.sqrt(var + eps)).astype(F32)
            bn = ("BatchNormalization", (gamma, beta, mean, var, eps))
            zero = _emulate([bn], base).reshape(-1) != 0  # inexact (non-dyadic bias): use bn_zero
        else:
            zero = rng.random(channels) < 0.8
        beta = np.where(zero, F32(0), beta).astype(F32)  # beta = 0, mean = t + bias
        mean = np.where(zero, b, mean).astype(F32)
        ops = [("BatchNormalization", (gamma, beta, mean, var, eps))]
        tied = zero | (strategy == "bn_dyadic")
        assert (_emulate(ops, base).reshape(-1)[tied] == 0).all(), "BN tie is not exact"
        for _ in range(rng.integers(0, 2)):  # keeps exact zeros at zero
            op = str(rng.choice(["Mul", "Div"]))
            ops.append((op, _scales(rng, _const_shape(rng, rank, channels, str(rng.choice(["scalar", "channel"]))))))
        target = np.zeros(channels, F32)
    else:
        ops = [_random_op(rng, channels, rank) for _ in range(rng.integers(1, 4))]
        if strategy == "exact":
            target = _emulate(ops, base).reshape(-1)
            if binarizer != "MultiThreshold":
                ops.append(("Sub", target.reshape(_const_shape(rng, rank, channels, "channel"))))
                target = np.zeros(channels, F32)
        else:
            target = (rng.normal(size=channels) * 2).astype(F32)
    thr = _mt_threshold(rng, target) if binarizer == "MultiThreshold" else None
    probe_thr = (_channel_view(thr.reshape(-1), rank) if thr is not None and thr.size > 1
                 else (thr if thr is not None else np.zeros(1, F32)).reshape((1,) * rank))
    return ops, thr, probe_thr, strategy != "random", f"{strategy}:{_chain_desc(ops)}"


def _tail(g: _Graph, rng, x: str, shape: list[int]):
    """Float tail after the last binary layer."""
    rank, channels = len(shape), shape[1]
    choice = str(rng.choice(["none", "bn", "tensornorm", "affine"]))
    if choice == "bn":
        ops = [("BatchNormalization", _random_bn(rng, channels))]
    elif choice == "tensornorm":  # TFC's TensorNorm: (x - c) / d * w + b, shape-[1] constants
        ops = [("Sub", rng.normal(size=1).astype(F32)), ("Div", np.abs(_scales(rng, 1))),
               ("Mul", _scales(rng, 1)), ("Add", rng.normal(size=1).astype(F32))]
    elif choice == "affine":
        ops = [_random_op(rng, channels, rank)]
    else:
        ops = []
    return _emit_chain(g, x, ops), f"tail {choice}:{_chain_desc(ops)}"


def _flatten(g: _Graph, rng, x: str, shape: list[int]):
    n = int(np.prod(shape[1:]))
    if rng.random() < 0.5:
        return g.node("Flatten", [x], axis=1), [1, n], "Flatten"
    return g.node("Reshape", [x, g.const(np.array([1, -1], np.int64), "shape")]), [1, n], "Reshape[1,-1]"


# --------------------------------------------------------------------------- model


def random_bnn(rng: np.random.Generator, kind: str = "dense", dialect: str = "onnx", *,
               max_width: int = 70, max_layers: int = 4, real_input: bool = False) -> BnnCase:
    """A random sequential BNN of ``kind`` "dense" or "conv" whose binarizers follow
    ``dialect`` ("onnx", "qonnx", "finn" or "mixed"), with 8..16 inputs that include
    exact ties; see the module docstring.  ``real_input``: the first layer takes the
    (preprocessed) input as real values, and the samples are integers, so that every
    float32 partial sum of that layer is exact and the result is order-free."""
    assert kind in KINDS and dialect in DIALECTS
    max_width = max(1, min(int(max_width), 70))
    g = _Graph()
    fixed = str(rng.choice(_BINARIZERS[dialect])) if rng.random() < 0.5 else None

    def pick() -> str:  # one binarizer for the whole model, or a fresh one each time
        return fixed or str(rng.choice(_BINARIZERS[dialect]))
    n_layers = int(rng.integers(1, max(1, min(max_layers, 4)) + 1))
    if real_input:
        n_layers = max(n_layers, 2)  # a real-input layer alone has no binary part
    n_conv = int(rng.integers(1, n_layers + 1)) if kind == "conv" else 0
    if kind == "conv":
        shape = [1, _size(rng, 1, min(max_width, 8) if rng.random() < 0.7 else max_width),
                 int(rng.integers(1, 10)), int(rng.integers(1, 10))]
    else:
        shape = [1, _size(rng, 1, max_width)]
    in_shape = list(shape)

    if real_input:
        recipe, ops = _input_ops(rng, shape)
        x = _emit_chain(g, "input", ops)
        probes, parts = [], [f"{kind}/{dialect}", f"in{shape[1:]} real {recipe}:{_chain_desc(ops)}"]
        may_be_zero = True  # real inputs: no parity on the accumulator
    else:
        binarizer = pick()
        x, tie, probe, desc = _input_stage(g, rng, shape, binarizer)
        probes, parts = [probe], [f"{kind}/{dialect}", desc]
        may_be_zero = binarizer == "Sign"  # can the next layer's inputs be 0?

    for layer in range(1, n_layers + 1):
        last = layer == n_layers
        if layer <= n_conv:
            x, shape, fan_in, bias, d = _conv_layer(g, rng, x, shape, max_width)
        else:
            if len(shape) == 4:
                x, shape, d = _flatten(g, rng, x, shape)
                parts.append(d)
            fan_in = shape[1]
            n = _size(rng, 1, max_width)
            x, bias, d = _dense_layer(g, rng, x, fan_in, n)
            shape = [1, n]
        parts.append(d)
        rank, channels = len(shape), shape[1]
        pool_after = False
        if rank == 4 and rng.random() < 0.35:
            # bnncc pools the integer accumulator only through a quantizer, so the
            # last layer (whose float tail has no quantizer) is never pooled here
            if last:
                pass
            elif rng.random() < 0.5:
                pooled = _maxpool(g, rng, x, shape)
                if pooled:
                    x, shape, d = pooled
                    parts.append(d)
            else:
                pool_after = True
        if last:
            break
        # the tie accumulator t: near 0 (likely), of the fan-in's parity unless zeros occur
        t = rng.integers(-3, 4, size=channels)
        if not may_be_zero:
            t = t - ((t - fan_in) % 2)
        base = _channel_view(t.astype(F32) + (bias if bias is not None else F32(0)), rank)
        binarizer = pick()
        ops, thr, probe_thr, engineered, d = _hidden_chain(rng, channels, rank, base, binarizer)
        pre = _emit_chain(g, x, ops)
        x = _emit_binarizer(g, pre, binarizer, thr, rank, rng)
        probes.append(Probe(pre, x, probe_thr, binarizer, layer, engineered))
        parts.append(f"{d} {binarizer}")
        may_be_zero = binarizer == "Sign"
        if pool_after:
            pooled = _maxpool(g, rng, x, shape)
            if pooled:
                x, shape, d = pooled
                parts.append(d)

    x, d = _tail(g, rng, x, shape)
    parts.append(d)
    if len(shape) == 4:
        x, shape, d = _flatten(g, rng, x, shape)
        parts.append(d)
    out_type, out_shape = TensorProto.FLOAT, shape
    head = str(rng.choice(["logits", "logits", "ArgMax", "TopK"]))
    if head == "ArgMax":
        x, out_type, out_shape = g.node("ArgMax", [x], axis=-1, keepdims=1), TensorProto.INT64, [1, 1]
    elif head == "TopK":
        _, x = g.node("TopK", [x, g.const(np.array([1], np.int64), "k")], n_out=2)
        out_type, out_shape = TensorProto.INT64, [1, 1]
    parts.append(head)

    graph = helper.make_graph(
        g.nodes, "bnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(x, out_type, out_shape)],
        g.inits)
    opsets = [helper.make_opsetid("", 13)] + [helper.make_opsetid(d, 1) for d in sorted(g.domains)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="bnncc-tests")
    model.ir_version = 8
    inputs = _integer_inputs(rng, in_shape) if real_input else _inputs(rng, in_shape, tie)
    return BnnCase(model, inputs, " | ".join(parts), probes)


def _integer_inputs(rng, shape: list[int]) -> np.ndarray:
    """8..16 integer-valued samples (pixels 0..255, small signed, or 0/1); sample 0 is 0."""
    n = int(rng.integers(8, 17))
    lo, hi = [(0, 256), (-8, 9), (0, 2)][int(rng.integers(3))]
    x = rng.integers(lo, hi, size=(n, *shape[1:])).astype(F32)
    x[0] = 0
    return x


def _inputs(rng, shape: list[int], tie: np.ndarray) -> np.ndarray:
    """8..16 samples: random values with a varying share of exact ties; sample 0 is
    all ties and sample 1 half ties."""
    n = int(rng.integers(8, 17))
    x = (rng.normal(size=(n, *shape[1:])) * rng.choice([0.5, 1.0, 3.0])).astype(F32)
    for i in range(n):
        share = 1.0 if i == 0 else 0.5 if i == 1 else rng.choice([0.0, 0.0, 0.1, 0.3])
        mask = rng.random(shape[1:]) < share
        x[i][mask] = tie[mask]
    return x


# --------------------------------------------------------------------------- hypothesis


@st.composite
def bnn_cases(draw, kinds=KINDS, dialects=("onnx",)):
    """Hypothesis strategy of ``BnnCase``; shrinks towards few, narrow layers."""
    kind = draw(st.sampled_from(kinds))
    dialect = draw(st.sampled_from(dialects))
    max_layers = draw(st.integers(1, 4))
    max_width = draw(st.integers(1, 70))
    real_input = draw(st.sampled_from((False, False, False, True)))
    seed = draw(st.integers(0, 2**32 - 1))
    case = random_bnn(np.random.default_rng(seed), kind, dialect, max_width=max_width, max_layers=max_layers,
                      real_input=real_input)
    case.recipe = (f"random_bnn(np.random.default_rng({seed}), {kind!r}, {dialect!r}, "
                   f"max_width={max_width}, max_layers={max_layers}, real_input={real_input}): {case.description}")
    return case
