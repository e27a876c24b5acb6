"""Fuzzing the front-end: mutated model files through load -> passes -> C rendering.

Any exception other than ``BnnccError`` is a failure (so is a result that is not a
file tree).  Seeds are valid models: the corpus base network (several seeds), random
BNNs from ``tests/bnn_models.py`` (dense and conv, every dialect) and, when present,
the shared third-party models.  A mutation is one or more of:

* bytes: bit flips, byte overwrites with boundary values, truncation, insertion,
  deletion, splicing two seeds;
* fields (through protobuf): dims, elem/data types, opset versions, op types, domains,
  attribute values, initializer values (NaN, inf, 0, 0.5, huge), node wiring, node
  order, dropped/duplicated nodes, external-data entries, names.

``python -m tests.fuzz_frontend --iters N [--seed S] [--crashes DIR] [--verify] [--atheris]`` runs N
iterations (default from ``BNNCC_FUZZ_ITERS``, else 300) and prints one JSON line:
(``--verify``: models that compile are also built with ASan/UBSan and must be bit-exact)
iterations, outcomes, failures, seconds.  ``--atheris`` hands the mutator to atheris
(coverage-guided; ``pip install atheris``) instead of a plain random loop.
``tests/test_fuzz.py`` runs it under hypothesis in the default test set.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bnncc.errors import BnnccError  # noqa: E402

DEFAULT_ITERS = int(os.environ.get("BNNCC_FUZZ_ITERS", "300"))
SLOW_SECONDS = 30.0  # an input slower than this is saved beside the crashes
OPS = ("Sign", "MatMul", "Gemm", "Conv", "BatchNormalization", "Add", "Sub", "Mul", "Div", "Relu", "Clip", "Neg",
       "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "MaxPool", "ArgMax", "TopK", "BipolarQuant",
       "MultiThreshold", "Quant", "Softmax", "Identity", "Constant", "Shape", "Gather", "Concat", "Pow", "If", "Loop",
       "ConstantOfShape", "Expand", "Tile", "Range", "Resize", "Where", "Cast")
DOMAINS = ("", "ai.onnx", "qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas", "com.example")
BOUNDARY_INTS = (0, 1, -1, 2, 3, 7, 8, 31, 32, 33, 63, 64, 65, 255, 256, 1 << 15, 1 << 16, 1 << 24, (1 << 31) - 1,
                 1 << 31, -(1 << 31), 1 << 32, 1 << 40, (1 << 62), -(1 << 62), (1 << 63) - 1, -(1 << 63))
BOUNDARY_FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-45, 1e-38, 3.4e38, -3.4e38, float("inf"), float("-inf"),
                   float("nan"), 1e30, 65504.0)


# ------------------------------------------------------------------ seeds


def seed_models(include_shared: bool = True) -> list[bytes]:
    from bnn_models import DIALECTS, KINDS, random_bnn
    from corpus.make_corpus import base_model

    seeds = [base_model(seed=s).SerializeToString() for s in range(3)]
    for s in range(8):
        case = random_bnn(np.random.default_rng(100 + s), KINDS[s % 2], DIALECTS[(s // 2) % len(DIALECTS)],
                          real_input=s % 3 == 0)
        seeds.append(case.model.SerializeToString())
    if include_shared:
        from conftest import MODELS, SHARED

        for rel in sorted(MODELS.values()):
            p = SHARED / rel
            if p.is_file():
                seeds.append(p.read_bytes())
    return seeds


# ------------------------------------------------------------------ mutations


def _mutate_bytes(rnd: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    b = bytearray(data)
    op = rnd.randrange(6)
    if not b:
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(64)))
    if op == 0:  # bit flips
        for _ in range(rnd.randint(1, 8)):
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
    elif op == 1:  # boundary bytes
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.choice((0x00, 0x01, 0x7F, 0x80, 0xFF, 0x08, 0x10, 0x12, 0x1A, 0x22, 0x3A))
    elif op == 2:  # truncate
        b = b[: rnd.randrange(len(b))]
    elif op == 3:  # insert
        i = rnd.randrange(len(b) + 1)
        b[i:i] = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 16)))
    elif op == 4:  # delete
        i = rnd.randrange(len(b))
        del b[i: i + rnd.randint(1, 32)]
    else:  # splice
        other = rnd.choice(seeds)
        i, j = rnd.randrange(len(b)), rnd.randrange(len(other) or 1)
        b = b[:i] + other[j:]
    return bytes(b)


def _all_names(g) -> list[str]:
    names = [i.name for i in g.input] + [o.name for o in g.output] + [t.name for t in g.initializer]
    return names + [t for n in g.node for t in list(n.input) + list(n.output) if t]


def _mutate_dims(rnd, dims) -> None:
    if not len(dims):
        return
    d = dims[rnd.randrange(len(dims))]
    choice = rnd.randrange(3)
    if choice == 0:
        d.dim_value = rnd.choice(BOUNDARY_INTS)
    elif choice == 1:
        d.dim_param = rnd.choice(("N", "batch", "H", ""))
    else:
        d.Clear()


def _mutate_tensor(rnd, t: onnx.TensorProto) -> None:
    choice = rnd.randrange(6)
    if choice == 0 and t.dims:
        i = rnd.randrange(len(t.dims))
        t.dims[i] = rnd.choice(BOUNDARY_INTS)
    elif choice == 1:
        t.data_type = rnd.choice((0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 16, 17, 40, 99))
    elif choice == 2 and t.data_type == TensorProto.FLOAT:
        try:
            a = onnx.numpy_helper.to_array(t).copy()
        except Exception:
            return
        if a.size:
            flat = a.reshape(-1)
            for _ in range(rnd.randint(1, 3)):
                flat[rnd.randrange(flat.size)] = rnd.choice(BOUNDARY_FLOATS)
            t.CopyFrom(onnx.numpy_helper.from_array(a, t.name))
    elif choice == 3:
        t.ClearField("raw_data")
    elif choice == 4:
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        loc = rnd.choice(("w.bin", "../w.bin", "/etc/passwd", "", "sub/../../x", "\x00", "a" * 300))
        e = t.external_data.add()
        e.key, e.value = "location", loc
        if rnd.random() < 0.5:
            e = t.external_data.add()
            e.key, e.value = rnd.choice(("offset", "length")), rnd.choice(("0", "-1", "99999999999", "x", ""))
    else:
        del t.dims[rnd.randrange(len(t.dims) + 1):]


def _mutate_attribute(rnd, node) -> None:
    if node.attribute and rnd.random() < 0.8:
        a = node.attribute[rnd.randrange(len(node.attribute))]
        if a.type == onnx.AttributeProto.INT:
            a.i = rnd.choice(BOUNDARY_INTS)
        elif a.type == onnx.AttributeProto.FLOAT:
            a.f = rnd.choice(BOUNDARY_FLOATS)
        elif a.type == onnx.AttributeProto.INTS:
            if a.ints and rnd.random() < 0.7:
                a.ints[rnd.randrange(len(a.ints))] = rnd.choice(BOUNDARY_INTS)
            else:
                del a.ints[rnd.randrange(len(a.ints) + 1):]
        elif a.type == onnx.AttributeProto.STRING:
            a.s = rnd.choice((b"", b"NCHW", b"NHWC", b"SAME_UPPER", b"VALID", b"ROUND", b"\xff\xfe", b"x" * 1000))
        elif a.type == onnx.AttributeProto.TENSOR:
            _mutate_tensor(rnd, a.t)
        else:
            a.type = rnd.choice((1, 2, 3, 4, 6, 7))
    else:
        name = rnd.choice(("axis", "perm", "pads", "strides", "kernel_shape", "group", "transB", "epsilon", "out_scale",
                           "out_bias", "signed", "narrow", "k", "keepdims", "dilations", "auto_pad", "data_layout"))
        value = rnd.choice((rnd.choice(BOUNDARY_INTS), [rnd.choice(BOUNDARY_INTS) for _ in range(rnd.randrange(5))],
                            rnd.choice(BOUNDARY_FLOATS), "NHWC"))
        try:
            node.attribute.append(onnx.helper.make_attribute(name, value))
        except Exception:
            pass


def _mutate_fields(rnd: random.Random, data: bytes) -> bytes:
    m = onnx.ModelProto()
    try:
        m.ParseFromString(data)
    except Exception:
        return data
    g = m.graph
    for _ in range(rnd.randint(1, 3)):
        choice = rnd.randrange(14)
        nodes = g.node
        if choice == 0:
            vis = list(g.input) + list(g.output)
            if vis:
                vi = rnd.choice(vis)
                if rnd.random() < 0.8:
                    _mutate_dims(rnd, vi.type.tensor_type.shape.dim)
                else:
                    vi.type.tensor_type.elem_type = rnd.choice((0, 1, 2, 3, 6, 7, 10, 11))
        elif choice == 1 and g.initializer:
            _mutate_tensor(rnd, rnd.choice(g.initializer))
        elif choice == 2 and m.opset_import:
            o = rnd.choice(m.opset_import)
            if rnd.random() < 0.7:
                o.version = rnd.choice((0, 1, 6, 7, 9, 11, 12, 13, 17, 19, 21, 28, 29, 999, -1))
            else:
                o.domain = rnd.choice(DOMAINS)
        elif choice == 3 and nodes:
            rnd.choice(nodes).op_type = rnd.choice(OPS)
        elif choice == 4 and nodes:
            rnd.choice(nodes).domain = rnd.choice(DOMAINS)
        elif choice == 5 and nodes:
            _mutate_attribute(rnd, rnd.choice(nodes))
        elif choice == 6 and nodes:  # rewire an input to another tensor (or a fresh name)
            n = rnd.choice(nodes)
            names = _all_names(g) + ["", "ghost"]
            if n.input and rnd.random() < 0.8:
                n.input[rnd.randrange(len(n.input))] = rnd.choice(names)
            else:
                n.input.append(rnd.choice(names))
        elif choice == 7 and nodes:  # rename an output
            n = rnd.choice(nodes)
            if n.output:
                n.output[rnd.randrange(len(n.output))] = rnd.choice(_all_names(g) + ["", "fresh"])
        elif choice == 8 and len(nodes) > 1:  # swap two nodes
            i, j = rnd.randrange(len(nodes)), rnd.randrange(len(nodes))
            a, b = onnx.NodeProto(), onnx.NodeProto()
            a.CopyFrom(nodes[i])
            b.CopyFrom(nodes[j])
            nodes[i].CopyFrom(b)
            nodes[j].CopyFrom(a)
        elif choice == 9 and nodes:  # drop a node
            del nodes[rnd.randrange(len(nodes))]
        elif choice == 10 and nodes:  # duplicate a node
            n = onnx.NodeProto()
            n.CopyFrom(rnd.choice(nodes))
            nodes.insert(rnd.randrange(len(nodes) + 1), n)
        elif choice == 11:  # names
            target = rnd.choice(["graph"] + (["node"] if nodes else []) + (["init"] if g.initializer else []))
            name = rnd.choice(("", "*/", "\n", "a" * 5000, "__bnncc_x", "act0", "x", "\x00", "é"))
            if target == "graph":
                g.name = name
            elif target == "node":
                rnd.choice(nodes).name = name
            else:
                rnd.choice(g.initializer).name = name
        elif choice == 12:
            m.ir_version = rnd.choice((0, 1, 3, 4, 7, 8, 9, 10, 11, 99, -1))
        elif choice == 13 and g.initializer and g.input:  # list an initializer as an input (IR<4 style) or not
            t = rnd.choice(g.initializer)
            g.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type or 1, list(t.dims)))
    try:
        return m.SerializeToString()
    except Exception:
        return data


def mutate(rnd: random.Random, seeds: list[bytes]) -> bytes:
    data = rnd.choice(seeds)
    for _ in range(rnd.choice((1, 1, 1, 2, 3))):
        data = _mutate_fields(rnd, data) if rnd.random() < 0.8 else _mutate_bytes(rnd, data, seeds)
    return data


# ------------------------------------------------------------------ the target


class FuzzFailure(AssertionError):
    pass


SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")


def run_one(data: bytes, workdir: Path, verify: bool = False) -> str:
    """Compile ``data`` as a model file; the outcome's kind ('ok', 'error: load', ...),
    or FuzzFailure for anything but a BnnccError.  With ``verify``, a model that
    compiles is also built (ASan/UBSan) and run: its outputs must equal the reference's."""
    from bnncc.backends.c.emit import render
    from bnncc.compiler import lower
    from bnncc.targets import load_target

    p = workdir / "model.onnx"
    p.write_bytes(data)
    try:
        for name in ("host", "cortex-m4"):
            t = load_target(name)
            c = lower(p, t)
            files = render(c.graph, t)
            if not isinstance(files, dict) or "model.c" not in files:
                raise FuzzFailure("render returned no model.c")
        if verify:
            from bnncc.api import verify as run_verify

            r = run_verify(p, "host", n=8, workdir=workdir, extra_flags=SANITIZE)
            if not r["bit_exact"]:
                raise FuzzFailure(f"compiled C differs from the reference: {r}")
        return "ok"
    except BnnccError as exc:
        return "error: " + _kind(str(exc))
    except Exception as exc:
        raise FuzzFailure(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}") from exc


