"""TVM-compiled float32 baseline for ``bnncc bench`` (optional: apache-tvm).

The network (bnncc's lowered IR, so the same function as the other baselines) is written
as a plain float32 ONNX graph (MatMul, comparisons, Gather, elementwise tail, ArgMax),
imported with TVM's ONNX front-end, lowered by Relax (LegalizeOps, FuseOps, FuseTIR), and
its TIR kernels are compiled by TVM's LLVM backend for thumbv7em / cortex-m4 into one
object file.  ``templates/bench/tvm_model.c.j2`` then plays the Relax VM's part on bare
metal: it calls the kernels in the order of the Relax ``main`` with static buffers, and
the result links into the same semihosting harness as every other variant.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from ..backends import code_env
from ..backends.c.emit import _float_lit, c_comment
from ..errors import BnnccError
from ..ir import ops as O
from ..resources import templates_dir
from ..targets import Target

WORKSPACE_BYTES = 65536  # the kernels' temporaries (TVMBackendAllocWorkspace), a static pool
TVM_TARGET = {"kind": "llvm", "mtriple": "thumbv7em-none-eabihf", "mcpu": "cortex-m4", "mfloat-abi": "hard",
              "mattr": ["+vfp4d16sp", "+thumb-mode"]}


def available() -> str | None:
    """The installed apache-tvm version, or None."""
    try:
        import tvm
        from tvm.relax.frontend.onnx import from_onnx  # noqa: F401
    except Exception:
        return None
    return str(tvm.__version__)


def float_onnx(g):
    """bnncc's lowered MLP as a plain float32 ONNX graph computing the same outputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, cnt = [], [], [0]

    def const(name, arr):
        n = f"c{cnt[0]}_{name}"
        cnt[0] += 1
        inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def node(op, ins, **attrs):
        out = f"t{cnt[0]}"
        cnt[0] += 1
        nodes.append(helper.make_node(op, ins, [out], **attrs))
        return out

    def compare(x, lo, hi, d, cz=None):  # dir * ((x >= hi) + (x >= lo) - 1) [+ constants]
        f = lambda a: np.clip(np.asarray(a, np.float64), -3e38, 3e38).astype(np.float32)  # noqa: E731
        ghi = node("Cast", [node("GreaterOrEqual", [x, const("hi", f(hi))])], to=TensorProto.FLOAT)
        glo = node("Cast", [node("GreaterOrEqual", [x, const("lo", f(lo))])], to=TensorProto.FLOAT)
        v = node("Mul", [node("Sub", [node("Add", [ghi, glo]), const("one", np.float32(1))]),
                         const("dir", np.asarray(d, np.float32))])
        return node("Add", [v, const("cz", np.asarray(cz, np.float32))]) if cz is not None else v

    cur = {g.input: "x"}
    for op in g.ops:
        a = cur[op.inputs[0]]
        if isinstance(op, O.BinarizeInput):
            if not np.array_equal(op.perm, np.arange(len(op.perm))):
                raise BnnccError("TVM baseline: input layout is not flat")
            y = compare(a, op.lo, op.hi, op.dir, np.where(op.dir == 0, op.const, 0))
        elif isinstance(op, O.Dense) and op.acc in ("dot", "xor_popcount"):
            w = np.asarray(op.weight, np.float32)
            y = node("MatMul", [a, const("w", np.ascontiguousarray(w.T))])
            if op.acc == "xor_popcount":  # bnncc's accumulator q = (K - dot) / 2
                y = node("Mul", [node("Sub", [const("k", np.float32(w.shape[1])), y]), const("half", np.float32(0.5))])
        elif isinstance(op, O.Threshold) and op.lo.dtype != np.float32:
            y = compare(a, op.lo, op.hi, op.dir)
        elif isinstance(op, O.AffineOut) and op.lut is None:
            y = node("Gather", [a, const("src", np.asarray(op.src, np.int64))], axis=1)
            y = node("Mul", [y, const("scale", np.asarray(op.acc_scale, np.float32))])
            for kind, c in op.steps:
                cn = const(kind, np.asarray(c, np.float32))
                onnx_op = {"add": "Add", "sub": "Sub", "rsub": "Sub", "mul": "Mul", "div": "Div", "rdiv": "Div",
                           "max": "Max", "min": "Min"}[kind]
                y = node(onnx_op, [cn, y] if kind in ("rsub", "rdiv") else [y, cn])
        elif isinstance(op, O.ArgMax):
            y = node("ArgMax", [a], axis=1, keepdims=0)
        else:
            raise BnnccError(f"TVM baseline: no float ONNX form for {op.kind}")
        cur[op.output] = y
    out_t = g.tensors[g.output]
    idx = out_t.dtype.c_type == "int64_t"
    nodes.append(helper.make_node("Identity", [cur[g.output]], ["y"]))
    graph = helper.make_graph(
        nodes, "bnncc_float", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, g.tensors[g.input].numel])],
        [helper.make_tensor_value_info("y", TensorProto.INT64 if idx else TensorProto.FLOAT, [1] if idx else [1, out_t.numel])],
        inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


