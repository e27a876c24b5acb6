"""MST channel reordering (bnncc/passes/mst_reorder.py): the identity, exhaustively on
small sizes; the tree builder; the interpreter's tree evaluation; the C kernels (host,
and the Cortex-M4 ISS in the slow set) bit-exact against onnxruntime."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy.sparse.csgraph import minimum_spanning_tree

from bnncc.ir import interp
from bnncc.ir import ops as O
from bnncc.ir.graph import mst_depths
from bnncc.passes import mst_reorder

pc = np.bitwise_count


# ---- the identity, exhaustively ----------------------------------------------------


def _all_pairs(k):
    """Every (w_i, w_j) pair of k-bit words, as two flat uint32 arrays."""
    wi, wj = np.meshgrid(np.arange(1 << k, dtype=np.uint32), np.arange(1 << k, dtype=np.uint32), indexing="ij")
    return wi.reshape(-1), wj.reshape(-1)


@pytest.mark.parametrize("k", range(1, 8))
def test_identity_bipolar_exhaustive(k):
    """P_j = P_i + |D| - 2 popcount(XNOR(a, w_i) & D), every a, w_i, w_j in {-1,+1}^k
    (bit 1 = +1), and the same in the kernels' q = popcount(a XOR w) form, for plain
    and complement edges."""
    full = np.uint32((1 << k) - 1)
    wi, wj = _all_pairs(k)
    for a in np.arange(1 << k, dtype=np.uint32):
        P_i, P_j = pc(~(a ^ wi) & full), pc(~(a ^ wj) & full)
        D = wi ^ wj
        assert np.array_equal(P_j, P_i + pc(D) - 2 * pc(~(a ^ wi) & full & D))
        q_i, q_j = pc(a ^ wi), pc(a ^ wj)
        assert np.array_equal(q_j, q_i + pc(D) - 2 * pc((a ^ wi) & D))
        Dc = ~(wi ^ wj) & full   # complement edge: D = where w_j == w_i
        assert np.array_equal(q_j, k - q_i - pc(Dc) + 2 * pc((a ^ wi) & Dc))


@pytest.mark.parametrize("k", range(1, 7))
def test_identity_ternary_exhaustive(k):
    """Inputs in {-1, 0, +1}^k (value plane v, nonzero plane nz, v a subset of nz): with
    q = popcount((a ^ w) & nz), q_j = q_i + |D&nz| - 2 popcount((a ^ w_i) & D & nz) and
    the complement form; dot = |nz| - 2q equals the true dot product."""
    full = (1 << k) - 1
    wi, wj = _all_pairs(k)
    bits = np.arange(k)
    wi_pm = np.where((wi[:, None] >> bits) & 1, 1, -1)
    wj_pm = np.where((wj[:, None] >> bits) & 1, 1, -1)
    for nz in range(1 << k):
        for v in range(1 << k):
            if v & ~nz:
                continue
            a_pm = np.where((v >> bits) & 1, 1, -1) * ((nz >> bits) & 1)
            nzu, vu = np.uint32(nz), np.uint32(v)
            q_i, q_j = pc((vu ^ wi) & nzu), pc((vu ^ wj) & nzu)
            assert np.array_equal(pc(nzu) - 2 * q_j.astype(np.int64), wj_pm @ a_pm)
            D = wi ^ wj
            assert np.array_equal(q_j, q_i + pc(D & nzu) - 2 * pc((vu ^ wi) & D & nzu))
            Dc = ~(wi ^ wj) & np.uint32(full)
            assert np.array_equal(q_j.astype(np.int64), pc(nzu) - q_i.astype(np.int64) - pc(Dc & nzu)
                                  + 2 * pc((vu ^ wi) & Dc & nzu))
            # the dot form the interpreter uses: dot_j = s (dot_i - 2 sum_D a w_i)
            dot_i = wi_pm @ a_pm
            d = wi_pm != wj_pm
            assert np.array_equal(wj_pm @ a_pm, dot_i - 2 * (wi_pm * d) @ a_pm)
            assert np.array_equal(wj_pm @ a_pm, -(dot_i - 2 * (wi_pm * ~d) @ a_pm))


# ---- trees ------------------------------------------------------------------------------


def _random_plan(rng, n):
    """Any tree works for exactness: random parents earlier in a random order, random
    complement flags (the identity holds for every pair of rows)."""
    order = rng.permutation(n).astype(np.int32)
    parent = np.full(n, -1, np.int32)
    for t in range(1, n):
        if rng.random() < 0.85:
            parent[order[t]] = order[rng.integers(0, t)]
    comp = (parent >= 0) & (rng.random(n) < 0.5)
    plan = O.MstPlan(order=order, parent=parent, comp=comp, depth=0)
    return dataclasses.replace(plan, depth=int(mst_depths(plan).max(initial=0)))


@pytest.mark.parametrize("seed", range(20))
def test_interp_tree_equals_direct(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(2, 12)), int(rng.integers(1, 40))
    w = rng.choice(np.array([-1, 1], np.int8), size=(n, k))
    a = rng.choice(np.array([-1, 0, 1], np.int8), size=k)
    for acc in ("dot", "xor_popcount"):
        if acc == "xor_popcount":
            a = np.where(a == 0, 1, a).astype(np.int8)
        op = O.Dense("d", ("a",), "y", weight=w, acc=acc)
        want = interp.dense(op, a)
        got = interp.dense(dataclasses.replace(op, mst=_random_plan(rng, n)), a)
        assert np.array_equal(got, want)
    co, kh, kw, ci = int(rng.integers(2, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 5))
    cw = rng.choice(np.array([-1, 1], np.int8), size=(co, kh, kw, ci))
    x = rng.choice(np.array([-1, 0, 1], np.int8), size=(5, 6, ci))
    op = O.Conv2d("c", ("x",), "y", weight=cw, strides=(1, 2), pads=(1, 0, 1, 1), dilations=(1, 1))
    assert np.array_equal(interp.conv2d(dataclasses.replace(op, mst=_random_plan(rng, co)), x), interp.conv2d(op, x))


def _tree_weight(parent, edge):
    kids = np.nonzero(parent >= 0)[0]
    return edge[parent[kids], kids].sum()


@pytest.mark.parametrize("seed", range(5))
def test_prim_unbounded_is_the_mst_and_the_bound_holds(seed):
    rng = np.random.default_rng(seed)
    n = 24
    w = rng.choice([-1, 1], size=(n, 50))
    d = ((50 - w @ w.T) // 2).astype(float)
    np.fill_diagonal(d, np.inf)
    root = np.full(n, np.inf)
    root[0] = 0
    parent, order = mst_reorder.prim_bounded(d, root, None)
    dd = np.where(np.isfinite(d), d + 1e-9, 0)  # scipy drops zero edges; none here but keep it honest
    assert _tree_weight(parent, d) == pytest.approx(minimum_spanning_tree(dd).sum(), abs=1e-6)
    for bound in (1, 2, 3):
        parent_b, order_b = mst_reorder.prim_bounded(d, root, bound)
        plan = O.MstPlan(order=mst_reorder._bfs(parent_b, order_b), parent=parent_b.astype(np.int32),
                         comp=np.zeros(n, bool), depth=0)
        assert mst_depths(plan).max() <= bound
        assert _tree_weight(parent_b, d) >= _tree_weight(parent, d)


# ---- whole models -----------------------------------------------------------------------

SHARED_MODELS = [("finn_tfc_w1a1", "models/finn_tfc_w1a1/model.onnx"),
                 ("qonnx_tfc_w1a1", "models/qonnx_tfc_w1a1/TFC_1W1A.onnx")]


@pytest.mark.parametrize("name,rel", SHARED_MODELS)
def test_force_on_shared_models_host(shared, name, rel):
    from bnncc.api import compile_model, load_inputs, verify

    x, golden = load_inputs(shared / "golden" / f"{name}_mnist100.npz")
    res = verify(shared / rel, "host", inputs=x, golden=golden, options={"mst": "force"})
    assert res["bit_exact"] and res["golden_argmax_match"] == len(x)
    _, files = compile_model(shared / rel, "cortex-m4", options={"mst": "force", "mst_depth": 4})
    assert "bnn_dense_mst(" in files["model.c"]
    rep = json.loads(files["report.json"])
    dense = [r for r in rep["layers"] if r["op"] == "Dense"]
    assert all(r["mst"]["applied"] and r["mst"]["depth"] <= 4 for r in dense)
    assert rep["totals"]["bops_after"] < rep["totals"]["bops_before"] / 2


def test_auto_needs_a_gain(shared):
    """On the shared TFC models every child touches as many 32-bit words as a full row
    (the difference sets are spread over all words), so auto applies nothing on M4."""
    from bnncc.compiler import lower
    from bnncc.targets import load_target

    c = lower(shared / SHARED_MODELS[0][1], load_target("cortex-m4"), options={"mst": "auto"})
    assert all(getattr(op, "mst", None) is None for op in c.graph.ops)
    recs = c.graph.meta["mst"]
    assert recs and not any(r["applied"] for r in recs.values())


def test_pass_is_a_noop_when_off(shared):
    from bnncc.compiler import lower
    from bnncc.targets import load_target

    c = lower(shared / SHARED_MODELS[0][1], load_target("host"))
    assert "mst" not in c.graph.meta and all(getattr(op, "mst", None) is None for op in c.graph.ops)


def test_pass_is_pure_and_the_ir_dump_shows_the_plan(shared):
    from bnncc.compiler import lower
    from bnncc.ir import dump, verify
    from bnncc.targets import load_target

    g = lower(shared / SHARED_MODELS[0][1], load_target("cortex-m4")).graph
    before = dump(g)
    out = verify(mst_reorder.run(g, {"mst": "force", "mst_depth": 3, "core": "cortex-m4"}))
    assert dump(g) == before and "mst" not in g.meta
    text = dump(out)
    assert text.count("mst=(metric=bits, roots=1, depth=") == 4
    assert all(op.mst.depth <= 3 for op in out.ops if isinstance(op, O.Dense))
    with pytest.raises(Exception, match="mst"):
        mst_reorder.run(g, {"mst": "sometimes"})


@pytest.mark.parametrize("seed,kind,dialect", [(0, "dense", "onnx"), (1, "conv", "onnx"), (2, "dense", "qonnx"),
                                               (3, "conv", "finn"), (4, "dense", "mixed"), (5, "conv", "mixed"),
                                               (6, "conv", "onnx"), (7, "dense", "onnx")])
def test_force_random_graphs_host(seed, kind, dialect):
    from bnn_models import random_bnn

    from bnncc.api import verify

    case = random_bnn(np.random.default_rng(seed), kind, dialect)
    for depth in (None, 1):
        res = verify(case.model, "host", inputs=case.inputs, options={"mst": "force", "mst_depth": depth},
                     extra_flags=("-fsanitize=address,undefined", "-fno-sanitize-recover=all"))
        assert res["bit_exact"], (case.description, res)


@pytest.mark.slow
@pytest.mark.parametrize("name,rel", SHARED_MODELS)
def test_force_on_shared_models_cortex_m4(shared, name, rel):
    from bnncc.api import load_inputs, verify

    x, golden = load_inputs(shared / "golden" / f"{name}_mnist100.npz")
    res = verify(shared / rel, "cortex-m4", inputs=x[:20], options={"mst": "force"})
    assert res["bit_exact"]


@pytest.mark.slow
@pytest.mark.parametrize("seed,kind", [(1, "conv"), (4, "dense"), (5, "conv")])
def test_force_random_graphs_cortex_m4(seed, kind):
    from bnn_models import random_bnn

    from bnncc.api import verify

    case = random_bnn(np.random.default_rng(seed), kind, "mixed")
    res = verify(case.model, "cortex-m4", inputs=case.inputs, options={"mst": "force"})
    assert res["bit_exact"], (case.description, res)


def _bench():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import bench.mst

    return bench.mst


def _model_check_case(case: str):
    """Small layers for the cost-model check: (model, what)."""
    b = _bench()
    rng = np.random.default_rng(3)
    if case == "dense_clustered":
        return b.net([("dense", b.clustered_rows(rng, 32, 512, 4, 0.01, True).T),
                      ("dense", b.random_rows(rng, 10, 32).T)], (1, 512))
    if case == "dense_random_ternary":
        return b.net([("dense", b.random_rows(rng, 24, 96).T), ("dense", b.clustered_rows(rng, 16, 24, 2, 0.05, False).T)],
                     (1, 96), "Sign")
    if case == "conv_padded_ternary":   # the digits CNN's first layer: 8x8x1, 3x3, pad 1
        w = b.clustered_rows(rng, 16, 9, 3, 0.12, True).reshape(16, 1, 3, 3)
        return b.net([("conv", w, 1, 1)], (1, 1, 8, 8), "Sign")
    if case == "conv_clustered":
        w = b.clustered_rows(rng, 24, 8 * 9, 3, 0.02, True).reshape(24, 8, 3, 3)
        w2 = b.random_rows(rng, 8, 24 * 9).reshape(8, 24, 3, 3)
        return b.net([("conv", w, 1, 0), ("conv", w2, 2, 1)], (1, 8, 7, 7))
    raise AssertionError(case)


def _check_model_against_iss(case: str):
    """Per MST layer: predicted cycles off (and forced) within the stated error of the ISS
    layer cycles; auto's ISS total never above off's."""
    r = _bench().measure(_model_check_case(case), None, 1, permute=False)
    assert r["layers"]
    for L in r["layers"]:
        rec_err = L["model_error"]
        for pred, iss in ((L["predicted_off"], L["cycles_off"]), (L["predicted_force"], L["cycles_force"]),
                          (L["predicted_auto"], L["cycles_auto"])):
            assert abs(pred - iss) <= rec_err * iss, (case, L["name"], pred, iss, rec_err)
    t = r["total_cycles"]
    assert t["auto"] <= t["off"], (case, t)
    return r


@pytest.mark.parametrize("case", ["dense_clustered", "conv_padded_ternary"])
def test_cost_model_tracks_the_iss_and_auto_never_loses(case):
    """The calibrated cortex-m4 [mst] table: predicted before/after within its stated
    error of the ISS, and auto never slower than off (a dense and a padded ternary conv)."""
    r = _check_model_against_iss(case)
    if case == "dense_clustered":   # rows differing in one contiguous run: auto applies and pays
        L = r["layers"][0]
        assert L["auto_applied"] and L["cycles_auto"] < 0.7 * L["cycles_off"]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["dense_random_ternary", "conv_clustered"])
def test_cost_model_tracks_the_iss_sweep(case):
    _check_model_against_iss(case)


def test_mst_table_is_data_in_the_core_files():
    """Each calibrated core's [mst] table: dense and conv, bipolar and ternary, with an
    error and a margin; board files inherit it; auto uses it through the compiler."""
    from bnncc.targets import load_target

    for core in ("cortex-m4", "cortex-m7", "cortex-m0plus"):
        c = mst_reorder.costs_from_table(load_target(core).extra["mst"])
        for kind in ("dense", "conv"):
            for inp in ("bipolar", "ternary"):
                w = c[kind][inp]
                assert 0 < w.error < 0.25 and 0 <= w.margin < 0.3 and w["child"] > 0 and w.source
    assert load_target("stm32f407").extra["mst"] == load_target("cortex-m4").extra["mst"]
    assert load_target("rp2040").extra["mst"] == load_target("cortex-m0plus").extra["mst"]
    assert mst_reorder.cost_model({"core": "host", "mst_costs": None}) is None


# ---- FPGA: the bit-level cost model (hw_sim.fpga.mst) and the auto decision ---------------

UNROLLED_TFC = {1: (64, 784), 3: (64, 64), 5: (64, 64), 7: (10, 64)}


def test_fpga_unit_model_by_hand():
    """A 3-channel chain on K = 8 bipolar inputs, one threshold step: root 8 bits,
    child 1 with |D| = 2 (plain), child 2 of child 1 with |D| = 1."""
    from hw_sim.fpga import mst as fm
    from hw_sim.fpga.resources import MVAU_C0, MVAU_C1

    u = fm.unit(8, 3, 1, 1, parent=[-1, 0, 1], d_bits=[8, 2, 1], order=[0, 1, 2])
    acc = 4  # ceil(log2(8 + 1))
    root = 2 * (2 * 8 - 1) + acc + acc           # tree + accumulator + one comparator
    assert u.sum_before == 3 * root
    assert u.sum_after == root + (2 * 3 + acc + acc) + (2 * 1 + acc + acc)
    assert (u.tree_bits_before, u.tree_bits_after) == (24, 11)
    assert u.luts("after") == MVAU_C0 + MVAU_C1 * u.sum_after
    # latency: tree over 8 bits = 3 levels = 2 stages; children chain 1 adder stage each
    assert (u.latency_before, u.latency_after) == (1 + 2 + 1, 1 + 4 + 1)
    assert fm.tree(0, 1) == 0 and fm.tree(5, 2) == 3 * 9 and fm.stages(1) == 0 and fm.stages(64) == 3


def test_fpga_auto_applies_only_on_unrolled_layers(shared):
    from bnncc.compiler import lower
    from bnncc.targets import load_target

    fold = {**UNROLLED_TFC, 5: (4, 64)}
    c = lower(shared / SHARED_MODELS[1][1], load_target("pynq-z2"), options={"mst": "auto", "fold": fold})
    ops = c.graph.ops
    recs = c.graph.meta["mst"]
    for k in (1, 3, 7):
        f = recs[ops[k].output]["fpga"]
        assert ops[k].mst is not None and f["applied"] and f["unrolled"]
        assert f["lut_after"] < f["lut_before"] and f["tree_bits_after"] < f["tree_bits_before"]
        assert f["latency_after"] > f["latency_before"]   # the chain costs pipeline latency
    f = recs[ops[5].output]["fpga"]
    assert ops[5].mst is None and not f["applied"] and not f["unrolled"] and f["why"].startswith("folded")
    assert f["lut_after"] == f["lut_before"] and f["rejected_plan"]["lut_after"] < f["lut_before"]
    # no folding given: every layer is folded (1x1), nothing applied
    c = lower(shared / SHARED_MODELS[1][1], load_target("pynq-z2"), options={"mst": "auto"})
    assert all(getattr(op, "mst", None) is None for op in c.graph.ops)
    # the depth bound caps the extra latency
    c = lower(shared / SHARED_MODELS[1][1], load_target("pynq-z2"),
              options={"mst": "auto", "fold": UNROLLED_TFC, "mst_depth": 2})
    for r in c.graph.meta["mst"].values():
        assert r["depth"] <= 2 and r["fpga"]["latency_after"] <= r["fpga"]["latency_before"] + 2


def test_fpga_auto_rejects_a_plan_whose_adders_cost_more():
    """Two channels w and -w with complement edges off: the child's difference set is
    all K bits, so its tree is as big as a root's plus an adder: auto keeps the layer."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.mst import mlp, random_rows

    from bnncc.compiler import lower
    from bnncc.targets import load_target

    w = random_rows(np.random.default_rng(0), 1, 64)[0]
    model = mlp([np.stack([w, -w]).T.astype(np.float32), random_rows(np.random.default_rng(1), 3, 2).T])
    t = load_target("pynq-z2")
    first = next(k for k, op in enumerate(lower(model, t).graph.ops) if isinstance(op, O.Dense))
    for complement, applied in ((False, False), (True, True)):
        c = lower(model, t, options={"mst": "auto", "fold": {first: (2, 64)}, "mst_complement": complement})
        f = c.graph.meta["mst"][c.graph.ops[first].output]["fpga"]
        assert f["unrolled"] and f["applied"] is applied, f
        assert (c.graph.ops[first].mst is not None) is applied
    assert "adders cost more" in lower(model, t, options={"mst": "auto", "fold": {first: (2, 64)},
                                                          "mst_complement": False}).graph.meta["mst"][
        c.graph.ops[first].output]["fpga"]["why"]


