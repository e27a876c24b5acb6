"""Kernel bench on the Cortex-M4 ISS (hw_sim.cortexm, TRM-based cycle model).

    python bench/kernels.py [--json out.json] [--quick] [--work DIR]
    (``bnncc bench`` runs it too, beside the whole-model comparison)

Builds firmware from templates/bench/fw with arm-none-eabi-gcc (the cortex-m4 target's flags)
and counts the cycles inside each kernel function (inclusive, callees such as
__popcountsi2 included):

* binary dense DENSE_K x DENSE_N and binary 3x3 conv through templates/c/bnn_kernels.h,
  once per popcount strategy (Harley-Seal with blocks of 8 and of 16 words);
* the same layers in int8 (templates/bench/fw/int8_bench.c, SXTB16 + SMLAD, CMSIS-NN style) and in
  float32 (templates/bench/fw/f32_bench.c, plain loops, with and without FMA contraction).

Every kernel's output is checked against numpy before its cycles are reported: the
firmware prints an FNV-1a checksum of its output (and writes it to a file), the bench
compares it with the checksum of the numpy result.  A mismatch aborts the bench.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hw_sim.cortexm import run_elf

from .m4 import FW, blobs_source, build


@dataclass(frozen=True)
class Shapes:
    dense_k: int = 1024
    dense_n: int = 1024
    conv_hw: int = 16        # input map CONV_HW x CONV_HW, no padding: output (hw - k + 1)^2
    conv_cin: int = 128
    conv_cout: int = 128
    conv_k: int = 3
    f32_dense_rows: int = 256  # distinct float32 dense rows stored in flash (1 MB)

    @property
    def conv_ohw(self) -> int:
        return self.conv_hw - self.conv_k + 1

    def macs(self, layer: str) -> int:
        if layer == "dense":
            return self.dense_k * self.dense_n
        return self.conv_ohw ** 2 * self.conv_cout * self.conv_k ** 2 * self.conv_cin

    def defines(self) -> dict[str, int]:
        return {"DENSE_K": self.dense_k, "DENSE_N": self.dense_n, "CONV_HW": self.conv_hw,
                "CONV_CIN": self.conv_cin, "CONV_COUT": self.conv_cout, "CONV_K": self.conv_k,
                "F32_DENSE_ROWS": min(self.f32_dense_rows, self.dense_n)}


FULL = Shapes()
QUICK = Shapes(dense_k=1024, dense_n=64, conv_hw=6, conv_cin=64, conv_cout=8)


@dataclass(frozen=True)
class Variant:
    """One firmware build: kernel family, label and how it is compiled."""
    family: str                       # "bnn" | "int8" | "f32"
    slug: str                         # build directory name
    label: str
    defines: tuple = ()
    flags: tuple = ()


BNN_VARIANTS = (
    Variant("bnn", "builtin", "builtin", (("BNN_POPCOUNT", "BNN_POPCOUNT_BUILTIN"),)),
    Variant("bnn", "swar", "swar", (("BNN_POPCOUNT", "BNN_POPCOUNT_SWAR"),)),
    Variant("bnn", "hs8", "harley_seal/8", (("BNN_POPCOUNT", "BNN_POPCOUNT_HARLEY_SEAL"), ("BNN_HS_BLOCK", 8))),
    Variant("bnn", "hs16", "harley_seal/16", (("BNN_POPCOUNT", "BNN_POPCOUNT_HARLEY_SEAL"), ("BNN_HS_BLOCK", 16))),
    Variant("bnn", "usada8", "usada8", (("BNN_POPCOUNT", "BNN_POPCOUNT_USADA8"),)),
)
BASELINES = (
    Variant("int8", "int8", "int8 SXTB16+SMLAD"),
    Variant("f32", "f32_fma", "f32 VFMA (-ffp-contract=fast)", flags=("-ffp-contract=fast",)),
    Variant("f32", "f32_nofma", "f32 VMUL+VADD (-ffp-contract=off)"),
)
VARIANTS = BNN_VARIANTS + BASELINES


# ---- data and numpy references ------------------------------------------------------

def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack the last axis (0/1, bit = 1 means +1) LSB first into uint32 words, zero tail."""
    n = bits.shape[-1]
    pad = (-n) % 32
    b = np.concatenate([bits, np.zeros(bits.shape[:-1] + (pad,), bits.dtype)], axis=-1).astype(np.uint8)
    return np.packbits(b, axis=-1, bitorder="little").view("<u4")


