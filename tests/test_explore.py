"""bnncc explore: the front, constraints, the space, executors giving identical fronts,
the cache, --config round trips, and the exact re-check within the stated error."""

import json

import pytest
from click.testing import CliRunner

from bnncc.cli import main
from bnncc.errors import BnnccError
from bnncc.explore import pareto, runner, space
from bnncc.explore.evaluate import Model, compile_args, evaluate, lowered_graph, recheck
from bnncc.folding import check_fold
from bnncc.targets import load_target
from conftest import MODELS


def mcu_toolchain():
    import shutil

    return shutil.which("arm-none-eabi-gcc") is not None


def _row(i, lat, en, fits=True, **extra):
    return {"id": i, "config": {"target": "x"}, "metrics": {"latency_ms": lat, "energy_uj": en, "fits": fits,
                                                             **extra}}


# --- pareto: pure --------------------------------------------------------------------

def test_front_keeps_non_dominated_collapses_ties_and_drops_misfits():
    rows = [_row(0, 1, 5), _row(1, 2, 2), _row(2, 3, 3), _row(3, 1, 5), _row(4, 0.5, 9, fits=False),
            _row(5, 4, 1), _row(6, 2, 4)]
    fr = pareto.front(rows, ["latency", "energy"])
    assert [r["id"] for r in fr] == [0, 1, 5]
    assert fr[0]["ties"] == [3]
    # one objective: the minimum only
    assert [r["id"] for r in pareto.front(rows, ["energy"])] == [5]
    # fps is maximised
    rows = [_row(0, 1, 1, fps=10), _row(1, 1, 1, fps=20)]
    assert [r["id"] for r in pareto.front(rows, ["latency", "fps"])] == [1]


def test_objective_a_row_lacks_keeps_it_off_and_constraints_skip_missing_metrics():
    rows = [_row(0, 1, 1, luts=100), _row(1, 0.1, 0.1, flash_bytes=10)]
    assert [r["id"] for r in pareto.front(rows, ["latency", "luts"])] == [0]
    c = pareto.parse_constraint("luts<=50")
    assert [r["id"] for r in pareto.front(rows, ["latency", "energy"], [c])] == [1]


@pytest.mark.parametrize("text,metric,op,value", [
    ("ram<=192KB", "ram", "<=", 192 * 1024), ("luts<=50k", "luts", "<=", 50000), ("fps>=1000", "fps", ">=", 1000),
    ("latency<2ms", "latency", "<", 2.0), ("latency<=250us", "latency", "<=", 0.25),
    ("energy <= 5 mJ", "energy", "<=", 5000.0), ("flash<=1MB", "flash", "<=", 1024 ** 2)])
def test_constraints_parse_with_units(text, metric, op, value):
    c = pareto.parse_constraint(text)
    assert (c.metric, c.op) == (metric, op) and c.value == pytest.approx(value)


@pytest.mark.parametrize("text", ["ram<=192parsecs", "speed>=3", "luts=<5", "fps>=1000KB"])
def test_bad_constraints_are_refused(text):
    with pytest.raises(BnnccError):
        pareto.parse_constraint(text)


# --- the space -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tfc(shared):
    return Model.from_path(shared / MODELS["qonnx_tfc_w1a1"])


def test_fpga_folds_are_valid_distinct_and_include_auto_fold(tfc):
    t = load_target("pynq-z2")
    g = lowered_graph(tfc, t)
    folds = space.fpga_folds(g, t, 60, seed=1)
    assert len(folds) == 60
    assert len({tuple(sorted(f.items())) for f, _ in folds}) == 60
    for f, _ in folds:
        assert check_fold(g, f) == f          # complete and every PE/SIMD divides its layer
    assert folds[0][1].startswith("auto_fold")
    assert {o.split()[0] for _, o in folds} >= {"auto_fold", "balanced", "random"}


