"""The HLS backend: its C++ compiled with g++ and the vendored ap_types (C-simulation)
is bit-exact with onnxruntime, at several foldings; --fold errors; determinism.

Every case compiles one design with g++ (a few seconds each), so the default set is
small; ``-m slow`` adds more foldings and random models.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bnncc import api
from bnncc.backends.hls.emit import float_lit
from bnncc.compiler import lower
from bnncc.errors import BnnccError
from bnncc.folding import mvau_layers
from bnncc.targets import load_target
from bnn_models import random_bnn
from conftest import MODELS

TARGET = "pynq-z2"
pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")


def bnncc(*args):
    return subprocess.run([sys.executable, "-m", "bnncc.cli", *map(str, args)], capture_output=True, text=True)


def _golden(shared, key):
    return api.load_inputs(shared / f"golden/{key}_mnist_strat100.npz")


def _check(res, n=None):
    assert res["bit_exact"], res
    assert res["argmax_match"] == res["n"], res
    if n is not None:
        assert res["n"] == n


# the TFC models' MVAUs are ops 1, 3, 5, 7: 64x784, 64x64, 64x64, 10x64
TFC_FOLDS = {
    "fast": {1: (16, 49), 3: (8, 64), 5: (64, 16), 7: (10, 64)},
    "default": {},
    "wide": {1: (64, 784), 3: (64, 64), 5: (64, 64), 7: (10, 64)},
    "odd": {1: (2, 7), 3: (4, 2), 5: (32, 32), 7: (5, 8)},
}


@pytest.mark.parametrize("key,fold", [("qonnx_tfc_w1a1", "default"), ("finn_tfc_w1a1", "fast")])
def test_shared_models_bit_exact(shared, key, fold):
    x, gold = _golden(shared, key)
    res = api.verify(shared / MODELS[key], TARGET, x, golden=gold, fold=TFC_FOLDS[fold])
    _check(res, 100)
    assert res["golden_argmax_match"] == 100


@pytest.mark.slow
@pytest.mark.parametrize("fold", ["fast", "wide", "odd"])
@pytest.mark.parametrize("key", sorted(MODELS))
def test_shared_models_bit_exact_all_folds(shared, key, fold):
    x, gold = _golden(shared, key)
    _check(api.verify(shared / MODELS[key], TARGET, x, golden=gold, fold=TFC_FOLDS[fold]), 100)


def _random_fold(model, seed: int) -> dict:
    g = lower(model, load_target(TARGET)).graph
    rng = np.random.default_rng(seed)
    return {m.index: (int(rng.choice(m.pe_options())), int(rng.choice(m.simd_options()))) for m in mvau_layers(g)}


# (seed, kind, dialect, real_input): chosen to cover the IR's corners through the HLS
# units: padded convs with ternary windows and pooling (1), a real-valued conv first layer
# (3), a real-valued dense first layer with a ternary activation (0), FINN thresholds (4)
RANDOM_CASES = [(1, "conv", "onnx", False), (3, "conv", "qonnx", True), (0, "dense", "onnx", True),
                (4, "dense", "finn", False)]


@pytest.mark.parametrize("seed,kind,dialect,real", RANDOM_CASES)
def test_random_bnn_bit_exact(seed, kind, dialect, real):
    case = random_bnn(np.random.default_rng(seed), kind, dialect, real_input=real)
    fold = _random_fold(case.model, seed + 1000)
    _check(api.verify(case.model, TARGET, inputs=case.inputs, fold=fold))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 124))
def test_random_bnn_bit_exact_more(seed):
    kind, dialect = ("dense", "conv")[seed % 2], ("onnx", "qonnx", "finn", "mixed")[(seed // 2) % 4]
    case = random_bnn(np.random.default_rng(seed), kind, dialect, real_input=seed % 3 == 0)
    fold = _random_fold(case.model, seed)
    _check(api.verify(case.model, TARGET, inputs=case.inputs, fold=fold))


def test_emitted_tree_is_deterministic_and_reports_folding(shared, tmp_path):
    model = shared / MODELS["finn_tfc_w1a1"]
    for out in ("a", "b"):
        res = bnncc("compile", model, "--target", TARGET, "--fold", "1=16x49,3=8x64", "-o", tmp_path / out)
        assert res.returncode == 0, res.stderr
    a, b = tmp_path / "a", tmp_path / "b"
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    for f in ("top.cpp", "top.h", "bnn_hls.h", "testbench.cpp", "csim/hls_stream.h", "Makefile", "run_hls.tcl",
              "README.md", "report.json"):
        assert f in names
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert not mismatch and not errors
    rep = json.loads((a / "report.json").read_text())
    layers = {L["index"]: L for L in rep["layers"]}
    assert (layers[1]["pe"], layers[1]["simd"], layers[1]["fold_cycles"]) == (16, 49, (64 // 16) * (784 // 49))
    assert (layers[5]["pe"], layers[5]["simd"], layers[5]["fold_cycles"]) == (1, 1, 64 * 64)
    for L in rep["layers"]:
        assert {"index", "op", "name", "binary_macs", "weight_bytes", "activation_bytes", "pe", "simd",
                "fold_cycles"} <= set(L)
    assert rep["totals"]["binary_macs"] == 784 * 64 + 64 * 64 * 2 + 64 * 10
    tcl = (a / "run_hls.tcl").read_text()
    assert "set_part xc7z020clg400-1" in tcl and "create_clock -period 10 " in tcl
    top = (a / "top.cpp").read_text()
    assert "#pragma HLS DATAFLOW" in top and "#pragma HLS INTERFACE axis port=in_stream" in top


@pytest.mark.parametrize("spec,msg", [
    ("1=3x7", "PE=3 does not divide"),
    ("1=16x5", "SIMD=5 does not divide"),
    ("2=1x1", "not a Dense/Conv2d layer"),
    ("1:16x49", "bad --fold entry"),
])
def test_bad_fold_is_a_one_line_error(shared, spec, msg):
    res = bnncc("verify", shared / MODELS["qonnx_tfc_w1a1"], "--target", TARGET, "--fold", spec)
    assert res.returncode == 2, res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnncc: error:") and msg in lines[0], res.stderr


def test_fold_needs_an_fpga_target(shared):
    with pytest.raises(BnnccError, match="FPGA targets"):
        api.compile_model(shared / MODELS["qonnx_tfc_w1a1"], "host", fold={1: (2, 2)})


@pytest.mark.parametrize("v", [0.5, -0.0, 1e-45, 3.4028235e38, 0.1, -7.25, float("inf"), -float("inf")])
def test_float_literals_round_trip(v):
    lit = float_lit(v)
    if "HUGE_VALF" in lit:
        assert np.isinf(v)
        return
    back = np.float32(float(lit.rstrip("f")))
    assert back.tobytes() == np.float32(v).tobytes()


def test_quantized_output_unpacks_bit_exact():
    """Sign -> padded 3x3 Conv (strides 1, 2) -> Sign -> 1x1 Conv (stride 2, so the line
    buffer skips and drains rows) -> Sign as the graph output: ternary windows, a
    ternary result (Sign(0) = 0) unpacked to float in NCHW order (the Unpack unit)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    w = rng.choice(np.array([-1.0, 1.0], np.float32), size=(4, 3, 3, 3))
    w2 = rng.choice(np.array([-1.0, 1.0], np.float32), size=(5, 4, 1, 1))
    nodes = [helper.make_node("Sign", ["x"], ["xs"]),
             helper.make_node("Conv", ["xs", "w"], ["acc"], pads=[1, 1, 1, 1], strides=[1, 2]),
             helper.make_node("Sign", ["acc"], ["h"]),
             helper.make_node("Conv", ["h", "w2"], ["acc2"], strides=[2, 2]),
             helper.make_node("Sign", ["acc2"], ["y"])]
    graph = helper.make_graph(nodes, "signout", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 3, 2])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    x = rng.normal(size=(12, 1, 3, 6, 6)).astype(np.float32)
    x[:, :, :, :, ::2] = 0  # zero inputs -> zero activations
    _check(api.verify(model, TARGET, inputs=x, fold={1: (2, 3), 3: (5, 2)}))
    # the IR's own meaning of Unpack (src: ONNX output i <- IR element src[i]) agrees too
    from bnncc.ir import interp
    from bnncc.reference import run_reference

    c = lower(model, load_target(TARGET))
    ref = run_reference(c.model, x)[0].reshape(len(x), -1)
    assert np.array_equal(np.stack([interp.run(c.graph, xi).reshape(-1) for xi in x]), ref)


