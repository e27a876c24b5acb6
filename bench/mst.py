"""MST channel reordering on the Cortex-M ISS: bit-ops and cycles with and without.

    python bench/mst.py [--quick] [--json out.json] [--digits MODEL.onnx ...] [--target CORE]
    python bench/mst.py --calibrate [--target CORE ...] [--write]

For each model: the pass's per-layer records (bit-ops and 32-bit words touched,
before/after, with ``--mst force``: the paper's Hamming-weight tree) and hw_sim ISS
cycles per binary layer for five builds -- ``off``, ``force`` and ``auto`` (the
cost-model forest, applied only where it predicts a gain) without the input-channel
permutation (``--mst-permute off``), and ``force`` and ``auto`` with it
(``--mst-permute auto``, bnncc/passes/mst_permute_inputs.py: the words each layer's
tree touches before/after and the ISS cycles).  Every build is checked bit-exact
against onnxruntime on the same inputs (the run aborts otherwise).

Models: the shared TFC MLPs (../shared or $BNNCC_SHARED); digits MLPs trained here by
examples/train_digits_bnn.py (the example's 64-65, a wider 256-256, and 256-256 with the
example's opt-in filter-similarity regularizer ``--similarity``, because plain training
gives difference sets spread over every word); any ``--digits`` ONNX files; and synthetic single-/two-layer MLPs with
known weight structure: random ±1 rows (the control: about 2x fewer bit-ops and no
word savings) and clustered rows (few centres, each row a centre with a fraction of
its bits flipped, contiguously or at random), where the difference sets are small; and
a hidden layer whose rows differ only inside a fixed scattered subset of positions
(``subset_rows``), the structure the input-channel permutation is for.

``--fpga`` measures the FPGA side instead (pynq-z2, hw_sim.fpga.mst's LUT model): every
model at the fully unrolled folding (PE = MH and SIMD = MW, for a KxK convolution the
largest SIMD the rules allow, Cin: such a layer stays folded and MST does not pay), with
``--mst force`` and ``--mst auto``: per layer the popcount-tree input bits, the unit's
LUTs and latency before/after, the stage LUTs in ``bnncc simulate``'s totals, and
whether auto applies the plan; ``--csim`` also checks the forced design bit-exact in the
HLS C-simulation (g++).

``--calibrate`` fits the word-level cost model of ``bnncc/passes/mst_reorder.py``
(``WordCosts``, one coefficient set per layer kind -- dense, conv -- and input --
bipolar, ternary) on each ``--target`` core's ISS: chains of dense and conv layers
(``calibration_nets``: the shapes of the models here, padded and unpadded, few and
many channels, clustered and random rows), each built off, forced and forced with depth
1; the features are ``mst_reorder.features`` of the compiled layer (the code the pass
predicts with) and the fit is non-negative least squares on relative error.  It prints
the coefficients, every build's residual, the worst relative error and the margin (how
much the model over-promised a plan's gain, relative, plus 2 points), and ``--write``
stores them as the ``[mst]`` table of ``targets/<core>.toml``.  Why there: targets are
data, board files inherit the table from their core file, and ``bnncc.compiler`` hands
it to the passes as ``mst_costs``; the block sits before bench/calibrate.py's
``[estimate]`` block, which that script rewrites to the end of the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bnncc.api import load_inputs  # noqa: E402
from bnncc.mcu import simulate  # noqa: E402
from bnncc.resources import shared_dir  # noqa: E402
from bnncc.targets import load_target  # noqa: E402

QONNX = "qonnx.custom_op.general"


def shared() -> Path:
    sh = shared_dir()
    if sh is None:
        raise SystemExit("bench/mst.py: no shared models (../shared, or set BNNCC_SHARED)")
    return sh


# ---- synthetic models --------------------------------------------------------------------


def mlp(weights: list[np.ndarray], ternary_input: bool = False) -> onnx.ModelProto:
    """x[1,K] -> binarize -> (MatMul W -> BipolarQuant)* -> MatMul W_last -> y.
    The input binarizer is BipolarQuant (bipolar) or Sign (ternary: Sign(0) = 0)."""
    nodes, inits = [], []
    k = weights[0].shape[0]
    cur = "x"
    for i, w in enumerate(weights):
        binz = f"b{i}"
        if i == 0 and ternary_input:
            nodes.append(helper.make_node("Sign", [cur], [binz]))
        else:
            inits.append(numpy_helper.from_array(np.array(1.0, np.float32), f"s{i}"))
            nodes.append(helper.make_node("BipolarQuant", [cur, f"s{i}"], [binz], domain=QONNX))
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"w{i}"))
        cur = f"m{i}" if i < len(weights) - 1 else "y"
        if i < len(weights) - 1:  # a bias halfway between integers: no ties in the next binarizer
            inits.append(numpy_helper.from_array(np.full(w.shape[1], 0.5, np.float32), f"c{i}"))
            nodes.append(helper.make_node("MatMul", [binz, f"w{i}"], [f"p{i}"]))
            nodes.append(helper.make_node("Add", [f"p{i}", f"c{i}"], [cur]))
        else:
            nodes.append(helper.make_node("MatMul", [binz, f"w{i}"], [cur]))
    g = helper.make_graph(nodes, "mst_bench", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, weights[-1].shape[1]])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX, 1)])
    m.ir_version = 8
    return m


def random_rows(rng, n, k):
    return rng.choice(np.array([-1, 1], np.int8), size=(n, k))


def clustered_rows(rng, n, k, centres: int, flip: float, contiguous: bool):
    """``centres`` random rows; row j = centre j % centres with round(flip * k) bits
    flipped: one contiguous run (differences in few words) or scattered at random."""
    c = random_rows(rng, centres, k)
    rows = c[np.arange(n) % centres].copy()
    nf = max(1, round(flip * k))
    for j in range(n):
        if contiguous:
            s = int(rng.integers(0, k - nf + 1))
            rows[j, s:s + nf] *= -1
        else:
            rows[j, rng.choice(k, nf, replace=False)] *= -1
    return rows


# ---- measuring -------------------------------------------------------------------------


BUILDS = (  # key: (--mst, --mst-permute)
    ("off", ("off", "off")), ("force", ("force", "off")), ("auto", ("auto", "off")),
    ("force_perm", ("force", "auto")), ("auto_perm", ("auto", "auto")),
)


def measure(model, inputs, n: int, depth=None, permute: bool = True, target: str = "cortex-m4") -> dict:
    """ISS runs with MST off, force and auto, each without the input-channel permutation
    (``--mst-permute off``) and, with ``permute``, force and auto with it (``auto``);
    per binary layer: records and cycles (on ``target``'s ISS)."""
    t = load_target(target)
    runs = {}
    for key, (mode, perm) in BUILDS if permute else BUILDS[:3]:
        res = simulate(model, t, inputs=inputs, n=n, options={"mst": mode, "mst_depth": depth, "mst_permute": perm})
        if not res["outputs_match"]:
            raise SystemExit(f"bench/mst.py: MST {key} is not bit-exact on {model if isinstance(model, str) else 'a synthetic model'}")
        runs[key] = res
    layers = []
    for i, L in enumerate(runs["off"]["layers"]):
        f, a = runs["force"]["layers"][i], runs["auto"]["layers"][i]
        if "mst" not in f:
            continue
        fm, am = f["mst"], a["mst"]
        row = {"index": L["index"], "name": L["name"], "bit_ops_before": fm["bit_ops_before"],
               "bit_ops_force": fm["bit_ops_after"], "words_before": fm["words_before"],
               "words_force": fm["words_after"], "depth_force": fm["depth"],
               "auto_applied": am["applied"], "words_auto": am["words_after"],
               "predicted_off": fm["predicted_cycles_before"], "predicted_force": fm["predicted_cycles_after"],
               "predicted_auto": am["predicted_cycles_after"], "model_error": am.get("cost_model_error"),
               "model_margin": am.get("cost_model_margin"),
               "cycles_off": L["cycles"], "cycles_force": f["cycles"], "cycles_auto": a["cycles"],
               "force_roots": fm["roots"], "force_children": fm["children"],
               "force_entries": fm["words_after"] - fm["roots"] * (fm["words_before"] // (fm["roots"] + fm["children"]))}
        if permute:
            fp, ap = runs["force_perm"]["layers"][i], runs["auto_perm"]["layers"][i]
            row.update(words_force_perm=fp["mst"]["words_after"], words_auto_perm=ap["mst"]["words_after"],
                       auto_perm_applied=ap["mst"]["applied"],
                       perm_force_applied=fp["mst"].get("input_permutation", {}).get("applied", False),
                       perm_auto_applied=ap["mst"].get("input_permutation", {}).get("applied", False),
                       perm_note=ap["mst"].get("input_permutation", {}).get("note", ""),
                       predicted_force_perm=fp["mst"]["predicted_cycles_after"],
                       predicted_auto_perm=ap["mst"]["predicted_cycles_after"],
                       cycles_force_perm=fp["cycles"], cycles_auto_perm=ap["cycles"])
        layers.append(row)
    tot = {m: runs[m]["total_cycles"] for m in runs}
    return {"layers": layers, "total_cycles": tot, "bit_ops_before": sum(r["bit_ops_before"] for r in layers),
            "bit_ops_force": sum(r["bit_ops_force"] for r in layers)}


def print_model(name: str, r: dict) -> None:
    print(f"\n== {name}")
    print(f"{'layer':<12}{'bit-ops off->force':>22}{'words off->force':>20}{'depth':>6}{'auto':>6}"
          f"{'ISS off':>10}{'ISS force':>11}{'ISS auto':>10}{'pred off/force/auto':>26}")
    for L in r["layers"]:
        print(f"{L['name'][:11]:<12}{L['bit_ops_before']:>10,} ->{L['bit_ops_force']:>8,} ({L['bit_ops_before'] / max(1, L['bit_ops_force']):.2f}x)"
              f"{L['words_before']:>9,} ->{L['words_force']:>7,}{L['depth_force']:>6}{'yes' if L['auto_applied'] else 'no':>6}"
              f"{L['cycles_off']:>10,.0f}{L['cycles_force']:>11,.0f}{L['cycles_auto']:>10,.0f}"
              f"{L['predicted_off']:>10,.0f}/{L['predicted_force']:,.0f}/{L['predicted_auto']:,.0f}")
    if "cycles_force_perm" in (r["layers"] or [{}])[0]:
        print(f"  input-channel permutation (--mst-permute auto):\n  {'layer':<12}{'permuted f/a':>13}"
              f"{'words force':>16}{'words auto':>16}{'ISS force':>18}{'ISS auto':>18}{'pred auto':>18}")
        for L in r["layers"]:
            yn = ("yes" if L["perm_force_applied"] else "no") + "/" + ("yes" if L["perm_auto_applied"] else "no")
            print(f"  {L['name'][:11]:<12}{yn:>13}{L['words_force']:>8,}->{L['words_force_perm']:<7,}"
                  f"{L['words_auto']:>8,}->{L['words_auto_perm']:<7,}{L['cycles_force']:>9,.0f}->{L['cycles_force_perm']:<8,.0f}"
                  f"{L['cycles_auto']:>9,.0f}->{L['cycles_auto_perm']:<8,.0f}{L['predicted_auto']:>9,.0f}->{L['predicted_auto_perm']:<8,.0f}"
                  + (f" ({L['perm_note']})" if L["perm_note"] else ""))
    for L in r["layers"]:
        if not L["auto_applied"] and abs(L["cycles_auto"] - L["cycles_off"]) > 0.02 * L["cycles_off"]:
            print(f"  note: {L['name']} is unchanged by auto yet its cycles moved {L['cycles_off']:,.0f} -> "
                  f"{L['cycles_auto']:,.0f} (code placement or inlining; see the note at DIGITS)")
    t = r["total_cycles"]
    print(f"{'model':<12}{r['bit_ops_before']:>10,} ->{r['bit_ops_force']:>8,} ({r['bit_ops_before'] / max(1, r['bit_ops_force']):.2f}x)"
          f"{'':>22}{t['off']:>10,.0f}{t['force']:>11,.0f}{t['auto']:>10,.0f}   (total cycles per inference)")
    if "auto_perm" in t:
        print(f"{'':<12}with the permutation: force {t['force_perm']:,.0f}, auto {t['auto_perm']:,.0f} total cycles")


def subset_rows(rng, n, k, centres: int, flips: int, subset: int):
    """``centres`` random rows; row j = centre j % centres with ``flips`` bits flipped,
    all inside one fixed subset of ``subset`` scattered positions: the differences touch
    many words in the given order and few after an input-channel permutation."""
    s = np.sort(rng.choice(k, subset, replace=False))
    rows = random_rows(rng, centres, k)[np.arange(n) % centres].copy()
    for j in range(n):
        rows[j, rng.choice(s, flips, replace=False)] *= -1
    return rows


def synthetic_cases(quick: bool):
    rng = np.random.default_rng(0)
    yield ("hidden 256 -> 64, 3 flips within 32 scattered positions",
           mlp([random_rows(rng, 256, 64).T, subset_rows(rng, 64, 256, 4, 3, 32).T, random_rows(rng, 10, 64).T]))
    k, n = (256, 32) if quick else (784, 64)
    yield "random ±1 (control)", mlp([random_rows(rng, n, k).T, random_rows(rng, 10, n).T])
    yield "clustered 4 centres, 1% contiguous flips", mlp([clustered_rows(rng, n, k, 4, 0.01, True).T, random_rows(rng, 10, n).T])
    yield "clustered 4 centres, 1% scattered flips", mlp([clustered_rows(rng, n, k, 4, 0.01, False).T, random_rows(rng, 10, n).T])
    if not quick:
        yield "clustered 4 centres, 5% scattered flips", mlp([clustered_rows(rng, n, k, 4, 0.05, False).T, random_rows(rng, 10, n).T])
        yield "clustered, 1% contiguous, ternary input", mlp([clustered_rows(rng, n, k, 4, 0.01, True).T, random_rows(rng, 10, n).T],
                                                             ternary_input=True)
    r2 = np.random.default_rng(1)
    yield ("hidden 256 -> 64, random ±1 (permutation control)",
           mlp([random_rows(r2, 256, 64).T, random_rows(r2, 64, 256).T, random_rows(r2, 10, 64).T]))


DIGITS = (  # (label, train_digits_bnn.py arguments)
    ("digits mlp 64-65 (example default)", ["--arch", "mlp"]),
    ("digits cnn 32-64 (example default)", ["--arch", "cnn"]),
    ("digits mlp 256-256", ["--arch", "mlp", "--hidden", "256", "256"]),
    ("digits mlp 256-256, similarity 0.01", ["--arch", "mlp", "--hidden", "256", "256", "--similarity", "0.01"]),
    ("digits mlp 256-256, similarity 0.05", ["--arch", "mlp", "--hidden", "256", "256", "--similarity", "0.05"]),
)
# Layer kernels (bnn_conv2d, bnn_conv2d_mst, ...) are always inlined into their layer
# function, so a layer's code no longer depends on which other layers call the same
# kernel; print_model still flags a layer whose cycles move although auto left it alone.


def train_digits(workdir: Path, quick: bool):
    """Train the digits MLPs with examples/train_digits_bnn.py; yields (label, onnx, inputs, accuracy)."""
    import re
    import subprocess

    for i, (label, extra) in enumerate(DIGITS[:2] if quick else DIGITS):
        out, inp = workdir / f"digits{i}.onnx", workdir / f"digits{i}.npz"
        res = subprocess.run([sys.executable, str(REPO / "examples" / "train_digits_bnn.py"),
                              "--out", str(out), "--save-inputs", str(inp), *extra], capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"bench/mst.py: training {label} failed: {res.stderr.strip()[-300:]}")
        acc = re.search(r"exported model \(onnxruntime\): test accuracy ([0-9.]+)", res.stdout)
        yield label, out, load_inputs(inp)[0], float(acc.group(1)) if acc else None


def net(layers: list[tuple], in_shape: tuple, binarizer: str = "BipolarQuant") -> onnx.ModelProto:
    """A chain of binary layers for calibration: ``layers`` are ("dense", W [K, N]) or
    ("conv", W [Cout, Cin, k, k], stride, pad); every layer's input is binarized by
    ``binarizer``: BipolarQuant (bipolar inputs, a bias of 0.5 between layers: no ties)
    or Sign (ternary inputs everywhere: bias 0, Sign(0) = 0).  All the MST layers of a
    build have the same input kind: GCC specialises the shared out-of-line children loop
    of bnn_dense_mst when every call site passes the same ``ternary`` constant."""
    nodes, inits = [], []
    cur = "x"
    shape = list(in_shape)
    for i, (kind, w, *geo) in enumerate(layers):
        b = f"b{i}"
        if binarizer == "Sign":
            nodes.append(helper.make_node("Sign", [cur], [b]))
        else:
            inits.append(numpy_helper.from_array(np.array(1.0, np.float32), f"s{i}"))
            nodes.append(helper.make_node("BipolarQuant", [cur, f"s{i}"], [b], domain=QONNX))
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"w{i}"))
        last = i == len(layers) - 1
        out = "y" if last else f"m{i}"
        if kind == "dense":
            if i and layers[i - 1][0] == "conv":
                nodes.append(helper.make_node("Flatten", [b], [f"f{i}"], axis=1))
                b = f"f{i}"
            nodes.append(helper.make_node("MatMul", [b, f"w{i}"], [f"p{i}"]))
            bias = np.full(w.shape[1], 0.5 if binarizer != "Sign" else 0.0, np.float32)
            shape = [1, w.shape[1]]
        else:
            stride, pad = geo
            k = w.shape[2]
            nodes.append(helper.make_node("Conv", [b, f"w{i}"], [f"p{i}"], kernel_shape=[k, k], strides=[stride] * 2,
                                          pads=[pad] * 4))
            bias = np.full((1, w.shape[0], 1, 1), 0.5 if binarizer != "Sign" else 0.0, np.float32)
            size = (shape[2] + 2 * pad - k) // stride + 1
            shape = [1, w.shape[0], size, size]
        inits.append(numpy_helper.from_array(bias, f"c{i}"))
        nodes.append(helper.make_node("Add", [f"p{i}", f"c{i}"], [out]))
        cur = out
    g = helper.make_graph(nodes, "mst_calibrate", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX, 1)])
    m.ir_version = 8
    return m


