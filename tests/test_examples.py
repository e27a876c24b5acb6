"""The newcomer's path: examples/train_digits_bnn.py trains, exports and (once bnncc.api
exists) compiles to bit-exact host C.  Runs the script's --quick mode in a subprocess."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "train_digits_bnn.py"
DIGITS = ROOT.parent / "shared" / "data" / "digits.npz"


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
