"""HLS backend: lowered IR + FPGA target + folding -> a Vitis HLS C++ project
(top.cpp/top.h, bnn_hls.h, testbench.cpp, csim/hls_stream.h, Makefile, run_hls.tcl,
README.md, report.json).

The design is a FINN-style streaming dataflow, one unit per IR op, all in one top
function under ``#pragma HLS DATAFLOW``:

* ``BinarizeInput``: float frame (ONNX order) -> binary pixels (channel-last).
* ``FloatSteps``: float frame -> float elements, channel-last.
* ``Dense`` / ``Conv2d``: a matrix-vector(-threshold) unit (MVAU) with ``PE`` output
  channels and ``SIMD`` input columns per cycle (``bnncc.folding``); a Conv2d gets a
  sliding-window unit before it, a Dense a width converter when the producer's pixel is
  not ``SIMD`` elements wide.  The ``Threshold`` that follows it (the lowering always
  puts one right after every layer but the last) is compared in place inside the MVAU:
  no accumulator stream; only the last layer streams int32 accumulators to the tail.
* A ``Dense`` / ``Conv2d`` with an MST plan (``passes/mst_reorder.py``): an MST unit
  (``mst_threshold`` / ``mst_acc``) instead of the MVAU: all MH output channels in
  parallel (PE = MH), the input vector gathered from its MW / SIMD words, roots in full
  and children from their parent in BFS order, with the difference masks and parents as
  constant arrays (synthesis folds them).  Same input and output streams as the MVAU.
* ``PoolBits``, ``AffineOut``, ``Unpack``, ``ArgMax``: one unit each.

Binary streams carry EB bits per element: 1 (bipolar, bit 1 = +1) or 2 (ternary:
value bit, nonzero bit), see ``templates/hls/bnn_hls.h``.  A conv whose input has
zero padding receives ternary windows (padding is 0, never +1/-1).

Python decides the units, their template parameters and the constant tables; every
emitted character comes from ``templates/hls`` or from formatting a number.  The
semantics are the IR interpreter's (``bnncc.ir.interp``), bit for bit.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ...errors import BnnccError
from ...folding import Folding, check_fold, mvau_layers
from ...ir import ops as O
from ...ir.graph import Graph, conv_out_hw
from ...ir.types import DType
from .. import render_files
from ...targets import Target
from ..c.emit import I32_MIN, _mst_totals, c_comment, c_ident

STREAM_DEPTH = 2   # every unit is a chain link (one producer, one consumer): no deadlock at any depth
AP_INT_DEFAULT_MAX_W = 1024   # ap_int.h's default widest ap_uint; Vitis allows up to 32768
AP_INT_LIMIT_W = 32768


def float_lit(v) -> str:
    """A C++14 float literal that reads back as exactly ``v`` (float32); no hex floats,
    which C++14 lacks: ten significant digits round-trip a float32."""
    v = float(np.float32(v))
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "HUGE_VALF" if v > 0 else "-HUGE_VALF"
    return f"{v:.9e}f"


def int_lit(v) -> str:
    v = int(v)
    return "INT32_MIN" if v == I32_MIN else str(v)


def tile_type(simd: int) -> str:
    """The C++ type of one SIMD-bit weight tile (see ``mvau_threshold`` in bnn_hls.h)."""
    for bits in (8, 16, 32, 64):
        if simd <= bits:
            return f"uint{bits}_t"
    return f"ap_uint<{simd}>"


def bits_lit(bits: np.ndarray) -> str:
    """A literal of ``tile_type(len(bits))`` for a 0/1 vector, bit i = bits[i]."""
    n = len(bits)
    value = int(sum(1 << int(i) for i in np.nonzero(bits)[0]))
    if n <= 64:
        return f"0x{value:x}u" if n <= 32 else f"0x{value:x}ull"
    return f'ap_uint<{n}>("{value:x}", 16)'


def _const(ctype: str, name: str, values, fmt, partition: bool = False) -> dict:
    """A constant table for the template: 1-D ``values`` or 2-D (rows = PE)."""
    a = np.asarray(values)
    if a.ndim == 1:
        return {"ctype": ctype, "name": name, "dims": [a.shape[0]], "values": [fmt(v) for v in a],
                "rows": None, "partition": partition}
    return {"ctype": ctype, "name": name, "dims": list(a.shape), "values": None,
            "rows": [[fmt(v) for v in row] for row in a], "partition": partition}


def _eb(dtype: DType) -> int:
    return 2 if dtype is DType.TERNARY else 1


def _nchw_to_hwc(P: int, C: int) -> np.ndarray:
    """perm[i] for channel-last element i = p * C + c: the ONNX index c * P + p."""
    return (np.arange(C)[None, :] * P + np.arange(P)[:, None]).reshape(-1)


def _hwc_to_nchw(P: int, C: int) -> np.ndarray:
    """src[i] for ONNX element i = c * P + p: the channel-last index p * C + c (the
    float tail's and Unpack's order when they emit NCHW)."""
    return (np.arange(P)[None, :] * C + np.arange(C)[:, None]).reshape(-1)


def _uniform(a) -> bool:
    a = np.asarray(a).reshape(-1)
    return a.size > 0 and bool((a == a[0]).all())


def _weight_tiles(weight2d: np.ndarray, pe: int, simd: int) -> np.ndarray:
    """[MH, MW] ±1 -> [PE, NF * SF] ap_uint<SIMD> literals: tile (pe, nf * SF + sf) holds
    row nf * PE + pe, columns sf * SIMD ... (bit i = column sf * SIMD + i, 1 = +1)."""
    mh, mw = weight2d.shape
    nf, sf = mh // pe, mw // simd
    bits = (weight2d > 0).reshape(nf, pe, sf, simd)
    out = np.empty((pe, nf * sf), dtype=object)
    for p in range(pe):
        for n in range(nf):
            for s in range(sf):
                out[p, n * sf + s] = bits_lit(bits[n, p, s])
    return out


def _per_pe(values: np.ndarray, pe: int, pixels: int, per_element: bool) -> np.ndarray:
    """Per-channel [MH] (or per-element [pixels * MH]) -> [PE, NF] (or [PE, pixels * NF])."""
    v = np.asarray(values)
    mh = v.size // (pixels if per_element else 1)
    nf = mh // pe
    if per_element:
        return v.reshape(pixels, nf, pe).transpose(2, 0, 1).reshape(pe, pixels * nf)
    return v.reshape(nf, pe).T


def _words64_lit(bits: np.ndarray) -> list[str]:
    """A 0/1 vector as uint64_t literals, bit c of the vector = bit c % 64 of word c / 64."""
    n = -(-len(bits) // 64)
    padded = np.zeros(n * 64, bool)
    padded[:len(bits)] = bits
    return [f"0x{sum(1 << int(i) for i in np.nonzero(padded[w * 64:(w + 1) * 64])[0]):x}ull" for w in range(n)]


def _mst_consts(plan: O.MstPlan, w2d: np.ndarray) -> list[dict]:
    """The constant arrays of ``mst_threshold`` / ``mst_acc`` (bnn_hls.h): BFS order,
    parents, complement flags, and per channel the mask m (every column for a root, the
    difference set D for a child) and the pattern c (w_j for a root, w_p AND D for a child)."""
    pos = w2d > 0
    masks, pats = [], []
    for j in range(w2d.shape[0]):
        p = int(plan.parent[j])
        if p < 0:
            m, c = np.ones(w2d.shape[1], bool), pos[j]
        else:
            m = (w2d[j] == w2d[p]) if plan.comp[j] else (w2d[j] != w2d[p])
            c = pos[p] & m
        masks.append(_words64_lit(m))
        pats.append(_words64_lit(c))
    return [_const("int16_t", "order", plan.order, int_lit), _const("int16_t", "parent", plan.parent, int_lit),
            _const("bool", "comp", plan.comp, lambda v: "true" if v else "false"),
            _const("uint64_t", "pat", np.array(pats, dtype=object), str),
            _const("uint64_t", "mask", np.array(masks, dtype=object), str)]


class _Streams:
    def __init__(self):
        self.items = []

    def new(self, name: str, ctype: str, words: int) -> dict:
        s = {"name": name, "ctype": ctype, "depth": STREAM_DEPTH, "words": words}
        self.items.append(s)
        return s


def _check_chain(g: Graph) -> None:
    prev = g.input
    for op in g.ops:
        if isinstance(op, O.FloatChain):
            raise BnnccError(f"internal: the HLS backend got an unlowered FloatChain ('{op.name}')")
        if op.inputs != (prev,):
            raise BnnccError(f"the HLS backend needs a chain of layers; {op.kind} '{op.name}' does not read "
                             f"the previous layer's output")
        prev = op.output
    if prev != g.output:
        raise BnnccError("the HLS backend needs a chain of layers ending in the graph output")


def build_context(g: Graph, target: Target, prefix: str, fold: Folding | None = None) -> dict:
    """The template context: streams, units (one or more per op, in dataflow order) and
    report.json.  ``fold`` is checked with ``bnncc.folding.check_fold``; missing layers
    get (1, 1).  Anything the units cannot do exactly is refused with a BnnccError."""
    _check_chain(g)
    full = check_fold(g, dict(fold or {}))
    mvaus = {m.index: m for m in mvau_layers(g)}
    streams = _Streams()
    units, layers = [], []
    macs = 0
    in_t = g.tensors[g.input]
    # the stream feeding the next unit: what it carries
    cur = {"s": {"name": "in_stream", "ctype": "float"}, "kind": "float_onnx", "eb": 0}
    fused_into = {}  # Threshold index -> MVAU index

    ops = list(g.ops)
    for k, op in enumerate(ops):
        a = g.tensors[op.inputs[0]]
        out = g.tensors[op.output]
        last = k == len(ops) - 1
        rep = {"index": k, "op": op.kind, "name": op.name, "input": str(a), "output": str(out), "binary_macs": 0,
               "weight_bytes": 0, "activation_bytes": out.nbytes, "pe": None, "simd": None, "fold_cycles": None,
               "unit": None}
        fn = f"{prefix}_l{k}_{op.kind.lower()}"
        U = {"fn": fn, "index": k, "comment": c_comment(f"{op.kind} {op.name}"), "consts": [], "in": cur["s"]}

        def out_stream(ctype, words):
            if last:
                return {"name": "out_stream", "ctype": ctype}
            return streams.new(f"s{k}", ctype, words)

        if k in fused_into:
            rep.update(unit=f"fused into the MVAU of layer {fused_into[k]}",
                       weight_bytes=op.dir.size * 9)
            layers.append(rep)
            continue

        if isinstance(op, O.BinarizeInput):
            P, C = out.pixels, out.channels
            if not np.array_equal(op.perm, _nchw_to_hwc(P, C)):
                raise BnnccError(f"internal: BinarizeInput '{op.name}': unexpected input permutation")
            uni = all(_uniform(x) for x in (op.dir, op.lo, op.hi, op.const))
            sl = slice(0, 1) if uni else slice(None)
            eb = _eb(out.dtype)
            o = out_stream(f"ap_uint<{C * eb}>", P)
            U.update(unit="binarize_input", P=P, C=C, EB=eb, per_element=0 if uni else 1, out=o)
            U["consts"] += [_const("int8_t", "dir", op.dir[sl], int_lit), _const("float", "lo", op.lo[sl], float_lit),
                            _const("float", "hi", op.hi[sl], float_lit),
                            _const("int8_t", "cval", op.const[sl], int_lit)]
            rep["unit"] = "binarize_input"
            cur = {"s": o, "kind": "bits", "eb": eb, "P": P, "C": C}

        elif isinstance(op, O.FloatSteps):
            P, C = out.pixels, out.channels
            if not np.array_equal(op.src, _nchw_to_hwc(P, C)):
                raise BnnccError(f"internal: FloatSteps '{op.name}': unexpected input permutation")
            o = out_stream("float", P * C)
            steps = []
            for j, (kind, c) in enumerate(op.steps):
                u = _uniform(c)
                U["consts"].append(_const("float", f"c{j}", c[:1] if u else c, float_lit))
                steps.append({"op": "bnn::STEP_" + kind.upper(), "c": f"c{j}", "index": "0" if u else "i"})
            U.update(unit="float_steps", P=P, C=C, steps=steps, out=o)
            rep["unit"] = "float_steps"
            cur = {"s": o, "kind": "float_hwc"}

        elif isinstance(op, (O.Dense, O.Conv2d)):
            m = mvaus[k]
            pe, simd = full[k]
            is_conv = isinstance(op, O.Conv2d)
            real = op.acc == "float"
            w2d = op.weight.reshape(op.weight.shape[0], -1)  # conv: (ky, kx, ci) columns
            nxt = ops[k + 1] if k + 1 < len(ops) else None
            fuse = isinstance(nxt, O.Threshold) and nxt.inputs == (op.output,)
            # --- the input side: sliding window or width converter
            if real:
                if cur["kind"] not in ("float_hwc", "float_onnx"):
                    raise BnnccError(f"internal: {op.kind} '{op.name}': float layer without a float input")
                if cur["kind"] == "float_onnx" and not (a.pixels == 1 or a.channels == 1):
                    raise BnnccError(f"{op.kind} '{op.name}': a real-valued first layer reading the NCHW graph "
                                     "input directly is not supported by the HLS backend")
                eb_in = 0
                if is_conv:
                    s = streams.new(f"s{k}_win", "float", m.pixels * m.mw)
                    units.append(_swu_unit(fn + "_swu", k, op, a, out, cur["s"], s, None, None, 0, c_comment))
                    cur = {"s": s, "kind": "float_cols"}
            else:
                if cur["kind"] != "bits":
                    raise BnnccError(f"internal: {op.kind} '{op.name}': binary layer without a binary input")
                eb_in = cur["eb"]
                if is_conv:
                    padded = any(op.pads)
                    eb_in = 2 if (cur["eb"] == 2 or padded) else 1
                    s = streams.new(f"s{k}_win", f"ap_uint<{simd * eb_in}>", m.pixels * m.mw // simd)
                    units.append(_swu_unit(fn + "_swu", k, op, a, out, cur["s"], s, cur["eb"], eb_in, simd, c_comment))
                elif cur["C"] != simd:
                    s = streams.new(f"s{k}_dwc", f"ap_uint<{simd * eb_in}>", m.mw // simd)
                    units.append({"unit": "width_convert", "fn": fn + "_dwc", "index": k, "consts": [],
                                  "comment": c_comment(f"width converter before {op.kind} {op.name}"),
                                  "IN_BITS": cur["C"] * eb_in, "OUT_BITS": simd * eb_in, "TOTAL": m.mw * eb_in,
                                  "in": cur["s"], "out": s})
                else:
                    s = cur["s"]
                cur = {"s": s, "kind": "cols"}
            # --- the MVAU, or the MST unit (all MH channels in parallel: PE = MH)
            if op.mst is not None:
                pe = m.mh
                U["consts"] += _mst_consts(op.mst, w2d)
                U["W"] = -(-m.mw // 64)
            else:
                tiles = _weight_tiles(w2d, pe, simd)
                U["consts"].append(_const(tile_type(simd), "weights", tiles, str, partition=True))
            unit = "mst" if op.mst is not None else "mvau"
            U.update(MW=m.mw, MH=m.mh, P=m.pixels, SIMD=simd, PE=pe, EB=eb_in, real=real,
                     MODE="bnn::ACC_XOR_POPCOUNT" if op.acc == "xor_popcount" else "bnn::ACC_DOT", **{"in": cur["s"]})
            if fuse:
                thr = nxt
                t_out = g.tensors[thr.output]
                per_el = thr.per == "element"
                eb_out = _eb(t_out.dtype)
                num, fmt = ("float", float_lit) if real else ("int32_t", int_lit)
                U["consts"] += [_const("int8_t", "dir", _per_pe(thr.dir, pe, m.pixels, per_el), int_lit, True),
                                _const(num, "lo", _per_pe(thr.lo, pe, m.pixels, per_el), fmt, True),
                                _const(num, "hi", _per_pe(thr.hi, pe, m.pixels, per_el), fmt, True)]
                if k + 1 == len(ops) - 1:
                    raise BnnccError(f"internal: Threshold '{thr.name}' is the graph output (binary, no Unpack)")
                o = streams.new(f"s{k + 1}", f"ap_uint<{m.mh * eb_out}>", m.pixels)
                TN = (m.pixels if per_el else 1) * (m.mh // pe)
                U.update(unit="mvau_float_threshold" if real else unit + "_threshold", EB_OUT=eb_out,
                         per_element=int(per_el), TN=TN, out=o)
                fused_into[k + 1] = k
                cur = {"s": o, "kind": "bits", "eb": eb_out, "P": m.pixels, "C": m.mh}
            elif real:
                raise BnnccError(f"the HLS backend needs a Threshold right after the real-valued first layer "
                                 f"{op.kind} '{op.name}'")
            else:
                o = out_stream("int32_t", m.pixels * m.mh)
                U.update(unit=unit + "_acc", out=o)
                cur = {"s": o, "kind": "acc_int", "P": m.pixels, "C": m.mh}
            what = "MVAU" if op.mst is None else f"MST unit (tree depth {op.mst.depth})"
            U["comment"] = c_comment(f"{op.kind} {op.name}: {what} {m.mh}x{m.mw}, PE={pe}, SIMD={simd}, "
                                     f"{m.cycles(pe, simd)} cycles/frame" + (", thresholds in place" if fuse else ""))
            wbytes = -(-m.mh * m.mw // 8)
            rep.update(pe=pe, simd=simd, fold_cycles=m.cycles(pe, simd), weight_bytes=wbytes, mh=m.mh, mw=m.mw,
                       unit=("sliding_window + " if is_conv else "") + ("mvau" if op.mst is None else "mst"),
                       threshold_in_place=bool(fuse))
            if op.output in g.meta.get("mst", {}):
                rep["mst"] = dict(g.meta["mst"][op.output])
            if is_conv:
                rep["window"] = _window(a, out, op.weight.shape[1:3], op)
            if real:
                rep.update(real_macs=m.pixels * m.mh * m.mw, float_accumulation=True)
            else:
                rep["binary_macs"] = m.pixels * m.mh * m.mw

        elif isinstance(op, O.Threshold):  # the lowering always puts it right after its layer
            raise BnnccError(f"the HLS backend compares thresholds inside the Dense/Conv2d unit; Threshold "
                             f"'{op.name}' does not directly follow one")

        elif isinstance(op, O.PoolBits):
            if cur["kind"] != "bits":
                raise BnnccError(f"internal: PoolBits '{op.name}' without a binary input")
            oh, ow, c = out.shape
            if (oh, ow) != conv_out_hw(a.shape[0], a.shape[1], op.kernel, op.strides, op.pads, op.dilations,
                                       op.ceil_mode):
                raise BnnccError(f"internal: PoolBits '{op.name}': pool shape")
            eb = cur["eb"]
            o = out_stream(f"ap_uint<{c * eb}>", oh * ow)
            U["consts"].append(_const("bool", "is_max", op.is_max, lambda v: "true" if v else "false"))
            U.update(unit="pool_bits", shape=[a.shape[0], a.shape[1], c, eb, op.kernel[0], op.kernel[1],
                                              op.strides[0], op.strides[1], op.pads[0], op.pads[1], op.dilations[0],
                                              op.dilations[1], oh, ow], out=o, **{"in": cur["s"]})
            rep.update(unit="pool_bits", window=_window(a, out, op.kernel, op))
            cur = {"s": o, "kind": "bits", "eb": eb, "P": oh * ow, "C": c}

        elif isinstance(op, O.AffineOut):
            if cur["kind"] != "acc_int":
                raise BnnccError(f"internal: AffineOut '{op.name}' without an int32 accumulator input")
            P, C = a.pixels, a.channels
            if not np.array_equal(op.src, _hwc_to_nchw(P, C)):
                raise BnnccError(f"AffineOut '{op.name}': the HLS backend emits the float tail in NCHW order only "
                                 "(a transposed output is not supported)")
            o = out_stream("float", P * C)
            U.update(P=P, C=C, out=o, **{"in": cur["s"]})
            if op.lut is not None:
                U["consts"].append(_const("float", "lut", op.lut, float_lit))
                U.update(unit="affine_lut", K=op.acc_range)
                rep["weight_bytes"] = op.lut.size * 4
            else:
                su = _uniform(op.acc_scale)
                U["consts"].append(_const("float", "scale", op.acc_scale[:1] if su else op.acc_scale, float_lit))
                steps = []
                for j, (kind, c) in enumerate(op.steps):
                    u = _uniform(c)
                    U["consts"].append(_const("float", f"c{j}", c[:1] if u else c, float_lit))
                    steps.append({"op": "bnn::STEP_" + kind.upper(), "c": f"c{j}", "index": "0" if u else "i"})
                U.update(unit="affine_steps", scale_index="0" if su else "i", steps=steps)
                rep["weight_bytes"] = sum(4 * (1 if _uniform(c) else c.size) for _, c in op.steps)
            rep["unit"] = U["unit"]
            cur = {"s": o, "kind": "float_onnx"}

        elif isinstance(op, O.Unpack):
            if cur["kind"] != "bits":
                raise BnnccError(f"internal: Unpack '{op.name}' without a binary input")
            P, C = a.pixels, a.channels
            if not np.array_equal(op.src, _hwc_to_nchw(P, C)):
                raise BnnccError(f"Unpack '{op.name}': the HLS backend emits binary outputs in NCHW order only "
                                 "(a transposed output is not supported)")
            o = out_stream("float", P * C)
            U.update(unit="unpack", P=P, C=C, EB=cur["eb"], level=float_lit(op.level), out=o, **{"in": cur["s"]})
            rep["unit"] = "unpack"
            cur = {"s": o, "kind": "float_onnx"}

        elif isinstance(op, O.ArgMax):
            if cur["kind"] != "float_onnx":
                raise BnnccError(f"internal: ArgMax '{op.name}' without a float input")
            o = out_stream("int64_t", 1)
            U.update(unit="argmax", N=a.numel, out=o, **{"in": cur["s"]})
            rep["unit"] = "argmax"
            cur = {"s": o, "kind": "index"}

        else:
            raise BnnccError(f"the HLS backend cannot emit {op.kind} '{op.name}'")

        units.append(U)
        macs += rep["binary_macs"]
        layers.append(rep)

    out_t = g.tensors[g.output]
    fpga = target.fpga
    max_w = _widest_ap_uint(streams.items, units)
    return {
        "ap_int_max_w": 0 if max_w <= AP_INT_DEFAULT_MAX_W else -(-max_w // 1024) * 1024,
        "prefix": prefix,
        "PREFIX": prefix.upper(),
        "target": target,
        "fpga": fpga,
        "clock_ns": f"{1e9 / fpga['clock_hz']:g}",
        "source": c_comment(g.source),
        "input_size": in_t.numel,
        "input_shape": list(g.input_onnx_shape),
        "output_size": out_t.numel,
        "output_shape": list(g.output_onnx_shape),
        "output_ctype": "int64_t" if out_t.dtype is DType.INT64 else "float",
        "output_is_index": out_t.dtype is DType.INT64,
        "float_layers": [r["name"] for r in layers if r.get("float_accumulation")],
        "streams": streams.items,
        "units": units,
        "fold": {str(k): list(v) for k, v in sorted(full.items())},
        "report": {
            "model": g.source,
            "target": target.name,
            "backend": "hls",
            "word_bits": target.word_bits,
            "input_shape": list(g.input_onnx_shape),
            "output_shape": list(g.output_onnx_shape),
            "fold": {str(k): list(v) for k, v in sorted(full.items())},
            "layers": layers,
            "streams": [{"name": st["name"], "bits": _bits(st["ctype"]), "depth": st["depth"],
                         "words_per_frame": st["words"]} for st in streams.items],
            "totals": {"binary_macs": macs, "weight_bytes": sum(r["weight_bytes"] for r in layers),
                       "const_bytes": sum(r["weight_bytes"] for r in layers), "arena_bytes": 0,
                       "fold_cycles_max": max((r["fold_cycles"] for r in layers if r["fold_cycles"]), default=0),
                       **(_mst_totals(layers) if g.meta.get("mst") else {})},
        },
    }


def _bits(ctype: str) -> int:
    m = re.search(r"ap_uint<(\d+)>", ctype)
    return int(m[1]) if m else {"float": 32, "int32_t": 32, "int64_t": 64}[ctype]


def _window(a, out, kernel, op) -> dict:
    """The geometry of a sliding-window unit, for report.json (cycle models)."""
    return {"ifm": list(a.shape), "ofm": list(out.shape), "kernel": [int(k) for k in kernel],
            "strides": list(op.strides), "pads": list(op.pads), "dilations": list(op.dilations),
            "line_buffer_rows": (int(kernel[0]) - 1) * op.dilations[0] + 1}


def _widest_ap_uint(streams: list[dict], units: list[dict]) -> int:
    """The widest ap_uint the design uses (streams, width-converter buffers, window
    frames, weight tiles); one clear error beyond what ap_int allows."""
    widths = [(int(m[1]), s["name"]) for s in streams for m in [re.search(r"ap_uint<(\d+)>", s["ctype"])] if m]
    for u in units:
        if u["unit"] == "width_convert":
            widths.append((u["IN_BITS"] + u["OUT_BITS"], u["fn"]))
        elif u["unit"] == "sliding_window":
            widths.append((u["geo"][2] * u["EB_OUT"], u["fn"]))
        elif "SIMD" in u:
            widths.append((u["SIMD"], u["fn"]))
    w, where = max(widths, default=(0, ""))
    if w > AP_INT_LIMIT_W:
        raise BnnccError(f"the HLS design needs an ap_uint<{w}> in {where}, wider than ap_int's limit of "
                         f"{AP_INT_LIMIT_W} bits; fold that layer with a smaller SIMD")
    return w


def _swu_unit(fn, k, op, a, out, s_in, s_out, eb_in, eb_out, simd, comment) -> dict:
    co, kh, kw, ci = op.weight.shape
    oh, ow, _ = out.shape
    geo = [a.shape[0], a.shape[1], ci, kh, kw, op.strides[0], op.strides[1], op.pads[0], op.pads[1],
           op.dilations[0], op.dilations[1], oh, ow]
    return {"unit": "sliding_window_float" if eb_in is None else "sliding_window", "fn": fn, "index": k,
            "comment": comment(f"sliding window of {op.kind} {op.name}"), "consts": [],
            "geo": geo, "EB_IN": eb_in, "EB_OUT": eb_out, "SIMD": simd, "in": s_in, "out": s_out}


FILES = {  # output path -> template path under templates/
    "top.h": "hls/top.h.j2",
    "top.cpp": "hls/top.cpp.j2",
    "bnn_hls.h": "hls/bnn_hls.h",
    "testbench.cpp": "hls/testbench.cpp.j2",
    "csim/hls_stream.h": "hls/csim/hls_stream.h",
    "Makefile": "hls/Makefile.j2",
    "run_hls.tcl": "hls/run_hls.tcl.j2",
    "README.md": "hls/README.md.j2",
}


def render(g: Graph, target: Target, prefix: str = "model", fold: Folding | None = None) -> dict[str, str]:
    """All output files as {relative path: text}."""
    if target.kind != "fpga" or not target.fpga:
        raise BnnccError(f"target '{target.name}' is not an FPGA target with an [fpga] table")
    return render_files(FILES, build_context(g, target, c_ident(prefix), fold))