def _rows(rng, n, k, how):
    """clustered rows (3 centres) of the given flip fraction and kind, or random (how = None)."""
    if how is None:
        return random_rows(rng, n, k)
    flip, contiguous = how
    return clustered_rows(rng, n, k, 3, flip, contiguous)


def calibration_nets(quick: bool):
    """(label, layers spec, input shape): dense and conv chains with the shapes the
    models of this bench have (TFC-like and digits MLPs, the digits CNN's padded 3x3
    layers on 8x8 and 4x4 maps with 1 and 32 input channels) and others (unpadded,
    stride 2, 5x5, 1x1, two words per pixel); rows clustered (contiguous or scattered
    flips) or random."""
    rng = np.random.default_rng(11)
    dense = [[784, (64, (0.01, True)), (64, (0.03, False)), (48, None)],
             [256, (256, (0.05, False)), (32, (0.02, True)), (24, (0.01, False))],
             [512, (128, (0.02, True)), (96, (0.01, False)), (16, (0.05, True))],
             [128, (64, (0.03, True)), (32, (0.05, False)), (10, None)],      # small last layers (TFC's 64 -> 10)
             [1024, (32, None), (64, (0.02, False)), (10, (0.1, True))]]
    for spec in dense[:2] if quick else dense:
        layers, k = [], spec[0]
        for n, how in spec[1:]:
            layers.append(("dense", _rows(rng, n, k, how).T))
            k = n
        yield "dense " + "-".join(str(v if isinstance(v, int) else v[0]) for v in spec), layers, (1, spec[0])
    convs = [  # (in H=W, Cin) then per layer (Cout, k, stride, pad, how)
        (8, 1, [(32, 3, 1, 1, (0.1, True)), (64, 3, 1, 1, (0.03, False))]),     # the digits CNN, no pooling
        (4, 32, [(64, 3, 1, 1, (0.02, True)), (32, 3, 1, 1, None)]),
        (10, 3, [(32, 3, 1, 0, (0.05, False)), (48, 3, 2, 1, (0.02, True))]),
        (6, 40, [(64, 3, 1, 1, (0.01, True)), (32, 1, 1, 0, (0.03, False))]),
        (12, 8, [(24, 5, 1, 2, (0.02, False)), (16, 3, 1, 1, (0.5, False))]),
        (5, 96, [(32, 3, 1, 1, (0.02, True)), (16, 3, 1, 0, (0.05, False))]),   # 9-word runs: Harley-Seal blocks
        (8, 1, [(16, 3, 1, 1, (0.1, False)), (8, 3, 1, 1, (0.02, True))]),     # few channels: per-pixel costs
        (7, 16, [(8, 3, 1, 0, None), (12, 2, 1, 0, (0.05, True))]),
    ]
    if quick:
        convs = convs[:2]
    for hw, cin, spec in convs:
        layers, c, size = [], cin, hw
        for cout, k, s, p, how in spec:
            w = _rows(rng, cout, c * k * k, how).reshape(cout, c, k, k)
            layers.append(("conv", w, s, p))
            c, size = cout, (size + 2 * p - k) // s + 1
        yield f"conv {hw}x{hw}x{cin} " + " ".join(f"{L[1].shape[0]}c{L[1].shape[2]}s{L[2]}p{L[3]}" for L in layers), \
            layers, (1, cin, hw, hw)