def _kind(msg: str) -> str:
    """A coarse bucket for the statistics: the message with names and numbers removed."""
    import re

    tail = msg.split(": ", 2)[-1]
    tail = re.sub(r"'[^']*'", "'…'", tail)
    return re.sub(r"-?\d+(\.\d+)?", "N", tail)[:60]


def fuzz(iters: int, seed: int = 0, crashes: Path | None = None, include_shared: bool = True,
         time_budget: float | None = None, verify: bool = False) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    seeds = seed_models(include_shared)
    rnd = random.Random(seed)
    outcomes: Counter = Counter()
    failures = []
    t0 = time.time()
    slowest = (0.0, -1)
    done = 0
    with tempfile.TemporaryDirectory(prefix="bnncc-fuzz-") as d:
        for i in range(iters):
            if time_budget is not None and time.time() - t0 > time_budget:
                break
            data = mutate(rnd, seeds)
            t1 = time.time()
            try:
                outcomes[run_one(data, Path(d), verify)] += 1
            except FuzzFailure as exc:
                failures.append({"iteration": i, "error": str(exc).splitlines()[0][:300]})
                if crashes is not None:
                    crashes.mkdir(parents=True, exist_ok=True)
                    (crashes / f"crash_{seed}_{i}.onnx").write_bytes(data)
                    (crashes / f"crash_{seed}_{i}.txt").write_text(str(exc))
            took = time.time() - t1
            slowest = max(slowest, (took, i))
            if took > SLOW_SECONDS and crashes is not None:  # slow inputs are findings too (denial of service)
                crashes.mkdir(parents=True, exist_ok=True)
                (crashes / f"slow_{seed}_{i}_{took:.0f}s.onnx").write_bytes(data)
            done += 1
    ok = outcomes.pop("ok", 0)
    return {"fuzz": "frontend", "iterations": done, "seed": seed, "verify": verify, "compiled_ok": ok,
            "clear_errors": sum(outcomes.values()), "failures": len(failures), "failure_list": failures[:20],
            "seconds": round(time.time() - t0, 1), "slowest_iteration_s": round(slowest[0], 2),
            "slowest_iteration": slowest[1],
            "top_errors": outcomes.most_common(12)}


