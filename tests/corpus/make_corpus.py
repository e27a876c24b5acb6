"""The hardening corpus: malformed, hostile and borderline ONNX files, generated.

Every case is built from a tiny valid binarized network (``base_model``) with
``onnx.helper`` and written into a folder; nothing binary is checked in.

* ``ERROR_CASES``: ``bnncc compile`` must exit 2 with one line on stderr that contains
  every string of ``expect`` (the node, op or file it is about) and write nothing.
* ``OK_CASES``: hostile names and gamma = 0; they must compile to C that builds with
  ``-Werror -Wconversion`` and is bit-exact with the reference.

``python tests/corpus/make_corpus.py OUT_DIR`` writes every case into OUT_DIR and
prints one line per case (name, file, expected strings).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, external_data_helper, helper, numpy_helper

F32 = np.float32
QONNX = "qonnx.custom_op.general"


@dataclass
class Case:
    name: str
    build: Callable[[Path], Path]  # writes the model (and side files) under a folder, returns its path
    expect: tuple[str, ...] = ()   # substrings of the one-line error
    ok: bool = False               # compiles (and is bit-exact)
    hostile: tuple[str, ...] = field(default_factory=tuple)  # names that must not appear raw in the C
    twin: Callable[[Path], Path] | None = None  # the same network with plain names


# ------------------------------------------------------------------ the base model


def _pm1(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(F32)


def base_model(*, k: int = 16, h: int = 8, n: int = 3, seed: int = 0, gamma=None, bn_override=None,
               w1=None, opset: int = 13) -> onnx.ModelProto:
    """x[1,1,4,4] -> Flatten -> Sign -> MatMul(±1) -> BatchNormalization -> Sign -> MatMul(±1) -> y[1,n]."""
    rng = np.random.default_rng(seed)
    bn = {
        "gamma": rng.choice([-1.5, -0.5, 0.5, 1.0, 2.0], size=h).astype(F32) if gamma is None else np.asarray(gamma, F32),
        "beta": (rng.integers(-8, 9, size=h) * 0.25).astype(F32),
        "mean": rng.integers(-4, 5, size=h).astype(F32),
        "var": (rng.integers(1, 8, size=h) * 0.5).astype(F32),
    }
    bn.update(bn_override or {})
    inits = [
        numpy_helper.from_array(_pm1(rng, (k, h)) if w1 is None else np.asarray(w1, F32), "w1"),
        numpy_helper.from_array(_pm1(rng, (h, n)), "w2"),
        numpy_helper.from_array(bn["gamma"], "bn_gamma"),
        numpy_helper.from_array(bn["beta"], "bn_beta"),
        numpy_helper.from_array(bn["mean"], "bn_mean"),
        numpy_helper.from_array(bn["var"], "bn_var"),
    ]
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"], name="flatten", axis=1),
        helper.make_node("Sign", ["flat"], ["s0"], name="sign0"),
        helper.make_node("MatMul", ["s0", "w1"], ["a1"], name="matmul1"),
        helper.make_node("BatchNormalization", ["a1", "bn_gamma", "bn_beta", "bn_mean", "bn_var"], ["b1"],
                         name="bn1", epsilon=1e-5),
        helper.make_node("Sign", ["b1"], ["s1"], name="sign1"),
        helper.make_node("MatMul", ["s1", "w2"], ["y"], name="matmul2"),
    ]
    g = helper.make_graph(nodes, "base", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def rename(m: onnx.ModelProto, tensor: Callable[[str], str], node: Callable[[str], str] | None = None,
           graph_name: str | None = None) -> onnx.ModelProto:
    """A copy with every tensor renamed by ``tensor`` (and nodes by ``node``)."""
    out = onnx.ModelProto()
    out.CopyFrom(m)
    g = out.graph
    for n in g.node:
        n.input[:] = [tensor(i) if i else i for i in n.input]
        n.output[:] = [tensor(o) for o in n.output]
        if node is not None:
            n.name = node(n.name)
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        vi.name = tensor(vi.name)
    for t in g.initializer:
        t.name = tensor(t.name)
    if graph_name is not None:
        g.name = graph_name
    return out


def _save(m: onnx.ModelProto, d: Path, name: str = "model.onnx") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    p.write_bytes(m.SerializeToString())  # no checker: many cases are invalid on purpose
    return p


def _raw(data: bytes, name: str = "model.onnx"):
    def build(d: Path) -> Path:
        d.mkdir(parents=True, exist_ok=True)
        p = d / name
        p.write_bytes(data)
        return p
    return build


def _model(fn: Callable[[], onnx.ModelProto], name: str = "model.onnx"):
    return lambda d: _save(fn(), d, name)


# ------------------------------------------------------------------ mutations


def _set_input_dims(dims):
    def fn():
        m = base_model()
        shape = m.graph.input[0].type.tensor_type.shape
        del shape.dim[:]
        for v in dims:
            d = shape.dim.add()
            if isinstance(v, str):
                d.dim_param = v
            else:
                d.dim_value = v
        return m
    return fn


def _truncated():
    data = base_model().SerializeToString()
    return data[: len(data) * 2 // 3]


def _checker_fails():
    m = base_model()
    m.ir_version = 99  # newer than any onnx
    return m


def _not_ssa():
    m = base_model()
    m.graph.node[2].output[0] = "s0"  # two producers of 's0'
    return m


def _future_opset():
    return base_model(opset=999)


def _unknown_domain():
    m = base_model()
    n = m.graph.node[3]
    m.graph.node.remove(n)
    m.graph.node.insert(3, helper.make_node("FancyNorm", ["a1"], ["b1"], name="fancy", domain="com.example.evil"))
    return m


def _missing_initializer():
    m = base_model()
    m.ir_version = 3  # old exports list initializers among the inputs
    m.opset_import[0].version = 9
    bn = m.graph.node[3]
    del bn.attribute[:]
    bn.attribute.append(helper.make_attribute("epsilon", 1e-5))
    for t in m.graph.initializer:
        m.graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    w = next(t for t in m.graph.initializer if t.name == "w2")
    m.graph.initializer.remove(w)
    return m


def _dangling_input():
    m = base_model()
    m.graph.node[5].input[1] = "nowhere"
    return m


def _cycle():
    m = base_model()
    g = m.graph
    # flatten reads the output of sign1: flatten -> ... -> sign1 -> flatten
    g.node[0].input[0] = "s1"
    g.node[1].input[0] = "flat"
    return m


def _cycle_sorted_lie():
    """A cycle between two nodes; listed so that only one edge is 'backwards'."""
    m = base_model()
    g = m.graph
    g.node.append(helper.make_node("Neg", ["loop_b"], ["loop_a"], name="loop_neg_a"))
    g.node.append(helper.make_node("Neg", ["loop_a"], ["loop_b"], name="loop_neg_b"))
    return m


def _huge_initializer_dims():
    """An initializer claiming 2**40 elements with no data."""
    m = base_model()
    w = next(t for t in m.graph.initializer if t.name == "w1")
    w.ClearField("raw_data")
    del w.float_data[:]
    del w.dims[:]
    w.dims.extend([1 << 20, 1 << 20])
    return m


def _huge_shape_via_reshape():
    """The input is small; a Reshape to 2**36 elements (a constant shape) is not."""
    m = base_model()
    g = m.graph
    g.initializer.append(numpy_helper.from_array(np.array([1, 1 << 18, 1 << 18], np.int64), "big_shape"))
    g.node[0].CopyFrom(helper.make_node("Reshape", ["x", "big_shape"], ["flat"], name="reshape_big"))
    return m


def _huge_constant_of_shape():
    m = base_model()
    g = m.graph
    g.initializer.append(numpy_helper.from_array(np.array([1 << 20, 1 << 20], np.int64), "cos_shape"))
    g.node.insert(0, helper.make_node("ConstantOfShape", ["cos_shape"], ["cos"], name="cos_big",
                                      value=numpy_helper.from_array(np.array([1.0], F32))))
    g.node.insert(1, helper.make_node("Add", ["x", "cos"], ["x2"], name="add_big"))
    g.node[2].input[0] = "x2"
    return m


def _non_binary_weights():
    rng = np.random.default_rng(1)
    w = _pm1(rng, (16, 8))
    w[3, 2] = 0.5
    return base_model(w1=w)


def _bipolar_annotated_non_binary():
    """FINN-style BIPOLAR annotation on weights that are not ±1."""
    rng = np.random.default_rng(1)
    w = _pm1(rng, (16, 8))
    w[0, 0] = 0.25
    m = base_model(w1=w)
    ann = onnx.TensorAnnotation(tensor_name="w1")
    ann.quant_parameter_tensor_names.add(key="finn_datatype", value="BIPOLAR")
    m.graph.quantization_annotation.append(ann)
    return m


def _bn(**kw):
    return lambda: base_model(bn_override={k: np.asarray(v, F32) for k, v in kw.items()})


def _unsupported_op():
    m = base_model()
    m.graph.node[4].CopyFrom(helper.make_node("Softsign", ["b1"], ["s1"], name="my_softsign"))
    return m


def _unsupported_op_hostile_name():
    m = _unsupported_op()
    m.graph.node[4].name = "evil\nline\r\x1b[31m" + "*/" * 5000
    return m


def _multibit_quant():
    m = base_model()
    g = m.graph
    for v, nm in ((1.0, "q_scale"), (0.0, "q_zp"), (4.0, "q_bits")):
        g.initializer.append(numpy_helper.from_array(np.array(v, F32), nm))
    g.node[4].CopyFrom(helper.make_node("Quant", ["b1", "q_scale", "q_zp", "q_bits"], ["s1"], name="quant4",
                                        domain=QONNX, signed=1, narrow=0, rounding_mode="ROUND"))
    return m


def _external(location: str, setup: Callable[[Path], None] | None = None, length: int | None = None):
    """w1 stored as external data at ``location`` (relative to the model's folder)."""
    def build(d: Path) -> Path:
        d.mkdir(parents=True, exist_ok=True)
        m = base_model()
        w = next(t for t in m.graph.initializer if t.name == "w1")
        raw = w.raw_data
        if setup is not None:
            setup(d)
        external_data_helper.set_external_data(w, location=location, length=len(raw) if length is None else length)
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        return _save(m, d)
    return build


def _secret(d: Path) -> Path:
    s = d.parent / f"{d.name}_secret.bin"
    s.write_bytes(b"\x00\x00\x80\x3f" * 128)  # 1.0f repeated: would even load as weights
    return s


def _symlink_out(d: Path) -> None:
    os.symlink(_secret(d), d / "weights.bin")


def _dotdot_setup(d: Path) -> None:
    _secret(d)


def _external_too_long(d: Path) -> None:
    (d / "weights.bin").write_bytes(b"\x00\x00\x80\x3f" * 128)


def _external_dir(d: Path) -> None:
    (d / "weights.bin").mkdir()


def _two_outputs():
    m = base_model()
    m.graph.output.append(helper.make_tensor_value_info("s1", TensorProto.FLOAT, [1, 8]))
    return m


def _reserved_name():
    return rename(base_model(), lambda t: "__bnncc_bias_1" if t == "bn_beta" else t)


def _bad_input_type():
    m = base_model()
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.INT8
    return m


def _no_nodes():
    m = base_model()
    del m.graph.node[:]
    return m


def _nan_weight():
    rng = np.random.default_rng(1)
    w = _pm1(rng, (16, 8))
    w[:, 1] = np.nan
    return base_model(w1=w)


def _bad_attr_type():
    m = base_model()
    fl = m.graph.node[0]
    del fl.attribute[:]
    fl.attribute.append(helper.make_attribute("axis", "one"))
    return m


def _inconsistent_raw_data():
    m = base_model()
    w = next(t for t in m.graph.initializer if t.name == "w1")
    w.raw_data = w.raw_data[:10]
    return m


def _huge_sweep():
    """Within the element limit, but 577 accumulator values x 262144 elements to evaluate."""
    rng = np.random.default_rng(9)
    c, hw = 64, 64
    inits = [numpy_helper.from_array(_pm1(rng, (c, c, 3, 3)), "wc"),
             numpy_helper.from_array(np.ones(c, F32), "g"), numpy_helper.from_array(np.zeros(c, F32), "b"),
             numpy_helper.from_array(np.zeros(c, F32), "mu"), numpy_helper.from_array(np.ones(c, F32), "v"),
             numpy_helper.from_array(_pm1(rng, (c * hw * hw, 2)), "wd")]
    nodes = [helper.make_node("Sign", ["x"], ["s0"], name="sign0"),
             helper.make_node("Conv", ["s0", "wc"], ["a"], name="conv_big", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["a", "g", "b", "mu", "v"], ["bn"], name="bn_big"),
             helper.make_node("Sign", ["bn"], ["s1"], name="sign1"),
             helper.make_node("Flatten", ["s1"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "wd"], ["y"], name="dense")]
    g = helper.make_graph(nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, hw, hw])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def _invalid_utf8_name():
    m = base_model()
    data = m.SerializeToString().replace(b"matmul2", b"matm\xffl2")  # protobuf: no UTF-8 check on write
    return data