CAL_BUILDS = (("off", None), ("force", None), ("force", 1))  # (--mst, --mst-depth)
FEED_BLOCK = {"builtin": 1, "swar": 1, "usada8": 2, "harley_seal": 8}   # as bench/calibrate.py


def calibration_points(target_name: str, quick: bool):
    """Per build and MST-candidate layer: (set, features, ISS cycles, build key) with the
    set "dense"/"conv" x "bipolar"/"ternary"; features from mst_reorder.features of the
    lowered graph (the same code the pass predicts with)."""
    from bnncc.compiler import lower
    from bnncc.passes import mst_reorder

    t = load_target(target_name)
    block = FEED_BLOCK[t.popcount]
    pts = []
    for label, layers, shape in calibration_nets(quick):
        for binz in ("BipolarQuant", "Sign"):
            model = net(layers, shape, binz)
            for mode, depth in CAL_BUILDS:
                opts = {"mst": mode, "mst_depth": depth, "mst_permute": "off"}
                res = simulate(model, t, inputs=None, n=1, options=opts)
                if not res["outputs_match"]:
                    raise SystemExit(f"bench/mst.py: calibration build {label} {mode} is not bit-exact")
                g = lower(model, t, options=opts).graph
                cyc = {L["index"]: L["cycles"] for L in res["layers"]}
                for i, op in enumerate(g.ops):
                    if op.output not in g.meta.get("mst", {}) and not (mode == "off" and _eligible(op)):
                        continue
                    L = mst_reorder._layer(op, g, block)
                    kind = ("conv" if L.conv else "dense", "ternary" if L.ternary else "bipolar")
                    pts.append({"set": kind, "f": mst_reorder.features(L, op.mst), "y": cyc[i],
                                "key": (label, binz, i), "build": f"{mode}/{depth}", "mst": op.mst is not None})
    return pts, block