def fuzz_atheris(iters: int) -> None:
    import atheris

    seeds = seed_models()
    d = Path(tempfile.mkdtemp(prefix="bnncc-atheris-"))

    def mutator(data: bytes, max_size: int, rnd_seed: int) -> bytes:
        rnd = random.Random(rnd_seed)
        return mutate(rnd, [data] if data and rnd.random() < 0.7 else seeds)[:max_size]

    def target(data: bytes) -> None:
        run_one(data, d)  # FuzzFailure propagates: atheris reports it with the input

    import bnncc.api  # noqa: F401  (load everything the target runs, then instrument it for coverage)
    import bnncc.compiler  # noqa: F401

    atheris.instrument_all()
    start = d / "corpus"
    start.mkdir()
    for k, data in enumerate(seeds):
        (start / f"seed{k}.onnx").write_bytes(data)
    atheris.Setup([sys.argv[0], f"-runs={iters}", f"-max_len={max(map(len, seeds))}", str(start)], target,
                  custom_mutator=mutator)
    atheris.Fuzz()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=DEFAULT_ITERS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crashes", type=Path, default=None, help="write failing inputs here")
    ap.add_argument("--no-shared", action="store_true", help="seeds without the shared models")
    ap.add_argument("--atheris", action="store_true", help="coverage-guided with atheris (pip install atheris)")
    ap.add_argument("--verify", action="store_true",
                    help="also build (ASan/UBSan) and run every model that compiles; outputs must be bit-exact")
    args = ap.parse_args(argv)
    if args.atheris:
        fuzz_atheris(args.iters)
        return 0
    res = fuzz(args.iters, args.seed, args.crashes, include_shared=not args.no_shared, verify=args.verify)
    print(json.dumps(res, sort_keys=True))
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