def im2col(x: np.ndarray, k: int) -> np.ndarray:
    """HWC map -> (oh*ow, k*k*C) receptive fields, ky, kx, c order (no padding)."""
    h, w, c = x.shape
    o = h - k + 1
    cols = np.stack([x[ky:ky + o, kx:kx + o, :] for ky in range(k) for kx in range(k)], axis=2)
    return cols.reshape(o * o, k * k * c)


def make_data(s: Shapes, family: str, out: Path, seed: int = 2024) -> tuple[dict[str, Path], dict[str, np.ndarray]]:
    """Write the family's inputs/weights as files (for .incbin) and return them with
    the numpy reference output of each layer."""
    rng = np.random.default_rng(seed)
    dense_shape_x, dense_shape_w = (s.dense_k,), (s.dense_n, s.dense_k)
    conv_shape_x = (s.conv_hw, s.conv_hw, s.conv_cin)
    conv_shape_w = (s.conv_cout, s.conv_k, s.conv_k, s.conv_cin)
    if family == "bnn":
        xd, wd = rng.integers(0, 2, dense_shape_x), rng.integers(0, 2, dense_shape_w)
        xc, wc = rng.integers(0, 2, conv_shape_x), rng.integers(0, 2, conv_shape_w)
        blobs = {"bnn_dense_in": pack_bits(xd), "bnn_dense_w": pack_bits(wd),
                 "bnn_conv_in": pack_bits(xc), "bnn_conv_w": pack_bits(wc)}
        pm = lambda b: 2 * b.astype(np.int64) - 1  # noqa: E731  bits -> +-1
        refs = {"bnn_dense": (pm(wd) @ pm(xd)).astype("<i4"),
                "bnn_conv": (im2col(pm(xc), s.conv_k) @ pm(wc).reshape(s.conv_cout, -1).T).astype("<i4")}
    elif family == "int8":
        xd, wd = rng.integers(-128, 128, dense_shape_x), rng.integers(-128, 128, dense_shape_w)
        xc, wc = rng.integers(-128, 128, conv_shape_x), rng.integers(-128, 128, conv_shape_w)
        blobs = {"i8_dense_in": xd.astype("i1"), "i8_dense_w": wd.astype("i1"),
                 "i8_conv_in": xc.astype("i1"), "i8_conv_w": wc.astype("i1")}
        refs = {"int8_dense": (wd @ xd).astype("<i4"),
                "int8_conv": (im2col(xc, s.conv_k) @ wc.reshape(s.conv_cout, -1).T).astype("<i4")}
    else:
        # small integers: every product and partial sum is exact in float32 (< 2^24), so
        # the result does not depend on the summation order or on FMA contraction
        rows = min(s.f32_dense_rows, s.dense_n)
        xd, wd = rng.integers(-3, 4, dense_shape_x), rng.integers(-3, 4, (rows, s.dense_k))
        xc, wc = rng.integers(-3, 4, conv_shape_x), rng.integers(-3, 4, conv_shape_w)
        blobs = {"f32_dense_in": xd.astype("<f4"), "f32_dense_w": wd.astype("<f4"),
                 "f32_conv_in": xc.astype("<f4"), "f32_conv_w": wc.astype("<f4")}
        w_full = wd[np.arange(s.dense_n) % rows]
        refs = {"f32_dense": (w_full @ xd).astype("<f4"),
                "f32_conv": (im2col(xc, s.conv_k) @ wc.reshape(s.conv_cout, -1).T).astype("<f4")}
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, arr in blobs.items():
        paths[name] = out / f"{name}.bin"
        np.ascontiguousarray(arr).tofile(paths[name])
    return paths, {k: np.ascontiguousarray(v).ravel() for k, v in refs.items()}


def fnv1a(data: bytes) -> int:
    h = 2166136261
    for byte in data:
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


# ---- one firmware: build, run, check, measure ---------------------------------------------

def run_variant(v: Variant, s: Shapes, work: Path) -> list[dict]:
    d = work / v.slug
    d.mkdir(parents=True, exist_ok=True)
    blobs, refs = make_data(s, v.family, d)
    src = FW / f"{v.family}_bench.c"
    elf = build(d, "fw", [src, blobs_source(d, "fw", blobs)], {**s.defines(), **dict(v.defines)}, list(v.flags))
    result = run_elf(elf, core="cortex-m4", cwd=d)
    if result.exit_code != 0:
        raise RuntimeError(f"{v.label}: firmware exit code {result.exit_code}: {result.stderr!r}")
    printed = dict(line.split() for line in result.stdout.decode().splitlines())
    rows = []
    for name, ref in refs.items():
        got = np.fromfile(d / f"{name}.out", dtype=ref.dtype)
        if int(printed[name]) != fnv1a(ref.tobytes()) or not np.array_equal(got, ref):
            bad = np.flatnonzero(got != ref)[:5] if got.shape == ref.shape else "shape"
            raise RuntimeError(f"{v.label} {name}: output differs from numpy (first indices {bad})")
        layer = name.split("_", 1)[1]
        cycles = result.inclusive[f"bench_{name}"]["cycles"]
        macs = s.macs(layer)
        rows.append({"layer": layer, "family": v.family, "kernel": v.label, "macs": macs, "cycles": cycles,
                     "cycles_per_mac": cycles / macs, "checksum": int(printed[name]), "checked": True})
    return rows