_CTYPES = {("float", 32): ("float", 2), ("int", 64): ("int64_t", 0), ("int", 32): ("int32_t", 0),
           ("bool", 8): ("uint8_t", 1)}


def _dtype(dt: str):
    import tvm

    d = tvm.DataType(dt)
    kind = {0: "int", 1: "uint", 2: "float", 6: "bool"}.get(int(d.type_code), "?")
    if kind == "uint" and d.bits == 1:
        kind = "bool"
    ctype, code = _CTYPES.get((kind, int(d.bits)), (None, None))
    if ctype is None:
        raise BnnccError(f"TVM baseline: unsupported tensor type {dt}")
    return ctype, code, int(d.bits)


def _is_const(expr) -> bool:
    import tvm

    cls = getattr(tvm.relax, "Constant", None) or tvm.ir.expr.Constant
    return isinstance(expr, cls)


def _shape(var):
    """Static shape of a Relax variable (struct_info in older TVM, .ty in 0.27)."""
    si = getattr(var, "struct_info", None)
    return si.shape if si is not None else var.ty.shape


def _dtype_of(var) -> str:
    si = getattr(var, "struct_info", None)
    return str(si.dtype if si is not None else var.ty.dtype)


def compile_tvm(g, target: Target, out_dir: Path, prefix: str = "model") -> dict[str, str]:
    """Files of the TVM variant (tvm_kernels.o written into ``out_dir``)."""
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    mod = from_onnx(float_onnx(g), keep_params_in_input=False)
    mod = tvm.transform.Sequential([
        relax.transform.DecomposeOpsForInference(), relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(), relax.transform.FoldConstant(), relax.transform.FuseOps(),
        relax.transform.FuseTIR(), relax.transform.DeadCodeElimination()])(mod)
    prims = {gv.name_hint: f for gv, f in mod.functions.items() if not isinstance(f, relax.Function)}
    consts, buffers, tensors, calls = [], [], [], []
    env = {}  # relax var -> (data expr, tensor name, ndim, code, bits)
    x_var = mod["main"].params[0]
    in_shape = [int(s) for s in _shape(x_var)]
    tensors.append({"name": "in0", "shape": in_shape})
    env[x_var] = ("input", "in0", len(in_shape), 2, 32)
    out_var = None
    blocks = mod["main"].body.blocks
    for block in blocks:
        for b in block.bindings:
            call = b.value
            if not (isinstance(call, relax.Call) and call.op.name == "relax.call_tir"):
                raise BnnccError(f"TVM baseline: unexpected binding {type(call).__name__} in Relax main")
            fn = call.args[0].name_hint
            args = []
            for arg in call.args[1].fields:
                if _is_const(arg):
                    arr = (arg.data if hasattr(arg, "data") else arg.value).numpy()
                    name = f"k{len(consts)}"
                    ctype, code, bits = _dtype(str(arr.dtype) if arr.dtype != np.bool_ else "bool")
                    fmt = _float_lit if ctype == "float" else (lambda v: str(int(v)))
                    consts.append({"name": name, "ctype": ctype, "vals": [fmt(v) for v in arr.reshape(-1)] or ["0"]})
                    tensors.append({"name": name, "shape": list(arr.shape) or [1]})
                    args.append({"data": name, "tensor": name, "ndim": arr.ndim, "code": code, "bits": bits})
                else:
                    data, tname, ndim, code, bits = env[arg]
                    args.append({"data": data, "tensor": tname, "ndim": ndim, "code": code, "bits": bits})
            shape = [int(s) for s in _shape(b.var)]
            ctype, code, bits = _dtype(_dtype_of(b.var))
            name = f"b{len(buffers)}"
            buffers.append({"name": name, "ctype": ctype, "size": int(np.prod(shape)) if shape else 1})
            tensors.append({"name": name, "shape": shape or [1]})
            env[b.var] = (name, name, len(shape), code, bits)
            args.append({"data": name, "tensor": name, "ndim": len(shape), "code": code, "bits": bits})
            calls.append({"func": fn, "args": args})
            out_var = b.var
    # the last kernel writes the caller's output buffer instead of a static one
    last = calls[-1]["args"][-1]
    last["data"] = "output"
    buffers = [bf for bf in buffers if bf["name"] != last["tensor"]]
    used = sorted({c["func"] for c in calls})
    lib = tvm.build(tvm.IRModule({n: prims[n].with_attr("global_symbol", n) for n in used}),
                    target=tvm.target.Target(TVM_TARGET))
    obj = out_dir / "tvm_kernels.o"
    out_dir.mkdir(parents=True, exist_ok=True)
    (lib.write_to_file if hasattr(lib, "write_to_file") else lib.save)(str(obj))
    out_t = g.tensors[g.output]
    ctx = {"prefix": prefix, "PREFIX": prefix.upper(), "source": c_comment(g.source), "tvm_version": tvm.__version__,
           "consts": consts, "buffers": buffers, "tensors": tensors, "funcs": used, "calls": calls,
           "max_args": max(len(c["args"]) for c in calls), "workspace_bytes": WORKSPACE_BYTES, "variant": "TVM float32", "input_size": int(np.prod(in_shape)),
           "output_size": out_t.numel, "output_ctype": out_t.dtype.c_type, "target": target, "mcu": target.mcu}
    del out_var
    jenv = code_env()
    files = {"model.h": jenv.get_template("bench/model.h.j2").render(**ctx),
             "model.c": jenv.get_template("bench/tvm_model.c.j2").render(**ctx)}
    for out, tpl in {"firmware/main.c": "cortexm/main.c.j2", "firmware/startup.c": "cortexm/startup.c.j2",
                     "firmware/link.ld": "bench/tvm_link.ld.j2"}.items():
        files[out] = jenv.get_template(tpl).render(**ctx)
    files["firmware/semihost.h"] = (templates_dir() / "cortexm" / "semihost.h").read_text(encoding="utf-8")
    files["report.json"] = json.dumps({"totals": {"const_bytes": sum(4 * len(c["vals"]) for c in consts),
                                                  "arena_bytes": 0}})
    return files


