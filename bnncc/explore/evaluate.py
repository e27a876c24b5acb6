"""Evaluating one configuration: the analytic fast path and the exact re-check.

``evaluate(model, config)`` is a pure function of the model's bytes (named by their
sha256) and the configuration dict (``space``): the same inputs give the same
metrics on any machine, which is what lets ``runner`` cache results on disk and spread
them over processes or a Dask cluster.  The lowered graph (FPGA) or the compiled
library's report.json (MCU) is memoised per process by (model sha256, target, MST mode),
so a worker lowers each model once per target however many foldings it evaluates.

Fast path (milliseconds):

* MCU: ``hw_sim.cortexm.estimate`` on report.json with the target's calibrated
  ``[estimate]`` table; stated error +-15 % of the ISS cycles.  MST layers have no
  cycle model in that table, so with MST a layer is estimated as its plain kernel and
  scaled by the MST pass's own prediction (``predicted_cycles_after / before`` in the
  layer's ``mst`` record, the cost model calibrated by bench/mst.py, itself within
  15 % of the ISS); flash adds the MST plan's bytes (in const_bytes) but not the MST
  kernel's code size.
* FPGA: ``bnncc.fpga.estimate`` (FINN's cycle formulas per stage and hw_sim's resource
  model) and ``hw_sim.fpga.power``.  The II is max(stage cycles), exact against the
  dataflow simulation once FIFOs are sized; the latency is FINN's critical-path sum of
  stage cycles, an upper bound (stages overlap in the pipeline); LUTs are with every
  FIFO at the default depth (the exact path resizes them).

Exact path (``recheck``): MCU ``bnncc.mcu.simulate`` (cross-compile, run in the ISS on
random inputs, compare with onnxruntime); FPGA ``bnncc.fpga.simulate`` (event-level
dataflow simulation of 3 frames with FIFOs sized by simulation).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..errors import BnnccError
from ..targets import Target, load_target

MCU_STATED_ERROR = 0.15
MCU_STATED = ("cycles within +-15% of the ISS (shared models; most random networks); RAM: arena + I/O buffers + "
              "run lists + the largest fixed part seen in calibration (an upper bound by a few bytes)")
FPGA_STATED = "II exact (cycles: FINN formulas vs the dataflow simulation); latency: critical-path sum, an upper bound"


@dataclass(frozen=True)
class Model:
    """An ONNX model as bytes, named by their sha256 (what tasks carry to workers)."""

    sha256: str
    data: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> "Model":
        return cls(hashlib.sha256(data).hexdigest(), data)

    @classmethod
    def from_path(cls, path) -> "Model":
        from pathlib import Path

        try:
            return cls.from_bytes(Path(path).read_bytes())
        except OSError as exc:
            raise BnnccError(f"cannot read the model: {exc.strerror}", where=str(path)) from None

    def proto(self):
        import onnx

        return onnx.load_from_string(self.data)


def config_json(config: dict) -> str:
    """The canonical text of a configuration (cache keys, --config)."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


_MEMO: dict[tuple, object] = {}


def _memo(key: tuple, make):
    if key not in _MEMO:
        if len(_MEMO) > 256:
            _MEMO.clear()
        _MEMO[key] = make()
    return _MEMO[key]


def target(name: str) -> Target:
    """``load_target`` memoised (it parses every target file: ~25 ms, 50x an estimate)."""
    return _memo(("target", name), lambda: load_target(name))


KERNEL_KEYS = ("popcount", "hs_block", "word_bits")


def config_target(config: dict) -> Target:
    """The configuration's target with its C kernel variant (``popcount``, ``hs_block``,
    ``word_bits``; absent: the target file's), checked like compile's options."""
    from ..targets import with_kernel

    t = target(str(config["target"]))
    if not any(k in config for k in KERNEL_KEYS):
        return t
    if t.kind != "mcu":
        raise BnnccError("popcount, hs_block and word_bits are MCU kernel choices", where=t.name)
    try:
        args = [None if config.get(k) is None else (str if k == "popcount" else int)(config[k]) for k in KERNEL_KEYS]
    except (TypeError, ValueError):
        raise BnnccError("bad popcount/hs_block/word_bits in the configuration", where=t.name) from None
    return with_kernel(t, *args)


def mst_options(config: dict) -> dict:
    """The pass options of a configuration's MST setting (``mst``, ``mst_depth``)."""
    mst = config.get("mst", "off")
    if mst not in ("off", "auto", "force"):
        raise BnnccError(f"bad mst '{mst}' in the configuration")
    depth = config.get("mst_depth")
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 1):
        raise BnnccError(f"bad mst_depth '{depth}' in the configuration (a positive integer)")
    return {"mst": mst, "mst_depth": depth}


