"""C backend: lowered IR -> a drop-in C99 library (model.h/.c, kernels, harness,
Makefile, CMakeLists.txt, README, report.json).

Python decides *what* is emitted (kernel per op, constant tables, arena offsets) and
hands plain data to the templates in ``templates/c``; every emitted character comes
from a template or from formatting a number.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ...errors import BnnccError
from ...ir import ops as O
from ...ir.graph import Graph, conv_out_hw, mst_depths
from ...ir.types import DType
from ...passes.pack_bits import pack
from .. import render_files
from ...targets import Target
from .memory import plan

I32_MIN = -(2**31)


def c_ident(name: str, fallback: str = "model") -> str:
    """A safe C identifier from any string (ASCII letters, digits, underscores), starting
    with a letter (identifiers starting with '_' may be reserved)."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not s or not s[0].isalpha():
        s = f"{fallback}_{s}" if s else fallback
    return s[:48]


# what a comment may hold: no '*' or '/' (so no '*/', '/*' or '//'), no '?' (no
# trigraphs), no '\\' (no line splicing), no '#', no quotes, no control or non-ASCII
# characters
COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9 _.,:;()\[\]{}<>=+\-@%&|^~!$]")


def c_comment(text: str) -> str:
    """Text that is safe inside a /* */ comment on one line: characters outside a small
    ASCII set become '_'."""
    return COMMENT_UNSAFE.sub("_", str(text))[:120]


def source_name(source: str) -> str:
    """The model's file name without its folder: the output must not depend on where the
    model lies (or on the working directory)."""
    return Path(source).name or source


def _float_lit(v: float) -> str:
    v = float(np.float32(v))
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "HUGE_VALF" if v > 0 else "-HUGE_VALF"
    return f"{v.hex()}f" if v != 0 else ("-0.0f" if math.copysign(1, v) < 0 else "0.0f")


def _int_lit(v: int) -> str:
    v = int(v)
    return "INT32_MIN" if v == I32_MIN else str(v)


def _word_lit(v: int, bits: int) -> str:
    return f"UINT64_C(0x{int(v):016x})" if bits == 64 else f"UINT32_C(0x{int(v):08x})"