def test_fpga_resources_count_the_mst_delta():
    """An unrolled MST stage = the MVAU's figure + c1 (after - before); forced on a folded
    layer it is the constant-weight unit's own figure.  Cycles are the MVAU's at PE = MH."""
    from hw_sim.fpga import cycles as C
    from hw_sim.fpga import mst as fm
    from hw_sim.fpga import resources as R

    u = fm.unit(64, 8, 1, 1, parent=[-1, 0, 0, 1, 1, 2, 2, 3], d_bits=[64, 5, 7, 3, 9, 2, 4, 6],
                order=list(range(8)))
    kw = dict(mh=8, mw=64, pe=8, simd=64, thresholds=1, mst_sum_before=u.sum_before, mst_sum_after=u.sum_after,
              mst_ff_before=u.ff_before, mst_ff_after=u.ff_after)
    s = C.MstMvau("l", 0, unrolled=True, **kw)
    base = R.stage(C.Mvau("l", 0, mh=8, mw=64, pe=8, simd=64, thresholds=1))
    got = R.stage(s)
    assert got.lut == pytest.approx(base.lut + R.MVAU_C1 * (u.sum_after - u.sum_before))
    assert got.lut < base.lut and s.cycles() == 1
    folded = C.MstMvau("l", 0, unrolled=False, **{**kw, "simd": 8})
    assert R.stage(folded).lut == pytest.approx(u.luts("after")) and folded.cycles() == 8
    with pytest.raises(ValueError, match="PE = MH"):
        C.MstMvau("l", 0, **{**kw, "pe": 4})