def _eligible(op) -> bool:
    from bnncc.ir import ops as O

    return isinstance(op, (O.Dense, O.Conv2d)) and op.acc in ("dot", "xor_popcount") and op.weight.shape[0] > 1


def fit(pts: list[dict]) -> dict:
    """Non-negative least squares on the relative error (rows divided by the ISS cycles),
    per set; error = worst |predicted / ISS - 1|; margin = worst (ISS after/before -
    predicted after/before, relative) over the MST builds: the gain the model over-promised."""
    from scipy.optimize import nnls

    out = {}
    for kind in ("dense", "conv"):
        out[kind] = {}
        for inp in ("bipolar", "ternary"):
            P = [p for p in pts if p["set"] == (kind, inp)]
            names = sorted({k for p in P for k, v in p["f"].items() if v})
            A = np.array([[p["f"].get(k, 0.0) for k in names] for p in P])
            y = np.array([p["y"] for p in P])
            coef, _ = nnls(A / y[:, None], np.ones(len(y)))
            pred = A @ coef
            for p, q in zip(P, pred):
                p["pred"] = float(q)
            off = {p["key"]: p for p in P if not p["mst"]}
            # relative residual of the after/before ratio: ISS ratio = predicted ratio (1 + r)
            rel = [((p["y"] / off[p["key"]]["y"]) / (p["pred"] / off[p["key"]]["pred"]) - 1, p) for p in P
                   if p["mst"] and p["key"] in off]
            r = max([0.0] + [v for v, _ in rel])
            margin = r / (1 + r)    # predicted ratio < 1 - margin = 1 / (1 + r)  =>  ISS ratio < 1
            out[kind][inp] = {"cycles": {k: round(float(c), 4) for k, c in zip(names, coef)},
                              "error": round(float(np.max(np.abs(pred / y - 1))), 4), "margin": round(margin, 4),
                              "points": P, "rel": rel}
    return out


