"""FPGA targets: the lowered IR as a FINN-style streaming pipeline, its folding, and the
hw_sim estimates (cycles, dataflow simulation, resources, power) that ``bnncc simulate``
reports for ``kind = "fpga"`` targets.

Lowering of IR ops to pipeline stages (``hw_sim.fpga.cycles``), one op at a time:

* ``Dense`` / ``Conv2d`` -> one MVAU (a ``Threshold`` right after it is fused into the
  unit, as FINN's MVTU; per-element thresholds make one threshold set per pixel).  A
  convolution gets a sliding-window unit (SWU) with the MVAU's SIMD before it, and an
  ``FMPad`` before that when padded (a padded bipolar map then carries a nonzero plane:
  2 bits per value from the padder on).  A real-valued first layer (``acc="float"``)
  is modelled as an integer MVAU with ``REAL_INPUT_BITS``-bit inputs (FINN's / BNN-PYNQ's
  UINT8 image input): the float pre-processing (``FloatSteps``) is assumed folded into
  the input quantisation and costs nothing here — a stated simplification.
* A ``Dense`` / ``Conv2d`` with an MST plan -> ``MstMvau``: the MVAU's cycles at PE = MH,
  resources and extra pipeline latency from ``hw_sim.fpga.mst`` (the latency is added to
  the first-frame latency and the critical path; the dataflow simulation has none).
* ``BinarizeInput`` -> a ``Thresholding`` unit on float32 inputs (a float compare is an
  integer compare of the bit patterns), per-element thresholds, PE = SIMD of the next
  MVAU.  A stand-alone ``Threshold`` -> ``Thresholding`` with PE of its producer.
* ``PoolBits`` -> ``StreamingMaxPool`` (stride = kernel, no padding, full pixel per word)
  or FMPad + depthwise SWU + ``Pool`` otherwise.
* ``AffineOut`` / ``Unpack`` -> an ``Elementwise`` float stage, one value per cycle;
  ``ArgMax`` -> ``LabelSelect``.
* Between two stages whose stream words differ in width, a data-width converter (DWC).

The HLS backend (``bnncc.backends.hls``) renders the same structure; its C-simulation,
not this model, is the proof of exactness.  These are estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hw_sim.fpga import cycles as C
from hw_sim.fpga import dataflow, power, resources
from hw_sim.fpga import mst as fpga_mst

from .errors import BnnccError
from .folding import Folding, check_fold, mvau_layers
from .ir import Graph
from .ir import ops as O
from .ir.types import DType
from .targets import Target

REAL_INPUT_BITS = 8
FIFO_DEPTH = 32          # default depth of every inter-stage FIFO (SRL-based)
FIFO_ROUNDS = 8          # simulations spent shrinking FIFOs below their peak occupancy
DEVICE_FILL = 0.8        # auto-folding keeps LUT/FF/BRAM under this share of the device
SIM_EVENT_LIMIT = 3_000_000


def _bits(t) -> int:
    return 2 if t.dtype is DType.TERNARY else 1


@dataclass
class _Stream:
    """What the last stage writes: values per frame, values per word, bits per value."""

    values: int
    par: int
    bits: int


class _Builder:
    def __init__(self, g: Graph, fold: Folding):
        self.g, self.fold = g, fold
        self.stages: list[C.Stage] = []
        self.notes: list[str] = []           # simplifications the model made for this graph
        self.owners: list[int | None] = []   # the MVAU whose folding sets each stage's parallelism
        self.out: _Stream | None = None

    def add(self, s: C.Stage, in_par: int, in_bits: int, out: _Stream, owner: int | None = None) -> None:
        if self.out is not None:
            if self.out.bits != in_bits:
                raise BnnccError(f"internal: stream into {s.name} has {self.out.bits}-bit values, it reads {in_bits}")
        if owner is None and s.op in self.fold:
            owner = s.op
        if self.out is not None and self.out.par != in_par:
            dwc = C.Dwc(f"dwc_{len(self.stages)}", -1, channels=self.out.values, pixels=1,
                        in_par=self.out.par, out_par=in_par, bits=in_bits)
            self.stages.append(dwc)   # its cycles follow the side with more words
            self.owners.append(self.owners[-1] if dwc.in_words >= dwc.out_words else owner)
        self.stages.append(s)
        self.owners.append(owner)
        self.out = out

    def next_mvau(self, k: int) -> int | None:
        return next((j for j in range(k + 1, len(self.g.ops)) if j in self.fold), None)

    def build(self) -> list[C.Stage]:
        g, ops = self.g, self.g.ops
        skip = set()
        for k, op in enumerate(ops):
            if k in skip:
                continue
            ti, to = g.tensors[op.inputs[0]], g.tensors[op.output]
            if isinstance(op, O.FloatSteps):
                self.notes.append(f"FloatSteps '{op.name}' (input pre-processing) is not modelled: assumed "
                                  f"folded into a {REAL_INPUT_BITS}-bit input quantisation")
                continue
            if isinstance(op, O.BinarizeInput):
                ch, pix = to.channels, to.pixels
                nxt = self.next_mvau(k)
                pe = math.gcd(self.fold[nxt][1] if nxt is not None else 1, ch)
                bits = _bits(to)
                s = C.Thresholding(op.name, k, channels=ch, pixels=pix, pe=pe, in_bits=32, thresholds=bits,
                                   thr_sets=pix)
                self.add(s, pe, 32, _Stream(to.numel, pe, bits), owner=nxt)
            elif isinstance(op, (O.Dense, O.Conv2d)):
                self._mvau(k, op, ti, skip)
            elif isinstance(op, O.Threshold):
                prev = self.out
                bits = _bits(to)
                s = C.Thresholding(op.name, k, channels=to.channels, pixels=to.pixels,
                                   pe=math.gcd(prev.par, to.channels), in_bits=prev.bits, thresholds=bits,
                                   thr_sets=to.pixels if op.per == "element" else 1)
                self.add(s, s.pe, prev.bits, _Stream(to.numel, s.pe, bits), owner=self.owners[-1])
            elif isinstance(op, O.PoolBits):
                self._pool(k, op, ti, to)
            elif isinstance(op, O.AffineOut):
                bits = self.out.bits
                if op.lut is not None:
                    s = C.Elementwise(op.name, k, elements=to.numel, in_bits=bits, out_bits=32,
                                      lut_entries=int(op.lut.size))
                else:
                    s = C.Elementwise(op.name, k, elements=to.numel, in_bits=bits, out_bits=32,
                                      fp_ops=("cvt", "mul") + tuple(st[0] for st in op.steps))
                self.add(s, 1, bits, _Stream(to.numel, 1, 32))
            elif isinstance(op, O.Unpack):
                bits = self.out.bits
                s = C.Elementwise(op.name, k, elements=to.numel, in_bits=bits, out_bits=32)
                self.add(s, 1, bits, _Stream(to.numel, 1, 32))
            elif isinstance(op, O.ArgMax):
                s = C.LabelSelect(op.name, k, labels=ti.numel, pe=1, in_bits=self.out.bits)
                self.add(s, 1, self.out.bits, _Stream(1, 1, 32))
            else:
                raise BnnccError(f"the FPGA model has no stage for {op.kind} '{op.name}'")
        return self.stages

    def _mvau(self, k: int, op, ti, skip: set) -> None:
        g = self.g
        pe, simd = self.fold[k]
        nxt = g.ops[k + 1] if k + 1 < len(g.ops) else None
        thr = nxt if isinstance(nxt, O.Threshold) and nxt.inputs[0] == op.output else None
        out_t = g.tensors[thr.output] if thr is not None else g.tensors[op.output]
        if thr is not None:
            skip.add(k + 1)
        in_bits = REAL_INPUT_BITS if ti.dtype is DType.FLOAT32 else _bits(ti)
        if ti.dtype is DType.FLOAT32:
            self.notes.append(f"{op.kind} '{op.name}' takes real values: modelled with {REAL_INPUT_BITS}-bit "
                              "integer inputs (FINN/BNN-PYNQ's UINT8 image), not float32 arithmetic")
        if self.out is None:  # the graph input feeds this layer directly
            self.out = _Stream(ti.numel, simd, in_bits)
        steps = _bits(out_t) if thr is not None else 0
        if isinstance(op, O.Dense):
            mh, mw = op.weight.shape
            pixels = 1
        else:
            cout, kh, kw, cin = op.weight.shape
            mh, mw = cout, kh * kw * cin
            ih, iw, _ = ti.shape
            to = g.tensors[op.output]
            pixels = to.pixels
            t, l, b, r = op.pads
            bits = in_bits
            if any(op.pads):
                bits = 2 if in_bits == 1 else in_bits   # zeros need the nonzero plane
                pad = C.FmPad(f"{op.name}.pad", k, ifm=(ih, iw), pads=op.pads, channels=cin, simd=simd,
                              bits=in_bits, out_bits=bits)
                self.add(pad, simd, in_bits, _Stream(pad.out_words * simd, simd, bits))
            ph, pw = ih + t + b, iw + l + r
            swu = C.Swu(f"{op.name}.swu", k, ifm=(ph, pw), ofm=to.shape[:2], channels=cin, kernel=(kh, kw),
                        stride=op.strides, dilation=op.dilations, simd=simd, bits=bits)
            self.add(swu, simd, bits, _Stream(swu.out_words * simd, simd, bits))
            in_bits = bits
        sets = pixels if thr is not None and thr.per == "element" else 1
        if getattr(op, "mst", None) is not None:
            s = _mst_stage(op, k, mh, mw, pixels, simd, in_bits, steps, sets)
            pe = mh
        else:
            s = C.Mvau(op.name, k, mh=mh, mw=mw, pixels=pixels, pe=pe, simd=simd, in_bits=in_bits,
                       thresholds=steps, thr_sets=sets)
        self.add(s, simd, in_bits, _Stream(mh * pixels, pe, s.out_bits))

    def _pool(self, k: int, op, ti, to) -> None:
        ih, iw, ch = ti.shape
        bits = self.out.bits
        streaming = (tuple(op.strides) == tuple(op.kernel) and not any(op.pads)
                     and tuple(op.dilations) == (1, 1)
                     and to.shape[:2] == (ih // op.kernel[0], iw // op.kernel[1]))
        if streaming:
            s = C.StreamingMaxPool(op.name, k, ifm=(ih, iw), kernel=tuple(op.kernel), channels=ch, bits=bits)
            self.add(s, ch, bits, _Stream(to.numel, ch, bits))
            return
        t, l, b, r = op.pads
        if any(op.pads):
            pad = C.FmPad(f"{op.name}.pad", k, ifm=(ih, iw), pads=op.pads, channels=ch, simd=ch, bits=bits)
            self.add(pad, ch, bits, _Stream(pad.out_words * ch, ch, bits))
        swu = C.Swu(f"{op.name}.swu", k, ifm=(ih + t + b, iw + l + r), ofm=to.shape[:2], channels=ch,
                    kernel=tuple(op.kernel), stride=tuple(op.strides), dilation=tuple(op.dilations), simd=ch, bits=bits)
        self.add(swu, ch, bits, _Stream(swu.out_words * ch, ch, bits))
        pool = C.Pool(op.name, k, ofm=to.shape[:2], kernel=tuple(op.kernel), channels=ch, bits=bits)
        self.add(pool, ch, bits, _Stream(to.numel, ch, bits))


def _mst_stage(op, k, mh, mw, pixels, simd, in_bits, steps, sets) -> C.MstMvau:
    """The stage of a layer with an MST plan: an MVAU with PE = MH whose resources are
    ``hw_sim.fpga.mst``'s (see ``resources._mst_mvau``); |D_j| from the weights."""
    plan = op.mst
    w = op.weight.reshape(mh, -1)
    d_bits = np.zeros(mh, np.int64)
    for j in np.nonzero(plan.parent >= 0)[0]:
        same = int((w[j] == w[plan.parent[j]]).sum())
        d_bits[j] = same if plan.comp[j] else mw - same
    u = fpga_mst.unit(mw, mh, in_bits, steps, plan.parent, d_bits, plan.order, mw // simd)
    return C.MstMvau(op.name, k, mh=mh, mw=mw, pixels=pixels, pe=mh, simd=simd, in_bits=in_bits, thresholds=steps,
                     thr_sets=sets, unrolled=simd == mw, mst_sum_before=u.sum_before, mst_sum_after=u.sum_after,
                     mst_ff_before=u.ff_before, mst_ff_after=u.ff_after, latency_before=u.latency_before,
                     latency_after=u.latency_after)


def build_pipeline(g: Graph, fold: Folding, notes: list[str] | None = None) -> tuple[list[C.Stage], list[int | None]]:
    """The stages of ``g`` under a complete folding (``check_fold``'s result), and for
    each stage the MVAU (op index) whose PE/SIMD sets its parallelism (None: fixed).
    The modelling simplifications made are appended to ``notes``."""
    b = _Builder(g, fold)
    stages = b.build()
    if not stages:
        raise BnnccError("the model has no layer to put on the FPGA")
    C.check_chain(stages)
    if notes is not None:
        notes.extend(b.notes)
    return stages, b.owners


@dataclass
class Estimate:
    """Analytic figures of one folding."""

    fold: Folding
    stages: list[C.Stage]
    owners: list[int | None]
    cycles: list[int]
    res: list[resources.Res]
    fifo_res: list[resources.Res]
    fifo_depths: list[int]
    total: resources.Res
    ii: int
    bottleneck: int          # stage index
    notes: list[str] = field(default_factory=list)

    @property
    def bottleneck_stage(self) -> C.Stage:
        return self.stages[self.bottleneck]


def estimate(g: Graph, target: Target, fold: Folding, fifo_depth: int = FIFO_DEPTH,
             weight_layout: str = "per_pe", ram_style: str = "auto", lut_model: str = "finn") -> Estimate:
    """Stages, cycles and resources of ``fold`` with every FIFO ``fifo_depth`` deep
    (options of the resource model: see ``hw_sim.fpga.resources.stage``)."""
    fold = check_fold(g, fold)
    notes: list[str] = []
    stages, owners = build_pipeline(g, fold, notes)
    e = _estimate(target, fold, stages, owners, [fifo_depth] * (len(stages) + 1), weight_layout, ram_style,
                  lut_model)
    e.notes = notes
    return e


def with_fifo_depths(est: Estimate, target: Target, depths: list[int]) -> Estimate:
    e = _estimate(target, est.fold, est.stages, est.owners, depths)
    e.notes = est.notes
    return e


def _estimate(target, fold, stages, owners, depths, weight_layout="per_pe", ram_style="auto",
              lut_model="finn") -> Estimate:
    per, fifos = resources.pipeline(stages, depths, weight_layout, ram_style, lut_model)
    f = target.fpga
    total = resources.Res(lut=f["shell_luts"], ff=f["shell_ffs"], bram18=2 * f["shell_bram36"])
    for r in per + fifos:
        total = total + r
    cyc = [s.cycles() for s in stages]
    ii = max(cyc)
    ties = [i for i, c in enumerate(cyc) if c == ii]
    neck = next((i for i in ties if owners[i] is not None), ties[0])   # prefer a stage folding can speed up
    return Estimate(fold, stages, owners, cyc, per, fifos, depths, total, ii, neck)


def _caps(target: Target, max_luts: int | None) -> dict:
    f = target.fpga
    lut_cap = DEVICE_FILL * f["luts"] if max_luts is None else min(max_luts, f["luts"])
    return {"lut": lut_cap, "ff": DEVICE_FILL * f["ffs"], "bram36": f["bram36"]}


def _fits(e: Estimate, caps: dict) -> bool:
    t = e.total
    return t.lut <= caps["lut"] and t.ff <= caps["ff"] and t.bram36 <= caps["bram36"]


@dataclass
class FoldResult:
    fold: Folding
    estimate: Estimate
    target_cycles: int | None      # None: as fast as the budget allows
    reached: bool
    message: str
    caps: dict = field(default_factory=dict)


def _next(opts: list[int], v: int) -> int | None:
    bigger = [d for d in opts if d > v]
    return bigger[0] if bigger else None


def auto_fold(g: Graph, target: Target, fps: float | None = None, max_luts: int | None = None) -> FoldResult:
    """Choose PE/SIMD per MVAU for ``fps`` frames/s at the board clock, within ``max_luts``
    LUTs (default: ``DEVICE_FILL`` of the device's LUTs and FFs) and the device's BRAM.

    Like FINN's ``SetFolding`` (raise the parallelism of the slowest layer until the
    target cycles per frame are met, under the divisibility rules), but greedy over the
    whole pipeline and resource-aware: while the bottleneck stage is slower than the
    target, take the MVAU behind it (a SWU/padder counts as its MVAU's) and apply the
    one of "next PE divisor" / "next SIMD divisor" that costs the fewest LUTs per cycle
    saved on that layer (ties: PE first, as FINN raises PE last but a wider SIMD costs
    more SWU and DWC logic); a step that would break the budget is not taken.  Without
    ``fps`` the loop runs until no step fits: the fastest folding within the budget.
    Stops with ``reached=False`` and a one-line reason when the target cannot be met
    (a bottleneck with no PE/SIMD left, or every step over budget).
    """
    if fps is not None and fps <= 0:
        raise BnnccError("--fps must be positive")
    if max_luts is not None and max_luts <= 0:
        raise BnnccError("--max-luts must be positive")
    clock = float(target.fpga["clock_hz"])
    want = None if fps is None else max(1, math.floor(clock / fps))
    caps = _caps(target, max_luts)
    layers = {m.index: m for m in mvau_layers(g)}
    fold = {k: (1, 1) for k in layers}
    est = estimate(g, target, fold)
    if not _fits(est, caps):
        return FoldResult(fold, est, want, False, _over(est, caps, "even fully folded (PE=SIMD=1)"), caps)
    while want is None or est.ii > want:
        b = est.bottleneck_stage
        owner = est.owners[est.bottleneck]
        if owner is None:
            msg = (f"bottleneck {b.kind} '{b.name}' ({est.ii} cycles/frame) has no PE/SIMD to raise; "
                   f"best {clock / est.ii:,.1f} frames/s")
            return FoldResult(fold, est, want, want is None, msg if want is not None else _best(est, clock), caps)
        m = layers[owner]
        pe, simd = fold[owner]
        layer_cycles = max(c for o, c in zip(est.owners, est.cycles) if o == owner)
        best = None
        for cand in ((_next(m.pe_options(), pe), simd), (pe, _next(m.simd_options(), simd))):
            if None in cand:
                continue
            trial = estimate(g, target, {**fold, owner: cand})
            if not _fits(trial, caps):
                continue
            new_cycles = max(c for o, c in zip(trial.owners, trial.cycles) if o == owner)
            saved = layer_cycles - new_cycles
            if saved <= 0:
                continue
            cost = (trial.total.lut - est.total.lut) / saved
            if best is None or cost < best[0]:
                best = (cost, cand, trial)
        if best is None:
            full = _next(m.pe_options(), pe) is None and _next(m.simd_options(), simd) is None
            why = "is fully unfolded" if full else "cannot grow within the budget " + _cap_text(caps)
            if want is None:
                return FoldResult(fold, est, None, True, _best(est, clock), caps)
            return FoldResult(fold, est, want, False,
                              f"cannot reach {fps:g} frames/s: bottleneck {b.kind} '{b.name}' (layer {owner}, "
                              f"PE={pe}, SIMD={simd}) {why}; best {clock / est.ii:,.1f} frames/s "
                              f"({est.ii} cycles/frame at {clock / 1e6:g} MHz)", caps)
        fold = {**fold, owner: best[1]}
        est = best[2]
    return FoldResult(fold, est, want, True,
                      f"reached {clock / est.ii:,.1f} frames/s (target {fps:g}); bottleneck {_name(est)}", caps)


def _name(e: Estimate) -> str:
    b = e.bottleneck_stage
    return f"{b.kind} '{b.name}' ({e.ii} cycles/frame)"


def _best(e: Estimate, clock: float) -> str:
    return f"fastest folding within the budget: {clock / e.ii:,.1f} frames/s; bottleneck {_name(e)}"


def _cap_text(caps: dict) -> str:
    return f"({caps['lut']:,.0f} LUT, {caps['ff']:,.0f} FF, {caps['bram36']:g} BRAM36)"


def _over(e: Estimate, caps: dict, what: str) -> str:
    t = e.total
    return (f"the model does not fit {what}: {t.lut:,.0f} LUT, {t.ff:,.0f} FF, {t.bram36:g} BRAM36 "
            f"against a budget of {_cap_text(caps)}")


def simulate(model, target: Target, fold_spec: str | None = None, fps: float | None = None,
             max_luts: int | None = None, frames: int = 3, fifo_depth: int | None = None,
             options: dict | None = None) -> dict:
    """The ``bnncc simulate`` report of an FPGA target: folding (given, or automatic to
    ``fps`` / ``max_luts`` / the device), per-layer cycles and resources, a dataflow
    simulation of ``frames`` frames, FPS, latency, utilisation, power and energy.
    With ``options["mst"]`` auto or force: the folding is chosen (or given) without MST,
    the model is lowered again with the MST pass deciding per layer at that folding, and
    the report is the MST design's, with ``mst_layers`` (per candidate layer: the pass's
    record and the stage's LUTs/FFs/latency without and with) and the totals without."""
    from .compiler import lower
    from .folding import parse_fold

    if target.kind != "fpga":
        raise BnnccError(f"not an FPGA target ('{target.kind}')", where=target.name)
    if fold_spec and (fps is not None or max_luts is not None):
        raise BnnccError("give either --fold or --fps/--max-luts (automatic folding), not both")
    options = dict(options or {})
    mst = options.get("mst") or "off"
    g = lower(model, target, options={**options, "mst": "off"}).graph
    depth = FIFO_DEPTH if fifo_depth is None else fifo_depth
    if fold_spec:
        est = estimate(g, target, parse_fold(fold_spec), depth)
        fold_info = {"mode": "given", "reached": None, "message": ""}
    else:
        fr = auto_fold(g, target, fps, max_luts)
        est = fr.estimate if depth == FIFO_DEPTH else estimate(g, target, fr.fold, depth)
        fold_info = {"mode": "auto", "target_fps": fps, "max_luts": max_luts, "reached": fr.reached,
                     "message": fr.message, "budget": fr.caps}
    if mst == "off":
        return report(est, target, frames, fold_info, size_fifos=fifo_depth is None)
    base = report(est, target, frames, fold_info, size_fifos=fifo_depth is None)
    gm = lower(model, target, options={**options, "fold": dict(est.fold)}).graph
    res = report(estimate(gm, target, est.fold, depth), target, frames, fold_info, size_fifos=fifo_depth is None)
    res["mst_layers"] = mst_comparison(gm, res, base)
    res.update(luts_without_mst=base["luts"], ffs_without_mst=base["ffs"], fps_without_mst=base["fps"],
               total_cycles_without_mst=base["total_cycles"])
    return res


def mst_comparison(g: Graph, with_mst: dict, without: dict) -> list[dict]:
    """Per MST-candidate layer: the pass's record (bit-ops, tree, FPGA figures) and its
    stage's LUTs, FFs, cycles and MST pipeline latency in the two simulate reports."""
    by_index = {}
    for rep, key in ((without, "before"), (with_mst, "after")):
        for L in rep["layers"]:
            if L["index"] is not None and L["op"] in ("MVAU", "MVAU+MST"):
                row = by_index.setdefault(L["index"], {})
                row.update({f"stage_lut_{key}": L["lut"], f"stage_ff_{key}": L["ff"],
                            f"stage_cycles_{key}": L["cycles"]})
    rows = []
    for k, op in enumerate(g.ops):
        rec = g.meta.get("mst", {}).get(op.output)
        if rec is not None:
            rows.append({"index": k, "op": op.kind, "name": op.name, **rec, **by_index.get(k, {})})
    return rows


def report(est: Estimate, target: Target, frames: int = 3, fold_info: dict | None = None,
           size_fifos: bool = True) -> dict:
    """The simulate report of one folding: per-stage rows, totals, dataflow simulation
    (FIFOs sized by simulation unless ``size_fifos`` is False), power and energy."""
    f = target.fpga
    clock = float(f["clock_hz"])
    sim = None
    n_events = dataflow.events(est.stages, frames)
    if n_events <= SIM_EVENT_LIMIT:
        if size_fifos:
            # FINN's method gives each FIFO its peak occupancy in a simulation at the analytic
            # rate; a fast producer (an SWU ahead of a slow MVAU) then gets a frame-sized FIFO
            # it does not need.  So: cap every FIFO at FIFO_DEPTH, simulate, and while the
            # pipeline misses the analytic II give its peak back to the most downstream FIFO
            # that ran full (back-pressure starts there and fills every FIFO upstream of it);
            # after FIFO_ROUNDS rounds, to every FIFO that ran full.
            peaks = dataflow.size_fifos(est.stages, frames)
            depths = [min(d, FIFO_DEPTH) for d in peaks]
            for rnd in range(FIFO_ROUNDS + 1):
                sim = dataflow.simulate(est.stages, frames, depths)
                full = [i for i, (d, q) in enumerate(zip(depths, sim.fifo_peak)) if q >= d < peaks[i]]
                if sim.ii <= est.ii or not full:
                    break
                for i in (full[-1:] if rnd < FIFO_ROUNDS else full):
                    depths[i] = peaks[i]
            est = with_fifo_depths(est, target, depths)
        else:
            sim = dataflow.simulate(est.stages, frames, est.fifo_depths)
    ii = sim.ii if sim else est.ii
    # the dataflow model has no pipeline latency inside a stage; an MST unit's chained
    # adders add latency_after - latency_before cycles (hw_sim.fpga.mst), counted here
    mst_extra = sum(s.latency_after - s.latency_before for s in est.stages if isinstance(s, C.MstMvau))
    latency = (sim.first_frame_latency if sim else sum(est.cycles)) + mst_extra
    fps = clock / ii
    t = est.total
    pw = power.estimate(f, clock, t.lut, t.ff, t.bram36, t.dsp)
    layers = []
    for i, (s, c, r) in enumerate(zip(est.stages, est.cycles, est.res)):
        pe, simd = s.parallelism
        extra = {"mst_latency_before": s.latency_before, "mst_latency_after": s.latency_after,
                 "mst_unrolled": s.unrolled} if isinstance(s, C.MstMvau) else {}
        layers.append({**extra, "stage": i, "index": s.op if s.op >= 0 else None, "op": s.kind, "name": s.name,
                       "pe": pe or None, "simd": simd or None, "cycles": c,
                       "percent": 100.0 * c / est.ii, "lut": round(r.lut), "ff": round(r.ff),
                       "bram18": r.bram18, "bram36": r.bram36, "dsp": r.dsp,
                       "first_output_cycle": sim.stage_first_out[i] if sim else None,
                       "frame0_done_cycle": sim.stage_frame_end[i][0] if sim else None})
    fifo_tot = sum(est.fifo_res, resources.Res())
    util = {"lut": 100 * t.lut / f["luts"], "ff": 100 * t.ff / f["ffs"], "bram36": 100 * t.bram36 / f["bram36"],
            "dsp": 100 * t.dsp / f["dsps"] if f["dsps"] else 0.0}
    b = est.bottleneck_stage
    fits = t.lut <= f["luts"] and t.ff <= f["ffs"] and t.bram36 <= f["bram36"] and t.dsp <= f["dsps"]
    return {
        "target": target.name, "board": f["board"], "part": f["part"], "clock_hz": f["clock_hz"],
        "n": sim.frames if sim else 0,
        # MCU-compatible keys: cycles and latency of one inference (the first frame through the
        # empty pipeline), energy of one frame in steady state.
        "total_cycles": latency,
        "latency_ms": 1e3 * latency / clock,
        "energy_uj": pw.energy_uj(fps),
        # MCU keys with no FPGA meaning are null: no flash/RAM image on the fabric (weights
        # live in on-chip BRAM/LUTRAM: see brams, luts), no core, no ELF, no instructions
        "flash_bytes": None, "ram_bytes": None, "core": None, "elf_sizes": None,
        "instructions_per_inference": None,
        "outputs_match": None,
        "verification": "not checked (estimate only; run bnncc verify --target " + target.name + ")",
        "layers": layers,
        "fps": fps, "ii_cycles": ii, "analytic_ii_cycles": est.ii,
        "critical_path_cycles": sum(est.cycles) + mst_extra, "mst_latency_cycles": mst_extra,
        "luts": round(t.lut), "ffs": round(t.ff), "brams": t.bram36, "bram18": t.bram18, "dsps": t.dsp,
        "lutram": round(t.lutram),
        "fifo": {"depths": est.fifo_depths, "lut": round(fifo_tot.lut), "ff": round(fifo_tot.ff),
                 "bram36": fifo_tot.bram36, "peak": sim.fifo_peak if sim else None},
        "shell": {"lut": f["shell_luts"], "ff": f["shell_ffs"], "bram36": f["shell_bram36"]},
        "utilisation_percent": util, "fits": fits,
        "bottleneck": {"stage": est.bottleneck, "index": b.op if b.op >= 0 else None, "op": b.kind,
                       "name": b.name, "cycles": est.ii},
        "folding": {str(k): list(v) for k, v in sorted(est.fold.items())},
        "fold": fold_info or {"mode": "given"},
        "power_w": pw.as_dict(),
        "dataflow_sim": sim.as_dict() if sim else None,
        "dataflow_sim_skipped": None if sim else f"{n_events:,} token events > {SIM_EVENT_LIMIT:,}; analytic figures",
        "notes": est.notes,
    }