def test_simulate_fpga_mst_table_and_totals(shared):
    import subprocess
    import sys

    model = str(shared / SHARED_MODELS[1][1])
    spec = ",".join(f"{k}={v[0]}x{v[1]}" for k, v in UNROLLED_TFC.items())
    run = subprocess.run([sys.executable, "-m", "bnncc.cli", "simulate", model, "-t", "pynq-z2", "--fold", spec,
                          "--mst", "auto", "--mst-depth", "3", "--json"], capture_output=True, text=True)
    res = json.loads(run.stdout)
    rows = res["mst_layers"]
    assert [r["index"] for r in rows] == [1, 3, 5, 7] and all(r["applied"] for r in rows)
    assert res["luts"] < res["luts_without_mst"]
    saved = sum(r["stage_lut_before"] - r["stage_lut_after"] for r in rows)
    assert saved > 0 and abs((res["luts_without_mst"] - res["luts"]) - saved) <= 0.05 * saved  # FIFOs may move
    for r in rows:
        assert r["stage_cycles_after"] == r["stage_cycles_before"] == 1   # II unchanged: one pixel per cycle
    assert res["mst_latency_cycles"] == sum(r["fpga"]["latency_after"] - r["fpga"]["latency_before"] for r in rows)
    run = subprocess.run([sys.executable, "-m", "bnncc.cli", "simulate", model, "-t", "pynq-z2", "--fold", spec,
                          "--mst", "auto"], capture_output=True, text=True)
    assert "MST per layer" in run.stdout and "unit LUT" in run.stdout and "LUT without MST" in run.stdout, run.stdout



