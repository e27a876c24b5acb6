"""The third-party models in ../shared: reference == golden, compiled C == golden."""

import numpy as np
import pytest

from bnncc.api import build, compile_model, load_inputs, run_harness, verify, write_tree
from bnncc.reference import run_reference
from bnncc.targets import load_target
from conftest import MODELS

import onnx


@pytest.mark.parametrize("key", sorted(MODELS))
def test_reference_reproduces_golden(shared, key):
    """Our custom-op lowering + onnxruntime equals qonnx's executor (the golden files)."""
    g = np.load(shared / f"golden/{key}_mnist_strat100.npz")
    model = onnx.load(str(shared / MODELS[key]))
    logits = "Add_0_out0" if key.startswith("finn") else None
    out = run_reference(model, g["inputs"], [logits] if logits else None)[0].reshape(100, -1)
    assert np.array_equal(out, g["outputs"])
    assert np.array_equal(np.argmax(out, axis=1), g["argmax"])


@pytest.mark.parametrize("target", ["host", "generic-c"])
@pytest.mark.parametrize("key", sorted(MODELS))
def test_verify_strat100(shared, key, target):
    x, gold = load_inputs(shared / f"golden/{key}_mnist_strat100.npz")
    r = verify(shared / MODELS[key], target, x, golden=gold)
    assert r["bit_exact"] and r["argmax_match"] == 100, r
    assert r["golden_argmax_match"] == 100, r
    if "golden_bit_exact" in r:  # the QONNX graphs output the logits themselves
        assert r["golden_bit_exact"], r


def _mnist_inputs(shared, key):
    imgs = np.load(shared / "data/mnist_5k.npz")["images"].astype(np.float32).reshape(-1, 1, 28, 28)
    return imgs if key.startswith("finn") else imgs / np.float32(255.0)


@pytest.mark.parametrize("key", sorted(MODELS))
def test_all_mnist5k_equal_golden(shared, key, tmp_path):
    """All 5000 images through the compiled C: same logits/classes as the golden run,
    hence the same accuracy (93.30 %)."""
    target = load_target("host")
    compiled, files = compile_model(shared / MODELS[key], target)
    lib = write_tree(files, tmp_path / "lib")
    exe = build(lib, target)
    x = _mnist_inputs(shared, key)
    out_t = compiled.graph.tensors[compiled.graph.output]
    dtype = np.int64 if out_t.dtype.c_type == "int64_t" else np.float32
    got = run_harness(exe, x, dtype, out_t.numel, tmp_path)
    gold = np.load(shared / f"golden/{key}_mnist5k.npz")
    if dtype == np.float32:
        assert np.array_equal(got, gold["outputs"])
        pred = np.argmax(got, axis=1)
    else:
        pred = got[:, 0]
    assert np.array_equal(pred, gold["argmax"])
    acc = float((pred == gold["labels"]).mean())
    assert acc == float((gold["argmax"] == gold["labels"]).mean()) == 0.933


@pytest.mark.parametrize("target", ["host", "generic-c"])
@pytest.mark.parametrize("key", sorted(MODELS))
def test_sanitizers_on_shared_models(shared, key, target):
    """Every shared model, both host word sizes, under ASan/UBSan (abort on the first report)."""
    x, _ = load_inputs(shared / f"golden/{key}_mnist_strat100.npz")
    r = verify(shared / MODELS[key], target, x[:20],
               extra_flags=("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"))
    assert r["bit_exact"], r