def lowered_graph(model: Model, t: Target):
    from ..compiler import lower

    return _memo(("graph", model.sha256, t.name), lambda: lower(model.proto(), t).graph)


def _mcu_report(model: Model, t: Target, options: dict) -> dict:
    from ..api import compile_model

    def make():
        _, files = compile_model(model.proto(), t, options=options)
        return json.loads(files["report.json"])

    # boards of one core, and the popcount strategies of one word width, lower to the same
    # graph (the passes see the word width, the core and the LUT limit, not the strategy
    # or the board), so their report.json differs only in kernel_variant
    key = (t.mcu.get("core"), t.max_lut_bytes, t.word_bits, options["mst"], options["mst_depth"])
    report = _memo(("report", model.sha256, *key), make)
    return {**report, "kernel_variant": {"popcount": t.popcount, "hs_block": t.hs_block, "word_bits": t.word_bits,
                                         "name": t.variant}}


def evaluate(model: Model, config: dict) -> dict:
    """{"metrics": {...}} of one configuration, or {"error": one line} when bnncc
    cannot evaluate it (a user-level problem, such as a target without an estimate)."""
    try:
        t = config_target(config)
        if t.kind == "mcu":
            return {"metrics": _mcu_estimate(model, t, config)}
        if t.kind == "fpga":
            return {"metrics": _fpga_estimate(model, t, config)}
        raise BnnccError(f"explore has no estimator for {t.kind} targets", where=t.name)
    except BnnccError as exc:
        from ..errors import first_line

        return {"error": first_line(exc)}


def evaluate_batch(model: Model, configs: list[dict]) -> list[dict]:
    """One task: several configurations of one model (amortises task overhead)."""
    return [evaluate(model, c) for c in configs]


def _mcu_estimate(model: Model, t: Target, config: dict) -> dict:
    from hw_sim.cortexm.estimate import estimate

    from ..mcu import estimate_table

    options = mst_options(config)
    table = estimate_table(t)
    report = _mcu_report(model, t, options)
    try:
        est = estimate(report, table)   # an MST layer: its plain kernel scaled by the pass's prediction
    except (KeyError, ValueError) as exc:
        raise BnnccError(f"the analytic estimate failed: {exc}", where=t.name) from None
    cycles = est.total_cycles
    applied = sum(1 for L in report["layers"] if L["kernel"].get("mst"))
    m = t.mcu
    return {
        "kind": "mcu", "cycles": cycles, "latency_ms": 1e3 * cycles / m["clock_hz"],
        "energy_uj": cycles * m["energy_nj_per_cycle"] / 1e3,
        "flash_bytes": est.flash_bytes, "ram_bytes": est.ram_bytes,
        "fits": est.flash_bytes <= m["flash_bytes"] and est.ram_bytes + m["stack_bytes"] <= m["ram_bytes"],
        "board": m["board"], "core": m["core"], "clock_hz": m["clock_hz"], "popcount": t.popcount,
        "kernel_variant": t.variant, "mst_layers": applied,
    }


def _fold(config: dict) -> dict[int, tuple[int, int]]:
    try:
        return {int(k): (int(v[0]), int(v[1])) for k, v in config["fold"].items()}
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        raise BnnccError("an FPGA configuration needs \"fold\": {\"INDEX\": [PE, SIMD], ...}") from None


def _fpga_estimate(model: Model, t: Target, config: dict) -> dict:
    from hw_sim.fpga import power

    from ..fpga import estimate

    from hw_sim.fpga.cycles import MstMvau

    from ..compiler import lower
    from ..folding import mvau_layers

    options, fold = mst_options(config), _fold(config)
    if options["mst"] == "off":
        g = lowered_graph(model, t)
    else:
        # The MST pass decides per layer from the folding (fpga_costs), but only through
        # which layers are fully unrolled (PE = MH, SIMD = MW): the plans are the same for
        # every folding with the same unrolled set, so one lowering serves them all (the
        # records' folded-layer figures are those of PE = SIMD = 1; the estimate below
        # takes the stages' folding from ``fold``).
        unrolled = {m.index: (m.mh, m.mw) for m in mvau_layers(lowered_graph(model, t))
                    if fold.get(m.index) == (m.mh, m.mw)}
        key = ("graph", model.sha256, t.name, options["mst"], options["mst_depth"], tuple(sorted(unrolled)))
        g = _memo(key, lambda: lower(model.proto(), t, options={**options, "fold": unrolled}).graph)
    est = estimate(g, t, fold)
    f = t.fpga
    clock = float(f["clock_hz"])
    tot = est.total
    fps = clock / est.ii
    # an MST unit's chained adders: pipeline latency the stage cycles do not show (bnncc.fpga.report)
    latency = sum(est.cycles) + sum(s.latency_after - s.latency_before for s in est.stages if isinstance(s, MstMvau))
    pw = power.estimate(f, clock, tot.lut, tot.ff, tot.bram36, tot.dsp)
    return {
        "kind": "fpga", "cycles": latency, "latency_ms": 1e3 * latency / clock, "ii_cycles": est.ii, "fps": fps,
        "energy_uj": pw.energy_uj(fps), "power_w": pw.total_w,
        "luts": round(tot.lut), "ffs": round(tot.ff), "brams": tot.bram36, "dsps": tot.dsp,
        "fits": tot.lut <= f["luts"] and tot.ff <= f["ffs"] and tot.bram36 <= f["bram36"] and tot.dsp <= f["dsps"],
        "board": f["board"], "part": f["part"], "clock_hz": f["clock_hz"],
        "bottleneck": est.bottleneck_stage.name,
        "mst_layers": sum(getattr(op, "mst", None) is not None for op in g.ops),
    }