MST_BEGIN = "# --- [mst]: generated by bench/mst.py --calibrate --write, do not edit by hand ---"


def render_mst_table(table: dict, block: int, note: str) -> str:
    lines = [MST_BEGIN, f"# {note}", "[mst]", f"block = {block}", f'source = "{table["source"]}"']
    for kind in ("dense", "conv"):
        for inp in ("bipolar", "ternary"):
            s = table[kind][inp]
            cyc = ", ".join(f"{k} = {v!r}" for k, v in s["cycles"].items())
            lines += [f"[mst.{kind}.{inp}]", f"error = {s['error']!r}", f"margin = {s['margin']!r}", f"cycles = {{ {cyc} }}"]
    return "\n".join(lines) + "\n"


def write_mst_table(path: Path, text: str) -> None:
    """Replace (or insert) the [mst] block: it sits before the [estimate] block of
    bench/calibrate.py, which that script rewrites up to the end of the file."""
    src = path.read_text(encoding="utf-8")
    lines = src.split("\n")
    if MST_BEGIN in lines:
        a = lines.index(MST_BEGIN)
        b = next((j for j in range(a + 1, len(lines)) if lines[j].startswith("# --- [")), len(lines))
        while b > a and lines[b - 1] == "":
            b -= 1
        lines[a:b] = text.rstrip("\n").split("\n")
    else:
        est = next((j for j, s in enumerate(lines) if s.startswith("# --- [estimate]")), len(lines))
        lines[est:est] = text.rstrip("\n").split("\n") + [""]
    path.write_text("\n".join(lines), encoding="utf-8")


