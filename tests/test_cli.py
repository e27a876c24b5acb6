"""The command-line contract: outputs, determinism, one-line errors with exit code 2."""

import filecmp
import json
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from conftest import MODELS


def bnncc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bnncc.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def _assert_one_line_error(res):
    assert res.returncode == 2, res
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnncc: error:"), res.stderr


def test_compile_writes_library_and_is_deterministic(shared, tmp_path):
    model = shared / MODELS["qonnx_tfc_w1a1"]
    for out in ("a", "b"):
        res = bnncc("compile", model, "--target", "generic-c", "-o", tmp_path / out)
        assert res.returncode == 0, res.stderr
    a, b = tmp_path / "a", tmp_path / "b"
    names = sorted(p.name for p in a.iterdir())
    for f in ("model.h", "model.c", "bnn_kernels.h", "harness.c", "Makefile", "CMakeLists.txt", "README.md", "report.json"):
        assert f in names
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert not mismatch and not errors
    rep = json.loads((a / "report.json").read_text())
    assert rep["totals"]["binary_macs"] == 784 * 64 + 64 * 64 * 2 + 64 * 10
    assert rep["totals"]["arena_bytes"] > 0
    # the Makefile builds with -std=c99 -pedantic -Wall -Wextra -Werror -Wconversion
    res = subprocess.run(["make", "-s"], cwd=a, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_verify_json(shared):
    res = bnncc("verify", shared / MODELS["finn_tfc_w1a1"], "--target", "host", "--inputs",
                shared / "golden/finn_tfc_w1a1_mnist_strat100.npz", "--json")
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["n"] == 100 and r["argmax_match"] == 100 and r["bit_exact"] is True and r["max_abs_err"] == 0


def test_inspect_and_targets(shared):
    res = bnncc("inspect", shared / MODELS["qonnx_tfc_w1a1_clean"], "--ir")
    assert res.returncode == 0 and "Threshold" in res.stdout and "after fuse_sign_threshold" in res.stdout
    res = bnncc("inspect", shared / MODELS["qonnx_tfc_w1a1_clean"])
    assert res.returncode == 0 and "Dense" in res.stdout
    res = bnncc("targets")
    assert res.returncode == 0 and "host" in res.stdout and "generic-c" in res.stdout


def test_closed_pipe_is_quiet(shared):
    """`bnncc inspect --ir | head -1`: the reader leaves early; no error, no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "bnncc.cli", "inspect", str(shared / MODELS["qonnx_tfc_w1a1_clean"]),
                             "--ir"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    proc.stdout.close()  # before it writes anything (its imports alone take longer)
    _, err = proc.communicate(timeout=60)
    assert err == b"" and proc.returncode == 1


def _unsupported_model(tmp_path):
    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    g = helper.make_graph([helper.make_node("Sign", ["x"], ["s"]), helper.make_node("MatMul", ["s", "w"], ["a"]),
                           helper.make_node("Softmax", ["a"], ["y"], name="my_softmax")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], initializer=[w])
    p = tmp_path / "softmax.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), p)
    return p


def test_user_errors_are_one_line_exit_2(tmp_path):
    _assert_one_line_error(bnncc("compile", tmp_path / "missing.onnx", "-o", tmp_path / "o"))
    (tmp_path / "junk.onnx").write_bytes(b"not a model at all")
    _assert_one_line_error(bnncc("compile", tmp_path / "junk.onnx", "-o", tmp_path / "o"))
    (tmp_path / "empty.onnx").write_bytes(b"")
    _assert_one_line_error(bnncc("compile", tmp_path / "empty.onnx", "-o", tmp_path / "o"))
    res = bnncc("compile", _unsupported_model(tmp_path), "-o", tmp_path / "o")
    _assert_one_line_error(res)
    assert "Softmax" in res.stderr and "my_softmax" in res.stderr
    assert not (tmp_path / "o").exists()  # nothing half-written
    _assert_one_line_error(bnncc("compile", _unsupported_model(tmp_path), "--target", "nope", "-o", tmp_path / "o"))


def test_refuses_to_overwrite_foreign_folder(shared, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    _assert_one_line_error(bnncc("compile", shared / MODELS["qonnx_tfc_w1a1"], "-o", out))
    assert (out / "precious.txt").read_text() == "keep me"