class _Consts:
    def __init__(self, word_bits):
        self.items = []
        self.word_bits = word_bits
        self.total_bytes = 0

    def add(self, name, ctype, values, fmt):
        vals = [fmt(v) for v in np.asarray(values).reshape(-1)]
        size = {"float": 4, "int32_t": 4, "int8_t": 1, "bnn_word_t": self.word_bits // 8}[ctype]
        self.total_bytes += size * len(vals)
        self.items.append({"name": name, "ctype": ctype, "values": vals})
        return name

    def floats(self, name, v):
        return self.add(name, "float", np.asarray(v, np.float32), _float_lit)

    def i32(self, name, v):
        return self.add(name, "int32_t", np.asarray(v, np.int64), _int_lit)

    def i8(self, name, v):
        return self.add(name, "int8_t", np.asarray(v, np.int64), str)

    def words(self, name, v):
        return self.add(name, "bnn_word_t", np.asarray(v, np.uint64), lambda x: _word_lit(x, self.word_bits))


def _pc(shape):
    """(pixels, channels) of a channel-last shape."""
    return (math.prod(shape[:-1]), shape[-1])


def _uniform(a):
    a = np.asarray(a).reshape(-1)
    return a.size > 0 and (a == a[0]).all()


def _steps(consts: _Consts, pre: str, steps) -> list[dict]:
    """Float32 steps as bnn_step rows (one constant, stride 0, when it is uniform)."""
    out = []
    for j, (kind, c) in enumerate(steps):
        u = _uniform(c)
        out.append({"op": "BNN_" + kind.upper(), "stride": 0 if u else 1, "c": consts.floats(f"{pre}c{j}", c[:1] if u else c)})
    return out


CONV_FIELDS = ("H", "W", "Cin", "Cout", "KH", "KW", "SH", "SW", "PT", "PL", "DH", "DW", "OH", "OW")
POOL_FIELDS = ("H", "W", "C", "KH", "KW", "SH", "SW", "PT", "PL", "DH", "DW", "OH", "OW")
SCALARS = ("P", "C", "K", "N", "n", "n_words", "ternary", "per_element", "scale_stride")


def _kernel_params(L: dict) -> dict:
    """The numbers a layer's C kernel call is specialised on (report.json ``kernel``):
    what hw_sim's analytic estimator needs, without a compiler."""
    kind = L["kind"]
    out = {"kind": kind, "real": int(bool(L.get("real"))), **{k: int(L[k]) for k in SCALARS if k in L}}
    if "shape" in L:
        out.update(zip(POOL_FIELDS if kind == "PoolBits" else CONV_FIELDS, (int(v) for v in L["shape"])))
    if "mode" in L:
        out["xor_popcount"] = int(L["mode"] == "BNN_ACC_XOR_POPCOUNT")
    if "steps" in L:
        out["steps"] = len(L["steps"])
        out["div_steps"] = sum(st["op"] in ("BNN_DIV", "BNN_RDIV") for st in L["steps"])
    if kind == "AffineOut":
        out["lut"] = int("lut" in L)
    if "mst" in L:
        out["mst"] = 1
    return out
def _mst_tables(op, a, consts: _Consts, pre: str, word_bits: int) -> dict:
    """The bnn_mst_plan arrays of a layer with an MST plan (see bnn_kernels.h)."""
    m = op.mst
    n = op.weight.shape[0]
    if isinstance(op, O.Dense):
        w = op.weight.reshape(n, a.pixels, a.channels)
    else:
        w = op.weight
    # roots first (the kernels' two loops), then the plan's order: parents stay first
    depth = mst_depths(m)
    order = m.order[np.argsort(depth[m.order] > 0, kind="stable")]
    start, idx, masks, dsz = [0], [], [], []
    for j in order:
        p = int(m.parent[j])
        if p < 0:
            dsz.append(0)
        else:
            d = (w[j] == w[p]) if m.comp[j] else (w[j] != w[p])
            words = pack(np.where(d, 1, -1), word_bits).reshape(-1)
            nzw = np.nonzero(words)[0]
            idx += nzw.tolist()
            masks += words[nzw].tolist()
            dsz.append(int(d.sum()))
        start.append(len(idx))
    idx_a = np.array(idx or [0], np.int64)
    if isinstance(op, O.Conv2d):
        _, kh, kw, _ = op.weight.shape
        wpp = a.words_per_pixel
        tap, word = idx_a // wpp, idx_a % wpp
        aoff = ((tap // kw) * op.dilations[0] * a.shape[1] + (tap % kw) * op.dilations[1]) * wpp + word
    else:
        aoff = idx_a
    return {"n": n, "n_roots": int((m.parent < 0).sum()), "ch": consts.i32(pre + "mst_ch", order),
            "par": consts.i32(pre + "mst_par", m.parent[order]), "comp": consts.i8(pre + "mst_comp", m.comp[order].astype(np.int64)), "dsz": consts.i32(pre + "mst_dsz", dsz),
            "start": consts.i32(pre + "mst_start", start), "idx": consts.i32(pre + "mst_idx", idx_a),
            "aoff": consts.i32(pre + "mst_aoff", aoff), "mask": consts.words(pre + "mst_mask", masks or [0])}


def _mst_totals(layers) -> dict:
    """Model-level BOPs and ACE, before and after MST.  BOPs: binary (1-bit x 1-bit)
    XNOR-popcount operations = binary MACs; after MST a child costs |D| of them.  ACE
    (PokeBNN): sum over MACs of bits_a * bits_w, here binary MACs x 1 x 1 plus the MACs of
    real-input layers x 32 x 1 (float32 activations, 1-bit weights); additions of the
    tree's corrections and the float tail are not counted."""
    before = sum(r["binary_macs"] for r in layers)
    after = sum(r["mst"]["bit_ops_after"] if r.get("mst", {}).get("applied") else r["binary_macs"] for r in layers)
    real = sum(r.get("real_macs", 0) for r in layers)
    return {"bops_before": before, "bops_after": after, "ace_before": before + 32 * real, "ace_after": after + 32 * real,
            "ace_definition": "sum over MACs of bits_a*bits_w: binary MACs x1x1 (MST: |D| per child), real-input MACs x32x1"}


def build_context(g: Graph, target: Target, prefix: str) -> dict:
    if any(isinstance(op, O.FloatChain) for op in g.ops):
        raise BnnccError("internal: the C backend got an unlowered FloatChain")
    mp = plan(g)
    consts = _Consts(target.word_bits)
    layers = []
    macs = 0

    def buf(name):
        if name == g.input:
            return {"expr": "input", "ctype": "float"}
        if name == g.output:
            return {"expr": "output", "ctype": g.tensors[name].dtype.c_type}
        t = g.tensors[name]
        return {"expr": f"BNN_ARENA({t.dtype.c_type}, {mp.offsets[name]})", "ctype": t.dtype.c_type}

    for k, op in enumerate(g.ops):
        ins = [g.tensors[i] for i in op.inputs]
        out = g.tensors[op.output]
        fn = f"{prefix}_layer{k}_{op.kind.lower()}"
        L = {"kind": op.kind, "index": k, "comment": c_comment(f"{op.kind} {op.name}"),
             "in": buf(op.inputs[0]), "out": buf(op.output), "id": f"l{k}", "fn": fn}
        pre = f"l{k}_"
        bytes_before_mst = consts.total_bytes + (op.packed.nbytes if getattr(op, "packed", None) is not None else 0)
        rep = {"index": k, "op": op.kind, "name": op.name, "function": fn, "input": str(ins[0]), "output": str(out),
               "binary_macs": 0, "weight_bytes": 0, "activation_bytes": out.nbytes}
        if isinstance(op, O.BinarizeInput):
            P, C = _pc(out.shape)
            uni = all(_uniform(a) for a in (op.dir, op.lo, op.hi, op.const))
            sl = slice(0, 1) if uni else slice(None)
            if not np.array_equal(op.perm, (np.arange(C)[None, :] * P + np.arange(P)[:, None]).reshape(-1)):
                raise BnnccError("internal: unexpected input permutation")
            L.update(P=P, C=C, per_element=0 if uni else 1, ternary=int(out.dtype is DType.TERNARY),
                     dir=consts.i8(pre + "dir", op.dir[sl]), lo=consts.floats(pre + "lo", op.lo[sl]),
                     hi=consts.floats(pre + "hi", op.hi[sl]), cval=consts.i8(pre + "cval", op.const[sl]))
        elif isinstance(op, O.FloatSteps):
            P, C = _pc(out.shape)
            if not np.array_equal(op.src, (np.arange(C)[None, :] * P + np.arange(P)[:, None]).reshape(-1)):
                raise BnnccError("internal: unexpected input permutation")
            L.update(P=P, C=C, steps=_steps(consts, pre, op.steps))
        elif isinstance(op, (O.Dense, O.Conv2d)) and op.acc == "float":
            a = ins[0]
            L.update(w=consts.words(pre + "w", op.packed), real=True)
            if isinstance(op, O.Dense):
                L.update(K=a.numel, N=out.numel)
            else:
                co, kh, kw, ci = op.weight.shape
                oh, ow, _ = out.shape
                L.update(shape=[a.shape[0], a.shape[1], ci, co, kh, kw, op.strides[0], op.strides[1], op.pads[0],
                                op.pads[1], op.dilations[0], op.dilations[1], oh, ow])
            rep.update(real_macs=out.numel * int(op.weight[0].size), float_accumulation=True,
                       weight_bytes=op.packed.size * target.word_bits // 8)
        elif isinstance(op, O.Dense):
            a = ins[0]
            L.update(n_words=a.plane_words, K=a.numel, N=out.numel, ternary=int(a.dtype is DType.TERNARY),
                     mode="BNN_ACC_XOR_POPCOUNT" if op.acc == "xor_popcount" else "BNN_ACC_DOT",
                     w=consts.words(pre + "w", op.packed))
            rep.update(binary_macs=a.numel * out.numel, weight_bytes=op.packed.size * target.word_bits // 8)
            if op.mst is not None:
                L.update(mst=_mst_tables(op, a, consts, pre, target.word_bits))
        elif isinstance(op, O.Conv2d):
            a = ins[0]
            co, kh, kw, ci = op.weight.shape
            oh, ow, _ = out.shape
            L.update(ternary=int(a.dtype is DType.TERNARY), w=consts.words(pre + "w", op.packed), runs=3 * kh * kw,
                     mode="BNN_ACC_XOR_POPCOUNT" if op.acc == "xor_popcount" else "BNN_ACC_DOT",
                     shape=[a.shape[0], a.shape[1], ci, co, kh, kw, op.strides[0], op.strides[1], op.pads[0], op.pads[1],
                            op.dilations[0], op.dilations[1], oh, ow])
            rep.update(binary_macs=oh * ow * co * kh * kw * ci, weight_bytes=op.packed.size * target.word_bits // 8)
            if op.mst is not None:
                L.update(mst=_mst_tables(op, a, consts, pre, target.word_bits))
        elif isinstance(op, O.Threshold):
            P, C = _pc(out.shape)
            real = ins[0].dtype is DType.FLOAT32
            num = consts.floats if real else consts.i32
            L.update(P=P, C=C, per_element=int(op.per == "element"), ternary=int(out.dtype is DType.TERNARY), real=real,
                     dir=consts.i8(pre + "dir", op.dir), lo=num(pre + "lo", op.lo), hi=num(pre + "hi", op.hi))
            rep["weight_bytes"] = op.dir.size * 9
        elif isinstance(op, O.PoolBits):
            a = ins[0]
            oh, ow, c = out.shape
            L.update(ternary=int(a.dtype is DType.TERNARY), is_max=consts.words(pre + "is_max", pack(np.where(op.is_max, 1, -1), target.word_bits)),
                     shape=[a.shape[0], a.shape[1], c, op.kernel[0], op.kernel[1], op.strides[0], op.strides[1],
                            op.pads[0], op.pads[1], op.dilations[0], op.dilations[1], oh, ow])
            if (oh, ow) != conv_out_hw(a.shape[0], a.shape[1], op.kernel, op.strides, op.pads, op.dilations, op.ceil_mode):
                raise BnnccError("internal: pool shape")
        elif isinstance(op, O.AffineOut):
            P, C = _pc(ins[0].shape)
            if not np.array_equal(op.src, (np.arange(P)[None, :] * C + np.arange(C)[:, None]).reshape(-1)):
                raise BnnccError("internal: unexpected tail permutation")
            L.update(P=P, C=C)
            if op.lut is not None:
                L.update(K=op.acc_range, lut=consts.floats(pre + "lut", op.lut))
                rep["weight_bytes"] = op.lut.size * 4
            else:
                scale_uni = _uniform(op.acc_scale)
                L.update(scale=consts.floats(pre + "scale", op.acc_scale[:1] if scale_uni else op.acc_scale),
                         scale_stride=0 if scale_uni else 1, steps=_steps(consts, pre, op.steps))
                rep["weight_bytes"] = sum(4 * (1 if _uniform(c) else c.size) for _, c in op.steps)
        elif isinstance(op, O.Unpack):
            P, C = _pc(ins[0].shape)
            L.update(P=P, C=C, ternary=int(ins[0].dtype is DType.TERNARY), level=_float_lit(op.level))
        elif isinstance(op, O.ArgMax):
            L.update(n=ins[0].numel)
        else:
            raise BnnccError(f"internal: the C backend cannot emit {op.kind}")
        rep["kernel"] = _kernel_params(L)
        if op.output in g.meta.get("mst", {}):
            rep["mst"] = dict(g.meta["mst"][op.output])
            if op.mst is not None:
                rep["mst"]["plan_bytes"] = consts.total_bytes - bytes_before_mst
        macs += rep["binary_macs"]
        layers.append((L, rep))

    in_t, out_t = g.tensors[g.input], g.tensors[g.output]
    return {
        "prefix": prefix,
        "PREFIX": prefix.upper(),
        "target": target,
        "mcu": target.mcu,
        "float_layers": [r["function"] for _, r in layers if r.get("float_accumulation")],
        "word_bits": target.word_bits,
        "popcount_macro": "BNN_POPCOUNT_" + target.popcount.upper(),
        "hs_block": target.hs_block if target.popcount == "harley_seal" else None,
        "source": c_comment(source_name(g.source)),
        "input_size": in_t.numel,
        "input_shape": list(g.input_onnx_shape),
        "output_size": out_t.numel,
        "output_shape": list(g.output_onnx_shape),
        "output_ctype": out_t.dtype.c_type,
        "output_is_index": out_t.dtype is DType.INT64,
        "arena_bytes": mp.arena_bytes,
        "arena_words": max(1, mp.arena_bytes // 8),
        "consts": consts.items,
        "const_bytes": consts.total_bytes,
        "layers": [L for L, _ in layers],
        "report": {
            "model": source_name(g.source),
            "target": target.name,
            "word_bits": target.word_bits,
            # the C kernel variant (hw_sim's estimator picks the [estimate] table by it)
            "kernel_variant": {"popcount": target.popcount, "hs_block": target.hs_block, "word_bits": target.word_bits,
                               "name": target.variant},
            "input_shape": list(g.input_onnx_shape),
            "output_shape": list(g.output_onnx_shape),
            "layers": [r for _, r in layers],
            "totals": {"binary_macs": macs, "weight_bytes": sum(r["weight_bytes"] for _, r in layers),
                       "const_bytes": consts.total_bytes, "arena_bytes": mp.arena_bytes,
                       **(_mst_totals([r for _, r in layers]) if g.meta.get("mst") else {})},
            "memory_plan": [{"tensor": n, "offset": mp.offsets[n], "bytes": mp.sizes[n],
                             "live": list(mp.lifetimes[n])} for n in sorted(mp.offsets, key=lambda n: mp.lifetimes[n])],
        },
    }


FILES = {  # output path -> template path under templates/
    "model.h": "c/model.h.j2",
    "model.c": "c/model.c.j2",
    "bnn_kernels.h": "c/bnn_kernels.h",
    "CMakeLists.txt": "c/CMakeLists.txt.j2",
    "README.md": "c/README.md.j2",
}
HOST_FILES = {"harness.c": "c/harness.c.j2", "Makefile": "c/Makefile.j2"}
MCU_FILES = {  # a semihosting test firmware for the board, beside the library
    "Makefile": "cortexm/Makefile.j2",
    "firmware/main.c": "cortexm/main.c.j2",
    "firmware/startup.c": "cortexm/startup.c.j2",
    "firmware/link.ld": "cortexm/link.ld.j2",
    "firmware/semihost.h": "cortexm/semihost.h",
}


def render(g: Graph, target: Target, prefix: str = "model") -> dict[str, str]:
    """All output files as {relative path: text}."""
    ctx = build_context(g, target, c_ident(prefix))
    return render_files({**FILES, **(MCU_FILES if target.kind == "mcu" else HOST_FILES)}, ctx)
