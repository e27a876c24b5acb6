"""Python entry points: ``compile_model`` and ``verify`` (the CLI is a thin layer on top)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from . import mcu
from .backends.c.emit import render
from .backends.hls.emit import render as render_hls
from .compiler import lower
from .errors import BnnccError
from .folding import parse_fold
from .hls_csim import build_csim
from .ir import ops as O
from .reference import graph_input_name, run_reference
from .report import render_html
from .targets import Target, load_target

MARKER = ".bnncc"
# the warnings every build of generated C uses (the emitted Makefiles say the same)
WARNINGS = ("-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wconversion")


def _target(t) -> Target:
    return t if isinstance(t, Target) else load_target(str(t))


def write_tree(files: dict[str, str], out_dir: str | os.PathLike, *, force: bool = False) -> Path:
    """Write files into out_dir atomically: a temporary sibling folder, then a rename.
    An existing folder is replaced only if bnncc wrote it (or with ``force``)."""
    out = Path(os.path.abspath(out_dir))  # '.', '..' and trailing slashes: a real name to rename
    if out == out.parent:
        raise BnnccError("the output folder cannot be a filesystem root", where=str(out))
    try:
        return _write_tree(files, out, force)
    except OSError as exc:
        raise BnnccError(f"cannot write the output folder ({exc.strerror or type(exc).__name__}"
                         f"{': ' + str(exc.filename) if exc.filename else ''})", where=str(out)) from None


def _write_tree(files: dict[str, str], out: Path, force: bool) -> Path:
    if out.exists():
        if not out.is_dir():
            raise BnnccError("output path exists and is not a folder", where=str(out))
        if any(out.iterdir()) and not (out / MARKER).is_file() and not force:
            raise BnnccError("output folder exists and was not written by bnncc; use --force to replace it", where=str(out))
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        for rel, text in sorted(files.items()):
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8", newline="\n")
        (tmp / MARKER).write_text("written by bnncc; safe to replace\n", encoding="utf-8")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=parent))
            os.rename(out, old / "x")
            try:
                os.rename(tmp, out)
            except BaseException:
                os.rename(old / "x", out)  # put the previous tree back
                old.rmdir()
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def compile_model(model, target="host", out_dir=None, *, force: bool = False, prefix: str = "model", fold=None,
                  options: dict | None = None):
    """Compile ``model`` (path or ModelProto) for ``target``; write the library (C
    backend) or HLS project (hls backend) into ``out_dir`` if given.  ``fold``: the
    FPGA folding, {op index: (PE, SIMD)} or a ``--fold`` string (``bnncc.folding``);
    only the hls backend takes one.  ``options``: pass options (``compiler.lower``).
    Returns (Compiled, {file: text})."""
    t = _target(target)
    if isinstance(fold, str):
        fold = parse_fold(fold)
    if fold and t.backend != "hls":
        raise BnnccError(f"--fold is for FPGA targets; '{t.name}' uses the {t.backend} backend")
    if t.backend == "hls":   # the MST pass decides per layer from the folding (fully unrolled or not)
        options = {**(options or {}), "fold": dict(fold or {})}
    compiled = lower(model, t, options=options)
    if t.backend == "hls":
        files = render_hls(compiled.graph, t, prefix, fold)
    else:
        files = render(compiled.graph, t, prefix)
    files["report.html"] = render_html(files["report.json"], t)
    if out_dir is not None:
        write_tree(files, out_dir, force=force)
    return compiled, files


def build(out_dir: Path, target: Target, extra_flags=()) -> Path:
    """Build the harness of an emitted library with the target's host compiler."""
    exe = out_dir / "harness"
    cmd = [target.cc, *target.cflags, *WARNINGS, *extra_flags,
           str(out_dir / "harness.c"), str(out_dir / "model.c"), "-o", str(exe), "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        first = (res.stderr.strip().splitlines() or ["?"])[0]
        raise BnnccError(f"building the generated C failed: {first}")
    return exe


def run_harness(exe: Path, inputs: np.ndarray, out_dtype, out_size: int, workdir: Path,
                what: str = "the generated program") -> np.ndarray:
    """Run a file-driven harness (the C library's, or the HLS C-simulation's testbench):
    float32 inputs.bin in, outputs.bin out."""
    fin, fout = workdir / "inputs.bin", workdir / "outputs.bin"
    np.ascontiguousarray(inputs, dtype=np.float32).tofile(fin)
    res = subprocess.run([str(exe), str(fin), str(fout)], capture_output=True, text=True)
    if res.returncode != 0:
        raise BnnccError(f"{what} failed (exit {res.returncode}): {res.stderr.strip()[:300]}")
    return np.fromfile(fout, dtype=out_dtype).reshape(len(inputs), out_size)


def load_inputs(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Inputs from an .npz (array ``inputs``, plus optional golden ``outputs``/``argmax``)
    or an .npy file."""
    p = Path(path)
    try:
        if p.suffix == ".npz":
            with np.load(p) as z:
                if "inputs" not in z:
                    raise BnnccError("the .npz has no 'inputs' array", where=str(p))
                return z["inputs"].astype(np.float32), {k: z[k] for k in z.files if k != "inputs"}
        return np.load(p).astype(np.float32), {}
    except BnnccError:
        raise
    except Exception as exc:
        raise BnnccError(f"cannot read inputs: {exc}", where=str(p)) from None


def random_inputs(model: onnx.ModelProto, n: int, seed: int = 0) -> np.ndarray:
    """Random valid inputs: uniform values, with some exact 0s and ±0.5s (common ties)."""
    shape = next(tuple(d.dim_value for d in i.type.tensor_type.shape.dim[1:]) for i in model.graph.input
                 if i.name == graph_input_name(model))
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, size=(n,) + shape).astype(np.float32)
    ties = rng.random(x.shape) < 0.1
    x[ties] = rng.choice(np.array([0.0, 0.5, -0.5, 1.0], np.float32), size=int(ties.sum()))
    return x


def _labels(y: np.ndarray) -> np.ndarray:
    y = y.reshape(len(y), -1)
    if np.issubdtype(y.dtype, np.integer) and y.shape[1] == 1:
        return y[:, 0].astype(np.int64)
    return np.argmax(y, axis=1).astype(np.int64)


def verify(model, target="host", inputs=None, n: int = 16, seed: int = 0, workdir=None,
           extra_flags=(), golden: dict | None = None, fold=None, options: dict | None = None) -> dict:
    """Compile, build (host compiler; the cross compiler and hw_sim for MCU targets;
    g++ C-simulation of the HLS C++ for FPGA targets), run, and compare with the
    reference.  ``options``: pass options (e.g. {"mst": "force"}).

    Returns {target, n, argmax_match, max_abs_err, bit_exact, ...}; ``bit_exact`` is
    True iff every output value equals onnxruntime's bit for bit."""
    return run_and_compare(model, target, inputs, n, seed, workdir, extra_flags, golden, fold=fold,
                           options=options).record


@dataclass
class Run:
    compiled: object            # compiler.Compiled
    files: dict                 # the emitted files
    inputs: np.ndarray
    outputs: np.ndarray
    record: dict                # compare()'s verification record
    firmware: object = None     # mcu.Firmware (MCU targets)
    sim: object = None          # hw_sim RunResult (MCU targets)


def run_and_compare(model, target="host", inputs=None, n: int = 16, seed: int = 0, workdir=None,
                    extra_flags=(), golden: dict | None = None, fold=None, options: dict | None = None) -> Run:
    """Compile, build, run on the inputs and compare with the reference."""
    t = _target(target)
    compiled, files = compile_model(model, t, fold=fold, options=options)
    x = _checked_inputs(compiled, inputs, n, seed)
    ref = run_reference(compiled.model, x)[0].reshape(len(x), -1)
    out_t = compiled.graph.tensors[compiled.graph.output]
    out_dtype = np.int64 if out_t.dtype.c_type == "int64_t" else np.float32
    with tempfile.TemporaryDirectory(prefix="bnncc-verify-", dir=workdir) as d:
        lib = write_tree(files, Path(d) / "lib")
        fw = sim = None
        if t.kind == "mcu":  # cross-compiled firmware, run in the instruction-set simulator
            fw = mcu.build_firmware(lib, t)
            got, sim = mcu.run_firmware(fw, t, x, out_dtype, out_t.numel, Path(d))
        elif t.kind == "fpga":  # g++ C-simulation of the HLS C++ (no vendor tools)
            got = run_harness(build_csim(lib, t, extra_flags), x, out_dtype, out_t.numel, Path(d),
                              what="the HLS C-simulation")
        else:
            got = run_harness(build(lib, t, extra_flags), x, out_dtype, out_t.numel, Path(d))
    return Run(compiled, files, x, got, compare(got, ref, golden, compiled, t), fw, sim)


MAX_VERIFY_VALUES = 1 << 26  # input values per verification run (256 MiB of float32)


def _checked_inputs(compiled, inputs, n: int, seed: int) -> np.ndarray:
    """The inputs as [N, *input shape]: random ones, or the given ones if they hold N
    whole samples; a clear error otherwise (and before allocating too much)."""
    shape = tuple(compiled.graph.input_onnx_shape[1:])
    per = int(np.prod(shape))
    if inputs is None:
        if n <= 0 or n * per > MAX_VERIFY_VALUES:
            raise BnnccError(f"{n} random inputs of {per} values each: use 1 to {MAX_VERIFY_VALUES // per} inputs")
        return random_inputs(compiled.model, n, seed).reshape((n,) + shape)
    try:
        x = np.asarray(inputs, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise BnnccError(f"the inputs are not an array of numbers ({exc})") from None
    if x.ndim < 1 or len(x) == 0 or x.size != len(x) * per:
        raise BnnccError(f"inputs of shape {list(x.shape)} do not match the model's input {list(shape)}: "
                         f"expected N samples of {per} values")
    if x.size > MAX_VERIFY_VALUES:
        raise BnnccError(f"{x.size} input values; verify takes at most {MAX_VERIFY_VALUES}")
    return x.reshape((len(x),) + shape)


def compare(got: np.ndarray, ref: np.ndarray, golden: dict | None, compiled, t: Target) -> dict:
    """The verification record of outputs ``got`` against the reference ``ref``."""
    x_len = len(got)
    out_dtype = got.dtype
    ref_cast = ref.astype(out_dtype)
    if out_dtype == np.float32:
        same = got.view(np.int32) == ref_cast.view(np.int32)  # bit for bit (-0.0 != +0.0)
        err = np.abs(got.astype(np.float64) - ref_cast.astype(np.float64))
        max_err = float(np.nanmax(err)) if err.size else 0.0
    else:
        same = got == ref_cast
        max_err = float(np.abs(got - ref_cast).max()) if got.size else 0.0
    match = _labels(got) == _labels(ref_cast)
    result = {
        "target": t.name,
        "n": int(x_len),
        "argmax_match": int(match.sum()),
        "max_abs_err": max_err,
        "bit_exact": bool(same.all()),
        "mismatched_samples": [int(i) for i in np.nonzero(~same.all(axis=1))[0][:10]],
        # layers summing real inputs in float32: exact when their partial sums are
        # representable (e.g. integer pixels), else equal up to summation order
        "float_accumulation_layers": [op.name for op in compiled.graph.ops
                                      if isinstance(op, (O.Dense, O.Conv2d)) and op.acc == "float"],
    }
    if golden:
        if "argmax" in golden and len(golden["argmax"]) == x_len:
            result["golden_argmax_match"] = int((_labels(got) == np.asarray(golden["argmax"]).reshape(-1)).sum())
        if "outputs" in golden and np.asarray(golden["outputs"]).reshape(x_len, -1).shape == got.shape:
            result["golden_bit_exact"] = bool(np.array_equal(got, np.asarray(golden["outputs"]).reshape(got.shape)))
    return result
