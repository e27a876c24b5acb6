"""``bnncc bench``: one run, one table and one JSON object.

* whole networks (the shared models, or the ONNX files given): bnncc's BNN firmware vs
  the same network as float32 C and int8 C (``models.py``), and a TVM-compiled float
  version when apache-tvm is installed (``tvm_baseline.py``), as cycle ratios; bnncc's
  compile time per model;
* kernels (``kernels.py``): dense 1024x1024 and conv 3x3 128->128 on 16x16 per popcount
  strategy vs int8 and float32, cycles per binary MAC;
* ISS throughput: simulated instructions per host second over the model runs.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from .. import progress
from ..errors import BnnccError
from ..resources import shared_dir
from ..targets import load_target
from . import kernels
from .models import bench_models

SHARED_MODELS = {  # name -> (model, golden inputs relative to the shared folder)
    "qonnx_tfc_w1a1": ("models/qonnx_tfc_w1a1/TFC_1W1A.onnx", "golden/qonnx_tfc_w1a1_mnist_strat100.npz"),
    "qonnx_tfc_w1a1_clean": ("models/qonnx_tfc_w1a1/TFC_1W1A_qonnx_clean.onnx",
                             "golden/qonnx_tfc_w1a1_clean_mnist_strat100.npz"),
    "finn_tfc_w1a1": ("models/finn_tfc_w1a1/model.onnx", "golden/finn_tfc_w1a1_mnist_strat100.npz"),
}


def tvm_summary(rows: list[dict]) -> dict:
    """Whether the TVM column was measured, and if not, why."""
    from .tvm_baseline import available

    version = available()
    skipped = [r["tvm"]["skipped"] for r in rows if "skipped" in r.get("tvm", {})]
    if version is None:
        return {"status": "skipped", "reason": "apache-tvm is not installed (pip install -e '.[tvm]')"}
    if skipped:
        return {"status": "partial" if len(skipped) < len(rows) else "skipped", "version": version,
                "reason": "; ".join(sorted(set(skipped)))}
    return {"status": "ok", "version": version,
            "reason": f"apache-tvm {version}: ONNX front-end, Relax (LegalizeOps, FuseOps, FuseTIR), LLVM "
                      "thumbv7em/cortex-m4 object linked into the same harness; kernels called in Relax main's order"}


def run(model_paths=(), quick: bool = False, with_kernels: bool = True, n: int | None = None,
        work: Path | None = None) -> dict:
    target = load_target("cortex-m4")
    n = n or (4 if quick else 100)
    models, inputs = {}, {}
    if model_paths:
        from ..api import random_inputs
        from ..frontend.load import load

        for p in model_paths:
            name = Path(p).stem
            models[name] = Path(p)
            inputs[name] = random_inputs(load(str(p))[0], n, seed=0)
    else:
        root = shared_dir()
        if root is None:
            raise BnnccError("no models given and the shared models are not found (set BNNCC_SHARED)")
        for name, (m, golden) in SHARED_MODELS.items():
            with np.load(root / golden) as z:
                models[name], inputs[name] = root / m, z["inputs"][:n]
    t0 = time.perf_counter()
    with progress.step("bench: whole networks", total=len(models)):
        rows = bench_models(models, target, inputs, work)
    models_s = time.perf_counter() - t0
    variants = ("bnncc", "float32", "int8", "tvm")
    instr = sum(r[v]["instructions"] for r in rows for v in variants if "instructions" in r.get(v, {}))
    secs = sum(r[v]["sim_seconds"] for r in rows for v in variants if "sim_seconds" in r.get(v, {}))
    out = {"target": target.name, "core": target.mcu["core"], "quick": quick, "inputs_per_model": n,
           "models": rows, "tvm": tvm_summary(rows),
           "iss": {"instructions": instr, "seconds": secs, "instructions_per_second": instr / secs if secs else None},
           "models_wall_seconds": models_s}
    if with_kernels:
        shapes = kernels.QUICK if quick else kernels.FULL
        with progress.step(f"bench: kernels ({len(kernels.VARIANTS)} firmware builds on the ISS)"):
            krows = kernels.run_bench(shapes, work=work)
        krows.sort(key=lambda r: (r["layer"] != "dense", r["family"] != "bnn", r["cycles_per_mac"]))
        out["kernels"] = {"shapes": dataclasses.asdict(shapes), "notes": kernels.notes(shapes), "results": krows}
    return out


def print_tables(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=190)
    t = Table(title=f"bnncc bench: whole networks on the {res['core']} ISS (hw_sim), mean cycles per inference over "
                    f"{res['inputs_per_model']} inputs; ratios = baseline cycles / bnncc cycles")
    for col in ("model", "binary MACs", "bnncc cycles", "f32 cycles", "int8 cycles", "f32/bnncc",
                "int8/bnncc", "TVM f32 cycles", "TVM/bnncc", "flash bnncc", "flash f32", "flash int8", "compile s",
                "checked"):
        t.add_column(col, justify="left" if col in ("model", "TVM", "checked") else "right",
                     no_wrap=col == "model")
    for r in res["models"]:
        b, f, i, tv = r["bnncc"], r["float32"], r["int8"], r.get("tvm", {})
        cyc = lambda v: f"{v['cycles']:,.0f}" if "cycles" in v else "n/a"  # noqa: E731
        rat = lambda v: f"{v['cycles_ratio_vs_bnncc']:.2f}x" if "cycles_ratio_vs_bnncc" in v else "n/a"  # noqa: E731
        fl = lambda v: f"{v['flash_bytes']:,}" if "flash_bytes" in v else "-"  # noqa: E731
        ok = b["bit_exact_vs_onnxruntime"] and all(v.get("bit_exact_vs_bnncc", True) for v in (f, i, tv))
        t.add_row(r["model"], f"{r['binary_macs']:,}", cyc(b), cyc(f), cyc(i), rat(f), rat(i),
                  cyc(tv) if "cycles" in tv else "skipped", rat(tv) if "cycles" in tv else "-",
                  fl(b), fl(f), fl(i), f"{r['compile_seconds']:.2f}",
                  "bit-exact" if ok else "MISMATCH")
    console.print(t)
    note = lambda text: console.print(text, markup=False, highlight=False)  # noqa: E731
    for r in res["models"]:
        for v in ("float32", "int8"):
            if "skipped" in r[v]:
                note(f"- {r['model']}: no {v} baseline: {r[v]['skipped']}")
    note(f"- TVM ({res['tvm']['status']}): {res['tvm']['reason']}")
    note("- checked: bnncc's outputs equal onnxruntime's, and every baseline's (float32, int8, TVM) equal bnncc's, "
         "bit for bit")
    iss = res["iss"]
    if iss["instructions_per_second"]:
        note(f"- ISS throughput: {iss['instructions']:,} instructions in {iss['seconds']:.2f} s = "
                      f"{iss['instructions_per_second'] / 1e6:.2f} M instructions/s (model runs, host wall time)")
    if "kernels" in res:
        shapes = kernels.Shapes(**res["kernels"]["shapes"])
        kernels.print_table(res["kernels"]["results"], shapes)
