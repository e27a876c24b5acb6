"""Import a normalised ONNX BNN into the IR.

The network must be sequential: from the graph input, each activation feeds exactly
one node.  The path is cut at the linear layers (MatMul, Gemm, Conv) into:

  input chain  ->  linear  ->  chain  ->  linear  ->  ...  ->  tail  [-> ArgMax/TopK]

* A chain between layers must end in a quantizer (Sign, BipolarQuant, MultiThreshold or
  Quant) followed only by views (Reshape, Flatten, Squeeze, Unsqueeze), MaxPool, or a
  multiplication by a positive constant (the activation scale).  Everything up to the
  quantizer is kept verbatim as a ``FloatChain``; passes turn it into exact integer ops.
* Linear layers need constant weights with two levels per output channel, ±b; the
  accumulator ``level * b * (integer dot)`` must stay exact in float32 for every partial
  sum (checked here), so the reference's float accumulator equals our integer one.
* The tail (after the last linear layer) is a ``FloatChain`` to the float output,
  optionally followed by ArgMax or TopK(k=1) indices.
* The first layer may take real values (no quantizer between the graph input and it):
  its input chain must be elementwise (``FloatChain`` role ``input_real``) and the
  layer accumulates in float32 (``acc="float"``).
* Transpose is a view only after a quantizer (it permutes the packed order).
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import BnnccError, UnsupportedError
from ..ir import ops as O
from ..ir.graph import Graph
from ..ir.types import DType, TensorType
from ..onnx_shapes import infer_shapes
from ..reference import quant_bits, quant_int_range
from .layout import inverse, ir_shape, ir_to_onnx
from .pooling import pool_bits

QUANTIZERS = {"Sign", "BipolarQuant", "MultiThreshold", "Quant", "IntQuant"}
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "BatchNormalization", "Relu", "Clip", "Neg"}
VIEWS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose"}
LINEAR = {"MatMul", "Gemm", "Conv"}
HEADS = {"ArgMax", "TopK"}


def _attrs(node) -> dict:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _where(node) -> str:
    return f"node '{node.name or node.output[0]}' ({node.op_type})"


def _significand_bits(x: float) -> tuple[int, int]:
    """(m, e) with |x| = m * 2**e, m an odd integer (x != 0)."""
    m, e = math.frexp(abs(float(x)))
    mi = int(m * (1 << 53))
    e -= 53
    while mi and mi % 2 == 0:
        mi //= 2
        e += 1
    return mi, e


def sums_exact(step: np.ndarray, k: int, bias: np.ndarray | None = None) -> bool:
    """True iff every value ``bias + n * step`` with |n| <= k is exact in float32,
    whatever the order of accumulation (so any summation order gives the same result)."""
    step = np.asarray(step, dtype=np.float64).reshape(-1)
    bias = np.zeros_like(step) if bias is None else np.broadcast_to(np.asarray(bias, np.float64).reshape(-1), step.shape)
    for c, b in zip(step, bias):
        if c == 0 or not np.isfinite(c) or not np.isfinite(b):
            return False
        mc, ec = _significand_bits(c)
        if b == 0:
            if mc * k >= (1 << 24):
                return False
            continue
        mb, eb = _significand_bits(b)
        e = min(ec, eb)
        if mb * 2 ** (eb - e) + k * mc * 2 ** (ec - e) >= (1 << 24):
            return False
    return True


class _Importer:
    def __init__(self, m: onnx.ModelProto, name: str):
        self.m = m
        self.name = name
        g = m.graph
        self.consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.shapes = infer_shapes(m)
        self.consumers: dict[str, list] = {}
        for n in g.node:
            for i in n.input:
                if i:
                    self.consumers.setdefault(i, []).append(n)
        inits = set(self.consts)
        self.input = next(i.name for i in g.input if i.name not in inits)
        for n in g.node:
            if n.op_type == "BatchNormalization" and n.domain in ("", "ai.onnx"):
                _check_bn(n, self.consts)
        self.output = g.output[0].name
        self.opsets = tuple((o.domain, o.version) for o in m.opset_import)
        self.tensors: dict[str, TensorType] = {}
        self.ops: list[O.Op] = []
        self.counter = 0

    # -- helpers ---------------------------------------------------------------
    def shape(self, t: str, node=None) -> tuple[int, ...]:
        s = self.shapes.get(t)
        if s is None or not all(isinstance(d, int) and d > 0 for d in s):
            raise UnsupportedError(f"tensor '{t}' has no static shape", where=_where(node) if node else self.name)
        return s

    def new(self, ttype: TensorType, stem: str) -> str:
        name = f"{stem}{self.counter}"
        self.counter += 1
        while name in self.tensors or name == self.input:  # the model may use our stems ('act0')
            name = f"{stem}{self.counter}"
            self.counter += 1
        self.tensors[name] = ttype
        return name

    def const(self, node, idx: int) -> np.ndarray:
        if idx >= len(node.input) or not node.input[idx]:
            return None
        t = node.input[idx]
        if t not in self.consts:
            raise UnsupportedError(f"input {idx} ('{t}') must be a constant", where=_where(node))
        return self.consts[t]

    def next_node(self, t: str):
        cons = self.consumers.get(t, [])
        if t == self.output:
            if cons:
                raise UnsupportedError(f"graph output '{t}' is also consumed inside the graph; bnncc compiles sequential networks")
            return None
        if len(cons) != 1:
            raise UnsupportedError(
                f"tensor '{t}' feeds {len(cons)} nodes; bnncc compiles sequential networks (no branches or skip connections)",
                where=self.name)
        node = cons[0]
        others = [i for i in node.input if i and i != t]
        act_inputs = [i for i in node.input if i == t]
        if len(act_inputs) != 1:
            raise UnsupportedError("an activation is used twice by the same node", where=_where(node))
        if node.op_type not in VIEWS:
            for i in others:
                if i not in self.consts:
                    raise UnsupportedError(
                        f"input '{i}' is not a constant; bnncc compiles sequential networks (no branches or skip connections)",
                        where=_where(node))
        if node.op_type in VIEWS or node.op_type in ("MatMul", "Gemm", "Conv", "MaxPool") or node.op_type in QUANTIZERS:
            if node.input[0] != t:
                raise UnsupportedError("the activation must be the first input", where=_where(node))
        return node

    def classify(self, node) -> str:
        op = node.op_type
        custom = node.domain not in ("", "ai.onnx")
        if custom:
            if op in QUANTIZERS and op != "Sign":
                return "quantizer"
            raise UnsupportedError(f"unsupported custom op {node.domain}.{op}", where=_where(node))
        if op == "Sign":
            return "quantizer"
        if op in ("Quant", "BipolarQuant", "MultiThreshold"):
            return "quantizer"
        if op in ELEMENTWISE:
            return "elementwise"
        if op in VIEWS:
            return "view"
        if op in LINEAR:
            return "linear"
        if op == "MaxPool":
            return "pool"
        if op in HEADS:
            return "head"
        raise UnsupportedError(f"unsupported op {op}", where=_where(node))

    # -- the walk ----------------------------------------------------------------
    def run(self) -> Graph:
        in_shape = self.shape(self.input)
        cur = self.input
        self.tensors[cur] = TensorType(tuple(in_shape[1:]), DType.FLOAT32)
        ir_cur = cur
        acc = None  # (ir name, onnx name, in_perm, acc_scale, K) of the last linear layer
        while True:
            chain, end = self.collect_chain(cur)
            qpos = max((k for k, n in enumerate(chain) if self.classify(n) == "quantizer"), default=-1)
            if end is not None and self.classify(end) == "linear":
                if qpos < 0 and acc is not None:
                    raise UnsupportedError(
                        "input is real-valued (not binarized): bnncc needs a Sign/BipolarQuant/MultiThreshold before each "
                        "binary layer after the first", where=_where(end))
                if qpos < 0:
                    ir_x, perm, onnx_shape = self.emit_real_input(chain, cur, ir_cur)
                    ir_cur, cur, acc = self.emit_linear(end, ir_x, 1.0, perm, onnx_shape, real=True)
                    continue
                ir_bin, level, perm, onnx_shape = self.emit_activation(chain[: qpos + 1], chain[qpos + 1:], cur, ir_cur, acc)
                ir_cur, cur, acc = self.emit_linear(end, ir_bin, level, perm, onnx_shape)
                continue
            if acc is None:
                raise UnsupportedError("the graph has no binary MatMul, Gemm or Conv layer", where=self.name)
            if self.tensors[acc[0]].dtype is DType.FLOAT32 and qpos < 0:
                raise UnsupportedError("the only layer takes a real-valued input: there is no binary layer to compile",
                                       where=self.name)
            if qpos < 0:
                _refuse_transpose(chain)  # the float tail is elementwise
            # the end: graph output, possibly through a head
            if qpos >= 0:
                ir_bin, level, perm, onnx_shape = self.emit_activation(chain[: qpos + 1], chain[qpos + 1:], cur, ir_cur, acc)
                if end is not None:
                    raise UnsupportedError("ArgMax/TopK after a quantizer is not supported", where=_where(end))
                out = self.new(TensorType(tuple(self.shape(self.output)[1:]), DType.FLOAT32), "out")
                self.ops.append(O.Unpack("unpack", (ir_bin,), out, level=level, src=inverse(perm)))
                ir_out = out
            else:
                last = chain[-1].output[0] if chain else cur
                if any(self.classify(n) == "pool" for n in chain):
                    raise UnsupportedError("MaxPool in the float tail is not supported", where=self.name)
                out_shape = self.shape(last)
                ir_out = self.new(TensorType(tuple(out_shape[1:]), DType.FLOAT32), "logits")
                acc_ir, acc_onnx, in_perm, acc_scale, k = acc
                self.ops.append(O.FloatChain(
                    chain[0].name if chain else "tail", (acc_ir,), ir_out, role="tail", nodes=tuple(chain),
                    consts=self.consts, opsets=self.opsets, onnx_in=acc_onnx, onnx_in_shape=self.shape(acc_onnx),
                    onnx_out=last, onnx_out_shape=out_shape, in_perm=in_perm, acc_scale=acc_scale, acc_range=k))
                if end is not None:
                    ir_out = self.emit_head(end, last, ir_out)
            break
        out_shape = self.shape(self.output)
        return Graph(name=self.m.graph.name or "model", input=self.input, output=ir_out, tensors=self.tensors,
                     ops=tuple(self.ops), input_onnx_shape=tuple(in_shape), output_onnx_shape=tuple(out_shape),
                     source=self.name)

    def collect_chain(self, t: str):
        """Nodes from tensor t up to (not including) the next linear layer or head."""
        chain = []
        while True:
            node = self.next_node(t)
            if node is None:
                return chain, None
            kind = self.classify(node)
            if kind in ("linear", "head"):
                return chain, node
            chain.append(node)
            t = node.output[0]

    def emit_real_input(self, chain, onnx_in, ir_in):
        """The graph input, through elementwise float ops, into a real-input layer.
        Returns the IR float tensor, its IR->ONNX index map and ONNX shape."""
        for n in chain:
            if self.classify(n) not in ("view", "elementwise") or n.op_type == "Transpose":
                raise UnsupportedError(f"{n.op_type} before a layer with real-valued input is not supported "
                                       "(only reshapes and elementwise ops)", where=_where(n))
        last = chain[-1].output[0] if chain else onnx_in
        shape = self.shape(last)
        out_perm = ir_to_onnx(shape)
        out = self.new(TensorType(ir_shape(shape), DType.FLOAT32), "x")
        if not chain:
            self.ops.append(O.FloatSteps("input_layout", (ir_in,), out, steps=(), src=out_perm))
        else:
            self.ops.append(O.FloatChain(
                chain[0].name or chain[0].output[0], (ir_in,), out, role="input_real", nodes=tuple(chain),
                consts=self.consts, opsets=self.opsets, onnx_in=onnx_in, onnx_in_shape=self.shape(onnx_in),
                onnx_out=last, onnx_out_shape=shape, out_perm=out_perm))
        return out, out_perm, shape

    def emit_activation(self, pre, post, onnx_in, ir_in, acc):
        """FloatChain up to the quantizer, then the ops of ``post``.  Returns the IR
        binary tensor, its level (magnitude), the IR->ONNX index map of the tensor that
        leaves ``post`` and that tensor's ONNX shape."""
        _refuse_transpose(pre)
        qout = pre[-1].output[0]
        q_shape = self.shape(qout, pre[-1])
        has_pool = any(self.classify(n) == "pool" for n in pre)
        if acc is None:  # input chain
            if has_pool:
                raise UnsupportedError("MaxPool on the real-valued input is not supported", where=_where(pre[0]))
            out_ir_shape = ir_shape(q_shape)
            out_perm = ir_to_onnx(q_shape)
            in_perm = None
            acc_scale = None
            k = 0
            role = "input"
        else:
            acc_ir, acc_onnx, in_perm, acc_scale, k = acc
            if has_pool:
                for n in pre:
                    if self.classify(n) == "view":
                        raise UnsupportedError("a reshape between a binary layer and its quantizer cannot mix with MaxPool", where=_where(n))
                if len(q_shape) != 4:
                    raise UnsupportedError("MaxPool needs a 4-D NCHW tensor", where=self.name)
                out_ir_shape = ir_shape(q_shape)
                out_perm = ir_to_onnx(q_shape)
            else:
                if math.prod(q_shape) != math.prod(self.shape(acc_onnx)):
                    raise UnsupportedError("the quantizer output must have as many elements as the layer output", where=_where(pre[-1]))
                out_ir_shape = self.tensors[acc_ir].shape
                out_perm = inverse(in_perm)
            role = "activation"
        level = self.quantizer_level(pre[-1])
        ir_bin = self.new(TensorType(out_ir_shape, DType.TERNARY), "act")
        self.ops.append(O.FloatChain(
            pre[0].name or pre[0].output[0], (ir_in,), ir_bin, role=role, nodes=tuple(pre), consts=self.consts,
            opsets=self.opsets, onnx_in=onnx_in, onnx_in_shape=self.shape(onnx_in), onnx_out=qout, onnx_out_shape=q_shape,
            in_perm=in_perm, out_perm=out_perm, acc_scale=acc_scale, acc_range=k,
            level=level))
        # after the quantizer: views, MaxPool, positive scaling
        perm = out_perm
        onnx_shape = q_shape
        scale = level
        for n in post:
            kind = self.classify(n)
            if n.op_type == "Transpose":
                perm = _transposed(perm, onnx_shape, _attrs(n).get("perm"))
            if kind == "view":
                onnx_shape = self.shape(n.output[0], n)
                continue
            if kind == "pool":
                ir_bin, perm, onnx_shape = self.emit_pool(n, ir_bin, perm, onnx_shape)
                continue
            if n.op_type == "Mul":
                c = np.asarray(self.consts[[i for i in n.input if i in self.consts][0]], dtype=np.float64)
                if c.size == 1 and float(c.reshape(-1)[0]) > 0:
                    scale *= float(c.reshape(-1)[0])
                    continue
            raise UnsupportedError("after a quantizer only reshapes, MaxPool and a positive scalar Mul are supported",
                                   where=_where(n))
        return ir_bin, scale, perm, onnx_shape

    def quantizer_level(self, node) -> float:
        """The magnitude a of the quantizer's output levels {-a, (0,) +a}."""
        a = _attrs(node)
        op = node.op_type
        if op == "Sign":
            return 1.0
        if op == "BipolarQuant":
            sc = np.asarray(self.const(node, 1), np.float64).reshape(-1)
            if sc.size != 1 or not np.isfinite(sc[0]) or sc[0] <= 0:
                raise UnsupportedError("BipolarQuant needs one positive scale", where=_where(node))
            return float(np.float32(sc[0]))
        if op == "MultiThreshold":
            t = np.asarray(self.const(node, 1))
            osc, obias = float(np.float32(a.get("out_scale", 1.0))), float(np.float32(a.get("out_bias", 0.0)))
            if t.ndim != 2 or t.shape[1] != 1 or osc <= 0 or obias != -osc / 2:
                raise UnsupportedError(
                    f"only bipolar MultiThreshold (one threshold, out_bias = -out_scale/2) is supported; "
                    f"got {t.shape[-1] if t.ndim == 2 else '?'} thresholds, out_scale={osc:g}, out_bias={obias:g}",
                    where=_where(node))
            return osc / 2
        # Quant / IntQuant: two levels symmetric around 0, or refuse
        params = [self.const(node, k) for k in (1, 2, 3)]
        if any(p is None for p in params):
            raise UnsupportedError("Quant needs constant scale, zero point and bit width inputs", where=_where(node))
        bits = quant_bits(params[2], _where(node))
        sc = np.asarray(params[0], np.float64).reshape(-1)
        zp = np.asarray(params[1], np.float64).reshape(-1)
        signed, narrow = int(a.get("signed", 1)), int(a.get("narrow", 0))
        if sc.size != 1 or zp.size != 1:
            raise UnsupportedError(f"unsupported: {bits}-bit Quant with per-channel scale or zero point", where=_where(node))
        if bits > 2:  # two levels need 1 or 2 bits (more would mean ever more levels)
            raise UnsupportedError(f"unsupported: {bits}-bit Quant (more than two levels); use BipolarQuant",
                                   where=_where(node))
        lo, hi = quant_int_range(bits, signed, narrow)
        levels = {(q - zp[0]) * sc[0] for q in range(lo, hi + 1)}
        if len(levels) != 2 or sum(levels) != 0:
            kind = "signed 1-bit Quant has levels {-s, 0} and is not bipolar; " if bits == 1 and signed else ""
            shown = ", ".join(f"{v:g}" for v in sorted(levels)[:5]) + (", ..." if len(levels) > 5 else "")
            raise UnsupportedError(f"unsupported: {bits}-bit Quant ({kind}levels {shown}); use BipolarQuant",
                                   where=_where(node))
        return float(np.float32(max(levels)))

    def emit_pool(self, n, ir_bin, perm, onnx_shape):
        if len(onnx_shape) != 4 or not np.array_equal(perm, ir_to_onnx(onnx_shape)):
            raise UnsupportedError("MaxPool needs a 4-D NCHW activation", where=_where(n))
        out_shape = self.shape(n.output[0], n)
        out = self.new(TensorType(ir_shape(out_shape), self.tensors[ir_bin].dtype), "pool")
        self.ops.append(pool_bits(n, (ir_bin,), out, np.ones(onnx_shape[1], dtype=bool)))
        return out, ir_to_onnx(out_shape), out_shape

    def two_level(self, node, w: np.ndarray, axis: int):
        """Split constant weights into ±1 signs and a per-output magnitude along ``axis``."""
        w = np.asarray(w, dtype=np.float32)
        mag = np.abs(np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1))
        b = mag[:, 0]
        if not (mag == b[:, None]).all() or (b == 0).any() or not np.isfinite(b).all():
            bad = "zeros" if (w == 0).any() else "more than two levels per output channel"
            raise UnsupportedError(f"weights are not binary (±b per output channel): they contain {bad}", where=_where(node))
        return np.where(w > 0, 1, -1).astype(np.int8), b

    def emit_linear(self, node, ir_bin, level_scale, perm, onnx_shape, real=False):
        a = _attrs(node)
        bias = None
        if node.op_type == "MatMul":
            w = self.const(node, 1)
            if w.ndim != 2 or len(onnx_shape) != 2 or onnx_shape[1] != w.shape[0]:
                raise UnsupportedError(f"MatMul of {list(onnx_shape)} by {list(w.shape)}: only [1,K] x [K,N] is supported", where=_where(node))
            s, b = self.two_level(node, w, 1)            # s [K, N]
            weight = np.ascontiguousarray(s[perm, :].T)  # [N, K_ir]
            alpha = 1.0
        elif node.op_type == "Gemm":
            w = self.const(node, 1)
            if a.get("transA", 0):
                raise UnsupportedError("Gemm with transA=1 is not supported", where=_where(node))
            if a.get("transB", 0):
                w = w.T
            if w.ndim != 2 or len(onnx_shape) != 2 or onnx_shape[1] != w.shape[0]:
                raise UnsupportedError(f"Gemm of {list(onnx_shape)} by {list(w.shape)} is not supported", where=_where(node))
            s, b = self.two_level(node, w, 1)
            weight = np.ascontiguousarray(s[perm, :].T)
            alpha = float(a.get("alpha", 1.0))
            c = self.const(node, 2)
            if c is not None:
                if float(a.get("beta", 1.0)) != 1.0:
                    raise UnsupportedError("Gemm with a bias and beta != 1 is not supported", where=_where(node))
                bias = np.broadcast_to(np.asarray(c, np.float32).reshape(-1) if c.size > 1 else np.asarray(c, np.float32).reshape(1), (w.shape[1],))
        else:  # Conv
            w = self.const(node, 1)
            if w.ndim != 4 or len(onnx_shape) != 4:
                raise UnsupportedError("only 2-D convolutions are supported", where=_where(node))
            if a.get("group", 1) != 1:
                raise UnsupportedError(f"grouped convolution (group={a['group']}) is not supported", where=_where(node))
            if not np.array_equal(perm, ir_to_onnx(onnx_shape)):
                raise UnsupportedError("a reshape before Conv is not supported", where=_where(node))
            s, b = self.two_level(node, w, 0)  # [Co, Ci, kh, kw]
            weight = np.ascontiguousarray(s.transpose(0, 2, 3, 1))
            alpha = 1.0
            c = self.const(node, 2)
            if c is not None:
                bias = np.asarray(c, np.float32).reshape(-1)
        k = int(weight[0].size)
        acc_onnx = node.output[0]
        acc_shape = self.shape(acc_onnx, node)
        step = np.float32(alpha) * np.float32(level_scale) * b.astype(np.float32)
        # Conv adds its bias after the whole sum (like MatMul + Add); Gemm starts from the
        # bias and adds partial sums block by block, so its bias must keep them exact.
        if not real and not sums_exact(step, k, bias if node.op_type == "Gemm" else None):
            raise UnsupportedError(
                "weight/activation scales (or bias) make the float32 accumulator inexact; "
                "bnncc needs every partial sum to be exact (e.g. power-of-two scales)", where=_where(node))
        acc_ir_shape = ir_shape(acc_shape)
        acc_ir = self.new(TensorType(acc_ir_shape, DType.FLOAT32 if real else DType.INT32), "acc")
        mode = "float" if real else "dot"
        if node.op_type == "Conv":
            kh, kw = weight.shape[1:3]
            pads = tuple(a.get("pads", [0, 0, 0, 0]))
            strides = tuple(a.get("strides", [1, 1]))
            dil = tuple(a.get("dilations", [1, 1]))
            ap = a.get("auto_pad", "NOTSET")
            if ap in ("SAME_UPPER", "SAME_LOWER"):
                pads = _same_pads(onnx_shape[2:], (kh, kw), strides, dil, ap)
            elif ap not in ("NOTSET", "VALID"):
                raise UnsupportedError(f"Conv auto_pad={ap} is not supported", where=_where(node))
            op = O.Conv2d(node.name or acc_onnx, (ir_bin,), acc_ir, weight=weight, strides=strides,
                          pads=(pads[0], pads[1], pads[2], pads[3]), dilations=dil, acc=mode)
        else:
            op = O.Dense(node.name or acc_onnx, (ir_bin,), acc_ir, weight=weight, acc=mode)
        self.ops.append(op)
        in_perm = inverse(ir_to_onnx(acc_shape))  # ONNX flat i <- IR flat in_perm[i]
        nper = acc_shape[1]
        ch = np.arange(math.prod(acc_shape[1:])) // max(1, math.prod(acc_shape[2:]))
        acc_scale = step.reshape(-1)[ch % nper].astype(np.float32)
        if bias is not None:
            # the bias joins the float chain as an exact Add in the reference's own terms
            bname = f"__bnncc_bias_{self.counter}"
            self.counter += 1
            bshape = (nper,) + (1,) * (len(acc_shape) - 2)
            self.consts[bname] = np.asarray(bias, np.float32).reshape(bshape)
            biased = f"{acc_onnx}__bnncc_biased"
            add = helper.make_node("Add", [acc_onnx, bname], [biased], name=f"{node.name}_bias")
            self.shapes[biased] = acc_shape
            # rewire: the consumer of acc_onnx now reads the biased tensor
            for cons in self.consumers.get(acc_onnx, []):
                for j, i in enumerate(cons.input):
                    if i == acc_onnx:
                        cons.input[j] = biased
            self.consumers[biased] = self.consumers.pop(acc_onnx, [])
            self.consumers[acc_onnx] = [add]
            if self.output == acc_onnx:  # the layer is the last node: its bias is the whole tail
                self.output = biased
        return acc_ir, acc_onnx, (acc_ir, acc_onnx, in_perm, acc_scale, k)

    def emit_head(self, node, logits_onnx, ir_logits):
        a = _attrs(node)
        shape = self.shape(logits_onnx)
        if len(shape) != 2:
            raise UnsupportedError("ArgMax/TopK needs a [1, N] input", where=_where(node))
        if node.op_type == "ArgMax":
            if a.get("axis", 0) not in (1, -1) or a.get("select_last_index", 0):
                raise UnsupportedError("only ArgMax over the last axis (first index on ties) is supported", where=_where(node))
            out_name = node.output[0]
        else:
            kk = self.const(node, 1)
            if kk is None or int(np.asarray(kk).reshape(-1)[0]) != 1 or a.get("axis", -1) not in (1, -1) or a.get("largest", 1) != 1:
                raise UnsupportedError("only TopK with k=1, largest=1 over the last axis is supported", where=_where(node))
            if len(node.output) < 2 or node.output[1] != self.output:
                raise UnsupportedError("only TopK's indices may be the graph output", where=_where(node))
            out_name = node.output[1]
        if out_name != self.output:
            raise UnsupportedError("ArgMax/TopK must produce the graph output", where=_where(node))
        out = self.new(TensorType((1,), DType.INT64), "index")
        self.ops.append(O.ArgMax(node.name or out_name, (ir_logits,), out))
        return out


