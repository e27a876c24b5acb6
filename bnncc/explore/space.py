"""The configuration space of ``bnncc explore``: which configurations to evaluate.

A configuration is a small JSON-able dict, everything ``bnncc compile`` needs to
reproduce it (``--config``):

* MCU: ``{"target": "stm32f407", "popcount": "harley_seal", "hs_block": 16,
  "word_bits": 32, "mst": "force", "mst_depth": 4}``: the C kernel variant (popcount
  strategy, Harley-Seal block for ``harley_seal`` only, word width;
  ``bnncc.targets.kernel_variants``: every valid one, so ``usada8`` only on cores with
  the DSP extension and 32-bit words) times the MST setting (``MCU_MST``: off, auto,
  force unbounded and force with depth bounds 1 and 4).  A core name in ``--targets``
  (``cortex-m4``) stands for the core's own target and every board file built on it;
  the core's configurations come first, then the boards' in turn, so a budget that
  cannot hold them all (MCU configurations take at most half the budget when FPGA
  targets are explored too) thins the boards (same cycles, other clock, energy and
  memory), not the kernel or MST choices.  Each variant is estimated with its own ``[estimate.<variant>]`` table
  (bench/calibrate.py --all); a variant without one is reported as not evaluated.
* FPGA: ``{"target": "pynq-z2", "fold": {"1": [16, 4], ...}}`` (op index -> [PE, SIMD],
  every MVAU layer named), and ``"mst": "auto"`` twins.  On an FPGA the MST unit pays
  only on a fully unrolled layer (PE = MH, SIMD = MW: weights are constants in logic;
  hw_sim/fpga/mst.py), so every folding with at least one such layer is followed by its
  twins with ``mst`` auto, unbounded and with depth bound 2 (``FPGA_MST``: the bound
  trades LUTs for the chained adders' latency), where the pass decides per layer at
  that folding; ``force``
  is left out (on a folded layer it builds the constant-weight unit at PE = MH, a study
  setting whose LUTs only grow).

FPGA foldings come from three sources, deduplicated, in this order (so a small budget
keeps the structured ones): automatic foldings (``fpga.auto_fold``) for a ladder of
frame rates and for the whole device; balanced foldings (for each reachable cycle count
II, the per-layer PE/SIMD with the smallest PE*SIMD that meets II: FINN's SetFolding
rule, one folding per distinct II); then random foldings (per layer a random divisor
pair, half of them drawn under a random II so they are not hopelessly unbalanced).
"""

from __future__ import annotations

import math
import random

from ..errors import BnnccError
from ..folding import Folding, mvau_layers
from ..targets import Target, all_targets

MCU_MST = (("off", None), ("auto", None), ("force", None), ("force", 1), ("force", 4))
FPGA_MST = (("auto", None), ("auto", 2))   # twins of a folding with a fully unrolled layer
NOTES = (
    "MCU: every kernel variant (popcount strategy x Harley-Seal block x word width) with its own calibrated "
    "[estimate.<variant>] table; non-default variants are calibrated on a smaller set (see the target files)",
    "MCU: MST off/auto/force (unbounded, depth 1, depth 4); an MST layer is estimated as its plain kernel scaled "
    "by the MST pass's predicted cycles after/before (report.json's mst record; that word-level model is not "
    "specific to the popcount strategy)",
    "FPGA: each folding with a fully unrolled layer also with MST auto, unbounded and depth 2 (the unit pays only there; the pass decides "
    "per layer from hw_sim.fpga.mst's LUT model; the chained adders' latency is added to the critical path)",
)
AUTO_FPS_STEPS = 6


def expand_targets(names) -> list[Target]:
    """``--targets`` names -> targets; a core name brings its boards along."""
    every = all_targets()
    out: dict[str, Target] = {}
    for name in names:
        name = name.strip()
        if not name:
            continue
        if name not in every:
            raise BnnccError(f"unknown target '{name}' (known: {', '.join(sorted(every))})")
        t = every[name]
        if t.kind not in ("mcu", "fpga"):
            raise BnnccError(f"explore needs MCU or FPGA targets; '{name}' is a {t.kind} target")
        out[name] = t
        if t.kind == "mcu" and t.source.stem == t.mcu["core"]:   # a core file: add its boards
            for b in every.values():
                if b.kind == "mcu" and b.mcu.get("core") == t.mcu["core"]:
                    out.setdefault(b.name, b)
    return list(out.values())


def mcu_configs(t: Target) -> list[dict]:
    """Every kernel variant x MST setting of an MCU target, its own variant first."""
    from ..targets import kernel_variants

    out = []
    for pc, hs, wb in kernel_variants(t):
        kernel = {"popcount": pc, **({"hs_block": hs} if pc == "harley_seal" else {}), "word_bits": wb}
        for mst, depth in MCU_MST:
            out.append({"target": t.name, **kernel, "mst": mst, **({"mst_depth": depth} if depth else {})})
    return out


