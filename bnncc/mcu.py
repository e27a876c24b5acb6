"""MCU targets: build the emitted firmware, check it fits the board, run it in hw_sim.

The library and its semihosting firmware come from the C backend (``kind = "mcu"``
targets); ``make`` in the output folder builds ``firmware.elf`` with the target's
cross compiler.  Flash = text + data and RAM = data + bss, as ``arm-none-eabi-size``
counts them (read with pyelftools by ``hw_sim``); RAM must also leave the board's
stack reserve free.  Cycles come from the instruction-set simulator: a layer's cycles
are those spent inside its C function (``report.json``'s ``function``), callees
included, averaged over the inputs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import progress
from .errors import BnnccError
from .targets import Target

PAGE = 4096


@dataclass(frozen=True)
class Firmware:
    elf: Path
    flash_bytes: int
    ram_bytes: int
    sizes: dict


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        raise BnnccError(f"'{tool}' is not installed (Debian: apt-get install --no-install-recommends "
                         "gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi make)")


def check_fits(target: Target, flash: int, ram: int, what: str) -> None:
    """A clear error when ``flash``/``ram`` bytes exceed the board (before any flashing)."""
    m = target.mcu
    if flash > m["flash_bytes"]:
        raise BnnccError(f"{what} needs {flash} bytes of flash; {m['board']} has {m['flash_bytes']}", where=target.name)
    if ram + m["stack_bytes"] > m["ram_bytes"]:
        raise BnnccError(f"{what} needs {ram} bytes of RAM plus a {m['stack_bytes']}-byte stack; "
                         f"{m['board']} has {m['ram_bytes']}", where=target.name)


def build_firmware(lib_dir: Path, target: Target) -> Firmware:
    """``make firmware.elf`` in an emitted MCU folder; sizes from the ELF."""
    from hw_sim.cortexm import load_image

    totals = json.loads((lib_dir / "report.json").read_text(encoding="utf-8"))["totals"]
    check_fits(target, totals["const_bytes"], totals["arena_bytes"], "the model (constants and arena alone)")
    _require(target.cc)
    _require("make")
    with progress.step(f"cross-compiling firmware ({target.cc})"):
        res = subprocess.run(["make", "-s", "-C", str(lib_dir), "firmware.elf"], capture_output=True, text=True)
    if res.returncode != 0:
        text = (res.stderr + res.stdout).splitlines()
        lines = [ln for ln in text if "overflowed" in ln or "bnncc:" in ln] or \
                [ln for ln in text if "error" in ln.lower()] or ["?"]
        raise BnnccError(f"building the firmware failed: {lines[0].strip()[:300]}", where=str(lib_dir))
    elf = lib_dir / "firmware.elf"
    sizes = load_image(elf).sizes
    fw = Firmware(elf, sizes["text"] + sizes["data"], sizes["data"] + sizes["bss"], dict(sizes))
    check_fits(target, fw.flash_bytes, fw.ram_bytes, "the firmware")
    return fw


def _memory_map(target: Target):
    from hw_sim.cortexm import MemoryMap

    m = target.mcu
    up = lambda n: -(-int(n) // PAGE) * PAGE  # noqa: E731
    return MemoryMap(((int(m["flash_origin"]), up(m["flash_bytes"])), (int(m["ram_origin"]), up(m["ram_bytes"]))))


def run_firmware(fw: Firmware, target: Target, inputs: np.ndarray, out_dtype, out_size: int, workdir: Path):
    """Run the firmware on ``inputs`` in hw_sim; returns (outputs, hw_sim RunResult)."""
    from hw_sim.cortexm import SimError
    from hw_sim.cortexm.iss import Simulator

    (workdir / "inputs.bin").write_bytes(np.ascontiguousarray(inputs, dtype=np.float32).tobytes())
    out = workdir / "outputs.bin"
    out.unlink(missing_ok=True)
    try:
        sim = Simulator(fw.elf, target.mcu["core"], cwd=workdir, memory=_memory_map(target),
                        clock_hz=int(target.mcu["clock_hz"]))
        done = lambda: _bytes_written(sim, "outputs.bin") // (out_size * np.dtype(out_dtype).itemsize)  # noqa: E731
        with progress.step(f"running {len(inputs)} inputs in the {target.mcu['core']} ISS", len(inputs), poll=done):
            result = sim.run()
    except SimError as exc:
        raise BnnccError(f"the firmware crashed in the simulator: {exc}") from None
    if result.exit_code != 0:
        raise BnnccError(f"the firmware exited with code {result.exit_code}")
    got = np.fromfile(out, dtype=out_dtype)
    if got.size != len(inputs) * out_size:
        raise BnnccError(f"the firmware wrote {got.size} values, expected {len(inputs) * out_size}")
    return got.reshape(len(inputs), out_size), result


def _bytes_written(sim, name: str) -> int:
    """Bytes the simulated program has written to file ``name`` so far (for progress)."""
    for stream in list(sim.semihost.handles.values()):
        if str(getattr(stream, "name", "")).endswith(name):
            return stream.tell()
    return 0


def function_cycles(result, name: str) -> int:
    """Inclusive cycles of C function ``name`` (GCC clones such as name.constprop.0 count)."""
    return sum(v["cycles"] for k, v in result.inclusive.items() if k == name or k.startswith(name + "."))


def simulate(model, target: Target, inputs=None, n: int = 16, seed: int = 0, golden=None, out_dir=None,
             options: dict | None = None) -> dict:
    """Build and run the firmware in hw_sim; per-layer cycles, latency, energy, memory
    and the comparison with onnxruntime.  Figures are per inference (mean over inputs).
    With ``out_dir``: also write the library there, with simulation.json and a
    report.html that includes the measured cycles and the verification.
    With ``options["mst"]`` auto or force, ``mst_layers`` compares each candidate layer
    with and without MST: where a plan was applied, from a second ISS run without MST on
    the same inputs (where none was, the program is the same and one run gives both)."""
    res, files = _simulate_once(model, target, inputs, n, seed, golden, options)
    if (options or {}).get("mst", "off") != "off":
        applied = any((L.get("mst") or {}).get("applied") for L in res["layers"])
        base = (_simulate_once(model, target, inputs, n, seed, golden, {**options, "mst": "off"})[0] if applied
                else res)
        res["mst_layers"] = mst_comparison(res, base)
        res["total_cycles_without_mst"] = base["total_cycles"]
        res["outputs_match"] = res["outputs_match"] and base["outputs_match"]
    if out_dir is not None:
        write_simulation(out_dir, files, target, res)
    return res


def mst_comparison(with_mst: dict, without: dict) -> list[dict]:
    """Per MST-candidate layer: the pass's record and the ISS cycles with and without."""
    rows = []
    for L, B in zip(with_mst["layers"], without["layers"]):
        if L.get("mst"):
            rows.append({"index": L["index"], "op": L["op"], "name": L["name"], **L["mst"],
                         "iss_cycles_before": B["cycles"], "iss_cycles_after": L["cycles"]})
    return rows