def test_core_names_bring_their_boards():
    names = [t.name for t in space.expand_targets(["cortex-m4", "pynq-z2"])]
    assert names[:1] == ["cortex-m4"] and {"stm32f407", "nrf52840", "stm32l4r5", "pynq-z2"} <= set(names)
    assert [t.name for t in space.expand_targets(["stm32f746"])] == ["stm32f746"]
    with pytest.raises(BnnccError):
        space.expand_targets(["host"])


def test_mcu_space_is_kernel_variants_times_mst_settings():
    cfgs = space.mcu_configs(load_target("cortex-m4"))
    kernels = {(c["popcount"], c.get("hs_block"), c["word_bits"]) for c in cfgs}
    assert kernels == {("harley_seal", 8, 32), ("harley_seal", 16, 32), ("harley_seal", 8, 64),
                       ("harley_seal", 16, 64), ("swar", None, 32), ("swar", None, 64), ("builtin", None, 32),
                       ("builtin", None, 64), ("usada8", None, 32)}
    assert {(c["mst"], c.get("mst_depth")) for c in cfgs} == {("off", None), ("auto", None), ("force", None),
                                                               ("force", 1), ("force", 4)}
    assert len(cfgs) == 9 * 5 and len({json.dumps(c, sort_keys=True) for c in cfgs}) == len(cfgs)
    assert cfgs[0] == {"target": "cortex-m4", "popcount": "harley_seal", "hs_block": 8, "word_bits": 32, "mst": "off"}
    m0 = space.mcu_configs(load_target("cortex-m0plus"))
    assert len(m0) == 8 * 5 and not any(c["popcount"] == "usada8" for c in m0)      # no DSP extension
    # a budget too small for every board keeps the core's whole space and thins the boards
    ts = space.expand_targets(["cortex-m4"])
    items = space.build_space({}, ts, 80)
    assert len(items) == 80 and [i["config"] for i in items[:45]] == cfgs
    assert {i["config"]["target"] for i in items[45:]} == {"stm32f407", "nrf52840", "stm32l4r5"}


def test_fpga_configuration_with_a_bad_fold_is_an_error_row(tfc):
    assert "does not divide" in evaluate(tfc, {"target": "pynq-z2", "fold": {"1": [3, 1]}})["error"]
    assert "mst" in evaluate(tfc, {"target": "pynq-z2", "fold": {}, "mst": "sometimes"})["error"]


# TFC with its two small layers fully unrolled (PE = MH, SIMD = MW), the others folded
PART_UNROLLED = {"1": [16, 49], "3": [8, 64], "5": [64, 64], "7": [10, 64]}


def test_fpga_mst_auto_rows_apply_on_unrolled_layers_only(tfc, shared):
    """MST auto on an FPGA: the pass keeps plans on the unrolled layers (5 and 7) only;
    fewer LUTs, the same II, more latency (the chained adders) than the plain twin."""
    off = evaluate(tfc, {"target": "pynq-z2", "fold": PART_UNROLLED})["metrics"]
    auto = evaluate(tfc, {"target": "pynq-z2", "fold": PART_UNROLLED, "mst": "auto"})["metrics"]
    assert off["mst_layers"] == 0 and auto["mst_layers"] == 2
    assert auto["luts"] < off["luts"] and auto["ii_cycles"] == off["ii_cycles"] and auto["cycles"] > off["cycles"]
    # the exact path (dataflow simulation of the MST design) agrees within the stated error
    exact = recheck(shared / MODELS["qonnx_tfc_w1a1"], {"target": "pynq-z2", "fold": PART_UNROLLED, "mst": "auto"})
    assert runner.agrees("fpga", auto, exact)[0] and abs(auto["luts"] / exact["luts"] - 1) < 0.05
    # the space: every folding with an unrolled layer is followed by its MST twin, and only those
    t = load_target("pynq-z2")
    g = lowered_graph(tfc, t)
    layers = {str(m.index): (m.mh, m.mw) for m in space.mvau_layers(g)}
    items = space.build_space({"pynq-z2": g}, [t], 200)
    assert len(items) == 200
    twins = [i for i, it in enumerate(items) if it["config"].get("mst") == "auto"]
    assert twins and {items[i]["config"].get("mst_depth") for i in twins} == {None, 2}
    for i, it in enumerate(items):
        unrolled = any(tuple(v) == layers[k] for k, v in it["config"]["fold"].items())
        if it["config"].get("mst") == "auto":   # after its plain folding (and the unbounded twin)
            base = items[i - 1 if it["config"].get("mst_depth") is None else i - 2]["config"]
            assert base == {k: v for k, v in it["config"].items() if k not in ("mst", "mst_depth")}
        elif i + 1 < len(items):
            assert unrolled == (i + 1 in twins), it
    depth2 = evaluate(tfc, {"target": "pynq-z2", "fold": PART_UNROLLED, "mst": "auto", "mst_depth": 2})["metrics"]
    assert depth2["cycles"] <= auto["cycles"] and depth2["luts"] >= auto["luts"]   # the bound's trade