def fold_spec(config: dict) -> str:
    """The ``--fold`` text of an FPGA configuration."""
    return ",".join(f"{k}={p}x{s}" for k, (p, s) in sorted(_fold(config).items()))


def recheck(model_path, config: dict, n: int = 4, seed: int = 0) -> dict:
    """The exact path of one configuration: the metrics it measures, and for MCU
    whether the outputs matched onnxruntime."""
    t = config_target(config)
    if t.kind == "mcu":
        from ..mcu import simulate

        res = simulate(model_path, t, n=n, seed=seed, options=mst_options(config))
        cyc = res["total_cycles"]
        return {"method": f"ISS ({res['n']} random inputs)", "cycles": cyc, "latency_ms": res["latency_ms"],
                "energy_uj": res["energy_uj"], "flash_bytes": res["flash_bytes"], "ram_bytes": res["ram_bytes"],
                "outputs_match": res["outputs_match"]}
    from ..fpga import simulate

    res = simulate(model_path, t, fold_spec=fold_spec(config), options=mst_options(config))
    if res["dataflow_sim"] is None:
        raise BnnccError(f"the dataflow simulation was skipped ({res['dataflow_sim_skipped']})", where=t.name)
    return {"method": f"dataflow simulation ({res['n']} frames, FIFOs sized)", "cycles": res["total_cycles"],
            "latency_ms": res["latency_ms"], "ii_cycles": res["ii_cycles"], "fps": res["fps"],
            "energy_uj": res["energy_uj"], "luts": res["luts"], "brams": res["brams"]}


def load_config(text: str) -> dict:
    """``--config``: ``@explore.json#ID`` (that row's config) or a config's JSON."""
    from pathlib import Path

    text = text.strip()
    if text.startswith("@"):
        path, _, row = text[1:].partition("#")
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BnnccError(f"cannot read the exploration: {exc}", where=path) from None
        rows = doc.get("rows", []) if isinstance(doc, dict) else []
        if not row:
            if len(doc.get("front", [])) != 1:
                raise BnnccError("name a row: --config @explore.json#ID", where=path)
            row = str(doc["front"][0])
        try:
            return dict(rows[int(row)]["config"])
        except (ValueError, IndexError, KeyError, TypeError):
            raise BnnccError(f"no row {row} in the exploration ({len(rows)} rows)", where=path) from None
    try:
        cfg = json.loads(text)
    except ValueError as exc:
        raise BnnccError(f"--config is neither @explore.json#ID nor JSON: {exc}") from None
    if isinstance(cfg, dict) and "config" in cfg:   # a whole row pasted
        cfg = cfg["config"]
    if not isinstance(cfg, dict) or "target" not in cfg:
        raise BnnccError("--config JSON needs a \"target\"")
    return cfg


def compile_args(text: str) -> tuple:
    """(target, --fold spec, --mst, --mst-depth, --popcount, --hs-block, --word-bits)
    reproducing a configuration (None: the target file's own)."""
    cfg = load_config(text)
    unknown = set(cfg) - {"target", "fold", "mst", "mst_depth", *KERNEL_KEYS}
    if unknown:
        raise BnnccError(f"--config has keys bnncc compile does not know: {', '.join(sorted(unknown))}")
    opts = mst_options(cfg)
    kernel = [None if cfg.get(k) is None else str(cfg[k]) for k in KERNEL_KEYS]
    return (str(cfg["target"]), fold_spec(cfg) if cfg.get("fold") else None, opts["mst"], opts["mst_depth"],
            *kernel)
