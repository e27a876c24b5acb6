"""Shared fixtures: paths to ../shared (skipped cleanly when absent)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

MODELS = {
    "qonnx_tfc_w1a1": "models/qonnx_tfc_w1a1/TFC_1W1A.onnx",
    "qonnx_tfc_w1a1_clean": "models/qonnx_tfc_w1a1/TFC_1W1A_qonnx_clean.onnx",
    "finn_tfc_w1a1": "models/finn_tfc_w1a1/model.onnx",
}


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "models").is_dir():
        pytest.skip("../shared is absent")
    return SHARED