def _simulate_once(model, target: Target, inputs, n, seed, golden, options) -> tuple[dict, dict]:
    from .api import run_and_compare

    if target.kind != "mcu":
        raise BnnccError(f"simulate needs an MCU target (this one is '{target.kind}'; see `bnncc targets`)",
                         where=target.name)
    run = run_and_compare(model, target, inputs, n, seed, golden=golden, options=options)
    report = json.loads(run.files["report.json"])
    count = len(run.inputs)
    m = target.mcu
    total = function_cycles(run.sim, "model_run") / count
    layers = []
    for r in report["layers"]:
        cyc = function_cycles(run.sim, r["function"]) / count
        macs = r.get("binary_macs", 0)
        layers.append({"index": r["index"], "op": r["op"], "name": r["name"], "function": r["function"],
                       "cycles": cyc, "percent": 100.0 * cyc / total if total else 0.0, "binary_macs": macs,
                       "cycles_per_binary_mac": cyc / macs if macs else None,
                       "weight_bytes": r["weight_bytes"], "activation_bytes": r["activation_bytes"],
                       **({"mst": r["mst"]} if "mst" in r else {})})
    est = _estimate(report, target)
    if est is not None:
        for L, e in zip(layers, est.layers):
            L["estimated_cycles"] = e["cycles"]
    res = {
        "method": "iss",
        "target": target.name, "board": m["board"], "core": m["core"], "clock_hz": m["clock_hz"], "n": count,
        "kernel_variant": target.variant,
        "total_cycles": total,
        "estimated_cycles": est.total_cycles if est is not None else None,
        "latency_ms": 1e3 * total / m["clock_hz"],
        "energy_uj": total * m["energy_nj_per_cycle"] / 1e3,
        "flash_bytes": run.firmware.flash_bytes, "ram_bytes": run.firmware.ram_bytes, "elf_sizes": run.firmware.sizes,
        "outputs_match": run.record["bit_exact"], "verification": run.record,
        "instructions_per_inference": run.sim.instructions / count,
        "layers": layers,
    }
    return res, run.files


