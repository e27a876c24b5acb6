"""Shared fixtures: paths to the shared models (skipped cleanly when absent).

The shared folder is ``$BNNCC_SHARED`` when set, else ``../shared`` next to the
repository (``bnncc.resources.shared_dir``; git worktrees elsewhere set BNNCC_SHARED).
"""

from pathlib import Path

import pytest

from bnncc.resources import shared_dir

REPO = Path(__file__).resolve().parent.parent


SHARED = shared_dir() or REPO.parent / "shared"

MODELS = {
    "qonnx_tfc_w1a1": "models/qonnx_tfc_w1a1/TFC_1W1A.onnx",
    "qonnx_tfc_w1a1_clean": "models/qonnx_tfc_w1a1/TFC_1W1A_qonnx_clean.onnx",
    "finn_tfc_w1a1": "models/finn_tfc_w1a1/model.onnx",
}

GOLDEN = {  # 100 stratified MNIST inputs with onnxruntime's outputs, per model
    "qonnx_tfc_w1a1": "golden/qonnx_tfc_w1a1_mnist_strat100.npz",
    "qonnx_tfc_w1a1_clean": "golden/qonnx_tfc_w1a1_clean_mnist_strat100.npz",
    "finn_tfc_w1a1": "golden/finn_tfc_w1a1_mnist_strat100.npz",
}


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "models").is_dir():
        pytest.skip("../shared is absent")
    return SHARED
