"""Pass: MST channel reordering (MST-compression, Vo et al., ICCV 2023).

Matches: every binary ``Dense`` and ``Conv2d`` (``acc`` ``dot`` or ``xor_popcount``;
bipolar or ternary input; any padding, stride, dilation) after ``pack_bits``.  Layers
with a real-valued input (``acc="float"``) are skipped: their weights multiply floats,
there is no popcount to share.

Rewrites: attaches an ``MstPlan`` (``ir.ops``) to the layer; weights, thresholds and the
output channel order are unchanged.  Nothing else in the graph changes.

Identity (a in {-1, 0, +1}^K, w_i, w_j in {-1, +1}^K; a 0 is an input from Sign(0) or a
padded tap).  Let D = {k : w_jk != w_ik} and d(k) = [k in D].  Then w_j = w_i (1 - 2d), so

    dot(a, w_j) = dot(a, w_i) - 2 sum_{k in D} a_k w_ik                      (plain edge)

and for a complement edge (w_j close to -w_i), with D = {k : w_jk == w_ik} (so
w_j = -w_i (1 - 2d)):

    dot(a, w_j) = -(dot(a, w_i) - 2 sum_{k in D} a_k w_ik)                  (complement edge)

``ir.interp`` evaluates exactly these (in the dot domain, where zeros just add 0).  The
C kernels work in the popcount domain on packed words (bit 1 = +1, see ``pack_bits``).
With V the valid (nonzero) positions -- all K for a bipolar input, the nonzero plane nz
for a ternary one, the taps inside the map for a padded convolution -- the kernels
compute q = popcount((a XOR w) AND V), and dot = |V| - 2q.  Inside D, a mismatch
with w_i is a match with w_j and vice versa; outside D nothing changes, so with
x = popcount((a XOR w_i) AND D AND V) and |D_V| = popcount(D AND V):

    q_j = q_i + |D_V| - 2x                                                  (plain edge)
    q_j = |V| - q_i - |D_V| + 2x                                       (complement edge)

(the second from q(a, -w_i) = |V| - q_i and x(-w_i) = |D_V| - x).  In the issue's
match-count form P = popcount(XNOR(a, w)) = K - q for a bipolar input, the plain edge
reads P_j = P_i + |D| - 2 popcount(XNOR(a, w_i) AND D).  For a bipolar input |V| = K and
|D_V| = |D|, a constant stored per child; for a ternary input and at padded borders the
kernels recount popcount(D AND nz) on the words they touch.  ``tests/test_mst.py``
checks all three forms exhaustively for K <= 8 (every a, every pair w_i, w_j).
Sign(0) ties need nothing special: an input 0 is outside V and contributes to neither
x nor |D_V|; the accumulator is bit-identical, so the thresholds are untouched.

The tree.  Nodes are output channels.  ``force`` builds the paper's tree: edge weight
|D| (min over the plain and the complement edge), one root -- the medoid (least total
distance to all others, the "centre") computed in full -- and Prim's algorithm with a
depth bound (``mst_depth``: a node at the bound takes no children; the hop-bounded MST
is NP-hard, this is the usual greedy heuristic; unbounded gives the exact MST).
``auto`` builds the target's tree: Prim from a virtual root whose edge to each channel
costs a full row, so channels that have no cheap parent become roots (a forest), with
edge weights from the target's word-level cycle model (``WordCosts``): on an MCU the
saving is in 32-bit words touched, not bits.  The model is data: the ``[mst]`` table of
the core's target file (``targets/cortex-m4.toml`` ...; board files inherit it), fitted
by ``python bench/mst.py --calibrate --write`` on the core's ISS with one coefficient
set per layer kind (dense, conv) and input (bipolar, ternary): cycles are linear in
what the kernels loop over (``features``: rows, runs, Harley-Seal blocks and tail words
per pixel; per child a fixed cost and its touched words, priced per pixel by where the
window is: inside the map, or at an edge with the word's tap inside or outside it, as
``bnn_conv2d_mst`` walks them).  ``auto`` keeps a plan only where
predicted_after < (1 - margin) * predicted_before, ``margin`` being the table's bound on
how much the model over-predicted a gain on the calibration builds.  Targets without a
calibrated model (host, generic C) get no plan in ``auto``.

FPGA targets are bit-level (``fpga_costs``, model in ``hw_sim/fpga/mst.py``): MST pays
only in a fully unrolled layer (``options["fold"]`` gives PE = MH and SIMD = MW), whose
weights are constants in logic: a child is a popcount tree over its |D| bits plus an
adder, chained after its parent.  ``auto`` builds the paper's tree (the LUT cost of a
child is affine in |D|, so the minimum-|D| tree is the minimum-LUT tree) and applies it
where the unit's LUTs fall; a folded layer keeps its MVAU (weights in memory: a mask
would be data) and its record says why.  ``force`` on a folded layer is implemented, not
refused: the HLS MST unit computes all MH channels in parallel on the buffered input
(PE becomes MH, the input still arrives MW / SIMD words per pixel), so every layer
shape -- padded KxK convolutions included -- is exercised bit-exactly in the
C-simulation; the record and ``bnncc simulate`` count that unit's own LUTs.

Options: ``mst`` in {off, auto, force} (default off), ``mst_depth`` (None: unbounded),
``mst_complement`` (default True).  ``g.meta["mst"]`` gets one record per candidate
layer (keyed by its output tensor) for report.json: bit-ops, words, predicted cycles
before/after (with the model's stated error and margin), depth, roots, complement
edges, and whether the plan was applied; on an
FPGA target also ``fpga``: folding, LUTs, FFs, popcount-tree input bits and latency
before/after, and why the plan was or was not applied.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import BnnccError
from ..ir import ops as O
from ..ir.graph import Graph, mst_depths
from ..ir.types import DType
from .pack_bits import pack

MODES = ("off", "auto", "force")


@dataclass(frozen=True)
class WordCosts:
    """Cycles of the word-level kernels (bnn_kernels.h) for one layer kind (dense or
    conv) and input (bipolar or ternary): predicted cycles = sum over the layer's
    ``features`` f of ``cycles[f] * f`` (fitted by least squares on the target's ISS).
    ``error``: the worst relative error of the predicted layer cycles over the
    calibration builds; ``margin``: the most the model over-predicted a plan's gain there
    (ISS after/before minus predicted after/before); ``auto`` applies a plan only when
    predicted_after < (1 - margin) * predicted_before."""

    cycles: dict
    error: float
    margin: float
    block: int            # the popcount kernel's block of words (Harley-Seal 8, else 1)
    source: str

    def __getitem__(self, f: str) -> float:
        return float(self.cycles.get(f, 0.0))


def costs_from_table(table: dict | None) -> dict | None:
    """A target file's ``[mst]`` table (written by ``bench/mst.py --calibrate --write``) as
    {"dense" | "conv": {"bipolar" | "ternary": WordCosts}}; None without one."""
    if not table:
        return None
    return {kind: {inp: WordCosts(cycles={k: float(v) for k, v in table[kind][inp]["cycles"].items()},
                                  error=float(table[kind][inp]["error"]), margin=float(table[kind][inp]["margin"]),
                                  block=int(table.get("block", 1)), source=str(table.get("source", "")))
                   for inp in ("bipolar", "ternary")}
            for kind in ("dense", "conv")}


def cost_model(options: dict) -> dict | None:
    """The word-level cost model of the target in ``options``: its ``[mst]`` table, passed
    by the compiler as ``mst_costs`` (else read from the target file named by ``core``);
    None: none calibrated.  FPGA targets are bit-level (``fpga_costs``)."""
    if options.get("target_kind") == "fpga":
        return None
    if "mst_costs" in options:
        return costs_from_table(options["mst_costs"])
    from ..targets import all_targets

    t = all_targets().get(options.get("core") or "")
    return costs_from_table(t.extra.get("mst")) if t is not None else None


def fpga_costs(options: dict, index: int, op, g: Graph, L: "_Layer", plan: O.MstPlan, d_bits) -> dict:
    """FPGA figures of one layer's plan (``hw_sim.fpga.mst``: LUTs, FFs, popcount-tree
    input bits and latency of the constant-weight unit before/after), at the layer's
    folding ``options["fold"][index]`` ((1, 1) when not given).  ``pays``: the layer is
    fully unrolled (PE = MH, SIMD = MW: weights are constants in logic) and the LUTs
    fall (children's trees saved > adders added); a folded MVAU reads its weights from
    memory, where a difference mask would be data, so MST saves nothing there."""
    from hw_sim.fpga import mst as fm

    pe, simd = (options.get("fold") or {}).get(index, (1, 1))
    mh, mw = op.weight.shape[0], L.k
    conv = isinstance(op, O.Conv2d)
    in_bits = 2 if (L.ternary or (conv and any(op.pads))) else 1
    nxt = g.ops[index + 1] if index + 1 < len(g.ops) else None
    thresholds = 0
    if isinstance(nxt, O.Threshold) and nxt.inputs == (op.output,):
        thresholds = 2 if g.tensors[nxt.output].dtype is DType.TERNARY else 1
    u = fm.unit(mw, mh, in_bits, thresholds, plan.parent, d_bits, plan.order, mw // simd)
    model = options.get("fpga_lut_model") or "finn"
    unrolled = pe == mh and simd == mw
    pays = unrolled and u.sum_after < u.sum_before
    if not unrolled:
        why = f"folded ({pe}x{simd}, unrolled is {mh}x{mw}): weights in memory, masks would be data"
        if conv and op.weight.shape[1] * op.weight.shape[2] > 1:
            why = f"folded ({pe}x{simd}): a KxK conv is never unrolled (SIMD must divide Cin)"
    elif not pays:
        why = "unrolled, but the children's adders cost more LUTs than their trees save"
    else:
        why = f"unrolled: LUTs fall by {u.luts('before', model) - u.luts('after', model):,.0f}"
    return {"pe": int(pe), "simd": int(simd), "unrolled": unrolled, "in_bits": in_bits, "pays": bool(pays),
            "why": why, "lut_model": model,
            "lut_before": round(u.luts("before", model)), "lut_after": round(u.luts("after", model)),
            "ff_before": round(u.ff_before), "ff_after": round(u.ff_after),
            "tree_bits_before": u.tree_bits_before, "tree_bits_after": u.tree_bits_after,
            "latency_before": u.latency_before, "latency_after": u.latency_after,
            "sum_before": u.sum_before, "sum_after": u.sum_after}


# ---- geometry ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    rows: np.ndarray      # uint64 [N, R]: packed weight rows (flattened taps x words)
    valid: np.ndarray     # uint64 [R]: the bits of a row that are real weights
    k: int                # weights per row
    positions: int        # output positions (1 for Dense)
    ternary: bool
    conv: bool = False
    geo: dict = dataclasses.field(default_factory=dict, compare=False)  # see _geometry


def _layer(op, g: Graph, block: int = 1) -> _Layer:
    a = g.tensors[op.inputs[0]]
    n = op.weight.shape[0]
    wb = a.word_bits
    if isinstance(op, O.Dense):
        shape = (a.pixels, a.channels)
        positions = 1
    else:
        shape = op.weight.shape[1:]
        positions = g.tensors[op.output].pixels
    rows = pack(op.weight.reshape((n,) + shape), wb).reshape(n, -1).astype(np.uint64)
    valid = pack(np.ones(shape, np.int8), wb).reshape(-1).astype(np.uint64)
    conv = isinstance(op, O.Conv2d)
    return _Layer(rows, valid, int(op.weight[0].size), positions, a.dtype is DType.TERNARY, conv,
                  _geometry(op, g, rows.shape[1], block))


def _geometry(op, g: Graph, r: int, block: int) -> dict:
    """What the kernels loop over, summed over the output positions (bnn_conv2d /
    bnn_conv2d_mst walk each pixel's window as runs of words, bnn_conv_runs; a dense row
    is one run of R words): ``runs``, their Harley-Seal ``blocks`` (``block`` words) and
    ``tails`` (words after the last block), the valid input ``words`` of the windows;
    ``inside`` pixels (window wholly in the map); per row word the number of pixels
    where an MST entry on it is evaluated with the window inside (``n_in``), at an edge
    pixel with the word's tap in the map (``n_hit``) or outside it (``n_miss``)."""
    ternary = g.tensors[op.inputs[0]].dtype is DType.TERNARY
    if isinstance(op, O.Dense):
        one = np.ones(r, np.int64)
        nb = r // block
        asm = nb >= 2 and block > 1 and not ternary
        return {"pixels": 1, "inside": 1, "runs": 1, "blocks": 0 if asm else nb, "ablocks": nb if asm else 0,
                "tails": r % block, "words": r,
                "n_in": one, "n_hit": 0 * one, "n_miss": 0 * one}
    h, w, cin = g.tensors[op.inputs[0]].shape
    _, kh, kw, _ = op.weight.shape
    wpp = r // (kh * kw)
    oh, ow = g.tensors[op.output].shape[:2]
    (sh, sw), (dh, dw), (pt, pl) = op.strides, op.dilations, op.pads[:2]
    vy = (np.arange(oh)[:, None] * sh - pt + np.arange(kh)[None, :] * dh)
    vy = (vy >= 0) & (vy < h)                                              # [oh, kh]
    ix0 = np.arange(ow) * sw - pl
    vx = ix0[:, None] + np.arange(kw)[None, :] * dw
    vx = (vx >= 0) & (vx < w)                                              # [ow, kw]
    in_map = vy[:, None, :, None] & vx[None, :, None, :]                   # [oh, ow, kh, kw]
    inside = vy.all(axis=1)[:, None] & vx.all(axis=1)[None, :]             # [oh, ow]
    row_inside = (dw == 1) & (ix0 >= 0) & (ix0 + kw <= w)                  # [ow]
    runs = np.where(row_inside[None, :], vy.sum(axis=1)[:, None], in_map.sum(axis=(2, 3)))
    run_len = np.where(row_inside, kw * wpp, wpp)[None, :]
    taps = in_map.reshape(oh * ow, kh * kw)
    edge = ~inside.reshape(-1)
    n_hit = np.repeat(taps[edge].sum(axis=0), wpp).astype(np.int64)
    n_in = np.full(r, int(inside.sum()), np.int64)
    nb = run_len // block
    asm = (nb >= 2) & (block > 1) & (not ternary)
    return {"pixels": oh * ow, "inside": int(inside.sum()), "runs": int(runs.sum()),
            "blocks": int((runs * np.where(asm, 0, nb)).sum()), "ablocks": int((runs * np.where(asm, nb, 0)).sum()),
            "tails": int((runs * (run_len % block)).sum()),
            "words": int(taps.sum()) * wpp, "n_in": n_in, "n_hit": n_hit, "n_miss": int(edge.sum()) - n_hit}


def _block(costs: dict | None) -> int:
    return 1 if costs is None else costs["dense"]["bipolar"].block


def _costs_of(L: _Layer, costs: dict) -> WordCosts:
    return costs["conv" if L.conv else "dense"]["ternary" if L.ternary else "bipolar"]


def features(L: _Layer, plan: O.MstPlan | None) -> dict:
    """The cost model's features of one layer.  The plain kernel (``plan`` None):
    ``base`` once, ``pixel`` per output position, ``valid`` words of the windows (a
    ternary input's nonzero count), and per channel and position a ``row`` with its
    ``run``s, Harley-Seal ``block``s (``ablock``: in the assembly loop) and ``tail`` words.  The MST kernel: the same for the
    roots only (computed in full, by the same feeds), ``layer`` once, ``child`` per child
    and position, and the children's entries, per pixel where evaluated: ``entry``
    (window inside the map, or a dense layer), ``entry_edge`` / ``entry_skip`` (an edge
    pixel, the entry's tap inside / outside the map)."""
    G = L.geo
    n = L.rows.shape[0]
    rows = n
    f = {"base": 1.0, "pixel": G["pixels"], "valid": G["words"]}
    if plan is not None:
        kids = np.nonzero(plan.parent >= 0)[0]
        rows = n - kids.size
        x = L.rows[kids] ^ L.rows[plan.parent[kids]]
        x = np.where(plan.comp[kids][:, None], ~x & L.valid, x)
        touched = (x != 0).astype(np.int64)
        f.update(layer=1.0, child=kids.size * G["pixels"], entry=(touched @ G["n_in"]).sum(),
                 entry_edge=(touched @ G["n_hit"]).sum(), entry_skip=(touched @ G["n_miss"]).sum())
    f.update(row=rows * G["pixels"], block=rows * G["blocks"], ablock=rows * G["ablocks"], tail=rows * G["tails"],
             run=rows * G["runs"])
    return {k: float(v) for k, v in f.items()}


def _dot(c: WordCosts, f: dict) -> float:
    return float(sum(c[k] * v for k, v in f.items()))


def _pair_tables(L: _Layer, wcost: np.ndarray | None = None):
    """[N, N] tables: bits and touched words of the plain (D = w_i != w_j) and the
    complement (D = w_i == w_j) difference sets (with ``wcost``, a cost per row word:
    the touched words weighted by it)."""
    n = L.rows.shape[0]
    bits = np.empty((n, n), np.int64)
    words = np.empty((n, n), np.float64)
    cwords = np.empty((n, n), np.float64)
    wc = np.ones(L.rows.shape[1]) if wcost is None else wcost
    for i in range(n):
        x = L.rows ^ L.rows[i]
        bits[i] = np.bitwise_count(x).sum(axis=1)
        words[i] = (x != 0) @ wc
        cwords[i] = ((~x & L.valid) != 0) @ wc
    return bits, L.k - bits, words, cwords


# ---- tree -----------------------------------------------------------------------------


def prim_bounded(edge: np.ndarray, root_cost: np.ndarray, bound: int | None):
    """Prim's algorithm on channels 0..N-1 plus a virtual root r: ``edge[i, j]`` is the cost
    of computing j from i, ``root_cost[j]`` that of computing j in full (inf: never).
    A channel at depth ``bound`` (roots: depth 0) takes no children.  Returns
    (parent [-1 = root], order of insertion)."""
    n = edge.shape[0]
    parent = np.full(n, -1, np.int64)
    depth = np.zeros(n, np.int64)
    best = root_cost.astype(np.float64).copy()
    best_par = np.full(n, -1, np.int64)
    done = np.zeros(n, bool)
    order = []
    for _ in range(n):
        cand = np.where(done, np.inf, best)
        v = int(np.argmin(cand))
        if not np.isfinite(cand[v]):
            raise BnnccError("internal: the MST depth bound left a channel unreachable")
        done[v] = True
        parent[v] = best_par[v]
        depth[v] = 0 if parent[v] < 0 else depth[parent[v]] + 1
        order.append(v)
        if bound is None or depth[v] < bound:
            better = ~done & (edge[v] < best)
            best[better] = edge[v][better]
            best_par[better] = v
    return parent, np.array(order, np.int64)


def _bfs(parent: np.ndarray, inserted: np.ndarray) -> np.ndarray:
    """Level by level (roots first), in insertion order within a level: parents first."""
    depth = np.zeros(parent.size, np.int64)
    for v in inserted:
        if parent[v] >= 0:
            depth[v] = depth[parent[v]] + 1
    rank = np.empty(parent.size, np.int64)
    rank[inserted] = np.arange(parent.size)
    return np.lexsort((rank, depth)).astype(np.int32)


def build_plan(L: _Layer, mode: str, bound: int | None, complement: bool, costs: dict | None):
    """(MstPlan, per-channel touched words, per-channel |D|) for one layer."""
    bits, cbits, words, cwords = _pair_tables(L)
    if not complement:
        cbits = np.full_like(bits, np.iinfo(np.int64).max // 4)
        cwords = cbits
    n = bits.shape[0]
    if mode == "force" or costs is None:
        # the paper's tree: Hamming weight (fewer words as the tie-break), one centre root
        w_plain = bits + words / (L.rows.shape[1] + 1.0)
        w_comp = cbits + cwords / (L.rows.shape[1] + 1.0)
        use_comp = w_comp < w_plain
        edge = np.where(use_comp, w_comp, w_plain)
        np.fill_diagonal(edge, np.inf)
        root_cost = np.full(n, np.inf)
        root_cost[int(np.argmin(np.where(np.isfinite(edge), edge, 0).sum(axis=1)))] = 0.0
        metric = "bits"
    else:
        c = _costs_of(L, costs)
        G = L.geo
        wcost = c["entry"] * G["n_in"] + c["entry_edge"] * G["n_hit"] + c["entry_skip"] * G["n_miss"]
        _, _, wwords, wcwords = _pair_tables(L, wcost)
        if not complement:
            wcwords = np.full_like(wwords, np.inf)
        c_plain = c["child"] * G["pixels"] + wwords + bits * 1e-6
        c_comp = c["child"] * G["pixels"] + wcwords + cbits * 1e-6
        use_comp = c_comp < c_plain
        edge = np.where(use_comp, c_comp, c_plain)
        np.fill_diagonal(edge, np.inf)
        root_cost = np.full(n, c["row"] * G["pixels"] + c["block"] * G["blocks"] + c["ablock"] * G["ablocks"]
                            + c["tail"] * G["tails"] + c["run"] * G["runs"])
        metric = "cycles"
    parent, inserted = prim_bounded(edge, root_cost, bound)
    kids = parent >= 0
    comp = np.zeros(n, bool)
    comp[kids] = use_comp[parent[kids], np.nonzero(kids)[0]]
    plan = O.MstPlan(order=_bfs(parent, inserted), parent=parent.astype(np.int32), comp=comp, depth=0, metric=metric)
    plan = dataclasses.replace(plan, depth=int(mst_depths(plan).max(initial=0)))
    idx = np.nonzero(kids)[0]
    d_words = np.full(n, L.rows.shape[1], np.int64)
    words, cwords = words.astype(np.int64), np.minimum(cwords, np.iinfo(np.int64).max // 4).astype(np.int64)
    d_bits = np.full(n, L.k, np.int64)
    d_words[idx] = np.where(comp[idx], cwords[parent[idx], idx], words[parent[idx], idx])
    d_bits[idx] = np.where(comp[idx], cbits[parent[idx], idx], bits[parent[idx], idx])
    return plan, d_words, d_bits


def predicted_cycles(L: _Layer, plan: O.MstPlan | None, costs: dict) -> float:
    """Cycles of the layer (its kernel call), per inference, from the word-level model:
    the plain kernel (``plan`` None) or the MST kernel along ``plan``."""
    return _dot(_costs_of(L, costs), features(L, plan))


def pays(L: _Layer, plan: O.MstPlan, costs: dict) -> bool:
    """auto's rule: the plan has children and its predicted cycles are below the plain
    kernel's by more than the model's margin (``WordCosts.margin``, from the fit)."""
    if not (plan.parent >= 0).any():
        return False
    before = predicted_cycles(L, None, costs)
    return predicted_cycles(L, plan, costs) < (1.0 - _costs_of(L, costs).margin) * before


def layer_record(L: _Layer, plan, d_words, d_bits, costs, applied: bool, mode: str) -> dict:
    n, r = L.rows.shape
    kids = plan.parent >= 0
    rec = {
        "mode": mode, "applied": applied, "metric": plan.metric, "depth": plan.depth,
        "roots": int((~kids).sum()), "children": int(kids.sum()), "complement_edges": int(plan.comp.sum()),
        "bit_ops_before": int(L.positions * n * L.k), "bit_ops_after": int(L.positions * d_bits.sum()),
        "words_before": int(L.positions * n * r), "words_after": int(L.positions * d_words.sum()),
        "predicted_cycles_before": None, "predicted_cycles_after": None,
    }
    if costs is not None:
        c = _costs_of(L, costs)
        rec["predicted_cycles_before"] = round(predicted_cycles(L, None, costs), 1)
        rec["predicted_cycles_after"] = round(predicted_cycles(L, plan, costs), 1)
        rec["cost_model"] = c.source
        rec["cost_model_error"], rec["cost_model_margin"] = c.error, c.margin
    if not applied:  # the layer keeps its plain kernel: "after" is "before"; say what was rejected
        keys = ("depth", "roots", "children", "complement_edges", "bit_ops_after", "words_after", "predicted_cycles_after")
        rec["rejected_plan"] = {k: rec[k] for k in keys}
        rec.update(depth=0, roots=n, children=0, complement_edges=0, bit_ops_after=rec["bit_ops_before"],
                   words_after=rec["words_before"], predicted_cycles_after=rec["predicted_cycles_before"])
    return rec


def run(g: Graph, options=None) -> Graph:
    options = options or {}
    mode = options.get("mst") or "off"
    if mode not in MODES:
        raise BnnccError(f"--mst must be one of {', '.join(MODES)}, not '{mode}'")
    if mode == "off":
        return g
    bound = options.get("mst_depth")
    if bound is not None and int(bound) < 1:
        raise BnnccError("--mst-depth must be at least 1")
    fpga = options.get("target_kind") == "fpga"
    costs = cost_model(options)
    ops, records = [], {}
    for index, op in enumerate(g.ops):
        eligible = isinstance(op, (O.Dense, O.Conv2d)) and op.acc in ("dot", "xor_popcount") and op.weight.shape[0] > 1
        if not eligible:
            ops.append(op)
            continue
        if op.packed is None:
            raise BnnccError("internal: mst_reorder runs after pack_bits")
        L = _layer(op, g, _block(costs))
        plan, d_words, d_bits = build_plan(L, mode, bound, bool(options.get("mst_complement", True)),
                                           costs if mode == "auto" else None)
        fig = fpga_costs(options, index, op, g, L, plan, d_bits) if fpga else None
        if mode == "force":
            applied = True
        elif fpga:
            applied = fig["pays"] and bool((plan.parent >= 0).any())
        else:
            applied = costs is not None and pays(L, plan, costs)
        records[op.output] = layer_record(L, plan, d_words, d_bits, costs, applied, mode)
        if fpga:
            records[op.output]["fpga"] = _fpga_record(fig, applied, mode)
        elif mode == "auto" and costs is None:
            records[op.output]["note"] = "no word-level cost model for this target: not applied"
        if op.output in g.meta.get("mst_permute", {}):  # mst_permute_inputs ran first
            records[op.output]["input_permutation"] = g.meta["mst_permute"][op.output]
        ops.append(dataclasses.replace(op, mst=plan) if applied else op)
    return g.replace(ops=tuple(ops), meta={**g.meta, "mst": records})


def _fpga_record(fig: dict, applied: bool, mode: str) -> dict:
    """The FPGA part of a layer's record: as ``layer_record``, "after" is "before" when
    the plan is not applied (the rejected figures are kept)."""
    rec = {k: v for k, v in fig.items() if k not in ("sum_before", "sum_after")}
    rec["applied"] = applied
    if mode == "force" and not fig["unrolled"]:
        rec["why"] = "forced on a folded layer: a constant-weight unit, all channels in parallel (PE = MH)"
    if not applied:
        keys = ("lut_after", "ff_after", "tree_bits_after", "latency_after")
        rec["rejected_plan"] = {k: rec[k] for k in keys}
        rec.update(lut_after=rec["lut_before"], ff_after=rec["ff_before"], tree_bits_after=rec["tree_bits_before"],
                   latency_after=rec["latency_before"])
    else:
        rec["sum_before"], rec["sum_after"] = fig["sum_before"], fig["sum_after"]
    return rec