def _csim_vs_interp(g, x, fold, tmp_path):
    """Render ``g`` itself (an IR graph made by the test), run the C-simulation and compare
    with the IR interpreter, the specification, bit for bit."""
    from bnncc.backends.hls.emit import render
    from bnncc.hls_csim import build_csim
    from bnncc.ir import interp, verify

    verify(g)
    t = load_target(TARGET)
    lib = api.write_tree(render(g, t, "model", fold), tmp_path / "lib")
    out_t = g.tensors[g.output]
    dtype = np.int64 if out_t.dtype.value == "i64" else np.float32
    got = api.run_harness(build_csim(lib, t), x, dtype, out_t.numel, tmp_path, what="the HLS C-simulation")
    ref = np.stack([interp.run(g, xi).reshape(-1) for xi in x]).astype(dtype)
    assert got.tobytes() == ref.tobytes()


def test_lut_tail_and_per_element_thresholds(tmp_path):
    """IR variants the importer rarely produces: a lookup-table float tail, per-element
    thresholds (varied per pixel) and per-element input rules with constant elements,
    on a padded conv model."""
    import dataclasses

    from bnncc.ir import interp
    from bnncc.ir import ops as O

    case = random_bnn(np.random.default_rng(1), "conv", "onnx")
    g = lower(case.model, load_target(TARGET)).graph
    rng = np.random.default_rng(0)
    ops = list(g.ops)
    for k, op in enumerate(ops):
        if isinstance(op, O.Threshold) and op.per == "channel" and g.tensors[op.output].pixels > 1:
            t = g.tensors[op.output]
            reps = t.pixels
            shift = rng.integers(-2, 3, size=t.numel).astype(np.int64)
            lo = np.clip(np.tile(op.lo.astype(np.int64), reps) + shift, -(2**31), 2**31 - 1)
            hi = np.maximum(lo, np.clip(np.tile(op.hi.astype(np.int64), reps) + shift, -(2**31), 2**31 - 1))
            if t.dtype.value == "bipolar":
                hi = lo
            ops[k] = dataclasses.replace(op, per="element", dir=np.tile(op.dir, reps), lo=lo.astype(np.int32),
                                         hi=hi.astype(np.int32))
        if isinstance(op, O.AffineOut) and op.lut is None:
            K = int(ops[k - 1].weight[0].size)
            xs = np.arange(-K, K + 1)
            cols = [interp.affine_out(op, np.full(g.tensors[op.inputs[0]].numel, v, np.int32)) for v in xs]
            ops[k] = dataclasses.replace(op, steps=(), lut=np.stack(cols, axis=1).astype(np.float32), acc_range=K)
        if isinstance(op, O.BinarizeInput):  # some constant elements (dir = 0), per-element rules
            n = op.dir.size
            pick = rng.random(n) < 0.3
            vals = (-1, 0, 1) if g.tensors[op.output].dtype.value == "ternary" else (-1, 1)
            ops[k] = dataclasses.replace(op, dir=np.where(pick, 0, np.broadcast_to(op.dir, n)).astype(np.int8),
                                         const=rng.choice(vals, size=n).astype(np.int8),
                                         lo=(np.broadcast_to(op.lo, n) + rng.integers(0, 2, n)).astype(np.float32),
                                         hi=(np.broadcast_to(op.hi, n) + 1).astype(np.float32))
    g2 = g.replace(ops=tuple(ops))
    assert any(isinstance(op, O.Threshold) and op.per == "element" for op in g2.ops)
    assert any(isinstance(op, O.AffineOut) and op.lut is not None for op in g2.ops)
    x = np.asarray(case.inputs, np.float32)
    _csim_vs_interp(g2, x, _random_fold(case.model, 5), tmp_path)


