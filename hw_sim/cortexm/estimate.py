"""Analytic cycle estimator for the generated Cortex-M C: no compiler, no simulator.

Each layer of ``report.json`` names the kernel it calls and the numbers the call is
specialised on (``layer["kernel"]``).  A layer's cycles are modelled as a linear form in
a few *features* of those numbers, chosen from the structure of the kernel's loops in
``templates/c/bnn_kernels.h``:

    cycles(layer) = sum_f  coef[variant][f] * feature_f(layer)

The popcount streams are the core of it.  ``bnn_pc_feed`` of ``L`` words runs
``L // B`` blocks and ``L % B`` single words (``B`` = ``feed_block``: 8 or 16 for
Harley-Seal, 2 for USADA8 pairs, 1 for per-word SWAR/builtin), so a dense layer of
``N`` rows of ``n_words`` words costs ``one + N * (rows + blocks * (n_words // B) +
tail * (n_words % B))``.  A convolution feeds whole in-map kernel rows (``KW * wpp``
words) where the window row lies inside the map, single taps (``wpp`` words) at the
edges; the estimator walks the output positions to count feeds, blocks and tail words
exactly.  Data-dependent costs (argmax updates) enter with their mean.

Every layer function is specialised on its shapes, so GCC folds what the shape makes
constant; the features follow it where that changes the count: an output position
whose window lies wholly in the padding costs nothing when a single output row or
column makes that visible ("folded"), little otherwise ("empty_chans").  A real-input
convolution (``bnn_conv2d_f32``) walks KH rows of KW taps with constant bounds where the
window lies inside the map and the rectangle of valid taps elsewhere; its channel loop
is one MAC for Cin = 1, unrolled for Cin = 2 (GCC 12 at -O2), a loop over one weight word
up to the word width and a word load per MAC beyond, each its own feature.  The float steps
split an element's index by the pixel count unless it is 1.

The coefficients are calibrated per target and per C kernel variant (popcount strategy,
Harley-Seal block, word width: report.json's ``kernel_variant``) by least squares
(non-negative) on per-layer cycles measured by the instruction-set simulator over a set
of networks (``bench/calibrate.py``, which writes the ``[estimate.<variant>]`` tables of
the target file); the whole-model figure adds the cost of ``model_run``'s calls (``run``
variant).
Flash is estimated as the constants plus a calibrated code size per layer kind and a
fixed firmware part, RAM as the arena, the firmware's I/O buffers and the convolutions'
run lists plus a fixed part.
"""

from __future__ import annotations

from dataclasses import dataclass


def _split(n: int, block: int) -> tuple[int, int]:
    return n // block, n % block


def _axis_taps(o: int, stride: int, pad: int, dil: int, k: int, size: int) -> list[int]:
    """Input coordinates of the valid taps of output coordinate ``o``."""
    first = o * stride - pad
    return [first + j * dil for j in range(k) if 0 <= first + j * dil < size]


def _all_inside(k: dict) -> bool:
    """Every window of the layer lies inside the map (no padding reached, dilation 1 along
    x): GCC's value ranges prove bnn_conv2d's inside test true, and on bipolar inputs the
    run list it would build for edge pixels is dead code."""
    return (k["DW"] == 1 and k["PT"] == 0 and k["PL"] == 0
            and (k["OH"] - 1) * k["SH"] + (k["KH"] - 1) * k["DH"] < k["H"]
            and (k["OW"] - 1) * k["SW"] + k["KW"] <= k["W"])