def _check_bn(node, consts: dict) -> None:
    """BatchNormalization parameters must be finite and var + eps > 0: a NaN or inf there
    makes channels NaN (or constant by accident), never a usable binary activation."""
    eps = float(np.float32(_attrs(node).get("epsilon", 1e-5)))
    for idx, what in ((1, "scale (gamma)"), (2, "bias (beta)"), (3, "mean"), (4, "var")):
        if idx >= len(node.input) or node.input[idx] not in consts:
            continue
        v = np.asarray(consts[node.input[idx]])
        if not np.issubdtype(v.dtype, np.floating):
            continue
        bad = ~np.isfinite(v)
        if bad.any():
            kind = "NaN" if np.isnan(v[bad]).any() else "inf"
            raise UnsupportedError(f"BatchNormalization {what} contains {kind} ({int(bad.sum())} of {v.size} values)",
                                   where=_where(node))
        if idx == 4 and (v.astype(np.float64) + eps <= 0).any():
            raise UnsupportedError(f"BatchNormalization var + epsilon must be positive (min var {float(v.min()):g})",
                                   where=_where(node))


def _refuse_transpose(nodes) -> None:
    """Chains evaluated elementwise (before a quantizer, the float tail) cannot permute."""
    for n in nodes:
        if n.op_type == "Transpose":
            raise UnsupportedError("Transpose is supported only after a quantizer", where=_where(n))


def _transposed(perm: np.ndarray, shape, axes) -> np.ndarray:
    """The IR->ONNX map after ``Transpose(axes)`` of a tensor of ONNX shape ``shape``."""
    src = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    src = src.transpose(axes if axes is not None else None).reshape(-1)  # Y flat m <- X flat src[m]
    return inverse(src)[perm]


def _same_pads(hw, k, s, d, mode):
    pads = []
    for n, kk, ss, dd in zip(hw, k, s, d):
        out = -(-n // ss)
        total = max(0, (out - 1) * ss + (kk - 1) * dd + 1 - n)
        small, big = total // 2, total - total // 2
        pads.append((small, big) if mode == "SAME_UPPER" else (big, small))
    return (pads[0][0], pads[1][0], pads[0][1], pads[1][1])


def import_onnx(m: onnx.ModelProto, name: str) -> Graph:
    try:
        return _Importer(m, name).run()
    except BnnccError as exc:
        if exc.where is None:  # say which model
            raise type(exc)(str(exc), where=name) from None
        raise
    except (KeyError, ValueError, IndexError) as exc:
        raise BnnccError(f"malformed model ({type(exc).__name__}: {exc})", where=name) from None