def calibrate(quick: bool, target_name: str = "cortex-m4", write: bool = False, margin_pad: float = 0.02) -> None:
    """Fit the word-level model of ``target_name`` on its ISS, print every build's
    residual, and with ``write`` store the table in targets/<target>.toml."""
    pts, block = calibration_points(target_name, quick)
    table = fit(pts)
    for kind in ("dense", "conv"):
        for inp in ("bipolar", "ternary"):
            s = table[kind][inp]
            s["margin"] = round(s["margin"] + margin_pad, 4)
            print(f"\n{target_name} {kind} {inp}: error {s['error']:.1%} (worst |predicted/ISS - 1| over "
                  f"{len(s['points'])} layer builds), margin {s['margin']:.1%} (worst over-predicted gain "
                  f"+ {margin_pad:.0%})")
            print("  " + ", ".join(f"{k}={v:g}" for k, v in s["cycles"].items()))
            for p in s["points"]:
                print(f"  {p['key'][0][:34]:<35}{p['key'][1][:4]:<5}L{p['key'][2]:<3}{p['build']:<10}"
                      f"ISS {p['y']:>10,.0f} predicted {p['pred']:>10,.0f} ({p['pred'] / p['y'] - 1:+.1%})")
            for r, p in sorted(s["rel"], key=lambda x: -x[0])[:3]:
                print(f"  ratio residual {r:+.3f}: {p['key'][0]} {p['key'][1]} L{p['key'][2]} {p['build']}")
    n = len(pts)
    src = (f"bench/mst.py --calibrate on the {target_name} ISS ({load_target(target_name).popcount}, "
           f"{n} layer builds, dense and conv, bipolar and ternary)")
    table["source"] = src
    if write:
        path = REPO / "targets" / f"{target_name}.toml"
        write_mst_table(path, render_mst_table(table, block, f"{n} layer builds; worst errors: " + ", ".join(
            f"{k} {i} {table[k][i]['error']:.1%}" for k in ("dense", "conv") for i in ("bipolar", "ternary"))))
        print(f"\nwrote the [mst] table to {path}")