def _conv_walk(k: dict, block: int, word_bits: int) -> dict:
    """Counts of bnn_conv_q's popcount feeds, blocks and tail words summed over the
    output positions (per output channel), and the valid taps."""
    wpp = -(-k["Cin"] // word_bits)
    rows_valid = [len(_axis_taps(oy, k["SH"], k["PT"], k["DH"], k["KH"], k["H"])) for oy in range(k["OH"])]
    feeds = blocks = tail = tail_tap = taps = runs = edge_runs = empty = folded = col_tests = 0
    inside_rows = sum(1 for oy in range(k["OH"]) if oy * k["SH"] - k["PT"] >= 0
                      and oy * k["SH"] - k["PT"] + (k["KH"] - 1) * k["DH"] < k["H"])
    for ox in range(k["OW"]):
        ix0 = ox * k["SW"] - k["PL"]
        cols = len(_axis_taps(ox, k["SW"], k["PL"], k["DW"], k["KW"], k["W"]))
        inside = k["DW"] == 1 and ix0 >= 0 and ix0 + k["KW"] <= k["W"]
        if inside:
            b, t = _split(k["KW"] * wpp, block)
            per_row = (1, b, t)
        else:
            b, t = _split(wpp, block)
            per_row = (cols, cols * b, cols * t)
        for rv in rows_valid:
            feeds += rv * per_row[0]
            blocks += rv * per_row[1]
            if inside:
                tail += rv * per_row[2]
            else:  # one feed of wpp words per tap: another constant-length loop
                tail_tap += rv * per_row[2]
            taps += rv * cols
            runs += rv * per_row[0]
            # bnn_conv_runs's kx iterations: the first ends an inside row
            col_tests += rv * (1 if inside else k["KW"])
        # windows wholly in the padding; "folded" when a single output row or column
        # makes their emptiness a constant GCC sees (then the channel loop is gone)
        for rv in rows_valid:
            if rv == 0 or cols == 0:
                if (rv == 0 and k["OH"] == 1) or (cols == 0 and k["OW"] == 1):
                    folded += 1
                else:
                    empty += 1
        if not inside:  # bnn_conv2d's run-list path (the others take the fixed-row path)
            edge_runs += sum(rows_valid) * per_row[0]
        else:
            edge_runs += (sum(rows_valid) - inside_rows * k["KH"]) * per_row[0]
    return {"feeds": feeds, "blocks": blocks, "tail": tail, "tail_tap": tail_tap, "taps": taps, "runs": runs,
            "edge_runs": edge_runs, "wpp": wpp, "empty": empty, "folded": folded, "col_tests": col_tests}


def _conv_f32_walk(k: dict) -> dict:
    """Counts of bnn_conv2d_f32's work: per pixel, its window's valid taps form a
    rectangle found by skipping the rows and columns outside the map; windows wholly
    inside the map take the loop with constant bounds ("inside"), the others the loop with
    the rectangle's bounds ("edge"); valid rows and taps per output channel on each."""
    rows_valid = [len(_axis_taps(oy, k["SH"], k["PT"], k["DH"], k["KH"], k["H"])) for oy in range(k["OH"])]
    cols_valid = [len(_axis_taps(ox, k["SW"], k["PL"], k["DW"], k["KW"], k["W"])) for ox in range(k["OW"])]
    out = dict.fromkeys(("inside", "edge", "rows_inside", "rows_edge", "taps_inside", "taps_edge"), 0)
    for rv in rows_valid:
        for cv in cols_valid:
            part = "inside" if rv == k["KH"] and cv == k["KW"] else "edge"
            out[part] += 1
            out["rows_" + part] += rv if cv else 0
            out["taps_" + part] += rv * cv
    out["row_skips"] = sum(k["KH"] - rv for rv in rows_valid)
    out["col_skips"] = k["OH"] * sum(k["KW"] - cv for cv in cols_valid)
    return out


def _pool_taps(k: dict) -> int:
    rows = sum(len(_axis_taps(o, k["SH"], k["PT"], k["DH"], k["KH"], k["H"])) for o in range(k["OH"]))
    cols = sum(len(_axis_taps(o, k["SW"], k["PL"], k["DW"], k["KW"], k["W"])) for o in range(k["OW"]))
    return rows * cols


def _step_features(elems: int, k: dict) -> dict:
    """bnn_apply_steps is unrolled into straight float code per layer; VDIV is slow.
    With more than one pixel, each element's ONNX index is split into (channel, pixel)
    by a division by the constant P (a multiply-high; nothing when P = 1, and nothing
    when C = 1: the index is below P, and GCC's value ranges fold the division)."""
    return {"one": 1, "elems": elems, "step_elems": elems * k["steps"], "div_elems": elems * k["div_steps"],
            "pixel_elems": elems if k["P"] > 1 and k["C"] > 1 else 0}


def features(k: dict, block: int, word_bits: int = 32) -> tuple[str, dict[str, float]]:
    """(variant, {feature: value}) of one layer's ``kernel`` record."""
    kind, tern = k["kind"], k.get("ternary", 0)
    if k.get("mst"):
        raise ValueError(f"no cycle model for {kind} layers evaluated along an MST plan")
    if kind == "Dense" and k["real"]:
        # a row of at most one word keeps its weight word in a register
        one_word = k["K"] <= word_bits
        return "dense_f32", {"one": 1, "rows": k["N"], "macs_one_word": k["N"] * k["K"] if one_word else 0,
                             "macs": 0 if one_word else k["N"] * k["K"]}
    if kind == "Dense":
        b, t = _split(k["n_words"], block)
        f = {"one": 1, "rows": k["N"], "blocks": k["N"] * b, "tail": k["N"] * t}
        if tern:
            f["valid"] = k["n_words"]
        return "dense_ternary" if tern else "dense", f
    if kind == "Conv2d":
        pixels = k["OH"] * k["OW"]
        if k["real"]:
            r = _conv_f32_walk(k)
            c, cin = k["Cout"], k["Cin"]
            taps = r["taps_inside"] + r["taps_edge"]
            # the channel loop: one MAC without a loop for Cin = 1 (its cost is the
            # tap's), unrolled for Cin = 2 (GCC 12 -O2), a loop over one weight word up
            # to the word width, a word load per MAC beyond
            f = {"one": 1, "out_rows": k["OH"], "row_skips": r["row_skips"], "pixels": pixels,
                 "col_skips": r["col_skips"], "chans_inside": c * r["inside"], "chans_edge": c * r["edge"],
                 "rows_inside": c * r["rows_inside"], "rows_edge": c * r["rows_edge"],
                 "taps_inside": c * r["taps_inside"] if cin > 1 else 0,
                 "taps_edge": c * r["taps_edge"] if cin > 1 else 0,
                 "taps_inside_one_channel": c * r["taps_inside"] if cin == 1 else 0,
                 "taps_edge_one_channel": c * r["taps_edge"] if cin == 1 else 0,
                 "macs_two": c * taps * cin if cin == 2 else 0,
                 "macs_one_word": c * taps * cin if 2 < cin <= word_bits else 0,
                 "macs": c * taps * cin if cin > word_bits else 0}
            # a 1x1 kernel has no tap loops: GCC compiles a tap to straight code
            return "conv_f32" + ("_1x1" if k["KH"] * k["KW"] == 1 else ""), f
        w = _conv_walk(k, block, word_bits)
        # output positions whose window lies wholly in the padding: GCC folds their
        # (constant, empty) run lists away when the shape makes that visible
        live = pixels - w["empty"] - w["folded"]
        f = {"one": 1, "pixels": pixels, "window": pixels * k["KH"], "col_tests": w["col_tests"], "taps": w["taps"],
             "runs": w["runs"], "chans": live * k["Cout"], "empty_chans": w["empty"] * k["Cout"],
             "feeds": k["Cout"] * w["feeds"], "blocks": k["Cout"] * w["blocks"], "tail": k["Cout"] * w["tail"],
             "tail_tap": k["Cout"] * w["tail_tap"], "edge_feeds": k["Cout"] * w["edge_runs"]}
        if _all_inside(k) and not tern:  # (ternary: the list still counts the valid inputs)
            f.update(window=0, col_tests=0, taps=0, runs=0)
        if tern:
            f["valid_words"] = w["taps"] * w["wpp"]
        # a 1x1 kernel is at most one run per pixel: GCC compiles it to straight code
        pointwise = "_1x1" if k["KH"] * k["KW"] == 1 else ""
        if k["Cout"] == 1 and not pointwise:
            # one output channel: no channel loop, its per-channel overheads differ
            f = {("one_out_" + n if n in ("chans", "edge_feeds") else n): v for n, v in f.items()}
        return ("conv_ternary" if tern else "conv") + pointwise, f
    if kind in ("Threshold", "BinarizeInput"):
        elems = k["P"] * k["C"]
        wpp = -(-k["C"] // word_bits)
        words = k["P"] * wpp
        name = "threshold" + ("_f32" if k["real"] else "") if kind == "Threshold" else "binarize"
        full = k["P"] * (k["C"] // word_bits) * word_bits
        # bits of whole words (a fixed 32-/64-bit inner loop GCC unrolls) and of a pixel's
        # last partial word (a shorter loop) cost differently per element; a 2-bit loop is
        # unrolled too (GCC 12 -O2, read off the disassembly) where its body is small: one
        # rule for all bits, and for a threshold no nonzero plane
        two = k["C"] == 2 and not k["per_element"] and not (kind == "Threshold" and tern)
        return name, {"one": 1, "pixels": k["P"], "full_elems": full, "tail_elems": 0 if two else elems - full,
                      "two_elems": elems if two else 0,
                      "elems_ternary": elems * tern, "words": words, "elems_per_element": elems * k["per_element"]}
    if kind == "FloatSteps":
        elems = k["P"] * k["C"]
        return "float_steps", _step_features(elems, k)
    if kind == "PoolBits":
        wpp = -(-k["C"] // word_bits)
        pixels = k["OH"] * k["OW"]
        return "pool", {"one": 1, "pixels": pixels, "words": pixels * wpp, "tap_words": _pool_taps(k) * wpp,
                        "tap_words_ternary": _pool_taps(k) * wpp * tern}
    if kind == "AffineOut":
        elems = k["P"] * k["C"]
        if k["lut"]:
            return "affine_lut", {"one": 1, "elems": elems}
        return "affine_steps", _step_features(elems, k)
    if kind == "Unpack":
        elems = k["P"] * k["C"]
        return "unpack", {"one": 1, "elems": elems, "elems_ternary": elems * tern}
    if kind == "ArgMax":
        return "argmax", {"one": 1, "n": k["n"]}
    raise ValueError(f"no cycle model for layer kind {kind}")


def run_features(report: dict) -> dict[str, float]:
    """Features of model_run's own cost (the calls), outside the layer functions."""
    return {"one": 1, "layers": len(report["layers"])}


@dataclass(frozen=True)
class Estimate:
    total_cycles: float
    layers: list[dict]          # {index, op, variant, cycles}
    flash_bytes: int
    ram_bytes: int


def _dot(coef: dict, f: dict, variant: str) -> float:
    missing = set(f) - set(coef)
    if missing:
        raise KeyError(f"the target's [estimate.cycles.{variant}] lacks {', '.join(sorted(missing))}")
    return float(sum(coef[name] * v for name, v in f.items()))


def feed_block(popcount: str, hs_block: int = 8) -> int:
    """Words per block of ``bnn_pc_feed``'s main loop for a popcount strategy."""
    return {"harley_seal": int(hs_block), "usada8": 2}.get(popcount, 1)


def pick_table(tables: dict, report: dict) -> dict:
    """The variant table of a target's whole ``[estimate]`` block that fits the C kernel
    variant report.json names (``kernel_variant``; older reports: the default)."""
    name = report.get("kernel_variant", {}).get("name") or tables.get("default")
    if name not in tables or not isinstance(tables[name], dict):
        known = sorted(k for k, v in tables.items() if isinstance(v, dict) and "cycles" in v)
        raise KeyError(f"no [estimate.{name}] table (calibrated: {', '.join(known) or 'none'})")
    return tables[name]


def mst_scaled(layer: dict) -> tuple[dict, float | None]:
    """(kernel record, scale) of a report.json layer.  A layer evaluated along an MST plan
    has no cycle model of its own here: it is estimated as its plain kernel scaled by the
    MST pass's own prediction, predicted_cycles_after / predicted_cycles_before of its
    ``mst`` record (the word-level model of the target file's ``[mst]`` table, fitted by
    bench/mst.py).  Flash counts the plan's bytes (in const_bytes) but not the MST
    kernel's code."""
    kernel = layer["kernel"]
    if not kernel.get("mst"):
        return kernel, None
    rec = layer.get("mst") or {}
    before, after = rec.get("predicted_cycles_before"), rec.get("predicted_cycles_after")
    if not before or after is None:
        raise ValueError(f"no cycle model for {kernel['kind']} layers evaluated along an MST plan without "
                         "the MST pass's prediction (a target without an [mst] cost table)")
    return {k: v for k, v in kernel.items() if k != "mst"}, after / before


def estimate(report: dict, table: dict) -> Estimate:
    """Estimate cycles, flash and RAM of the library in ``report`` (report.json as a
    dict) with one variant table of a target's ``[estimate]`` block, or with the whole
    block (then the table of report.json's ``kernel_variant``)."""
    if "cycles" not in table:
        table = pick_table(table, report)
    block = int(table["feed_block"])
    cycles, code = table["cycles"], table["code_bytes"]
    layers, flash = [], float(table["memory"]["flash_base"])
    for L in report["layers"]:
        kernel, scale = mst_scaled(L)
        variant, f = features(kernel, block, int(report["word_bits"]))
        if variant not in cycles:
            raise KeyError(f"the target's [estimate] has no model for {variant} layers (recalibrate)")
        layers.append({"index": L["index"], "op": L["op"], "variant": variant + ("+mst" if scale is not None else ""),
                       "cycles": max(0.0, _dot(cycles[variant], f, variant)) * (1.0 if scale is None else scale)})
        flash += code.get(variant, 0.0)
    total = sum(L["cycles"] for L in layers) + _dot(cycles["run"], run_features(report), "run")
    totals = report["totals"]
    return Estimate(total, layers, int(round(flash + totals["const_bytes"])),
                    int(round(table["memory"]["ram_base"] + static_ram(report))))


def static_ram(report: dict) -> int:
    """RAM the library and its test firmware reserve, apart from a fixed part: the arena,
    the firmware's input and output buffers and each convolution's run list."""
    n_in = 1
    for d in report["input_shape"]:
        n_in *= d
    n_out = 1
    for d in report["output_shape"]:
        n_out *= d
    out_bytes = 8 if report["layers"] and report["layers"][-1]["op"] == "ArgMax" else 4
    runs = sum(12 * L["kernel"]["KH"] * L["kernel"]["KW"] for L in report["layers"]
               if L["op"] == "Conv2d" and not L["kernel"]["real"])
    return report["totals"]["arena_bytes"] + 4 * n_in + out_bytes * n_out + runs
