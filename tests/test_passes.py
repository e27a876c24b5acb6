"""Unit tests of the identities the passes rely on, and of the pipeline's invariants."""

import pkgutil

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import bnncc.passes as passes
from bnncc.backends.c.memory import plan
from bnncc.compiler import lower
from bnncc.ir import interp
from bnncc.ir import ops as O
from bnncc.passes import IR_PIPELINE, ONNX_PIPELINE
from bnncc.passes.float_search import from_key, to_key
from bnncc.passes.pack_bits import pack
from bnncc.passes.xnor_popcount import _f
from bnncc.targets import load_target


def test_every_pass_is_in_a_pipeline():
    names = {n for n, _ in ONNX_PIPELINE} | {n for n, _ in IR_PIPELINE}
    modules = {m.name for m in pkgutil.iter_modules(passes.__path__)} - {"sweep", "float_search", "onnx_steps"}
    assert {m.removeprefix("onnx_") for m in modules} == names


@pytest.mark.parametrize("k", [1, 2, 5, 31, 32, 33, 64, 65])
def test_xnor_popcount_identity(k):
    rng = np.random.default_rng(k)
    for _ in range(50):
        a, w = rng.choice([-1, 1], k), rng.choice([-1, 1], k)
        q = int(np.count_nonzero((a > 0) != (w > 0)))
        assert int(a @ w) == k - 2 * q == 2 * (k - q) - k


@pytest.mark.parametrize("k", [1, 2, 3, 8, 9])
def test_xnor_threshold_rewrite_exhaustive(k):
    """For every lo <= hi in range (plus the 'always'/'never' sentinels), every dir and
    every popcount q: the rewritten threshold on q equals the original on x = K - 2q."""
    ts = list(range(-k - 2, k + 3)) + [np.iinfo(np.int32).min, np.iinfo(np.int32).max]
    qs = np.arange(k + 1)
    xs = k - 2 * qs
    for lo in ts:
        for hi in ts:
            if lo > hi:
                continue
            for d in (-1, 1):
                orig = d * ((xs >= hi).astype(int) + (xs >= lo) - 1)
                lo2, hi2 = _f(np.array([hi]), k)[0], _f(np.array([lo]), k)[0]
                new = -d * ((qs >= hi2).astype(int) + (qs >= lo2) - 1)
                assert lo2 <= hi2
                assert np.array_equal(orig, new), (lo, hi, d)


