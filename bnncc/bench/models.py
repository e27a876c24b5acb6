"""Whole-network comparison on the Cortex-M4 ISS: bnncc's binarized code against the
same network as float32 C and as int8 C, generated here for the comparison
(``templates/bench/``), all built with the same toolchain into the same semihosting
harness (``templates/cortexm``) and run on the same inputs in hw_sim.

The baselines are built from bnncc's lowered IR, so they compute the same function:
the input comparison, each dense layer as a real float32 / int8 dot product over ±1
weights (float32: VFMA; int8: SXTB16 + SMLAD, per-tensor symmetric, scale 1), the
folded BN + sign as a per-channel comparison, and bnncc's float tail.  Their outputs
must equal bnncc's bit for bit (checked); bnncc's must equal onnxruntime's (checked).
Only what an engine would do differently, the arithmetic of the dense layers, differs.
Supported: networks of BinarizeInput, Dense, Threshold, AffineOut and ArgMax (MLPs);
other networks are reported as not comparable.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import mcu, progress
from ..api import compile_model, write_tree
from ..backends import render_files
from ..backends.c.emit import _float_lit, _int_lit, c_comment
from ..errors import BnnccError
from ..ir import ops as O
from ..reference import run_reference
from ..targets import Target

VARIANTS = ("float32", "int8")
CORTEXM_FILES = {"Makefile": "cortexm/Makefile.j2", "firmware/main.c": "cortexm/main.c.j2",
                 "firmware/startup.c": "cortexm/startup.c.j2", "firmware/link.ld": "cortexm/link.ld.j2",
                 "firmware/semihost.h": "cortexm/semihost.h", "bnn_kernels.h": "c/bnn_kernels.h"}
STEP_EXPR = {"add": "v = v + {c}", "sub": "v = v - {c}", "rsub": "v = {c} - v", "mul": "v = v * {c}",
             "div": "v = v / {c}", "rdiv": "v = {c} / v", "max": "v = v > {c} ? v : {c}",
             "min": "v = v < {c} ? v : {c}"}


class NotComparable(BnnccError):
    """The network has a layer the float32/int8 baselines do not implement."""


def _int_as_float(v: int) -> str:
    v = int(v)
    if v <= -(2**31):
        return "-HUGE_VALF"
    if v >= 2**31 - 1:
        return "HUGE_VALF"
    return f"{v}.0f"


class _Consts:
    def __init__(self):
        self.items, self.bytes = [], 0

    def add(self, name, ctype, values, fmt):
        vals = [fmt(v) for v in np.asarray(values).reshape(-1)]
        self.bytes += {"float": 4, "int32_t": 4, "int8_t": 1, "int16_t": 2}[ctype] * len(vals)
        self.items.append({"name": name, "ctype": ctype, "vals": vals})
        return name


def baseline_context(g, variant: str, prefix: str = "model") -> dict:
    """Template context of the float32 or int8 version of lowered graph ``g``."""
    int8 = variant == "int8"
    act_t, acc_t = ("int8_t", "int32_t") if int8 else ("float", "float")
    consts = _Consts()
    num = (lambda v: _int_lit(v)) if int8 else _int_as_float
    thr_t = "int32_t" if int8 else "float"
    bufs = {g.input: ("input", "float")}
    buffers, layers = [], []
    max_k = 4
    for k, op in enumerate(g.ops):
        src, src_t = bufs[op.inputs[0]]
        out = g.tensors[op.output]
        pre = f"l{k}_"
        L = {"index": k, "comment": c_comment(op.name), "src_buf": src, "in_t": src_t}
        if isinstance(op, O.BinarizeInput):
            n = out.numel
            if not np.array_equal(op.perm, np.arange(n)):
                raise NotComparable("input layout is not flat (a convolutional input)")
            L.update(kind="binarize", n=n, out_t=act_t,
                     dir=consts.add(pre + "dir", "int8_t", op.dir, str),
                     cval=consts.add(pre + "cval", "int8_t", op.const, str),
                     lo=consts.add(pre + "lo", "float", op.lo, _float_lit),
                     hi=consts.add(pre + "hi", "float", op.hi, _float_lit))
        elif isinstance(op, O.Dense) and op.acc in ("dot", "xor_popcount"):
            n_out, kk = op.weight.shape
            max_k = max(max_k, kk)
            w = np.asarray(op.weight, np.int64)
            L.update(kind="dense", K=kk, N=n_out, q=op.acc == "xor_popcount", out_t=acc_t,
                     w=consts.add(pre + "w", "int8_t" if int8 else "float", w,
                                  str if int8 else (lambda v: f"{int(v)}.0f")))
        elif isinstance(op, O.Threshold):
            if op.lo.dtype == np.float32:
                raise NotComparable("a real-valued first layer")
            n = out.numel
            c = n if op.per == "element" else out.shape[-1]
            L.update(kind="threshold", n=n, C=c, out_t=act_t,
                     dir=consts.add(pre + "dir", "int8_t", op.dir, str),
                     lo=consts.add(pre + "lo", thr_t, op.lo, num), hi=consts.add(pre + "hi", thr_t, op.hi, num))
        elif isinstance(op, O.AffineOut):
            n = len(op.src)
            L.update(kind="affine", n=n, out_t="float", src=consts.add(pre + "src", "int32_t", op.src, str),
                     lut=None, K=op.acc_range)
            if op.lut is not None:
                L["lut"] = consts.add(pre + "lut", "float", op.lut, _float_lit)
            else:
                uni = bool((op.acc_scale == op.acc_scale.reshape(-1)[0]).all())
                L.update(scale=consts.add(pre + "scale", "float", op.acc_scale.reshape(-1)[:1] if uni else op.acc_scale,
                                          _float_lit), scale_stride=0 if uni else 1, steps=[])
                for j, (kind, cv) in enumerate(op.steps):
                    cv = np.asarray(cv, np.float32).reshape(-1)
                    u = bool((cv == cv[0]).all())
                    name = consts.add(f"{pre}c{j}", "float", cv[:1] if u else cv, _float_lit)
                    L["steps"].append({"expr": STEP_EXPR[kind].format(c=f"{name}[{'0' if u else 'i'}]")})
        elif isinstance(op, O.ArgMax):
            L.update(kind="argmax", n=g.tensors[op.inputs[0]].numel, out_t="int64_t")
        else:
            raise NotComparable(f"layer {op.kind} ({getattr(op, 'acc', '')}) has no float32/int8 baseline")
        if op.output == g.output:
            L["dst_buf"] = "output"
        else:
            L["dst_buf"] = f"b{k}"
            buffers.append({"name": f"b{k}", "ctype": L["out_t"], "size": out.numel})
        bufs[op.output] = (L["dst_buf"], L["out_t"])
        layers.append(L)
    in_t, out_t = g.tensors[g.input], g.tensors[g.output]
    return {"variant": variant, "int8": int8, "prefix": prefix, "PREFIX": prefix.upper(), "source": c_comment(g.source),
            "layers": layers, "consts": consts.items, "const_bytes": consts.bytes, "buffers": buffers,
            "max_k2": max(2, max_k // 2 + 2), "input_size": in_t.numel, "output_size": out_t.numel,
            "output_ctype": out_t.dtype.c_type,
            "ram_bytes": sum(b["size"] * {"float": 4, "int8_t": 1, "int32_t": 4, "int64_t": 8}[b["ctype"]]
                             for b in buffers)}


def render_baseline(g, target: Target, variant: str) -> dict[str, str]:
    """A firmware folder like bnncc's MCU output (same harness), with the baseline's
    model.c/model.h."""
    ctx = baseline_context(g, variant)
    report = {"totals": {"const_bytes": ctx["const_bytes"], "arena_bytes": ctx["ram_bytes"]}}
    return render_files({"model.h": "bench/model.h.j2", "model.c": "bench/mlp.c.j2", **CORTEXM_FILES},
                        {**ctx, "target": target, "mcu": target.mcu, "report": report})


def _run(files, target, x, out_dtype, out_size, work: Path, name: str):
    lib = write_tree(files, work / name)
    fw = mcu.build_firmware(lib, target)
    t0 = time.perf_counter()
    got, sim = mcu.run_firmware(fw, target, x, out_dtype, out_size, work)
    wall = time.perf_counter() - t0
    return got, {"cycles": mcu.function_cycles(sim, "model_run") / len(x), "flash_bytes": fw.flash_bytes,
                 "ram_bytes": fw.ram_bytes, "instructions": sim.instructions, "sim_seconds": wall}


def bench_model(name: str, model, target: Target, inputs: np.ndarray, work: Path) -> dict:
    """One model: compile time, bnncc's cycles, the float32/int8 baselines' cycles."""
    t0 = time.perf_counter()
    compiled, files = compile_model(str(model), target)
    compile_s = time.perf_counter() - t0
    g = compiled.graph
    x = np.asarray(inputs, np.float32).reshape((len(inputs),) + tuple(g.input_onnx_shape[1:]))
    out_t = g.tensors[g.output]
    out_dtype = np.int64 if out_t.dtype.c_type == "int64_t" else np.float32
    row = {"model": name, "path": str(model), "n": len(x), "compile_seconds": compile_s,
           "binary_macs": json.loads(files["report.json"])["totals"]["binary_macs"]}
    with progress.step(f"{name}: bnncc"):
        got, row["bnncc"] = _run(files, target, x, out_dtype, out_t.numel, work, f"{name}-bnncc")
    ref = run_reference(compiled.model, x)[0].reshape(len(x), -1).astype(out_dtype)
    row["bnncc"]["bit_exact_vs_onnxruntime"] = bool(np.array_equal(got.view(np.uint8), ref.view(np.uint8)))
    row["bnncc"]["const_bytes"] = json.loads(files["report.json"])["totals"]["const_bytes"]
    for variant in VARIANTS:
        try:
            bfiles = render_baseline(g, target, variant)
        except NotComparable as exc:
            row[variant] = {"skipped": str(exc)}
            continue
        with progress.step(f"{name}: {variant} C"):
            bgot, row[variant] = _run(bfiles, target, x, out_dtype, out_t.numel, work, f"{name}-{variant}")
        row[variant]["const_bytes"] = json.loads(bfiles["report.json"])["totals"]["const_bytes"]
        row[variant]["bit_exact_vs_bnncc"] = bool(np.array_equal(bgot.view(np.uint8), got.view(np.uint8)))
        if not row[variant]["bit_exact_vs_bnncc"]:
            raise BnnccError(f"bench: the {variant} baseline of {name} disagrees with bnncc's outputs")
        row[variant]["cycles_ratio_vs_bnncc"] = row[variant]["cycles"] / row["bnncc"]["cycles"]
    row["tvm"] = _tvm_variant(name, g, target, x, out_dtype, out_t.numel, work, got, row["bnncc"]["cycles"])
    return row


def _tvm_variant(name, g, target, x, out_dtype, out_size, work: Path, bnn_out, bnn_cycles) -> dict:
    """TVM's float32 build of the same network in the same harness, or why not."""
    import shutil

    from . import tvm_baseline

    version = tvm_baseline.available()
    if version is None:
        return {"skipped": "apache-tvm is not installed (pip install -e '.[tvm]')"}
    try:
        with progress.step(f"{name}: TVM {version} (ONNX front-end, Relax, LLVM thumbv7em)"):
            obj_dir = work / f"{name}-tvm-obj"
            files = tvm_baseline.compile_tvm(g, target, obj_dir)
            lib = write_tree(files, work / f"{name}-tvm")
            shutil.copy(obj_dir / "tvm_kernels.o", lib / "tvm_kernels.o")
            fw = tvm_baseline.build_tvm_firmware(lib, target)
            t0 = time.perf_counter()
            got, sim = mcu.run_firmware(fw, target, x, out_dtype, out_size, work)
            wall = time.perf_counter() - t0
    except (BnnccError, NotComparable) as exc:
        return {"skipped": f"apache-tvm {version}: {exc}"}
    cycles = mcu.function_cycles(sim, "model_run") / len(x)
    return {"version": version, "cycles": cycles, "flash_bytes": fw.flash_bytes, "ram_bytes": fw.ram_bytes,
            "instructions": sim.instructions, "sim_seconds": wall, "cycles_ratio_vs_bnncc": cycles / bnn_cycles,
            "bit_exact_vs_bnncc": bool(np.array_equal(got.view(np.uint8), bnn_out.view(np.uint8))),
            "argmax_match_vs_bnncc": int((np.argmax(got, 1) == np.argmax(bnn_out, 1)).sum()) if got.shape[1] > 1
            else int((got == bnn_out).sum())}


def bench_models(models: dict, target: Target, inputs: dict, work: Path | None = None) -> list[dict]:
    """``models``: name -> ONNX path; ``inputs``: name -> float32 array."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bnncc-bench-") as tmp:
        root = Path(work) if work else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for name, path in models.items():
            rows.append(bench_model(name, path, target, inputs[name], root))
    return rows
