"""Cortex-M targets: cross-compiled firmware, sizes, hw_sim runs bit-exact with
onnxruntime, per-layer cycles, QEMU cross-check, boards that are too small."""

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bnncc import api, mcu
from bnncc.errors import BnnccError
from bnncc.targets import load_target
from bnn_models import random_bnn
from conftest import GOLDEN, MODELS

pytest.importorskip("unicorn")
if shutil.which("arm-none-eabi-gcc") is None or shutil.which("make") is None:
    pytest.skip("arm-none-eabi-gcc or make is absent (.ci/run installs them)", allow_module_level=True)


def bnncc(*args):
    return subprocess.run([sys.executable, "-m", "bnncc.cli", *map(str, args)], capture_output=True, text=True)


def test_compile_build_sizes_equal_arm_none_eabi_size(shared, tmp_path):
    out = tmp_path / "m4"
    res = bnncc("compile", shared / MODELS["qonnx_tfc_w1a1"], "--target", "cortex-m4", "--build", "-o", out)
    assert res.returncode == 0, res.stderr
    assert (out / "firmware.elf").is_file() and "flash" in res.stdout
    text, data, bss = map(int, subprocess.run(["arm-none-eabi-size", str(out / "firmware.elf")], capture_output=True,
                                              text=True, check=True).stdout.splitlines()[1].split()[:3])
    fw = mcu.build_firmware(out, load_target("cortex-m4"))  # make: up to date, sizes re-read
    assert (fw.flash_bytes, fw.ram_bytes) == (text + data, data + bss)
    assert f"flash {text + data} of" in res.stdout and f"RAM {data + bss} of" in res.stdout


@pytest.mark.parametrize("name", sorted(MODELS))
def test_simulate_shared_models_bit_exact_with_layer_cycles(shared, name):
    x, golden = api.load_inputs(shared / GOLDEN[name])
    res = mcu.simulate(shared / MODELS[name], load_target("cortex-m4"), x, golden=golden)
    v = res["verification"]
    assert res["outputs_match"] and res["n"] == 100 and v["argmax_match"] == 100 == v["golden_argmax_match"], v
    assert v.get("golden_bit_exact", True), v  # FINN's graph outputs the TopK index, not the logits
    layers = res["layers"]
    assert all(L["cycles"] > 0 for L in layers)
    overhead = res["total_cycles"] - sum(L["cycles"] for L in layers)
    assert 0 <= overhead < 0.01 * res["total_cycles"]  # model_run only calls the layers
    dense = [L for L in layers if L["op"] == "Dense"]
    assert dense[0]["binary_macs"] == 784 * 64 and dense[0]["cycles_per_binary_mac"] < 2
    m = load_target("cortex-m4").mcu
    assert res["latency_ms"] == pytest.approx(1e3 * res["total_cycles"] / m["clock_hz"])
    assert res["energy_uj"] == pytest.approx(res["total_cycles"] * m["energy_nj_per_cycle"] / 1e3)


def test_simulate_cli_json_and_determinism(shared):
    args = ("simulate", shared / MODELS["finn_tfc_w1a1"], "--target", "cortex-m4", "-n", "3", "--json")
    a, b = bnncc(*args), bnncc(*args)
    assert a.returncode == 0, a.stderr
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    for key in ("total_cycles", "latency_ms", "energy_uj", "flash_bytes", "ram_bytes", "outputs_match", "layers"):
        assert key in ra
    assert ra["total_cycles"] == rb["total_cycles"] and ra["outputs_match"] is True  # cycles are deterministic


@pytest.mark.parametrize("seed,kind,dialect,real", [
    (0, "dense", "onnx", False), (1, "conv", "onnx", False), (2, "conv", "mixed", False),
    (3, "dense", "qonnx", True), (4, "conv", "finn", True),
])
def test_random_bnns_bit_exact_on_cortex_m4(seed, kind, dialect, real):
    case = random_bnn(np.random.default_rng(seed), kind, dialect, real_input=real)
    res = api.verify(case.model, target="cortex-m4", inputs=case.inputs)
    assert res["bit_exact"], (case.description, res)