# --- executors and cache ---------------------------------------------------------------

def _items(tfc, n=48):
    t = load_target("pynq-z2")
    return space.build_space({"pynq-z2": lowered_graph(tfc, t)}, [t], n)


def _front_ids(rows):
    return [(r["id"], r["metrics"]) for r in pareto.front(rows, ["latency", "energy", "luts"])]


def test_process_pool_and_cache_give_the_in_process_rows(tfc, tmp_path):
    items = _items(tfc)
    base, st = runner.evaluate_all(tfc, items, mode="inprocess")
    assert st["evaluated"] == len(items) and all("metrics" in r for r in base)
    pool, _ = runner.evaluate_all(tfc, items, mode="pool", workers=2)
    assert pool == base
    cache = runner.DiskCache(tmp_path / "cache", "digest")
    first, _ = runner.evaluate_all(tfc, items, mode="inprocess", cache=cache)
    again, st = runner.evaluate_all(tfc, items, mode="inprocess", cache=runner.DiskCache(tmp_path / "cache", "digest"))
    assert st["cached"] == len(items) and st["evaluated"] == 0
    strip = lambda rows: [{k: v for k, v in r.items() if k != "cached"} for r in rows]  # noqa: E731
    assert strip(again) == strip(first) == strip(base)
    # another code digest (a new bnncc or a changed target file) misses
    _, st = runner.evaluate_all(tfc, items[:3], mode="inprocess", cache=runner.DiskCache(tmp_path / "cache", "other"))
    assert st["evaluated"] == 3


def test_dask_local_cluster_gives_the_in_process_front(tfc):
    distributed = pytest.importorskip("distributed")
    items = _items(tfc)
    base, _ = runner.evaluate_all(tfc, items, mode="inprocess")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        rows, st = runner.evaluate_all(tfc, items, mode="dask", scheduler=client)
        again, _ = runner.evaluate_all(tfc, items, mode="dask", scheduler=client)   # the model scattered again
    assert again == rows
    assert st["mode"] == "dask" and st["workers"] == 2
    assert _front_ids(rows) == _front_ids(base)
    assert rows == base


# --- the whole command ---------------------------------------------------------------

def test_explore_fpga_front_recheck_and_compile_config(shared, tmp_path):
    model = str(shared / MODELS["qonnx_tfc_w1a1"])
    out = tmp_path / "ex"
    res = CliRunner().invoke(main, ["explore", model, "--targets", "pynq-z2", "--budget", "40", "--recheck", "2",
                                    "--objective", "latency,luts", "--constraint", "luts<=30k", "--out", str(out),
                                    "--executor", "pool", "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "Pareto front over latency, luts" in res.output
    doc = json.loads((out / "explore.json").read_text())
    assert len(doc["rows"]) == 40 and doc["front"]
    for i in doc["front"]:
        assert doc["rows"][i]["metrics"]["luts"] <= 30000
    html = (out / "report.html").read_text()
    assert "<svg" in html and "<script" not in html
    assert len(doc["recheck"]) == 2
    assert doc["stats"]["mode"] == "pool" and doc["stats"]["recheck_seconds"] > 0   # re-checked in the pool too
    for c in doc["recheck"]:
        assert c["within_stated"], c
        assert c["estimate"]["ii_cycles"] == c["exact"]["ii_cycles"]       # the stated error: exact
        assert c["estimate"]["cycles"] >= c["exact"]["cycles"]             # the latency bound holds
    # a row reproduced by compile --config
    row = doc["front"][0]
    assert compile_args(f"@{out}/explore.json#{row}")[0] == "pynq-z2"
    res = CliRunner().invoke(main, ["compile", model, "--config", f"@{out}/explore.json#{row}", "-o",
                                    str(tmp_path / "lib")])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "lib" / "report.json").read_text())
    assert rep["fold"] == doc["rows"][row]["config"]["fold"]
    res = CliRunner().invoke(main, ["compile", model, "--config", f"@{out}/explore.json#999", "-o",
                                    str(tmp_path / "lib2")])
    assert res.exit_code == 2 and "no row 999" in res.output


