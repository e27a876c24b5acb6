"""First layers that take real values (no quantizer before them), and Transpose.

Integer-valued inputs make every float32 partial sum exact, so the compiled C must be
bit-exact with onnxruntime; with arbitrary float inputs the compiled C must equal the
IR's own semantics (a fixed summation order) bit for bit and onnxruntime up to that
order.
"""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from bnncc import api
from bnncc.compiler import lower
from bnncc.errors import UnsupportedError
from bnncc.ir import interp
from bnncc.ir import ops as O
from bnncc.targets import load_target
from bnn_models import random_bnn

F32 = np.float32


def _model(nodes, inits, in_shape, out_shape, out_type=TensorProto.FLOAT):
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info(nodes[-1].output[-1], out_type, out_shape)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def _image_cnn(rng, gamma_zero=False, pool=True, dyadic=False):
    """x/255 -> (x - mean)/std -> Conv 3x3 pad 1 (±1) -> [MaxPool] -> BN -> Sign -> Conv -> tail.
    ``dyadic``: x/256 - 1/2 instead, so that every partial sum of integer pixels is exact."""
    c_in, c1, c2 = 3, 8, 5
    gamma = rng.normal(size=c1).astype(F32)
    if gamma_zero:
        gamma[:2] = 0
    inits = {
        "s255": np.array(255, F32), "mean": rng.uniform(0.3, 0.6, (1, c_in, 1, 1)).astype(F32),
        "std": rng.uniform(0.2, 0.3, (1, c_in, 1, 1)).astype(F32),
        "w1": rng.choice([-1.0, 1.0], (c1, c_in, 3, 3)).astype(F32),
        "g": gamma, "b": rng.normal(size=c1).astype(F32), "m": rng.normal(size=c1).astype(F32),
        "v": rng.uniform(0.5, 2, c1).astype(F32),
        "w2": rng.choice([-1.0, 1.0], (c2, c1, 3, 3)).astype(F32),
    }
    if dyadic:
        inits.update(s255=np.array(256, F32), mean=np.array(0.5, F32), std=np.array(0.25, F32))
    nodes = [
        helper.make_node("Div", ["x", "s255"], ["x1"]),
        helper.make_node("Sub", ["x1", "mean"], ["x2"]),
        helper.make_node("Div", ["x2", "std"], ["x3"]),
        helper.make_node("Conv", ["x3", "w1"], ["a1"], pads=[1, 1, 1, 1]),
    ]
    last = "a1"
    if pool:
        nodes.append(helper.make_node("MaxPool", ["a1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]))
        last = "p1"
    nodes += [
        helper.make_node("BatchNormalization", [last, "g", "b", "m", "v"], ["n1"]),
        helper.make_node("Sign", ["n1"], ["s1"]),
        helper.make_node("Conv", ["s1", "w2"], ["a2"]),
        helper.make_node("Flatten", ["a2"], ["y"]),
    ]
    hw = 4 if pool else 8
    return _model(nodes, inits, [1, c_in, 10, 10], [1, c2 * (hw - 2) * (hw - 2)])


@pytest.mark.parametrize("pool", [True, False])
@pytest.mark.parametrize("gamma_zero", [False, True])
def test_image_cnn_integer_pixels_bit_exact(pool, gamma_zero):
    rng = np.random.default_rng(int(pool) * 2 + int(gamma_zero))
    m = _image_cnn(rng, gamma_zero, pool, dyadic=True)
    x = rng.integers(0, 256, (12, 3, 10, 10)).astype(F32)
    x[0] = 128  # every preprocessed pixel 0: accumulators exactly 0
    res = api.verify(m, target="host", inputs=x)
    assert res["bit_exact"] and len(res["float_accumulation_layers"]) == 1, res


def test_real_input_c_equals_ir_semantics_on_float_inputs(tmp_path):
    """On arbitrary float pixels the C output equals the IR interpreter's bit for bit."""
    rng = np.random.default_rng(7)
    m = _image_cnn(rng)
    x = (rng.random((10, 3, 10, 10)) * 255).astype(F32)
    compiled, files = api.compile_model(m, load_target("host"))
    want = np.stack([interp.run(compiled.graph, s) for s in x]).reshape(len(x), -1)
    lib = api.write_tree(files, tmp_path / "lib")
    got = api.run_harness(api.build(lib, load_target("host")), x, np.float32, want.shape[1], tmp_path)
    assert np.array_equal(got.view(np.int32), want.view(np.int32))


@pytest.mark.parametrize("seed", range(8))
def test_random_real_input_bnn_bit_exact(seed):
    """Generated networks whose first layer takes integer-valued inputs: exact."""
    kind, dialect = ("dense", "conv")[seed % 2], ("onnx", "qonnx", "finn", "mixed")[seed % 4]
    case = random_bnn(np.random.default_rng(100 + seed), kind, dialect, real_input=True)
    res = api.verify(case.model, target="generic-c" if seed % 3 == 0 else "host", inputs=case.inputs)
    assert res["bit_exact"] and res["float_accumulation_layers"], (case.description, res)


def test_real_dense_accumulator_semantics_and_thresholds():
    """Dense(acc=float) sums in order; the threshold pass finds ORT's exact boundary."""
    w = np.array([[1, -1, 1], [-1, -1, 1]], np.int8)
    op = O.Dense("d", ("x",), "y", weight=w, acc="float")
    x = np.array([1e8, 1.0, -1e8], F32)
    # ((0 + 1e8) - 1) - 1e8 in float32 = 0 (the 1 is absorbed), not -1
    assert interp.dense(op, x).tolist() == [0.0, -2e8]
    # y = Sign(x W + 0.5): the boundary sits exactly where ORT's rounding puts it
    inits = {"w": np.array([[1.0], [1.0]], F32), "h": np.array([0.5], F32)}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"]), helper.make_node("Add", ["a", "h"], ["b"]),
             helper.make_node("Sign", ["b"], ["s"]),
             helper.make_node("MatMul", ["s", "w2"], ["y"])]
    inits["w2"] = np.array([[1.0, -1.0]], F32)
    m = _model(nodes, inits, [1, 2], [1, 2])
    g = lower(m, load_target("host")).graph
    th = next(op for op in g.ops if isinstance(op, O.Threshold))
    assert th.lo.dtype == F32 and th.lo[0] == F32(-0.5) and th.hi[0] > F32(-0.5)  # ternary: 0 exactly at -0.5
    xs = np.array([[-0.25, -0.25], [-0.5, 0.0], [3.0, -1.0], [-7.0, 1.0]], F32)
    assert api.verify(m, target="host", inputs=xs)["bit_exact"]


def _transpose_model(before_quantizer: bool):
    rng = np.random.default_rng(3)
    inits = {"w1": rng.choice([-1.0, 1.0], (4, 2, 3, 3)).astype(F32), "w2": rng.choice([-1.0, 1.0], (4 * 3 * 2, 6)).astype(F32),
             "h": np.array([0.5], F32)}
    nodes = [helper.make_node("Sign", ["x"], ["s0"]), helper.make_node("Conv", ["s0", "w1"], ["a1"])]
    if before_quantizer:
        nodes += [helper.make_node("Transpose", ["a1"], ["t"], perm=[0, 2, 3, 1]),
                  helper.make_node("Add", ["t", "h"], ["b"]), helper.make_node("Sign", ["b"], ["s1"]),
                  helper.make_node("Flatten", ["s1"], ["f"])]
    else:
        nodes += [helper.make_node("Add", ["a1", "h"], ["b"]), helper.make_node("Sign", ["b"], ["s1"]),
                  helper.make_node("Transpose", ["s1"], ["t"], perm=[0, 3, 2, 1]),
                  helper.make_node("Flatten", ["t"], ["f"])]
    nodes.append(helper.make_node("MatMul", ["f", "w2"], ["y"]))
    return _model(nodes, inits, [1, 2, 5, 4], [1, 6])


def test_transpose_after_quantizer_bit_exact():
    x = np.random.default_rng(0).normal(size=(10, 2, 5, 4)).astype(F32)
    assert api.verify(_transpose_model(False), target="host", inputs=x)["bit_exact"]


def test_transpose_before_quantizer_refused():
    with pytest.raises(UnsupportedError, match="Transpose is supported only after a quantizer"):
        lower(_transpose_model(True), load_target("host"))