# ---- input-channel permutation (bnncc/passes/mst_permute_inputs.py) -------------------

import itertools  # noqa: E402

from bnncc.ir.graph import Graph, verify as verify_ir  # noqa: E402
from bnncc.ir.types import DType, TensorType  # noqa: E402
from bnncc.passes import mst_permute_inputs  # noqa: E402
from bnncc.passes.pack_bits import run as pack_run  # noqa: E402


def _tiny_graph(rng, in_shape, producer, mids, consumer):
    """input f32 -> BinarizeInput (ternary: x = 0 gives 0) -> producer -> mids -> consumer,
    the consumer's int32 accumulator being the graph output.  ``mids``: a list of
    "thr", "thr_elem" (per-element thresholds) or "pool"."""
    t = {"x": TensorType(in_shape, DType.FLOAT32), "a": TensorType(in_shape, DType.TERNARY)}
    n = int(np.prod(in_shape))
    c_in = in_shape[-1]
    p_hw = int(np.prod(in_shape[:-1]))
    std = (np.arange(c_in)[None, :] * p_hw + np.arange(p_hw)[:, None]).reshape(-1)
    ops = [O.BinarizeInput("bin", ("x",), "a", dir=np.ones(n, np.int8), lo=np.full(n, -0.5, np.float32),
                           hi=np.full(n, 0.5, np.float32), const=np.zeros(n, np.int8), perm=std)]
    kind, cout, *geo = producer
    if kind == "dense":
        ops.append(O.Dense("P", ("a",), "p", weight=rng.choice(np.array([-1, 1], np.int8), size=(cout, n))))
        t["p"] = TensorType((cout,), DType.INT32)
    else:
        kh, kw, pads = geo
        ops.append(O.Conv2d("P", ("a",), "p", weight=rng.choice(np.array([-1, 1], np.int8), size=(cout, kh, kw, c_in)),
                            pads=pads))
        from bnncc.ir.graph import conv_out_hw
        oh, ow = conv_out_hw(in_shape[0], in_shape[1], (kh, kw), (1, 1), pads, (1, 1), False)
        t["p"] = TensorType((oh, ow, cout), DType.INT32)
    cur = "p"
    for i, m in enumerate(mids):
        shp = t[cur].shape
        name = f"m{i}"
        if m in ("thr", "thr_elem"):
            cnt = cout if m == "thr" else int(np.prod(shp))
            lo = rng.integers(-3, 2, size=cnt).astype(np.int32)
            hi = lo + rng.integers(0, 3, size=cnt).astype(np.int32)
            lo[:1] = hi[:1] = np.iinfo(np.int32).min  # a constant channel
            ops.append(O.Threshold(name, (cur,), name, dir=rng.choice(np.array([-1, 1], np.int8), size=cnt),
                                   lo=lo, hi=hi, per="channel" if m == "thr" else "element"))
            t[name] = TensorType(shp, DType.TERNARY)
        else:
            from bnncc.ir.graph import conv_out_hw
            oh, ow = conv_out_hw(shp[0], shp[1], (2, 2), (1, 1), (0, 0, 1, 1), (1, 1), False)
            ops.append(O.PoolBits(name, (cur,), name, kernel=(2, 2), strides=(1, 1), pads=(0, 0, 1, 1),
                                  is_max=rng.random(cout) < 0.5))
            t[name] = TensorType((oh, ow, cout), DType.TERNARY)
        cur = name
    kind, n_out, *geo = consumer
    if kind == "dense":
        ops.append(O.Dense("L", (cur,), "y", weight=rng.choice(np.array([-1, 1], np.int8), size=(n_out, t[cur].numel))))
        t["y"] = TensorType((n_out,), DType.INT32)
    else:
        from bnncc.ir.graph import conv_out_hw
        kh, kw, pads = geo
        shp = t[cur].shape
        ops.append(O.Conv2d("L", (cur,), "y", weight=rng.choice(np.array([-1, 1], np.int8), size=(n_out, kh, kw, cout)),
                            pads=pads))
        oh, ow = conv_out_hw(shp[0], shp[1], (kh, kw), (1, 1), pads, (1, 1), False)
        t["y"] = TensorType((oh, ow, n_out), DType.INT32)
    g = Graph("tiny", "x", "y", t, tuple(ops), (1,) + tuple(in_shape), (1,) + t["y"].shape)
    return pack_run(verify_ir(g), {"word_bits": 32})