def fold_config(t: Target, fold: Folding) -> dict:
    return {"target": t.name, "fold": {str(k): [int(p), int(s)] for k, (p, s) in sorted(fold.items())}}


def _options(m) -> list[tuple[int, int, int]]:
    """(cycles, PE*SIMD, PE, SIMD) choices of one layer, all divisor pairs."""
    return sorted((m.cycles(p, s), p * s, p, s) for p in m.pe_options() for s in m.simd_options())


def balanced_fold(layers, ii: int) -> Folding:
    """Per layer, the smallest PE*SIMD with cycles <= ii (ties: smaller SIMD, as a wide
    SIMD costs SWU and DWC logic)."""
    fold = {}
    for m in layers:
        ok = [(ps, s, p) for c, ps, p, s in _options(m) if c <= ii]
        ps, s, p = min(ok) if ok else (0, m.simd_unit, m.mh)
        fold[m.index] = (p, s)
    return fold


def fpga_folds(graph, t: Target, n: int, seed: int = 0) -> list[tuple[Folding, str]]:
    """Up to ``n`` distinct complete foldings of ``graph`` for ``t``, each with its origin."""
    from ..fpga import auto_fold

    layers = mvau_layers(graph)
    if not layers:
        return []
    out: dict[tuple, tuple[Folding, str]] = {}

    def add(fold: Folding, origin: str) -> None:
        key = tuple(sorted(fold.items()))
        if key not in out and len(out) < n:
            out[key] = (dict(fold), origin)

    clock = float(t.fpga["clock_hz"])
    slowest = max(m.cycles(1, 1) for m in layers)
    fastest = auto_fold(graph, t)                     # the fastest folding that fits the device
    add(fastest.fold, "auto_fold (fastest within the device)")
    lo, hi = clock / slowest, clock / max(1, fastest.estimate.ii)
    for k in range(AUTO_FPS_STEPS):
        fps = lo * (hi / lo) ** (k / max(1, AUTO_FPS_STEPS - 1))
        fr = auto_fold(graph, t, fps=float(f"{fps:.4g}"))
        add(fr.fold, f"auto_fold fps={float(f'{fps:.4g}'):g}")
    iis = sorted({c for m in layers for c, *_ in _options(m)}, reverse=True)
    # a geometric thinning of the reachable IIs when there are more than half the budget
    room = max(1, n // 2 - len(out))
    if len(iis) > room:
        iis = [iis[round(i * (len(iis) - 1) / max(1, room - 1))] for i in range(room)]
    for ii in iis:
        add(balanced_fold(layers, ii), f"balanced II<={ii}")
    rng = random.Random(seed)
    tries = 0
    while len(out) < n and tries < 20 * n:
        tries += 1
        if tries % 2:
            fold = {m.index: (rng.choice(m.pe_options()), rng.choice(m.simd_options())) for m in layers}
            add(fold, "random")
        else:
            ii = math.exp(rng.uniform(math.log(max(1, min(iis))), math.log(slowest)))
            fold = {}
            for m in layers:
                ok = [(p, s) for c, _, p, s in _options(m) if c <= ii] or [(m.mh, m.simd_unit)]
                fold[m.index] = rng.choice(ok)
            add(fold, f"random II<={ii:.0f}")
    return list(out.values())


def build_space(graphs: dict[str, object], targets: list[Target], budget: int, seed: int = 0) -> list[dict]:
    """The configurations to evaluate: the MCU configurations (cores first, then boards;
    at most half the budget when there are FPGA targets too), then the rest of
    ``budget`` shared evenly between the FPGA targets.  Each item: {"config", "origin"}."""
    items = []
    fpgas = [t for t in targets if t.kind == "fpga"]
    mcus = [t for t in targets if t.kind == "mcu"]
    cores = [t for t in mcus if t.source.stem == t.mcu["core"]]
    for t in cores:
        items += [{"config": c, "origin": "enumerated"} for c in mcu_configs(t)]
    boards = [mcu_configs(t) for t in mcus if t not in cores]
    for j in range(max((len(b) for b in boards), default=0)):   # round robin: every board gets some
        items += [{"config": b[j], "origin": "enumerated"} for b in boards if j < len(b)]
    items = items[: budget // 2 if fpgas else budget]
    left = max(0, budget - len(items))
    for i, t in enumerate(fpgas):
        share = left // len(fpgas) + (1 if i < left % len(fpgas) else 0)
        layers = mvau_layers(graphs[t.name])
        mine = []
        for fold, origin in fpga_folds(graphs[t.name], t, share, seed):
            mine.append({"config": fold_config(t, fold), "origin": origin})
            if any(fold[m.index] == (m.mh, m.mw) for m in layers):
                for mst, depth in FPGA_MST:
                    cfg = {**fold_config(t, fold), "mst": mst, **({"mst_depth": depth} if depth else {})}
                    mine.append({"config": cfg, "origin": origin + f", MST {mst}" + (f" depth {depth}" if depth else "")})
        items += mine[:share]
    return items[:budget] if budget < len(items) else items