# ---- FPGA (--fpga) ----------------------------------------------------------------------


def measure_fpga(model, inputs, depth=None, csim: bool = False) -> dict:
    """pynq-z2 at the fully unrolled folding: simulate with --mst force and auto; per
    candidate layer the FPGA record of both and the stage LUTs in the totals."""
    from bnncc.api import verify
    from bnncc.compiler import lower
    from bnncc.folding import mvau_layers
    from bnncc.fpga import simulate as fpga_simulate

    t = load_target("pynq-z2")
    g = lower(model, t).graph
    fold = {m.index: (m.mh, m.simd_unit) for m in mvau_layers(g)}
    spec = ",".join(f"{k}={pe}x{simd}" for k, (pe, simd) in sorted(fold.items()))
    runs = {mode: fpga_simulate(model, t, fold_spec=spec, frames=2, options={"mst": mode, "mst_depth": depth})
            for mode in ("force", "auto")}
    layers = []
    for f, a in zip(runs["force"]["mst_layers"], runs["auto"]["mst_layers"]):
        ff, af = f["fpga"], a["fpga"]
        layers.append({"index": f["index"], "name": f["name"], "op": f["op"], "fold": [ff["pe"], ff["simd"]],
                       "unrolled": ff["unrolled"], "depth_force": f["depth"], "why_auto": af["why"],
                       "bit_ops_before": f["bit_ops_before"], "bit_ops_force": f["bit_ops_after"],
                       "tree_bits_before": ff["tree_bits_before"], "tree_bits_force": ff["tree_bits_after"],
                       "unit_lut_before": ff["lut_before"], "unit_lut_force": ff["lut_after"],
                       "latency_before": ff["latency_before"], "latency_force": ff["latency_after"],
                       "stage_lut_before": f["stage_lut_before"], "stage_lut_force": f["stage_lut_after"],
                       "stage_lut_auto": a["stage_lut_after"], "auto_applied": a["applied"]})
    out = {"fold": spec, "layers": layers,
           "luts": {"off": runs["force"]["luts_without_mst"], "force": runs["force"]["luts"],
                    "auto": runs["auto"]["luts"]},
           "latency_cycles": {"off": runs["force"]["total_cycles_without_mst"],
                              "force": runs["force"]["total_cycles"], "auto": runs["auto"]["total_cycles"]},
           "bit_ops_before": sum(L["bit_ops_before"] for L in layers),
           "bit_ops_force": sum(L["bit_ops_force"] for L in layers)}
    if csim:
        n = 4 if inputs is None else len(inputs)
        rec = verify(model, "pynq-z2", inputs=inputs, n=n, fold=fold, options={"mst": "force", "mst_depth": depth})
        out["csim"] = {"n": rec["n"], "bit_exact": rec["bit_exact"], "max_abs_err": rec["max_abs_err"],
                       "argmax_match": rec["argmax_match"]}
        if not rec["bit_exact"]:   # is it MST's? the same design without MST, same inputs
            off = verify(model, "pynq-z2", inputs=inputs, n=n, fold=fold, options={"mst": "off"})
            out["csim_without_mst"] = {"bit_exact": off["bit_exact"], "max_abs_err": off["max_abs_err"],
                                       "argmax_match": off["argmax_match"]}
    return out