def _check_all_perms(g, xs):
    k = len(g.ops) - 1
    want = [interp.run(g, x) for x in xs]
    c = g.tensors[g.ops[k].inputs[0]].channels
    n_perm = 0
    for pi in itertools.permutations(range(c)):
        h = verify_ir(mst_permute_inputs.permute(g, k, np.array(pi)))
        assert all(np.array_equal(interp.run(h, x), w) for x, w in zip(xs, want)), pi
        n_perm += 1
    return n_perm


@pytest.mark.parametrize("mids", [["thr"], ["thr_elem"]])
def test_permute_identity_dense_exhaustive(mids):
    """dense -> threshold -> dense: every input in {-1, 0, +1}^4, every permutation of
    the 4 hidden channels; the consumer's accumulators are unchanged."""
    rng = np.random.default_rng(0)
    g = _tiny_graph(rng, (4,), ("dense", 4), mids, ("dense", 3))
    xs = [np.array(v, np.float32) for v in itertools.product((-1.0, 0.0, 1.0), repeat=4)]
    assert _check_all_perms(g, xs) == 24


@pytest.mark.parametrize("producer,mids,consumer", [
    (("conv", 3, 2, 2, (1, 0, 0, 1)), ["thr"], ("conv", 2, 2, 2, (1, 1, 1, 1))),           # conv -> conv, padding
    (("conv", 3, 1, 2, (0, 0, 0, 0)), ["thr", "pool"], ("conv", 2, 2, 1, (0, 1, 0, 0))),   # conv -> pool -> conv
    (("conv", 4, 2, 2, (0, 0, 1, 0)), ["thr_elem"], ("dense", 3)),                          # conv -> flatten -> dense
    (("conv", 3, 2, 2, (0, 0, 0, 0)), ["thr", "pool"], ("dense", 2)),                       # conv -> pool -> flatten -> dense
])
def test_permute_identity_conv_all_perms(producer, mids, consumer):
    """Every permutation of the channels between two layers, on 60 random ternary inputs
    (3x3x2 maps: exhaustive inputs would be 3^18)."""
    rng = np.random.default_rng(1)
    g = _tiny_graph(rng, (3, 3, 2), producer, mids, consumer)
    xs = [rng.choice(np.array([-1.0, 0.0, 1.0], np.float32), size=(3, 3, 2)) for _ in range(60)]
    assert _check_all_perms(g, xs) == (24 if producer[1] == 4 else 6)