def test_fold_from_json_file_and_refused_for_c_targets(shared, tmp_path):
    spec = tmp_path / "fold.json"
    spec.write_text(json.dumps({"1": [8, 16], "7": [5, 32]}))
    res = bnncc("compile", shared / MODELS["qonnx_tfc_w1a1"], "--target", TARGET, "--fold", f"@{spec}", "-o",
                tmp_path / "out")
    assert res.returncode == 0, res.stderr
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["fold"] == {"1": [8, 16], "3": [1, 1], "5": [1, 1], "7": [5, 32]}
    res = bnncc("compile", shared / MODELS["qonnx_tfc_w1a1"], "--target", "host", "--fold", "1=2x2", "-o",
                tmp_path / "c")
    assert res.returncode == 2 and "FPGA targets" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_compile_auto_folds_for_fps_and_the_design_is_exact(shared, tmp_path):
    """compile --fps picks hw_sim's automatic folding (the same as simulate's), the
    emitted design at that folding is bit-exact; an unreachable rate is exit 1."""
    model = str(shared / MODELS["qonnx_tfc_w1a1"])
    res = bnncc("compile", model, "-t", "pynq-z2", "--fps", "1e6", "-o", str(tmp_path / "hls"))
    assert res.returncode == 0, res.stderr
    fold = json.loads((tmp_path / "hls" / "report.json").read_text())["fold"]
    sim = json.loads(bnncc("simulate", model, "-t", "pynq-z2", "--fps", "1e6", "--json").stdout)
    assert {int(k): tuple(v) for k, v in fold.items()} == {int(k): tuple(v) for k, v in sim["folding"].items()}
    assert sim["fps"] >= 1e6
    spec = ",".join(f"{k}={v[0]}x{v[1]}" for k, v in fold.items())
    x, golden = _golden(shared, "qonnx_tfc_w1a1")
    _check(api.verify(model, "pynq-z2", inputs=x[:20], fold=spec, golden={k: v[:20] for k, v in golden.items()}))
    res = bnncc("compile", model, "-t", "pynq-z2", "--fps", "1e9", "-o", str(tmp_path / "never"))
    assert res.returncode == 1 and "cannot reach" in res.stderr and not (tmp_path / "never").exists()
    res = bnncc("compile", model, "-t", "cortex-m4", "--fps", "10", "-o", str(tmp_path / "mcu"))
    assert res.returncode == 2 and "for FPGA targets" in res.stderr