def estimate_table(target: Target) -> dict:
    """The target's calibrated ``[estimate.<variant>]`` table for its C kernel variant
    (popcount strategy, Harley-Seal block, word width; hw_sim.cortexm.estimate)."""
    tables = target.extra.get("estimate") or {}
    table = tables.get(target.variant)
    if not isinstance(table, dict) or "cycles" not in table:
        known = sorted(k for k, v in tables.items() if isinstance(v, dict) and "cycles" in v)
        hs = f" --hs-block {target.hs_block}" if target.popcount == "harley_seal" else ""
        raise BnnccError(f"no [estimate.{target.variant}] table for this kernel variant (calibrated: "
                         f"{', '.join(known) or 'none'}); calibrate it with `python bench/calibrate.py --target "
                         f"{target.mcu.get('core', target.name)} --popcount {target.popcount}{hs} --word-bits "
                         f"{target.word_bits} --write`", where=target.name)
    return table


def _estimate(report: dict, target: Target):
    from hw_sim.cortexm.estimate import estimate

    calibrated = target.variant in (target.extra.get("estimate") or {})
    if not calibrated:
        return None
    try:
        return estimate(report, estimate_table(target))  # MST layers: hw_sim.cortexm.estimate.mst_scaled
    except (KeyError, ValueError) as exc:
        raise BnnccError(f"the analytic estimate failed: {exc}", where=target.name) from None


def simulate_estimate(model, target: Target, options: dict | None = None) -> dict:
    """``simulate --estimate``: hw_sim's analytic estimate from the compiled library's
    report.json alone (no cross compiler, no simulator): cycles per layer, latency,
    energy, estimated flash/RAM.  Outputs are not run, so not compared."""
    from .api import compile_model

    if target.kind != "mcu":
        raise BnnccError(f"--estimate needs an MCU target (this one is '{target.kind}')", where=target.name)
    estimate_table(target)
    _, files = compile_model(model, target, options=options)
    report = json.loads(files["report.json"])
    est = _estimate(report, target)
    m = target.mcu
    total = est.total_cycles
    layers = []
    for r, e in zip(report["layers"], est.layers):
        macs = r.get("binary_macs", 0)
        layers.append({"index": r["index"], "op": r["op"], "name": r["name"], "function": r["function"],
                       "variant": e["variant"], "cycles": e["cycles"], "estimated_cycles": e["cycles"],
                       "percent": 100.0 * e["cycles"] / total if total else 0.0, "binary_macs": macs,
                       "cycles_per_binary_mac": e["cycles"] / macs if macs else None,
                       "weight_bytes": r["weight_bytes"], "activation_bytes": r["activation_bytes"]})
    fits = est.flash_bytes <= m["flash_bytes"] and est.ram_bytes + m["stack_bytes"] <= m["ram_bytes"]
    return {
        "method": "estimate",
        "target": target.name, "board": m["board"], "core": m["core"], "clock_hz": m["clock_hz"], "n": 0,
        "kernel_variant": target.variant,
        "total_cycles": total, "estimated_cycles": total,
        "latency_ms": 1e3 * total / m["clock_hz"],
        "energy_uj": total * m["energy_nj_per_cycle"] / 1e3,
        "flash_bytes": est.flash_bytes, "ram_bytes": est.ram_bytes, "fits": fits,
        "outputs_match": None, "verification": None,
        "layers": layers,
    }


def write_simulation(out_dir, files: dict, target: Target, res: dict) -> Path:
    """The emitted library plus simulation.json and the simulation's report.html."""
    from .api import write_tree
    from .report import render_html

    files = {**files, "report.html": render_html(files["report.json"], target, res),
             "simulation.json": json.dumps(res, indent=2, sort_keys=True) + "\n"}
    return write_tree(files, out_dir)