@pytest.mark.parametrize("wb", [32, 64])
@pytest.mark.parametrize("c", [1, 31, 32, 33, 64, 65, 100])
def test_pack_layout_and_zero_tails(wb, c):
    rng = np.random.default_rng(c)
    v = rng.choice([-1, 1], size=(3, c))
    words = pack(v, wb)
    assert words.shape == (3, -(-c // wb))
    for r in range(3):
        for j in range(c):
            assert (int(words[r, j // wb]) >> (j % wb)) & 1 == (v[r, j] > 0)
        tail = int(words[r, -1]) >> (c % wb) if c % wb else 0
        assert tail == 0


def test_float_key_order_is_total_and_roundtrips():
    vals = np.array([-np.finfo(np.float32).max, -1.0, -1e-45, 0.0, 1e-45, 0.5, 1.0, np.finfo(np.float32).max], np.float32)
    keys = to_key(vals)
    assert (np.diff(keys) > 0).all()
    assert np.array_equal(from_key(keys), vals)
    assert to_key(np.float32(-0.0)) == to_key(np.float32(0.0))


def _tiny_model(gamma, beta, mean, var, binarizer="Sign", k=5, n=4):
    """x[1,k] -> Sign -> MatMul(±1) -> BN -> binarizer -> MatMul -> output."""
    rng = np.random.default_rng(0)
    w1 = rng.choice([-1.0, 1.0], (k, n)).astype(np.float32)
    w2 = rng.choice([-1.0, 1.0], (n, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(a.astype(np.float32), nm) for a, nm in
             [(w1, "w1"), (w2, "w2"), (np.float32(gamma) * np.ones(n), "g"), (np.float32(beta) * np.ones(n), "b"),
              (np.asarray(mean, np.float32) * np.ones(n), "m"), (np.float32(var) * np.ones(n), "v")]]
    nodes = [helper.make_node("Sign", ["x"], ["s0"]), helper.make_node("MatMul", ["s0", "w1"], ["a1"]),
             helper.make_node("BatchNormalization", ["a1", "g", "b", "m", "v"], ["bn"]),
             helper.make_node(binarizer, ["bn"], ["s1"]), helper.make_node("MatMul", ["s1", "w2"], ["y"])]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


@pytest.mark.parametrize("gamma", [1.5, -1.5, 0.0])
@pytest.mark.parametrize("mean", [1.0, [1.0, -1.0, 3.0, 0.5]])
def test_passes_preserve_semantics_with_ties(gamma, mean):
    """mean = 1 with beta = 0 puts Sign's 0 on a reachable accumulator; negative and
    zero gamma; the interpreter agrees before and after every pass, and with the reference."""
    from bnncc.reference import run_reference
    m = _tiny_model(gamma, 0.0, mean, 1.0)
    c = lower(m, load_target("host"))
    xs = np.random.default_rng(1).choice([-1.0, 0.0, 1.0, 0.3], size=(64, 5)).astype(np.float32)
    ref = run_reference(c.model, xs)[0].reshape(64, -1)
    for name, g in c.stages:
        got = np.stack([interp.run(g, x) for x in xs]).reshape(64, -1)
        assert np.array_equal(got, ref), name
    kinds = [op.kind for op in c.graph.ops]
    assert kinds == ["BinarizeInput", "Dense", "Threshold", "Dense", "AffineOut"]
    th = next(op for op in c.graph.ops if isinstance(op, O.Threshold))
    if gamma == 0:  # constant channel: Sign(beta = 0) = 0 everywhere
        assert c.graph.tensors[th.output].dtype.value == "ternary"


def test_sign_input_zero_interval_is_exact():
    m = _tiny_model(1.0, 0.5, 0.0, 1.0)
    c = lower(m, load_target("host"))
    b = c.graph.ops[0]
    assert isinstance(b, O.BinarizeInput)
    # Sign: -1 below -0.0, 0 on [0, smallest positive), +1 from the smallest positive float
    assert b.lo[0] == np.float32(0.0) and b.hi[0] == np.float32(1e-45)
    assert c.graph.tensors[b.output].dtype.value == "ternary"


def test_bipolarquant_tie_maps_to_plus_one():
    """MultiThreshold-style '>=' quantizers give a bipolar activation: no zero level."""
    m = _tiny_model(1.0, 0.0, 1.0, 1.0)
    for node in m.graph.node:
        if node.op_type == "Sign" and node.input[0] == "bn":
            node.op_type = "BipolarQuant"
            node.domain = "qonnx.custom_op.general"
            node.input.append("one")
    m.graph.initializer.append(numpy_helper.from_array(np.float32(1.0), "one"))
    m.opset_import.append(helper.make_opsetid("qonnx.custom_op.general", 1))
    c = lower(m, load_target("host"))
    th = next(op for op in c.graph.ops if isinstance(op, O.Threshold))
    assert c.graph.tensors[th.output].dtype.value == "bipolar"


def test_memory_plan_never_overlaps_live_tensors(shared):
    c = lower(shared / "models/qonnx_tfc_w1a1/TFC_1W1A.onnx", load_target("generic-c"))
    p = plan(c.graph)
    names = list(p.offsets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            (fa, la), (fb, lb) = p.lifetimes[a], p.lifetimes[b]
            if fa <= lb and fb <= la:
                assert p.offsets[a] + p.sizes[a] <= p.offsets[b] or p.offsets[b] + p.sizes[b] <= p.offsets[a]
    assert p.arena_bytes <= sum(p.sizes.values())


def _quant_model(bits, signed, narrow, zeropt):
    """x -> Quant(x) -> MatMul(±1) -> output, QONNX domain."""
    w = numpy_helper.from_array(np.array([[1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], np.float32), "w")
    consts = [numpy_helper.from_array(np.float32(v), n) for v, n in ((1.0, "s"), (zeropt, "z"), (bits, "b"))]
    q = helper.make_node("Quant", ["x", "s", "z", "b"], ["q"], domain="qonnx.custom_op.general", name="my_quant",
                         signed=signed, narrow=narrow, rounding_mode="ROUND")
    g = helper.make_graph([q, helper.make_node("MatMul", ["q", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], initializer=[w] + consts)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)])


@pytest.mark.parametrize("bits,signed,narrow", [(2, 1, 0), (4, 1, 1), (1, 1, 0), (8, 0, 0)])
def test_multibit_quant_is_refused_naming_the_node(bits, signed, narrow):
    from bnncc.errors import UnsupportedError
    with pytest.raises(UnsupportedError, match=rf"my_quant.*unsupported: {bits}-bit Quant"):
        lower(_quant_model(bits, signed, narrow, 0.0), load_target("host"))


def test_two_level_quant_is_bipolar_and_exact():
    """Unsigned 1-bit Quant with zero point 0.5 has the levels ±0.5: a bipolar activation
    with scale 1/2; ties follow the reference's round-half-to-even."""
    from bnncc.api import verify
    m = _quant_model(1, 0, 0, 0.5)
    c = lower(m, load_target("host"))
    assert c.graph.tensors[c.graph.ops[0].output].dtype.value == "bipolar"
    xs = np.array([[0.0, 0.5, -0.5], [1e-7, -1e-7, 3.0], [-2.0, 0.25, 0.75]], np.float32)
    r = verify(m, "host", inputs=xs)
    assert r["bit_exact"], r