def build_tvm_firmware(lib_dir: Path, target: Target):
    """Link main.c, startup.c, model.c and tvm_kernels.o with the target's flags."""
    import tvm_ffi
    from hw_sim.cortexm import load_image

    from ..mcu import Firmware, check_fits

    inc = [str(Path(tvm_ffi.__file__).parent / "include")]
    elf = lib_dir / "firmware.elf"
    cmd = [target.cc, *target.cflags, "-ffreestanding", "-Wall", *(f"-I{p}" for p in inc), f"-I{lib_dir}",
           f"-I{lib_dir / 'firmware'}", str(lib_dir / "firmware" / "main.c"), str(lib_dir / "firmware" / "startup.c"),
           str(lib_dir / "model.c"), str(lib_dir / "tvm_kernels.o"), "-nostartfiles", "--specs=nano.specs",
           "-Wl,--gc-sections", "-T", str(lib_dir / "firmware" / "link.ld"),
           "-lm", "-o", str(elf)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        errs = [ln for ln in res.stderr.splitlines() if "error" in ln.lower()] or res.stderr.splitlines() or ["?"]
        raise BnnccError(f"TVM baseline: linking failed: {errs[0][:300]}")
    sizes = load_image(elf).sizes
    fw = Firmware(elf, sizes["text"] + sizes["data"], sizes["data"] + sizes["bss"], dict(sizes))
    check_fits(target, fw.flash_bytes, fw.ram_bytes, "the TVM firmware")
    return fw