def test_permute_rejects_illegal_chains():
    """The model's input, a tensor read twice and the graph output are not permuted."""
    rng = np.random.default_rng(2)
    g = _tiny_graph(rng, (4,), ("dense", 4), ["thr"], ("dense", 3))
    p, _, why = mst_permute_inputs.find_chain(g, 1)
    assert p is None and "input binarization" in why
    assert mst_permute_inputs.find_chain(g, 3)[0] == 1
    twice = g.replace(ops=g.ops + (O.Dense("L2", ("m0",), "z", weight=np.ones((2, 4), np.int8)),),
                      tensors={**g.tensors, "z": TensorType((2,), DType.INT32)})
    assert "another reader" in mst_permute_inputs.find_chain(twice, 3)[2]
    with pytest.raises(Exception, match="cannot permute"):
        mst_permute_inputs.permute(twice, 3, np.array([1, 0, 2, 3]))
    out = g.replace(output="m0")
    assert "another reader" in mst_permute_inputs.find_chain(out, 3)[2]


def _subset_rows(rng, n, k, centres, flips, subset):
    """Rows = ``centres`` random rows, each row with ``flips`` bits flipped inside one
    fixed random (scattered) subset of ``subset`` positions: the differences cluster
    into few words only after a permutation."""
    s = np.sort(rng.choice(k, subset, replace=False))
    c = rng.choice(np.array([-1, 1], np.int8), size=(centres, k))
    rows = c[np.arange(n) % centres].copy()
    for j in range(n):
        rows[j, rng.choice(s, flips, replace=False)] *= -1
    return rows