# ---- MST plans: the mst_threshold / mst_acc units (bnn_hls.h) -------------------------------


def test_mst_force_unrolled_tfc_bit_exact_and_reported(shared, tmp_path):
    """The shared TFC fully unrolled with --mst force: bit-exact on the 100 golden inputs;
    every layer is an MST unit whose report.json record has the FPGA figures."""
    model = shared / MODELS["qonnx_tfc_w1a1"]
    x, gold = _golden(shared, "qonnx_tfc_w1a1")
    opts = {"mst": "force", "mst_depth": 4}
    _check(api.verify(model, TARGET, x, golden=gold, fold=TFC_FOLDS["wide"], options=opts), 100)
    _, files = api.compile_model(model, TARGET, fold=TFC_FOLDS["wide"], options=opts)
    assert files["top.cpp"].count("bnn::mst_threshold<") == 3 and files["top.cpp"].count("bnn::mst_acc<") == 1
    assert "bnn::mvau_" not in files["top.cpp"]
    rep = json.loads(files["report.json"])
    dense = [L for L in rep["layers"] if L["op"] == "Dense"]
    for L in dense:
        f = L["mst"]["fpga"]
        assert L["unit"] == "mst" and L["mst"]["applied"] and L["mst"]["depth"] <= 4 and f["unrolled"]
        assert {"lut_before", "lut_after", "tree_bits_before", "tree_bits_after", "latency_before", "latency_after",
                "applied", "why"} <= set(f)
        assert f["lut_after"] < f["lut_before"]
    assert rep["totals"]["bops_after"] < rep["totals"]["bops_before"]


