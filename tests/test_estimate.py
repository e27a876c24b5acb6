"""hw_sim's analytic Cortex-M cycle estimator against the instruction-set simulator.

The estimate must land within +-15% of the ISS total on every shared model and on
random networks; the random networks here use seeds disjoint from the calibration set
of bench/calibrate.py (which fits the coefficients stored in the target files).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bnncc import api, mcu
from bnncc.targets import load_target
from hw_sim.cortexm.estimate import _conv_f32_walk, _conv_walk, estimate

from conftest import GOLDEN, MODELS

REPO = Path(__file__).resolve().parent.parent
TOLERANCE = 0.15
pytestmark = pytest.mark.skipif(not mcu.shutil.which("arm-none-eabi-gcc"), reason="no Arm toolchain")


def _iss_and_estimate(model, target, inputs):
    t = load_target(target)
    run = api.run_and_compare(model, t, inputs)
    assert run.record["bit_exact"]
    report = json.loads(run.files["report.json"])
    iss = mcu.function_cycles(run.sim, "model_run") / len(run.inputs)
    est = estimate(report, mcu.estimate_table(t))
    return iss, est


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7", "cortex-m0plus"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_estimate_within_15_percent_on_shared_models(shared, name, target):
    x, _ = api.load_inputs(shared / GOLDEN[name])
    iss, est = _iss_and_estimate(shared / MODELS[name], target, x[:8])
    assert abs(est.total_cycles / iss - 1) <= TOLERANCE, (name, target, iss, est.total_cycles)


def heldout_nets():
    sys.path.insert(0, str(REPO))
    from bench.calibrate import heldout_models

    return heldout_models()


# Held-out networks (bench/calibrate.py heldout_models; seeds disjoint from the
# calibration set), in two populations:
# - networks of deployable shape (conv stacks over maps at least as large as their
#   kernels, MLPs) and sized micro-benchmarks: every one within +-15% of the ISS;
# - the property tests' edge-case generator (random_bnn: one-pixel maps, windows mostly in
#   the padding, single-channel layers, networks of a few hundred cycles), where GCC folds
#   whole loops the linear model counts: most within 15%, none wildly off.
# Measured figures: hw_sim/cortexm/README.md ("Analytic estimator").
EDGE_TOLERANCE = 0.40
EDGE_SHARE_WITHIN_15 = 0.90


def _errors(nets, target="cortex-m4"):
    out = []
    for desc, model, x in nets:
        iss, est = _iss_and_estimate(model, target, x)
        out.append((desc, est.total_cycles / iss - 1))
    return out


def _check(errs):
    edge = [(d, e) for d, e in errs if d.startswith("random_bnn")]
    deployable = [(d, e) for d, e in errs if not d.startswith("random_bnn")]
    print("estimate vs ISS on held-out networks:", [f"{d[:18]} {e:+.1%}" for d, e in errs])
    assert all(abs(e) <= TOLERANCE for _, e in deployable), [(d, e) for d, e in deployable if abs(e) > TOLERANCE]
    if edge:
        worst = max(edge, key=lambda e: abs(e[1]))
        assert abs(worst[1]) <= EDGE_TOLERANCE, worst
        share = sum(abs(e) <= TOLERANCE for _, e in edge) / len(edge)
        assert share >= EDGE_SHARE_WITHIN_15, (share, edge)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7", "cortex-m0plus"])
def test_estimate_on_every_held_out_network(target):
    _check(_errors(heldout_nets(), target))


def test_estimate_on_held_out_networks_fast():
    """A sixth of the held-out set (the fast suite's variant of the test above)."""
    nets = heldout_nets()
    _check(_errors(nets[:8] + nets[40:42] + nets[46:50] + nets[58:62]))


def test_conv_walk_counts_the_kernels_runs():
    """_conv_walk's runs and words equal a direct transcription of bnn_conv_runs."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        k = {"H": int(rng.integers(1, 9)), "W": int(rng.integers(1, 9)), "Cin": int(rng.integers(1, 100)),
             "KH": int(rng.integers(1, 4)), "KW": int(rng.integers(1, 4)), "SH": int(rng.integers(1, 3)),
             "SW": int(rng.integers(1, 3)), "PT": int(rng.integers(0, 3)), "PL": int(rng.integers(0, 3)),
             "DH": int(rng.integers(1, 3)), "DW": int(rng.integers(1, 3))}
        k["OH"] = max(1, (k["H"] + 2 * k["PT"] - k["DH"] * (k["KH"] - 1) - 1) // k["SH"] + 1)
        k["OW"] = max(1, (k["W"] + 2 * k["PL"] - k["DW"] * (k["KW"] - 1) - 1) // k["SW"] + 1)
        wpp = -(-k["Cin"] // 32)
        runs = words = 0
        for oy in range(k["OH"]):
            for ox in range(k["OW"]):
                ix0 = ox * k["SW"] - k["PL"]
                inside = k["DW"] == 1 and ix0 >= 0 and ix0 + k["KW"] <= k["W"]
                for ky in range(k["KH"]):
                    iy = oy * k["SH"] - k["PT"] + ky * k["DH"]
                    if not 0 <= iy < k["H"]:
                        continue
                    for kx in range(k["KW"]):
                        if not 0 <= ix0 + kx * k["DW"] < k["W"]:
                            continue
                        runs += 1
                        words += k["KW"] * wpp if inside else wpp
                        if inside:
                            break
        w = _conv_walk(k, 8, 32)
        assert w["runs"] == runs and w["blocks"] * 8 + w["tail"] + w["tail_tap"] == words, k


def _span(first, dil, n, size):
    """bnn_conv2d_f32's two while loops along one axis: the valid taps lo..hi-1."""
    lo, hi = 0, n
    while lo < hi and first + lo * dil < 0:
        lo += 1
    while hi > lo and first + (hi - 1) * dil >= size:
        hi -= 1
    return lo, hi


def test_conv_f32_walk_counts_the_kernels_taps():
    """_conv_f32_walk's paths, rows, taps and skips equal a direct transcription of
    bnn_conv2d_f32 (templates/c/bnn_kernels.h), padding and dilation included."""
    rng = np.random.default_rng(6)
    for _ in range(300):
        k = {"H": int(rng.integers(1, 9)), "W": int(rng.integers(1, 9)), "KH": int(rng.integers(1, 5)),
             "KW": int(rng.integers(1, 5)), "SH": int(rng.integers(1, 3)), "SW": int(rng.integers(1, 3)),
             "PT": int(rng.integers(0, 4)), "PL": int(rng.integers(0, 4)), "DH": int(rng.integers(1, 3)),
             "DW": int(rng.integers(1, 3))}
        k["OH"] = max(1, (k["H"] + 2 * k["PT"] - k["DH"] * (k["KH"] - 1) - 1) // k["SH"] + 1)
        k["OW"] = max(1, (k["W"] + 2 * k["PL"] - k["DW"] * (k["KW"] - 1) - 1) // k["SW"] + 1)
        want = dict.fromkeys(("inside", "edge", "rows_inside", "rows_edge", "taps_inside", "taps_edge",
                              "row_skips", "col_skips"), 0)
        for oy in range(k["OH"]):
            ky0, ky1 = _span(oy * k["SH"] - k["PT"], k["DH"], k["KH"], k["H"])
            want["row_skips"] += k["KH"] - (ky1 - ky0)
            for ox in range(k["OW"]):
                kx0, kx1 = _span(ox * k["SW"] - k["PL"], k["DW"], k["KW"], k["W"])
                want["col_skips"] += k["KW"] - (kx1 - kx0)
                part = "inside" if (ky0, ky1, kx0, kx1) == (0, k["KH"], 0, k["KW"]) else "edge"
                want[part] += 1
                want["rows_" + part] += (ky1 - ky0) if kx1 > kx0 else 0
                want["taps_" + part] += (ky1 - ky0) * (kx1 - kx0)
        assert _conv_f32_walk(k) == want, k


def test_simulate_estimate_needs_no_compiler(shared, tmp_path):
    """--estimate runs without the cross compiler on PATH, deterministically."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    cmd = [sys.executable, "-m", "bnncc.cli", "simulate", str(shared / MODELS["qonnx_tfc_w1a1"]),
           "--target", "stm32f407", "--estimate", "--json"]
    runs = [subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    res = json.loads(runs[0].stdout)
    assert res["method"] == "estimate" and res["outputs_match"] is None and res["fits"]
    for key in ("total_cycles", "latency_ms", "energy_uj", "flash_bytes", "ram_bytes", "layers"):
        assert res[key]
    assert res["latency_ms"] == pytest.approx(1e3 * res["total_cycles"] / 168e6)
    assert sum(L["cycles"] for L in res["layers"]) < res["total_cycles"]


def test_simulate_estimate_refuses_what_it_cannot_do(shared):
    cmd = [sys.executable, "-m", "bnncc.cli", "simulate", str(shared / MODELS["qonnx_tfc_w1a1"]), "--estimate"]
    res = subprocess.run(cmd + ["--target", "host"], capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    res = subprocess.run(cmd + ["--inputs", "x.npz"], capture_output=True, text=True)
    assert res.returncode == 2 and "takes no --inputs" in res.stderr