def print_fpga(name: str, r: dict) -> None:
    print(f"\n== {name}  (pynq-z2, fold {r['fold']})")
    print(f"{'layer':<12}{'fold':>11}{'bit-ops off->force':>24}{'unit LUT off->force':>24}{'latency':>9}"
          f"{'depth':>6}{'stage LUT off->force':>24}{'auto':>6}  why (auto)")
    for L in r["layers"]:
        print(f"{L['name'][:11]:<12}{L['fold'][0]:>5}x{L['fold'][1]:<5}"
              f"{L['bit_ops_before']:>11,} ->{L['bit_ops_force']:>9,}"
              f"{L['unit_lut_before']:>11,} ->{L['unit_lut_force']:>9,} {L['latency_before']:>3}->{L['latency_force']:<3}"
              f"{L['depth_force']:>6}{L['stage_lut_before']:>11,} ->{L['stage_lut_force']:>9,}"
              f"{'yes' if L['auto_applied'] else 'no':>6}  {L['why_auto']}")
    lut, lat = r["luts"], r["latency_cycles"]
    print(f"{'model':<12}{'':>11}{r['bit_ops_before']:>11,} ->{r['bit_ops_force']:>9,} "
          f"({r['bit_ops_before'] / max(1, r['bit_ops_force']):.2f}x)   total LUT off {lut['off']:,} force "
          f"{lut['force']:,} auto {lut['auto']:,}; latency off {lat['off']} force {lat['force']} auto {lat['auto']} cycles"
          + _csim_text(r))


def _csim_text(r: dict) -> str:
    if "csim" not in r:
        return ""
    c = r["csim"]
    if c["bit_exact"]:
        return f"; C-sim bit-exact on {c['n']} inputs"
    off = r["csim_without_mst"]
    return (f"; C-sim NOT bit-exact with MST (max |err| {c['max_abs_err']:g}, argmax {c['argmax_match']}/{c['n']}; "
            f"without MST: {'bit-exact' if off['bit_exact'] else 'also not, max |err| %g' % off['max_abs_err']})")


def main_fpga(args) -> int:
    import tempfile

    out = {}
    sh = shared()
    n = 4 if args.quick else 20
    for name, rel in (("finn_tfc_w1a1", "models/finn_tfc_w1a1/model.onnx"),
                      ("qonnx_tfc_w1a1", "models/qonnx_tfc_w1a1/TFC_1W1A.onnx")):
        x, _ = load_inputs(sh / "golden" / f"{name}_mnist100.npz")
        out[name] = measure_fpga(str(sh / rel), x[:n], args.depth, args.csim)
        print_fpga(name, out[name])
    with tempfile.TemporaryDirectory(prefix="bnncc-mst-bench-") as d:
        for label, path, x, acc in train_digits(Path(d), args.quick):
            out[label] = measure_fpga(str(path), x[:n], args.depth, args.csim)
            out[label]["test_accuracy"] = acc
            print_fpga(f"{label} (test accuracy {acc})", out[label])
    for name, model in synthetic_cases(args.quick):
        out[name] = measure_fpga(model, None, args.depth, args.csim)
        print_fpga(name, out[name])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer inputs and smaller synthetic layers")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--digits", type=Path, nargs="*", default=[], help="extra ONNX models (digits MLPs) to measure")
    p.add_argument("--digits-inputs", type=Path, default=None, help=".npz inputs for the --digits models")
    p.add_argument("--depth", type=int, default=None, help="--mst-depth for the force and auto builds")
    p.add_argument("--calibrate", action="store_true", help="fit the cost model instead")
    p.add_argument("--target", nargs="*", default=["cortex-m4"],
                   help="the core to measure on, or with --calibrate the cores to fit [cortex-m4]")
    p.add_argument("--write", action="store_true", help="with --calibrate: store the [mst] table in targets/<core>.toml")
    p.add_argument("--fpga", action="store_true", help="the FPGA side (pynq-z2, fully unrolled folding) instead")
    p.add_argument("--csim", action="store_true", help="with --fpga: check the forced designs in the HLS C-simulation")
    args = p.parse_args(argv)
    if args.fpga:
        return main_fpga(args)
    if args.calibrate:
        for target_name in args.target:
            calibrate(args.quick, target_name, args.write)
        return 0
    n = 2 if args.quick else 8
    out = {}
    sh = shared()
    for name, rel in (("finn_tfc_w1a1", "models/finn_tfc_w1a1/model.onnx"),
                      ("qonnx_tfc_w1a1", "models/qonnx_tfc_w1a1/TFC_1W1A.onnx")):
        x, _ = load_inputs(sh / "golden" / f"{name}_mnist100.npz")
        out[name] = measure(str(sh / rel), x[:n], n, args.depth, target=args.target[0])
        print_model(name, out[name])
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bnncc-mst-bench-") as d:
        for label, path, x, acc in train_digits(Path(d), args.quick):
            out[label] = measure(str(path), x[:n], n, args.depth, target=args.target[0])
            out[label]["test_accuracy"] = acc
            print_model(f"{label} (test accuracy {acc})", out[label])
    for path in args.digits:
        x = load_inputs(args.digits_inputs)[0][:n] if args.digits_inputs else None
        out[path.name] = measure(str(path), x, n, args.depth, target=args.target[0])
        print_model(path.name, out[path.name])
    for name, model in synthetic_cases(args.quick):
        out[name] = measure(model, None, n, args.depth, target=args.target[0])
        print_model(name, out[name])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