def run_bench(s: Shapes, variants=VARIANTS, work: Path | None = None, jobs: int = 2) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="bnn_bench_") as tmp:
        root = Path(work) if work else Path(tmp)
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_variant, v, s, root) for v in variants]
            rows = [r for f in futures for r in f.result()]
    best = {}
    for layer in ("dense", "conv"):
        for fam in ("int8", "f32"):
            c = [r["cycles_per_mac"] for r in rows if r["layer"] == layer and r["family"] == fam]
            if c:
                best[layer, fam] = min(c)
    for r in rows:
        if r["family"] == "bnn":
            r["cycles_per_word"] = r["cycles_per_mac"] * 32
            for fam in ("int8", "f32"):
                if (r["layer"], fam) in best:
                    r[f"speedup_vs_{fam}"] = best[r["layer"], fam] / r["cycles_per_mac"]
    return rows


def notes(s: Shapes) -> list[str]:
    rows = min(s.f32_dense_rows, s.dense_n)
    return [n.format(s=s, rows=rows, wmb=rows * s.dense_k * 4 / 2**20,
                     full_mb=s.dense_n * s.dense_k * 4 / 2**20) for n in NOTES]


NOTES = [
    "cycles: hw_sim.cortexm cortex-m4 model (TRM r0p1 timings, zero-wait-state memory), inclusive "
    "cycles of the noinline bench function around one kernel call",
    "binary MACs for the BNN kernels (one XNOR-popcount bit each), int8/float MACs for the baselines",
    "conv: {s.conv_k}x{s.conv_k}, stride 1, pad 0 (valid): {s.conv_hw}x{s.conv_hw} input, "
    "{s.conv_ohw}x{s.conv_ohw} output, channel-last",
    "dense BNN/int8 weights are the full layer in flash; float32 dense stores {rows} distinct rows "
    "({wmb:.2f} MB) and output row n reuses row n % {rows} (the full {full_mb:.2f} MB may not fit the "
    "4 MB flash): same instructions per MAC",
    "float32 data are small integers so results are exact and checked bit-for-bit",
    "int8: symmetric (zero offsets), int32 accumulators, no requantization; BNN: accumulators K - 2q",
    "speedup_vs_X = best X cycles/MAC / BNN cycles/MAC (per MAC)",
]


def print_table(rows: list[dict], s: Shapes) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Cortex-M4 (hw_sim ISS): dense {s.dense_k}x{s.dense_n}, "
                    f"conv {s.conv_k}x{s.conv_k} {s.conv_cin}->{s.conv_cout} on {s.conv_hw}x{s.conv_hw} (pad 0)")
    for col in ("layer", "kernel", "MACs", "cycles", "cycles/MAC", "cycles/word", "x vs int8", "x vs f32"):
        t.add_column(col, justify="left" if col in ("layer", "kernel") else "right", no_wrap=True)
    for r in rows:
        t.add_row(r["layer"], r["kernel"], f"{r['macs']:,}", f"{r['cycles']:,}", f"{r['cycles_per_mac']:.3f}",
                  f"{r['cycles_per_word']:.2f}" if "cycles_per_word" in r else "",
                  f"{r['speedup_vs_int8']:.2f}" if "speedup_vs_int8" in r else "",
                  f"{r['speedup_vs_f32']:.2f}" if "speedup_vs_f32" in r else "")
    console = Console(width=150)
    console.print(t)
    for n in notes(s):
        console.print(f"- {n}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    ap.add_argument("--quick", action="store_true", help="reduced shapes (the test's)")
    ap.add_argument("--work", type=Path, help="keep the build directories here")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    s = QUICK if args.quick else FULL
    rows = run_bench(s, work=args.work, jobs=args.jobs)
    rows.sort(key=lambda r: (r["layer"] != "dense", r["family"] != "bnn", r["cycles_per_mac"]))
    print_table(rows, s)
    if args.json:
        args.json.write_text(json.dumps({"core": "cortex-m4", "shapes": asdict(s), "notes": notes(s),
                                         "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
