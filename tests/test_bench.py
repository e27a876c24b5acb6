"""`bnncc bench`: bnncc's firmware vs the generated float32/int8 C of the same network on
the M4 ISS, outputs equal bit for bit, ratios reported (a CI-sized run)."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import MODELS


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc is not installed")
def test_bench_quick_json(shared):
    res = subprocess.run([sys.executable, "-m", "bnncc.cli", "bench", "--quick", "--no-kernels", "-n", "2", "--json",
                          str(shared / MODELS["finn_tfc_w1a1"])], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    (row,) = out["models"]
    assert row["binary_macs"] == 784 * 64 + 64 * 64 * 2 + 64 * 10
    assert row["bnncc"]["bit_exact_vs_onnxruntime"]
    for v in ("float32", "int8"):
        assert row[v]["bit_exact_vs_bnncc"]
        assert row[v]["cycles_ratio_vs_bnncc"] > 2       # binarized code is much faster
    assert row["float32"]["cycles"] > row["int8"]["cycles"]
    assert out["tvm"]["status"] in ("skipped", "ok") and out["tvm"]["reason"]   # always says why / how
    if "cycles" in row["tvm"]:                      # apache-tvm installed: its build is checked too
        assert row["tvm"]["bit_exact_vs_bnncc"] and row["tvm"]["cycles_ratio_vs_bnncc"] > 2
    assert out["iss"]["instructions_per_second"] > 0