def test_qemu_runs_the_same_firmware_identically(shared, tmp_path):
    from hw_sim.cortexm import qemu_available, run_qemu

    if not qemu_available():
        pytest.skip("qemu-system-arm is absent")
    t = load_target("cortex-m4")
    api.compile_model(shared / MODELS["qonnx_tfc_w1a1"], t, tmp_path / "lib")
    fw = mcu.build_firmware(tmp_path / "lib", t)
    x, golden = api.load_inputs(shared / GOLDEN["qonnx_tfc_w1a1"])
    x = x[:20]
    got, _ = mcu.run_firmware(fw, t, x, np.float32, 10, tmp_path)
    (tmp_path / "outputs.bin").unlink()
    code, _ = run_qemu(fw.elf, cwd=tmp_path, machine=t.mcu["qemu_machine"])
    assert code == 0
    qemu_out = np.fromfile(tmp_path / "outputs.bin", dtype=np.float32).reshape(20, 10)
    assert np.array_equal(qemu_out.view(np.int32), got.view(np.int32))
    assert np.array_equal(got, golden["outputs"][:20].reshape(20, 10))


def test_model_too_big_for_the_board_is_a_clear_error(shared, tmp_path):
    t = load_target("cortex-m4")
    tiny = dataclasses.replace(t, extra={**t.extra, "mcu": {**t.mcu, "board": "tiny", "flash_bytes": 8192}})
    api.compile_model(shared / MODELS["qonnx_tfc_w1a1"], tiny, tmp_path / "lib")
    with pytest.raises(BnnccError, match=r"needs \d+ bytes of flash; tiny has 8192"):
        mcu.build_firmware(tmp_path / "lib", tiny)  # caught before building: 9262 bytes of weights
    assert not (tmp_path / "lib" / "firmware.elf").exists()
    snug = dataclasses.replace(t, extra={**t.extra, "mcu": {**t.mcu, "board": "snug", "flash_bytes": 10240}})
    api.compile_model(shared / MODELS["qonnx_tfc_w1a1"], snug, tmp_path / "lib2")
    with pytest.raises(BnnccError, match="region .FLASH' overflowed|needs \\d+ bytes of flash; snug"):
        mcu.build_firmware(tmp_path / "lib2", snug)  # the weights fit, the whole firmware does not
    small_ram = dataclasses.replace(t, extra={**t.extra, "mcu": {**t.mcu, "board": "tiny", "ram_bytes": 4096}})
    with pytest.raises(BnnccError, match="bytes of RAM plus a 8192-byte stack; tiny has 4096"):
        mcu.check_fits(small_ram, 1000, 3000, "the firmware")


def test_board_option_and_errors():
    res = bnncc("simulate", "nothing.onnx", "--target", "host")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    res = bnncc("compile", "x.onnx", "--target", "host", "--board", "cortex-m4", "-o", "/nonexistent/x")
    assert res.returncode == 2 and "does not fit target 'host'" in res.stderr


def test_threshold_layer_call_survives_gcc_ipa():
    """GCC 12 for arm-none-eabi (-O1 and up) once deleted the call to a threshold layer
    whose only effect was storing into the arena (a 31-channel 8x8 map, 2x2 stride-2
    conv to 2 channels, threshold, 3x3 conv to 32, dense 4); layer functions are now
    noipa.  The firmware must stay bit-exact."""
    from bench.calibrate import sized_bnn

    spec = [("conv", 2, 2, 2, 0), ("conv", 32, 3, 1, 0), ("dense", 4)]
    model, x = sized_bnn(np.random.default_rng(0), spec, [1, 31, 8, 8])
    res = api.verify(model, target="cortex-m4", inputs=x)
    assert res["bit_exact"], res
