"""The newcomer's path: examples/train_digits_bnn.py trains, exports and (once bnncc.api
exists) compiles to bit-exact host C; examples/newcomer_path.py runs the whole path
(train MLP and CNN, compile and simulate for cortex-m4, the pynq-z2 step or its skip, the
shared models, the CMake firmware for host and Cortex-M4) in its --quick CI setting."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "train_digits_bnn.py"
DIGITS = SHARED / "data" / "digits.npz"


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_train_export_verify(arch, tmp_path):
    if not DIGITS.is_file():
        pytest.skip(f"{DIGITS} not present")
    model_path = tmp_path / f"digits_{arch}.onnx"
    inputs_path = tmp_path / "test.npz"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--arch", arch, "--quick", "--data", str(DIGITS),
         "--out", str(model_path), "--save-inputs", str(inputs_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    # exit status 1 means the exported model disagrees with the numpy model
    assert proc.returncode == 0, proc.stdout + proc.stderr

    assert model_path.is_file()
    model = onnx.load(str(model_path))
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["logits"]
    with np.load(inputs_path) as d:
        inputs, labels = d["inputs"], d["labels"]
    assert inputs.dtype == np.float32 and inputs.shape[1:] == (1, 8, 8)
    assert len(inputs) == len(labels) > 0

    api = pytest.importorskip("bnncc.api")
    r = api.verify(str(model_path), target="host", inputs=inputs)
    assert r["n"] == len(inputs)
    assert r["bit_exact"], r


def test_newcomer_path_quick(tmp_path):
    """Every step of examples/newcomer_path.py, so the examples cannot rot."""
    if not DIGITS.is_file():
        pytest.skip(f"{DIGITS} not present")
    needs = ["cmake", "arm-none-eabi-gcc", "make"]
    missing = [t for t in needs if shutil.which(t) is None]
    if missing and os.environ.get("CI", "").lower() != "true":
        pytest.skip(f"not installed: {', '.join(missing)}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "newcomer_path.py"), "--quick",
                           "--out", str(tmp_path / "out"), "--shared", str(SHARED)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    out = proc.stdout
    assert "newcomer_path: all steps done" in out
    assert out.count("outputs bit-exact vs onnxruntime") == 4        # MLP, CNN, QONNX, FINN
    assert "pynq-z2" in out                                          # the FPGA step ran or said why not
    for d in ("digits_mlp_sim", "digits_cnn_sim", "qonnx_tfc_w1a1_sim", "finn_tfc_w1a1_sim"):
        assert (tmp_path / "out" / d / "report.html").is_file()
    assert (tmp_path / "out" / "fw-m4" / "app.elf").is_file()


def test_firmware_cmake_example_host(shared, tmp_path):
    """examples/firmware/ around an emitted host library: builds with -Werror, and the
    exit status is the reference's class for the built-in all-zero input."""
    if shutil.which("cmake") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("cmake is not installed")
        pytest.skip("cmake is not installed")
    from bnncc.api import compile_model
    from bnncc.reference import run_reference

    model = shared / "models" / "finn_tfc_w1a1" / "model.onnx"
    compiled, _ = compile_model(str(model), "host", tmp_path / "lib")
    x = np.zeros((1,) + tuple(compiled.graph.input_onnx_shape[1:]), np.float32)
    want = int(np.asarray(run_reference(compiled.model, x)[0]).reshape(-1)[0])   # TopK index
    for cmd in (["cmake", "-S", ROOT / "examples" / "firmware", "-B", tmp_path / "b", f"-DBNNCC_LIB={tmp_path / 'lib'}"],
                ["cmake", "--build", tmp_path / "b"]):
        res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([str(tmp_path / "b" / "app")], capture_output=True, text=True)
    assert res.returncode == want, res.stdout
    assert f"class {want}" in res.stdout