def test_compile_config_refuses_conflicting_options(shared, tmp_path):
    model = str(shared / MODELS["qonnx_tfc_w1a1"])
    res = CliRunner().invoke(main, ["compile", model, "--config", '{"target": "pynq-z2", "fold": {}}',
                                    "--target", "cortex-m4", "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "--config sets the target" in res.output
    assert compile_args('{"target": "stm32f407", "mst": "auto"}') == ("stm32f407", None, "auto", None,
                                                                       None, None, None)
    assert compile_args('{"target": "cortex-m4", "popcount": "swar", "word_bits": 64, "mst": "force", '
                        '"mst_depth": 4}') == ("cortex-m4", None, "force", 4, "swar", None, "64")
    with pytest.raises(BnnccError, match="mst_depth"):
        compile_args('{"target": "cortex-m4", "mst": "force", "mst_depth": 0}')


# --- MCU (needs the core's calibrated [estimate] table) --------------------------------

def _needs_estimate(name):
    if not load_target(name).extra.get("estimate"):
        pytest.skip(f"{name} has no [estimate] table")


def test_mcu_boards_share_cycles_and_mst_is_scaled_by_the_pass_prediction(tfc):
    _needs_estimate("cortex-m4")
    off = evaluate(tfc, {"target": "cortex-m4", "mst": "off"})["metrics"]
    board = evaluate(tfc, {"target": "stm32f407", "mst": "off"})["metrics"]
    assert board["cycles"] == pytest.approx(off["cycles"])            # same core, same table
    assert board["latency_ms"] == pytest.approx(off["latency_ms"] * 25e6 / 168e6)
    # TFC has no clustered rows: auto keeps no plan, so it ties with off
    auto = evaluate(tfc, {"target": "cortex-m4", "mst": "auto"})["metrics"]
    assert auto["mst_layers"] == 0 and auto["cycles"] == off["cycles"]
    # force: every binary layer scaled by predicted after/before (> 1 on TFC: no gain)
    force = evaluate(tfc, {"target": "cortex-m4", "mst": "force"})["metrics"]
    assert force["mst_layers"] == 4 and force["cycles"] > off["cycles"] and force["flash_bytes"] > off["flash_bytes"]


def _needs_variants(name, *variants):
    tables = load_target(name).extra.get("estimate", {})
    missing = [v for v in variants if v not in tables]
    if missing:
        pytest.skip(f"{name} has no [estimate] table for {', '.join(missing)}")


def _dense_net(k=1024, n=256):
    import sys
    from pathlib import Path

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.calibrate import sized_bnn

    return sized_bnn(np.random.default_rng(3), [("dense", n), ("dense", 10)], [1, k])


@pytest.mark.skipif(not mcu_toolchain(), reason="no Arm toolchain")
def test_kernel_variant_estimates_order_like_the_iss():
    """On a dense layer the per-variant tables rank SWAR, Harley-Seal 8 and 16 as the ISS
    does, each within the stated error: the explored kernel choice is estimated honestly."""
    from bnncc import api, mcu
    from bnncc.targets import with_kernel
    from hw_sim.cortexm.estimate import estimate

    _needs_variants("cortex-m4", "swar-w32", "harley_seal-b8-w32", "harley_seal-b16-w32")
    model, x = _dense_net()
    t = load_target("cortex-m4")
    got = {}
    for pc, hs in (("swar", None), ("harley_seal", 8), ("harley_seal", 16)):
        tv = with_kernel(t, pc, hs, 32)
        run = api.run_and_compare(model, tv, x[:1])
        assert run.record["bit_exact"]
        iss = mcu.function_cycles(run.sim, "model_run") / len(run.inputs)
        est = estimate(json.loads(run.files["report.json"]), mcu.estimate_table(tv)).total_cycles
        assert abs(est / iss - 1) <= 0.15, (tv.variant, iss, est)
        got[tv.variant] = (iss, est)
    (si, se), (hi, he) = got["swar-w32"], got["harley_seal-b8-w32"]
    assert si > 1.3 * hi and se > 1.3 * he          # SWAR clearly slower than Harley-Seal on M4, in both
    # the explore row of each variant carries that estimate
    m = Model.from_bytes(model.SerializeToString())
    row = evaluate(m, {"target": "cortex-m4", "popcount": "swar", "word_bits": 32, "mst": "off"})["metrics"]
    assert row["cycles"] == pytest.approx(se) and row["kernel_variant"] == "swar-w32"


def test_compile_config_reproduces_a_kernel_variant_row(shared, tmp_path):
    _needs_variants("cortex-m4", "swar-w64")
    model = str(shared / MODELS["qonnx_tfc_w1a1"])
    out = tmp_path / "ex"
    res = CliRunner().invoke(main, ["explore", model, "--targets", "cortex-m4", "--budget", "45", "--recheck", "0",
                                    "--out", str(out)])
    doc = json.loads((out / "explore.json").read_text())
    assert res.exit_code == 0, res.output
    row = next(r for r in doc["rows"] if r["config"].get("popcount") == "swar" and r["config"]["word_bits"] == 64
               and r["config"]["mst"] == "force" and r["config"].get("mst_depth") == 4)
    res = CliRunner().invoke(main, ["compile", model, "--config", f"@{out}/explore.json#{row['id']}", "-o",
                                    str(tmp_path / "lib")])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "lib" / "report.json").read_text())
    assert rep["kernel_variant"]["name"] == "swar-w64" and rep["word_bits"] == 64
    msts = [L["mst"] for L in rep["layers"] if L.get("mst")]
    assert msts and all(r["mode"] == "force" and r["applied"] and 1 <= r["depth"] <= 4 for r in msts)
    c = (tmp_path / "lib" / "model.c").read_text()
    assert "#define BNN_WORD_BITS 64\n#define BNN_POPCOUNT BNN_POPCOUNT_SWAR\n" in c
    # the estimate of the reproduced library is the row's
    m = Model.from_path(model)
    assert evaluate(m, row["config"])["metrics"] == row["metrics"]


def test_done_when_tfc_on_cortex_m4_and_pynq_z2(shared, tmp_path):
    """The issue's command: a front, and every re-check within the stated error
    (MCU: ISS cycles +-15 %; FPGA: II exact, latency bound)."""
    _needs_estimate("cortex-m4")
    out = tmp_path / "ex"
    res = CliRunner().invoke(main, ["explore", str(shared / MODELS["qonnx_tfc_w1a1"]), "--targets",
                                    "cortex-m4,pynq-z2", "--budget", "200", "--out", str(out)])
    doc = json.loads((out / "explore.json").read_text())
    assert "Pareto front over latency, energy" in res.output
    assert len(doc["rows"]) == 200 and doc["front"]
    assert {"cortex-m4", "stm32f407", "nrf52840", "stm32l4r5", "pynq-z2"} == set(doc["best_per_target"])
    kinds = {c["estimate"]["kind"] for c in doc["recheck"] if "estimate" in c}
    assert kinds == {"mcu", "fpga"}, doc["recheck"]
    for c in doc["recheck"]:
        assert c.get("within_stated"), c
        if c["estimate"]["kind"] == "mcu":
            assert c["exact"]["outputs_match"]
    assert res.exit_code == 0, res.output