def _subset_model(seed=0, k=256):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.mst import mlp, random_rows

    rng = np.random.default_rng(seed)
    return mlp([random_rows(rng, k, 32).T, _subset_rows(rng, 48, k, 4, 3, 32).T, random_rows(rng, 10, 48).T])


def test_permute_auto_pays_on_subset_rows_and_is_deterministic():
    from bnncc.compiler import lower
    from bnncc.ir import dump
    from bnncc.targets import load_target

    m = _subset_model()
    runs = [lower(m, load_target("cortex-m4"), options={"mst": "auto"}).graph for _ in range(2)]
    assert dump(runs[0]) == dump(runs[1])
    rec = runs[0].meta["mst"]["acc3"]
    ip = rec["input_permutation"]
    assert ip["applied"] and ip["producer"] == "p0" and ip["objective"] == "predicted_cycles"
    assert ip["objective_permuted"] < 0.85 * ip["objective_unpermuted"]
    assert rec["applied"] and rec["predicted_cycles_after"] == pytest.approx(ip["objective_permuted"], abs=0.1)
    assert sorted(ip["permutation"]) == list(range(256)) and ip["permutation"] != list(range(256))
    assert "not permuted" in runs[0].meta["mst"]["acc1"]["input_permutation"]["note"]
    # off: nothing permuted, the same plan as before this pass existed
    plain = lower(m, load_target("cortex-m4"), options={"mst": "auto", "mst_permute": "off"}).graph
    assert "mst_permute" not in plain.meta
    assert plain.meta["mst"]["acc3"]["predicted_cycles_after"] == ip["objective_unpermuted"]
    # force: the tree's words drop too
    f = lower(m, load_target("cortex-m4"), options={"mst": "force"}).graph.meta["mst"]["acc3"]["input_permutation"]
    assert f["applied"] and f["words_permuted"] < 0.6 * f["words_unpermuted"]


