"""Pass: permute the input channels of binary layers so that MST difference sets touch
few words (bnncc issue 6, the MCU half of "cluster the differences").

Matches: a *chain* P -> S_1 -> ... -> S_m -> L where L is a binary ``Dense``/``Conv2d``
(``acc`` dot or xor_popcount, more than one output channel: an MST candidate), P is a
``Dense``/``Conv2d`` (any ``acc``) and every S_i is a ``Threshold`` or a ``PoolBits``;
every tensor after P up to L's input has exactly one consumer and is not the graph
output.  Nothing else is legal: a layer fed by ``BinarizeInput`` (the model's input)
keeps its order (see below), and a tensor read twice (or the graph output) would need
every reader permuted.

Identity.  Let C be the channel count of P's output (the last axis of every tensor in
the chain: the IR is channel-last and Threshold/PoolBits keep the shape's channel axis)
and pi a permutation of 0..C-1; the new channel i is the old channel pi[i].  Each op is
channel-wise, so it commutes with relabelling channels when its per-channel data is
relabelled too:

* P: out'[..., i] = out[..., pi[i]] with rows w'_i = w_pi[i] (weight[pi], packed[pi]).
* Threshold: per channel dir/lo/hi[pi]; per element the arrays as [pixels, C][:, pi]
  (constant channels move with their lo = hi = INT32_MIN/MAX).
* PoolBits: a max/min over a window of one channel; is_max[pi].  Padded taps are
  ignored in every channel alike.
* L: a ``Conv2d`` sums over taps and channels, sum_{t,c} a[t, c] w[t, c] =
  sum_{t,i} a'[t, i] w'[t, i] with w' = weight[..., pi] (the same pi at every tap; a
  padded tap is 0 in every channel, so padding and the ternary valid masks stay
  consistent).  A ``Dense`` reading a (H, W, C) map (flatten) indexes its input
  p * C + c, so its columns move blockwise: weight as [N, pixels, C][:, :, pi].
  A ``Dense`` on a vector is the case pixels = 1.
So every tensor between P and L is permuted along its channel axis and L's outputs are
unchanged, exactly (a relabelling of terms of an integer sum).  ``ir.verify`` and
``tests/test_mst.py`` (exhaustive on small graphs, random graphs through host C and the
Cortex-M4 ISS) check it.

The model's input.  ``BinarizeInput`` could permute its output for free in the IR (its
``perm`` is a gather), but the C kernel reads the input with a computed NCHW index
(no table) and the HLS backend and the bench baselines accept only that order; a gather
table would cost a load per input element.  It is out of scope here: first layers keep
their input order (the record says so).

Why it pays.  The MST kernels (``bnn_dense_mst``/``bnn_conv2d_mst``) touch, for a child
j with parent p and difference set D_j, one word per (tap or pixel, 32-bit word) that
holds a bit of D_j.  The order of L's input channels decides which words those are;
the Hamming weights |D_j| and hence the paper's tree do not depend on it.

The objective (stated, deterministic): for L's current plan (``mst_reorder.build_plan``
with the options' mode, depth bound and complement setting), the predicted cycles of
the word-level model ``mst_reorder.predicted_cycles`` (``WordCosts``, the target
file's ``[mst]`` table: a child costs a fixed part plus its touched words), or, for ``--mst force`` on a target without a
calibrated model, the words touched.  The search: the difference sets of the tree's
edges, one set of channels per (child, tap or pixel), form a hypergraph; channels go
to words (blocks of word_bits positions, the last block as large as C leaves it) to
minimise sum over sets of the number of blocks the set touches (the connectivity
objective of hypergraph partitioning).  Start from the better of the identity and
channels sorted by how many sets contain them, then best-improvement swaps between
blocks until none lowers the objective.  The tree depends on the word costs, so this
iterates: rebuild the plan with the new order, optimise for the union of the Hamming
tree's and the new plan's edges, ``ROUNDS`` times, keeping the best order by the
objective.

Options: ``mst_permute`` in {off, auto, force} (default auto; nothing happens when
``mst`` is off or the target is an FPGA, where the popcount is bit-level and order is
irrelevant).  ``auto`` applies pi when the objective with it is below the objective
without it, each taken with the MST plan only where that plan pays (``mst_reorder.pays``:
below the plain kernel by more than the model's margin), so a permuted layer always
carries a plan that clears the margin (with ``--mst force``: below the forced tree
without permutation).  ``force`` applies the best order found whenever it is not
the identity (for tests and measurements).  With ``--mst auto`` and no calibrated
model nothing is permuted.  ``g.meta["mst_permute"]`` gets one record per candidate
layer L (keyed by its output); ``mst_reorder`` copies it into that layer's MST record
as ``input_permutation`` for report.json: ``applied``, ``producer``, ``objective``
(predicted_cycles or words) and its value without/with the best order found
(``objective_unpermuted``/``objective_permuted``), the words touched by the children
of the plan built without/with it (``words_unpermuted``/``words_permuted``, times the
output positions; under auto the permuted plan may take more children, so more words
at fewer cycles), ``permutation`` when applied, or a ``note`` saying why the layer's
inputs cannot be permuted.

Measured (``python bench/mst.py``, Cortex-M4 ISS): it pays where rows differ inside a
subset of positions scattered over the words; on the shared TFC models nothing changes
under auto, and on trained digits MLPs the gain is a few percent of one layer.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import BnnccError
from ..ir import ops as O
from ..ir.graph import Graph
from . import mst_reorder
from .pack_bits import pack

MODES = ("off", "auto", "force")
ROUNDS = 2
MAX_SWEEPS = 12


# ---- legality ----------------------------------------------------------------------------


def _candidate(op) -> bool:
    return isinstance(op, (O.Dense, O.Conv2d)) and op.acc in ("dot", "xor_popcount") and op.weight.shape[0] > 1


def find_chain(g: Graph, k: int):
    """(producer index, [middle op indices], None) for the consumer g.ops[k], or
    (None, [], reason) when its input channels cannot be permuted."""
    prod = {op.output: i for i, op in enumerate(g.ops)}
    uses: dict[str, int] = {}
    for op in g.ops:
        for t in op.inputs:
            uses[t] = uses.get(t, 0) + 1
    mids = []
    t = g.ops[k].inputs[0]
    while True:
        if t == g.input or t not in prod:
            return None, [], "fed by the graph input"
        if uses.get(t, 0) != 1 or t == g.output:
            return None, [], f"tensor '{t}' has another reader"
        i = prod[t]
        op = g.ops[i]
        if isinstance(op, (O.Threshold, O.PoolBits)):
            mids.append(i)
            t = op.inputs[0]
            continue
        if isinstance(op, (O.Dense, O.Conv2d)):
            return i, mids[::-1], None
        if isinstance(op, O.BinarizeInput):
            return None, [], "fed by the input binarization (its order is fixed: out of scope)"
        return None, [], f"fed by {op.kind} '{op.name}'"


# ---- applying a permutation -----------------------------------------------------------------


def _rows(op, pi):
    """A producer with its output channels relabelled: new channel i = old pi[i]."""
    return dataclasses.replace(op, weight=op.weight[pi], packed=None if op.packed is None else op.packed[pi])


def _mid(op, pi, g: Graph):
    if isinstance(op, O.PoolBits):
        return dataclasses.replace(op, is_max=op.is_max[pi])
    if op.per == "channel":
        return dataclasses.replace(op, dir=op.dir[pi], lo=op.lo[pi], hi=op.hi[pi])
    c = pi.size
    return dataclasses.replace(op, **{f: getattr(op, f).reshape(-1, c)[:, pi].reshape(-1) for f in ("dir", "lo", "hi")})


def _cols(op, pi, g: Graph):
    """A consumer with its input channels relabelled (and repacked as pack_bits does)."""
    a = g.tensors[op.inputs[0]]
    if isinstance(op, O.Dense):
        n = op.weight.shape[0]
        w = op.weight.reshape(n, a.pixels, a.channels)[:, :, pi]
        packed = None if op.packed is None else pack(w, a.word_bits).reshape(n, -1)
        return dataclasses.replace(op, weight=w.reshape(n, -1), packed=packed)
    w = op.weight[..., pi]
    return dataclasses.replace(op, weight=w, packed=None if op.packed is None else pack(w, a.word_bits))


def permute(g: Graph, k: int, pi: np.ndarray) -> Graph:
    """``g`` with the input channels of consumer g.ops[k] relabelled by ``pi`` along its
    whole chain (the identity in the module docstring); raises if the chain is illegal."""
    p, mids, why = find_chain(g, k)
    if p is None:
        raise BnnccError(f"internal: cannot permute the inputs of '{g.ops[k].name}': {why}")
    pi = np.asarray(pi, np.int64)
    if not np.array_equal(np.sort(pi), np.arange(g.tensors[g.ops[k].inputs[0]].channels)):
        raise BnnccError("internal: not a permutation of the channels")
    ops = list(g.ops)
    ops[p] = _rows(ops[p], pi)
    for i in mids:
        ops[i] = _mid(ops[i], pi, g)
    ops[k] = _cols(ops[k], pi, g)
    return g.replace(ops=tuple(ops))


# ---- the objective ----------------------------------------------------------------------


def _blocks(op, g: Graph):
    """Weight as int8 [N, B, C]: B blocks (taps or pixels) of the C permutable channels."""
    a = g.tensors[op.inputs[0]]
    n = op.weight.shape[0]
    if isinstance(op, O.Dense):
        return op.weight.reshape(n, a.pixels, a.channels)
    return op.weight.reshape(n, -1, op.weight.shape[-1])


def evaluate(op, g: Graph, options: dict, costs):
    """(objective, plan, d_words) of consumer ``op`` under the options' MST mode:
    predicted cycles with the plan applied only where it pays (``mst_reorder.pays``:
    by more than the model's margin),
    or words touched when there is no cost model."""
    L = mst_reorder._layer(op, g, mst_reorder._block(costs))
    mode = options.get("mst")
    plan, d_words, _ = mst_reorder.build_plan(L, mode, options.get("mst_depth"), bool(options.get("mst_complement", True)),
                                              costs if mode == "auto" else None)
    kids = plan.parent >= 0
    if costs is None:
        return float(d_words[kids].sum()), plan, d_words, L
    off = mst_reorder.predicted_cycles(L, None, costs)
    with_plan = mst_reorder.predicted_cycles(L, plan, costs)
    applied = mode == "force" or mst_reorder.pays(L, plan, costs)
    return (with_plan if applied else off), plan, d_words, L


def _sets(w3: np.ndarray, plans) -> np.ndarray:
    """bool [m, C]: one difference set per (child edge, block) of the given plans, nonempty only."""
    out = []
    seen = set()
    for plan in plans:
        for j in np.nonzero(plan.parent >= 0)[0]:
            p = int(plan.parent[j])
            key = (int(j), p, bool(plan.comp[j]))
            if key in seen:
                continue
            seen.add(key)
            d = (w3[j] == w3[p]) if plan.comp[j] else (w3[j] != w3[p])
            out.append(d)
    if not out:
        return np.zeros((0, w3.shape[2]), bool)
    s = np.concatenate(out, axis=0)
    return s[s.any(axis=1)]


def _cost(A: np.ndarray, blk: np.ndarray, nb: int) -> int:
    cnt = np.zeros((A.shape[0], nb), np.int64)
    for b in range(nb):
        cnt[:, b] = A[:, blk == b].sum(axis=1)
    return int((cnt > 0).sum())


def partition(A: np.ndarray, wb: int) -> np.ndarray:
    """Block (word) of every channel minimising sum_h #blocks touched by set h (rows of
    A): the better start of identity / by frequency, then best-improvement swaps."""
    m, c = A.shape
    nb = -(-c // wb)
    ident = np.arange(c) // wb
    if m == 0 or nb == 1:
        return ident
    freq = A.sum(axis=0)
    by_freq = np.empty(c, np.int64)
    by_freq[np.argsort(-freq, kind="stable")] = np.arange(c) // wb
    blk = min((ident, by_freq), key=lambda b: _cost(A, b, nb))
    Ai = A.astype(np.int64)
    X = 1 - Ai
    cnt = np.stack([Ai[:, blk == b].sum(axis=1) for b in range(nb)], axis=1)
    for _ in range(MAX_SWEEPS):
        improved = False
        for ch in range(c):
            a = blk[ch]
            E0, E1 = (cnt == 0).astype(np.int64), (cnt == 1).astype(np.int64)
            G0, G1 = E0[:, blk], E1[:, blk]
            u = Ai[:, ch]
            # sets holding ch but not d: ch leaves a, joins blk[d]; sets holding d but not ch: the reverse
            t1 = -(u * E1[:, a]) @ X + u @ (X * G0)
            t2 = ((1 - u)[:, None] * Ai * (E0[:, a][:, None] - G1)).sum(axis=0)
            delta = t1 + t2
            delta[blk == a] = 0
            d = int(np.argmin(delta))
            if delta[d] < 0:
                b = blk[d]
                only_c = (u == 1) & (Ai[:, d] == 0)
                only_d = (u == 0) & (Ai[:, d] == 1)
                cnt[only_c, a] -= 1
                cnt[only_c, b] += 1
                cnt[only_d, b] -= 1
                cnt[only_d, a] += 1
                blk[ch], blk[d] = b, a
                improved = True
        if not improved:
            break
    return blk


def choose(op, g: Graph, options: dict, costs):
    """(the best order found, its objective, the identity's objective) for consumer ``op``
    (the best order may be the identity or cost more than it: the caller decides)."""
    wb = g.tensors[op.inputs[0]].word_bits
    base, plan0, _, _ = evaluate(op, g, options, costs)
    w3 = _blocks(op, g)
    c = w3.shape[2]
    # the paper's tree (Hamming weights: independent of the order) seeds the search
    _, hamming, _, _ = evaluate(op, g, {**options, "mst": "force"}, None)
    best_pi, best = None, np.inf
    plans = [hamming, plan0]
    for _ in range(ROUNDS):
        # plans relabel no rows, so the sets stay in the original channel numbering
        blk = partition(_sets(w3, plans), wb)
        pi = np.lexsort((np.arange(c), blk))
        obj, plan, _, _ = evaluate(_cols(op, pi, g), g, options, costs)
        if obj < best:
            best_pi, best = pi, obj
        plans = [hamming, plan]
    return best_pi, best, base


# ---- the pass -----------------------------------------------------------------------------


def run(g: Graph, options=None) -> Graph:
    options = options or {}
    mode = options.get("mst_permute") or "auto"
    if mode not in MODES:
        raise BnnccError(f"--mst-permute must be one of {', '.join(MODES)}, not '{mode}'")
    mst = options.get("mst") or "off"
    if mode == "off" or mst == "off" or options.get("target_kind") == "fpga":
        return g
    costs = mst_reorder.cost_model(options)
    if mst == "auto" and costs is None:
        return g
    records = {}
    for k in range(len(g.ops)):
        op = g.ops[k]
        if not _candidate(op):
            continue
        if op.packed is None:
            raise BnnccError("internal: mst_permute_inputs runs after pack_bits")
        p, _, why = find_chain(g, k)
        a = g.tensors[op.inputs[0]]
        rec = {"mode": mode, "applied": False, "channels": int(a.channels), "objective": "predicted_cycles" if costs else "words"}
        if p is None:
            rec["note"] = f"not permuted: {why}"
            records[op.output] = rec
            continue
        pi, best, base = choose(op, g, options, costs)
        identity = bool(np.array_equal(pi, np.arange(pi.size)))
        cand = g if identity else permute(g, k, pi)
        _, plan0, dw0, L0 = evaluate(op, g, options, costs)
        _, plan1, dw1, _ = evaluate(cand.ops[k], cand, options, costs)
        apply = not identity and (best < base or mode == "force")
        rec.update(applied=apply, producer=g.ops[p].name,
                   words_unpermuted=int(L0.positions * dw0[plan0.parent >= 0].sum()),
                   words_permuted=int(L0.positions * dw1[plan1.parent >= 0].sum()),
                   objective_unpermuted=round(float(base), 1), objective_permuted=round(float(best), 1))
        if apply:
            rec["permutation"] = [int(v) for v in pi]
            g = cand
        records[op.output] = rec
    return g.replace(meta={**g.meta, "mst_permute": records})