def _mst_case(seed, kind, dialect, depth, folded):
    """A random graph with --mst force: the plans (complement edges, the depth bound)
    and the folding (unrolled, or random: the unit then reads the folded input)."""
    case = random_bnn(np.random.default_rng(seed), kind, dialect)
    opts = {"mst": "force", "mst_depth": depth}
    g = lower(case.model, load_target(TARGET), options=opts).graph
    if folded:
        fold = _random_fold(case.model, seed + 2000)
    else:
        fold = {m.index: (m.mh, m.simd_unit) for m in mvau_layers(g)}
    plans = [op.mst for op in g.ops if getattr(op, "mst", None) is not None]
    assert plans and all(depth is None or p.depth <= depth for p in plans)
    return case, fold, opts, plans


# (seed, kind, dialect, depth, folded): seed 1 is a padded conv with ternary windows
# (pooling too) at a random folding; seed 0 a dense chain with ternary and bipolar inputs,
# unrolled, and no ArgMax (so a wrong accumulator shows in the float outputs); both have
# complement edges
MST_CASES = [(1, "conv", "onnx", 1, True), (0, "dense", "mixed", None, False)]


@pytest.mark.parametrize("seed,kind,dialect,depth,folded", MST_CASES)
def test_mst_force_random_graphs_bit_exact(seed, kind, dialect, depth, folded):
    case, fold, opts, plans = _mst_case(seed, kind, dialect, depth, folded)
    assert sum(int(p.comp.sum()) for p in plans) > 0
    _check(api.verify(case.model, TARGET, inputs=case.inputs, fold=fold, options=opts))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(200, 216))
def test_mst_force_random_graphs_bit_exact_more(seed):
    kind, dialect = ("dense", "conv")[seed % 2], ("onnx", "qonnx", "finn", "mixed")[(seed // 2) % 4]
    depth = (None, 1, 2, 5)[seed % 4]
    case, fold, opts, _ = _mst_case(seed, kind, dialect, depth, folded=seed % 3 != 0)
    _check(api.verify(case.model, TARGET, inputs=case.inputs, fold=fold, options=opts))


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(MODELS))
@pytest.mark.parametrize("fold", ["wide", "fast"])
def test_mst_force_shared_models_bit_exact(shared, key, fold):
    x, gold = _golden(shared, key)
    _check(api.verify(shared / MODELS[key], TARGET, x, golden=gold, fold=TFC_FOLDS[fold], options={"mst": "force"}),
           100)


def test_mst_auto_on_a_folded_design_emits_plain_mvaus(shared):
    """auto at the default folding (every layer 1x1): MST pays nothing, no unit changes,
    and the record says why."""
    _, files = api.compile_model(shared / MODELS["qonnx_tfc_w1a1"], TARGET, options={"mst": "auto"})
    assert "bnn::mst_" not in files["top.cpp"]
    rep = json.loads(files["report.json"])
    recs = [L["mst"] for L in rep["layers"] if "mst" in L]
    assert len(recs) == 4 and not any(r["applied"] or r["fpga"]["applied"] for r in recs)
    assert all(r["fpga"]["why"].startswith("folded") for r in recs)