def test_partition_clusters_a_scattered_subset():
    """Sets drawn from 32 scattered positions of 256: after partition they touch one word."""
    rng = np.random.default_rng(5)
    s = rng.choice(256, 32, replace=False)
    A = np.zeros((40, 256), bool)
    for h in range(40):
        A[h, rng.choice(s, 4, replace=False)] = True
    ident = mst_permute_inputs._cost(A, np.arange(256) // 32, 8)
    blk = mst_permute_inputs.partition(A, 32)
    assert np.bincount(blk, minlength=8).tolist() == [32] * 8
    assert ident > 100 and mst_permute_inputs._cost(A, blk, 8) == 40


def test_tfc_auto_permutes_nothing(shared):
    """TFC on the M4 model: 64-input layers are two words, a child (about 56 + 20 cycles
    per word touched) never beats a full row of two words (about 40: two Harley-Seal tail
    words); the first layer reads the input binarizer."""
    from bnncc.compiler import lower
    from bnncc.targets import load_target

    g = lower(shared / SHARED_MODELS[1][1], load_target("cortex-m4"), options={"mst": "auto"}).graph
    recs = g.meta["mst_permute"]
    assert len(recs) == 4 and not any(r["applied"] for r in recs.values())
    assert all(getattr(op, "mst", None) is None for op in g.ops)


@pytest.fixture
def random_order(monkeypatch):
    """Make the pass apply a seeded random order (any permutation must be exact)."""
    real = mst_permute_inputs.choose

    def choose(op, g, options, costs):
        _, best, base = real(op, g, options, costs)
        c = g.tensors[op.inputs[0]].channels
        return np.random.default_rng(c).permutation(c), best, base

    monkeypatch.setattr(mst_permute_inputs, "choose", choose)


def test_permuted_shared_model_host(shared, random_order):
    from bnncc.api import compile_model, load_inputs, verify

    x, golden = load_inputs(shared / "golden" / "qonnx_tfc_w1a1_mnist_strat100.npz")
    rel = SHARED_MODELS[1][1]
    for mode in ("force", "auto"):
        res = verify(shared / rel, "host", inputs=x, golden=golden,
                     options={"mst": mode, "mst_permute": "force"})
        assert res["bit_exact"] and res["golden_argmax_match"] == len(x), mode
    _, files = compile_model(shared / rel, "cortex-m4", options={"mst": "force", "mst_permute": "force"})
    rep = json.loads(files["report.json"])
    perms = [r["mst"]["input_permutation"] for r in rep["layers"] if r["op"] == "Dense"]
    assert [p["applied"] for p in perms] == [False, True, True, True]


@pytest.mark.parametrize("seed,kind,real", [(0, "dense", False), (1, "conv", False), (4, "conv", False),
                                            (6, "dense", False), (7, "conv", False), (2, "conv", True),
                                            (3, "dense", True)])
def test_permuted_random_graphs_host(seed, kind, real, random_order):
    from bnn_models import random_bnn

    from bnncc.api import verify
    from bnncc.compiler import lower
    from bnncc.targets import load_target

    case = random_bnn(np.random.default_rng(seed), kind, "mixed", real_input=real)
    g = lower(case.model, load_target("host"), options={"mst": "force", "mst_permute": "force"}).graph
    assert any(r["applied"] for r in g.meta["mst_permute"].values()), case.description
    res = verify(case.model, "host", inputs=case.inputs, options={"mst": "force", "mst_permute": "force"},
                 extra_flags=("-fsanitize=address,undefined", "-fno-sanitize-recover=all"))
    assert res["bit_exact"], (case.description, res)


@pytest.mark.slow
def test_permuted_on_cortex_m4(shared, random_order):
    from bnn_models import random_bnn

    from bnncc.api import load_inputs, verify

    x, golden = load_inputs(shared / "golden" / "qonnx_tfc_w1a1_mnist_strat100.npz")
    for mode in ("force", "auto"):
        res = verify(shared / SHARED_MODELS[1][1], "cortex-m4", inputs=x[:20], options={"mst": mode, "mst_permute": "force"})
        assert res["bit_exact"], mode
    for seed, kind in ((1, "conv"), (4, "conv"), (6, "dense")):
        case = random_bnn(np.random.default_rng(seed), kind, "mixed")
        res = verify(case.model, "cortex-m4", inputs=case.inputs, options={"mst": "force", "mst_permute": "force"})
        assert res["bit_exact"], (case.description, res)


@pytest.mark.slow
def test_permute_auto_on_cortex_m4_measured():
    """The subset-rows model: auto with the permutation beats auto without it on the ISS
    (bit-exact: measure() aborts otherwise), as the word model predicts."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.mst import measure

    L = measure(_subset_model(), None, 2)["layers"][1]
    assert L["perm_auto_applied"] and L["predicted_auto_perm"] < 0.85 * L["predicted_auto"]
    assert L["cycles_auto_perm"] < 0.9 * L["cycles_auto"]


def test_write_mst_table_replaces_its_block_only(tmp_path):
    """bench/mst.py --write replaces its own block (before [estimate]), idempotently, and
    the file still parses to the same [estimate] table."""
    import tomllib
    from pathlib import Path

    b = _bench()
    src = Path(b.REPO) / "targets" / "cortex-m4.toml"
    f = tmp_path / "cortex-m4.toml"
    f.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    before = tomllib.loads(f.read_text(encoding="utf-8"))
    table = {"source": "test", **{k: {i: {"cycles": {"child": 1.5}, "error": 0.1, "margin": 0.05}
                                      for i in ("bipolar", "ternary")} for k in ("dense", "conv")}}
    text = b.render_mst_table(table, 8, "a test")
    b.write_mst_table(f, text)
    once = f.read_text(encoding="utf-8")
    b.write_mst_table(f, text)
    assert f.read_text(encoding="utf-8") == once and once.count(b.MST_BEGIN) == 1
    after = tomllib.loads(once)
    assert after["estimate"] == before["estimate"] and after["mst"]["conv"]["ternary"]["cycles"] == {"child": 1.5}
    assert once.index(b.MST_BEGIN) < once.index("# --- [estimate]")


def test_auto_is_the_cli_default_and_estimated(tmp_path):
    """`bnncc simulate` without --mst applies MST where the M4 model predicts a gain (a
    clustered dense layer), stays bit-exact, prints the before/after table, and the
    analytic estimate (`--estimate`, also without --mst) scales the MST layer by the
    pass's prediction and lands within 15% of the ISS."""
    import json
    import subprocess
    import sys

    import onnx

    model = tmp_path / "clustered.onnx"
    onnx.save(_model_check_case("dense_clustered"), model)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "bnncc.cli", "simulate", str(model), "-t", "cortex-m4",
                               "-n", "2", *args], capture_output=True, text=True)

    iss = cli("--json")
    assert iss.returncode == 0, iss.stderr
    res = json.loads(iss.stdout)
    assert res["outputs_match"] and res["mst_layers"][0]["applied"]
    assert res["total_cycles"] < 0.9 * res["total_cycles_without_mst"]
    est = cli("--estimate", "--json")
    assert est.returncode == 0, est.stderr
    e = json.loads(est.stdout)
    assert [L["variant"] for L in e["layers"] if L["variant"].endswith("+mst")] == ["dense+mst"]
    assert abs(e["total_cycles"] / res["total_cycles"] - 1) <= 0.15, (e["total_cycles"], res["total_cycles"])
    off = json.loads(cli("--json", "--mst", "off").stdout)
    assert "mst_layers" not in off and off["total_cycles"] == res["total_cycles_without_mst"]
    assert "MST per layer" in cli().stdout