def _unknown_data_type():
    m = base_model()
    next(t for t in m.graph.initializer if t.name == "bn_beta").data_type = 99
    return m


def _value_count_mismatch():
    m = base_model()
    t = next(t for t in m.graph.initializer if t.name == "bn_mean")
    t.CopyFrom(numpy_helper.from_array(np.zeros(8, F32), "bn_mean"))
    t.ClearField("raw_data")
    t.float_data.extend([0.0] * 5)  # 5 values for 8 dims
    return m


def _quant_huge_bits():
    m = _multibit_quant()
    t = next(t for t in m.graph.initializer if t.name == "q_bits")
    t.CopyFrom(numpy_helper.from_array(np.array(1e12, F32), "q_bits"))
    return m


def _quant_missing_inputs():
    m = _multibit_quant()
    del m.graph.node[4].input[2:]
    return m


def _input_type_contradiction():
    """An initializer also listed as a graph input, with another element type."""
    m = base_model()
    m.graph.input.append(helper.make_tensor_value_info("bn_mean", TensorProto.DOUBLE, [8]))
    return m


def _bn_param_shape():
    m = base_model()
    t = next(t for t in m.graph.initializer if t.name == "bn_gamma")
    t.CopyFrom(numpy_helper.from_array(np.ones((2, 4), F32), "bn_gamma"))
    return m


# ------------------------------------------------------------------ hostile names

HOSTILE = (
    "end*/comment", "/*open", "line//comment", 'quote"d', "apo'strophe", "back\\slash", "new\nline", "cr\rret",
    "#define X 1", "#include <stdio.h>", "tri??/graph", "??=??(??)", "int", "return", "_Bool", "main",
    "x.1", "x_1", "x-1", "x 1", "Ünïcødé_名前", "emoji_\U0001F600", "tab\tbed", "$dollar",
    "%s%n%x", "a*\\/b", "???/", "*" * 5 + "/", "[/bold]", "[red]x", "\x1b[2J\x1b]0;pwned\x07",
)


def _hostile_tensor_names(stem: str = ""):
    table: dict[str, str] = {}

    def fn(t: str) -> str:
        if t not in table:
            k = len(table)
            table[t] = HOSTILE[k % len(HOSTILE)] + ("" if k < len(HOSTILE) else f"_{k}") + stem
        return table[t]
    return fn


def _hostile_names():
    counter = iter(range(1000))
    return rename(base_model(seed=3), _hostile_tensor_names(),
                  node=lambda n: HOSTILE[(next(counter) * 5 + 3) % len(HOSTILE)], graph_name="*/ graph \"g\" ??/\n#x")


def _long_names():
    L = 10_000
    return rename(base_model(seed=4), lambda t: ("n" * L)[: L - len(t)] + t,
                  node=lambda n: "*/" * (L // 2 - len(n)) + n, graph_name="g" * L)


def _memo(names):
    table: dict[str, str] = {}

    def fn(t: str) -> str:
        if t not in table:
            table[t] = next(names)
        return table[t]
    return fn


def _colliding_names():
    # every name sanitizes to the same C identifier, and the IR's own stems are taken
    names = iter(["act0", "acc1", "act2", "x.1", "x_1", "x-1", "x 1", "x/1", "x*1", "x+1", "x=1", "x,1", "x:1", "x;1", "x|1", "x~1"])
    return rename(base_model(seed=5), _memo(names),
                  node=lambda n: "same_node", graph_name="model")


def _keyword_names():
    kws = iter(["int", "void", "return", "if", "while", "static", "const", "float", "goto", "switch", "register",
                "sizeof", "NULL", "main", "for", "do", "auto", "extern"])
    return rename(base_model(seed=6), _memo(kws), node=lambda n: "struct",
                  graph_name="union")


def _gamma_zero():
    return base_model(seed=7, gamma=[0.0, 1.0, 0.0, -2.0, 0.0, 0.5, -0.0, 1.0])


def _hostile_file_name(d: Path) -> Path:
    return _save(base_model(seed=8), d, "we*\\ird??= \"name\"\\\n#x ??( é.onnx")


# ------------------------------------------------------------------ the corpus

def _fifo(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    os.mkfifo(d / "pipe.onnx")  # reading it would block forever
    return d / "pipe.onnx"


def _dev_zero_link(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    os.symlink("/dev/zero", d / "zero.onnx")  # endless
    return d / "zero.onnx"


_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"

ERROR_CASES = [
    Case("empty_file", _raw(b""), ("model.onnx", "empty")),
    Case("truncated_protobuf", _raw(_truncated()), ("model.onnx",)),
    Case("text_file", _raw(b"this is not an ONNX model\n" * 3), ("model.onnx",)),
    Case("png_file", _raw(_PNG * 4), ("model.onnx",)),
    Case("zero_bytes_1k", _raw(b"\x00" * 1024), ("model.onnx",)),
    Case("directory_as_model", lambda d: (d / "dir.onnx").mkdir(parents=True) or d / "dir.onnx", ("dir.onnx",)),
    Case("missing_file", lambda d: d / "absent.onnx", ("absent.onnx", "no such file")),
    Case("fifo_as_model", _fifo, ("pipe.onnx", "not a regular file")),
    Case("symlink_to_dev_zero", _dev_zero_link, ("zero.onnx", "not a regular file")),
    Case("checker_fails", _model(_checker_fails), ("onnx.checker",)),
    Case("not_ssa", _model(_not_ssa), ("'s0'", "SSA", "matmul1")),
    Case("future_opset", _model(_future_opset), ("opset",)),
    Case("unknown_domain", _model(_unknown_domain), ("com.example.evil", "FancyNorm", "fancy")),
    Case("missing_initializer", _model(_missing_initializer), ("w2",)),
    Case("dangling_input", _model(_dangling_input), ("nowhere", "matmul2")),
    Case("cycle", _model(_cycle), ("cycle",)),
    Case("cycle_two_nodes", _model(_cycle_sorted_lie), ("cycle",)),
    Case("dynamic_dim", _model(_set_input_dims([1, 1, "H", 4])), ("dynamic", "'H'")),
    Case("zero_dim", _model(_set_input_dims([1, 1, 0, 4])), ("dimension 2",)),
    Case("negative_dim", _model(_set_input_dims([1, 1, -4, 4])), ("dimension 2",)),
    Case("negative_batch", _model(_set_input_dims([-1, 1, 4, 4])), ("batch",)),
    Case("no_input_shape", _model(_set_input_dims([])), ("static shape",)),
    Case("huge_input_dims", _model(_set_input_dims([1, 1, 1 << 20, 1 << 20])), ("elements", "limit")),
    Case("huge_input_dims_overflow", _model(_set_input_dims([1, 1 << 62, 1 << 62, 4])), ("elements", "limit")),
    Case("huge_reshape", _model(_huge_shape_via_reshape), ("elements", "limit")),
    Case("huge_constant_of_shape", _model(_huge_constant_of_shape), ("elements", "limit")),
    Case("huge_initializer_dims", _model(_huge_initializer_dims), ("w1",)),
    Case("huge_activation_sweep", _model(_huge_sweep), ("bn_big", "limit")),
    Case("inconsistent_raw_data", _model(_inconsistent_raw_data), ("w1",)),
    Case("non_binary_weights", _model(_non_binary_weights), ("matmul1", "binary")),
    Case("bipolar_annotation_non_binary", _model(_bipolar_annotated_non_binary), ("matmul1", "binary")),
    Case("nan_weights", _model(_nan_weight), ("matmul1",)),
    Case("bn_nan_mean", _model(_bn(mean=[0, np.nan, 0, 0, 0, 0, 0, 0])), ("bn1", "NaN")),
    Case("bn_inf_gamma", _model(_bn(gamma=[1, 1, np.inf, 1, 1, 1, 1, 1])), ("bn1", "inf")),
    Case("bn_nan_var", _model(_bn(var=[1, 1, 1, 1, 1, 1, 1, np.nan])), ("bn1", "NaN")),
    Case("bn_neg_inf_beta", _model(_bn(beta=[1, 1, 1, -np.inf, 1, 1, 1, 1])), ("bn1", "inf")),
    Case("bn_negative_var", _model(_bn(var=[1, 1, 1, -4, 1, 1, 1, 1])), ("bn1",)),
    Case("unsupported_op", _model(_unsupported_op), ("Softsign", "my_softsign")),
    Case("unsupported_op_hostile_name", _model(_unsupported_op_hostile_name), ("Softsign", "evil\\nline\\r\\x1b")),
    Case("multibit_quant", _model(_multibit_quant), ("4-bit", "quant4")),
    Case("two_outputs", _model(_two_outputs), ("outputs",)),
    Case("invalid_utf8_name", _raw(_invalid_utf8_name()), ("UTF-8",)),
    Case("unknown_data_type", _model(_unknown_data_type), ("bn_beta",)),
    Case("value_count_mismatch", _model(_value_count_mismatch), ("bn_mean",)),
    Case("quant_huge_bit_width", _model(_quant_huge_bits), ("quant4", "bit width")),
    Case("quant_missing_inputs", _model(_quant_missing_inputs), ("quant4",)),
    Case("bn_parameter_shape", _model(_bn_param_shape), ("bn1",)),
    Case("input_type_contradiction", _model(_input_type_contradiction), ("model.onnx", "shape inference")),
    Case("reserved_name", _model(_reserved_name), ("__bnncc",)),
    Case("int8_input", _model(_bad_input_type), ("float32",)),
    Case("no_nodes", _model(_no_nodes), ("no nodes",)),
    Case("bad_attribute_type", _model(_bad_attr_type), ()),
    Case("external_absolute", lambda d: _external(str(_secret(d).resolve()))(d), ("w1", "outside")),
    Case("external_dotdot", lambda d: _external(f"../{d.name}_secret.bin", _dotdot_setup)(d), ("w1", "outside")),
    Case("external_symlink", _external("weights.bin", _symlink_out), ("w1", "outside")),
    Case("external_missing", _external("weights.bin"), ("w1", "missing")),
    Case("external_directory", _external("weights.bin", _external_dir), ("w1",)),
    Case("external_length_mismatch", _external("weights.bin", _external_too_long, length=1 << 40), ("w1",)),
    Case("external_dev_zero", _external("/dev/zero"), ("w1", "outside")),
]

OK_CASES = [
    Case("hostile_names", _model(_hostile_names), ok=True, hostile=HOSTILE + ("*/ graph",),
         twin=_model(lambda: base_model(seed=3))),
    Case("long_names_10k", _model(_long_names), ok=True, hostile=("n" * 200, "*/" * 10, "g" * 200),
         twin=_model(lambda: base_model(seed=4))),
    Case("colliding_names", _model(_colliding_names), ok=True, twin=_model(lambda: base_model(seed=5))),
    Case("c_keyword_names", _model(_keyword_names), ok=True, twin=_model(lambda: base_model(seed=6))),
    Case("gamma_zero", _model(_gamma_zero), ok=True),
    Case("hostile_file_name", _hostile_file_name, ok=True, hostile=("we*\\ird", "??=", '"name"', "é"),
         twin=_model(lambda: base_model(seed=8))),
]

CASES = ERROR_CASES + OK_CASES


def build_corpus(root: Path) -> list[tuple[Case, Path]]:
    """Write every case into its own folder under ``root``."""
    return [(c, c.build(Path(root) / c.name)) for c in CASES]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUT_DIR")
    for case, path in build_corpus(Path(sys.argv[1])):
        print(f"{case.name}\t{path}\t{'ok' if case.ok else 'error'}\t{' | '.join(case.expect)}")
