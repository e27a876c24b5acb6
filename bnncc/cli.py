"""The ``bnncc`` command line.  User errors: one line on stderr, exit code 2."""

from __future__ import annotations

import json
import os
import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import BnnccError, one_line, shown


def _fail(msg: str) -> None:
    click.echo(f"bnncc: error: {msg}", err=True)
    sys.exit(2)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BnnccError as exc:
            _fail(one_line(exc))
        except click.UsageError as exc:  # bad option or argument (a directory as MODEL ...)
            _fail(f"{shown(exc.format_message(), 600)} (see --help)")
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            _fail("interrupted")
        except BrokenPipeError:  # `bnncc inspect --ir | head`: the reader left; stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            sys.exit(1)
        except Exception as exc:  # a bug in bnncc: still one line, but say so
            _fail(f"internal error ({type(exc).__name__}: {one_line(exc, 300)}); "
                  "please report it with the model")


@click.group(cls=_Group)
@click.version_option(package_name="bnncc")
def main():
    """bnncc: compile binarized neural networks (ONNX) to exact C."""


BOARD_HELP = "MCU board file (targets/<board>.toml) refining the target's core, e.g. stm32f407."
FOLD_HELP = ("FPGA targets: PE x SIMD per Dense/Conv2d op (index as in `bnncc inspect`), "
             "e.g. '1=16x49,3=8x64', or @fold.json; others stay 1x1.")


def _progress(on: bool) -> None:
    """Progress bars on stderr for long steps, only on a terminal and never with --json."""
    from .progress import configure

    configure(on)


def pass_options(fn):
    """The pass options shared by compile, verify and simulate (``--mst``, ``--mst-depth``),
    handed to the passes as ``options`` (see bnncc/passes/mst_reorder.py)."""
    fn = click.option("--mst-permute", type=click.Choice(["off", "auto", "force"]), default="auto", show_default=True,
                      help="MST on MCUs: permute a layer's input channels (with its producer's outputs) so that "
                           "difference sets touch fewer words; auto where the word cost model predicts fewer "
                           "cycles, force wherever the search finds another order.")(fn)
    fn = click.option("--mst-depth", type=int, default=None,
                      help="MST: longest chain of incremental channels below a full one (default unbounded).")(fn)
    fn = click.option("--mst", type=click.Choice(["off", "auto", "force"]), default="auto", show_default=True,
                      help="MST channel reordering: auto where the target's cost model predicts a gain beyond "
                           "its error margin (MCU cycles; FPGA LUTs on fully unrolled layers; none on targets "
                           "without a model), force on every binary layer, off.")(fn)
    return fn


def kernel_options(fn):
    """The C kernel variant of compile, verify and simulate (``--popcount``, ``--hs-block``,
    ``--word-bits``): overrides of the target file's popcount, hs_block and word_bits."""
    fn = click.option("--word-bits", type=click.Choice(["32", "64"]), default=None,
                      help="Packed word width (default: the target's).")(fn)
    fn = click.option("--hs-block", type=click.Choice(["8", "16"]), default=None,
                      help="Harley-Seal block in words (harley_seal only; default 8).")(fn)
    fn = click.option("--popcount", type=click.Choice(["builtin", "swar", "harley_seal", "usada8"]), default=None,
                      help="Popcount strategy of the C kernels (default: the target's; usada8 needs a DSP core).")(fn)
    return fn


def _kernel(t, popcount, hs_block, word_bits):
    from .targets import with_kernel

    return with_kernel(t, popcount, None if hs_block is None else int(hs_block),
                       None if word_bits is None else int(word_bits))


def _options(mst, mst_depth, mst_permute="auto") -> dict:
    return {"mst": mst, "mst_depth": mst_depth, "mst_permute": mst_permute}


def _auto_fold(model, t, fold, fps, max_luts, options) -> dict:
    """``compile --fps/--max-luts``: hw_sim's automatic folding (bnncc.fpga.auto_fold)."""
    from .compiler import lower
    from .fpga import auto_fold

    if t.kind != "fpga":
        raise BnnccError("--fps and --max-luts are for FPGA targets")
    if fold:
        raise BnnccError("give either --fold or --fps/--max-luts, not both")
    res = auto_fold(lower(model, t, options=options).graph, t, fps=fps, max_luts=max_luts)
    click.echo(("bnncc: " if not res.reached else "auto-fold: ") + res.message, err=not res.reached)
    if not res.reached:
        sys.exit(1)
    return res.fold


def _load_inputs(inputs_path, n):
    from .api import load_inputs

    if n is not None and n <= 0:
        raise BnnccError("-n must be positive")
    if not inputs_path:
        return None, None
    x, golden = load_inputs(inputs_path)
    if n is not None:
        x = x[:n]
        golden = {k: v[:n] for k, v in golden.items()}
    return x, golden


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--target", "-t", default="host", show_default=True, help="Target name (see `bnncc targets`).")
@click.option("--board", default=None, help=BOARD_HELP)
@click.option("--output", "-o", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--prefix", default="model", show_default=True, help="Prefix of the C API (prefix_run).")
@click.option("--force", is_flag=True, help="Replace an existing folder not written by bnncc.")
@click.option("--build", "do_build", is_flag=True, help="MCU targets: also cross-compile firmware.elf and check it fits.")
@click.option("--fold", "fold", default=None, metavar="SPEC", help=FOLD_HELP)
@click.option("--fps", type=float, default=None, help="FPGA: choose the folding for this many frames/s.")
@click.option("--max-luts", type=int, default=None, help="FPGA: choose the fastest folding within this many LUTs.")
@click.option("--config", "config", default=None, metavar="ROW",
              help="A configuration from `bnncc explore`: @explore.json#ID or the row's config JSON "
                   "(sets target, folding and MST).")
@pass_options
@kernel_options
def compile(model, target, board, out_dir, prefix, force, do_build, fold, fps, max_luts, mst, mst_depth, mst_permute,
            config, popcount, hs_block, word_bits):
    """Compile MODEL.onnx into a C library (MCU/host targets) or an HLS C++ project
    (FPGA targets) in OUTPUT."""
    from pathlib import Path

    from .api import compile_model
    from .targets import resolve_target

    if config is not None:
        if (board or fold or mst != "auto" or mst_depth is not None or mst_permute != "auto" or target != "host"
                or fps is not None or max_luts is not None or popcount or hs_block or word_bits):
            raise BnnccError("--config sets the target, kernel, folding and MST: give none of --target, --board, "
                             "--popcount, --hs-block, --word-bits, --fold, --fps, --max-luts, --mst, --mst-depth, "
                             "--mst-permute with it")
        from .explore.evaluate import compile_args

        target, fold, mst, mst_depth, popcount, hs_block, word_bits = compile_args(config)
    t = _kernel(resolve_target(target, board), popcount, hs_block, word_bits)
    if fps is not None or max_luts is not None:
        fold = _auto_fold(model, t, fold, fps, max_luts, _options(mst, mst_depth, mst_permute))
    compiled, files = compile_model(model, t, out_dir, force=force, prefix=prefix, fold=fold,
                                    options=_options(mst, mst_depth, mst_permute))
    rep = json.loads(files["report.json"])
    tot = rep["totals"]
    if t.kind == "fpga":
        click.echo(f"bnncc: wrote {out_dir}/ ({len(files)} files, HLS C++) for target {t.name}: {len(rep['layers'])} "
                   f"layers, {tot['binary_macs']} binary MACs, folding {rep['fold']}, slowest unit "
                   f"{tot['fold_cycles_max']} cycles/frame")
        return
    click.echo(f"bnncc: wrote {out_dir}/ ({len(files)} files) for target {t.name}: {len(rep['layers'])} layers, "
               f"{tot['binary_macs']} binary MACs, {tot['const_bytes']} bytes of constants, arena {tot['arena_bytes']} bytes")
    if do_build:
        if t.kind != "mcu":
            raise BnnccError("--build is for MCU targets (host libraries build with the emitted Makefile)")
        from .mcu import build_firmware

        fw = build_firmware(Path(out_dir), t)
        m = t.mcu
        click.echo(f"bnncc: built {fw.elf}: flash {fw.flash_bytes} of {m['flash_bytes']} bytes, "
                   f"RAM {fw.ram_bytes} of {m['ram_bytes']} bytes (text {fw.sizes['text']}, data {fw.sizes['data']}, "
                   f"bss {fw.sizes['bss']}) on {m['board']}")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--target", "-t", default="host", show_default=True)
@click.option("--inputs", "inputs_path", type=click.Path(dir_okay=False),
              help=".npz with an 'inputs' array (N samples) or .npy; random inputs if absent.")
@click.option("-n", "n", type=int, default=None, help="Use the first N inputs (or N random inputs).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--fold", "fold", default=None, metavar="SPEC", help=FOLD_HELP)
@pass_options
@kernel_options
def verify(model, target, inputs_path, n, seed, as_json, fold, mst, mst_depth, mst_permute, popcount, hs_block,
           word_bits):
    """Compile, build, run (host C compiler; MCU targets: cross compiler and hw_sim;
    FPGA targets: g++ C-simulation of the HLS C++) and compare with onnxruntime."""
    from .api import verify as run_verify
    from .targets import load_target

    _progress(not as_json)
    t = _kernel(load_target(target), popcount, hs_block, word_bits)
    x, golden = _load_inputs(inputs_path, n)
    res = run_verify(model, t, inputs=x, n=n or 16, seed=seed, golden=golden, fold=fold,
                     options=_options(mst, mst_depth, mst_permute))
    ok = res["bit_exact"] and res["argmax_match"] == res["n"]
    if as_json:
        click.echo(json.dumps(res, sort_keys=True))
    else:
        status = "OK: bit-exact" if ok else "MISMATCH"
        click.echo(f"{status}: {res['n']} inputs on target {res['target']}, argmax {res['argmax_match']}/{res['n']}, "
                   f"max |error| {res['max_abs_err']:g}")
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--target", "-t", default="cortex-m4", show_default=True,
              help="An MCU or FPGA target (see `bnncc targets`).")
@click.option("--board", default=None, help=BOARD_HELP)
@click.option("--inputs", "inputs_path", type=click.Path(dir_okay=False),
              help=".npz with an 'inputs' array (N samples) or .npy; random inputs if absent.")
@click.option("-n", "n", type=int, default=None, help="Use the first N inputs (or N random inputs).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--fold", "fold_spec", default=None,
              help="FPGA: PE/SIMD per layer, INDEX=PExSIMD,... or @fold.json (default: automatic).")
@click.option("--fps", type=float, default=None, help="FPGA: fold automatically for this many frames/s.")
@click.option("--max-luts", type=int, default=None, help="FPGA: fold automatically within this many LUTs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Also write the library, simulation.json and report.html (with cycles) into this folder.")
@click.option("--estimate", "use_estimate", is_flag=True,
              help="MCU: hw_sim's analytic estimate only (no cross compiler, no simulator, no outputs).")
@pass_options
@kernel_options
def simulate(model, target, board, inputs_path, n, seed, fold_spec, fps, max_luts, as_json, out_dir, use_estimate,
             mst, mst_depth, mst_permute, popcount, hs_block, word_bits):
    """Cross-compile, run in hw_sim's instruction-set simulator: cycles per layer,
    latency, energy, flash/RAM, and outputs compared with onnxruntime.  FPGA targets:
    hw_sim's dataflow, resource and power estimates for a folding (given with --fold,
    or chosen for --fps / --max-luts / the device); no C-simulation (see verify)."""
    from .targets import resolve_target

    t = _kernel(resolve_target(target, board), popcount, hs_block, word_bits)
    if t.kind == "fpga":
        _simulate_fpga(model, t, fold_spec, fps, max_luts, as_json, _options(mst, mst_depth, mst_permute))
        return
    if fold_spec or fps is not None or max_luts is not None:
        raise BnnccError("--fold, --fps and --max-luts are for FPGA targets")
    from .mcu import simulate as run_simulate
    from .mcu import simulate_estimate

    if use_estimate:
        if inputs_path or out_dir:
            raise BnnccError("--estimate runs nothing: it takes no --inputs and writes no --out folder")
        res = simulate_estimate(model, t, options=_options(mst, mst_depth, mst_permute))
        if as_json:
            click.echo(json.dumps(res, sort_keys=True))
            return
        _simulate_table(res, f"analytic estimate (hw_sim, {t.name}'s calibrated [estimate.{t.variant}] table)")
        click.echo(f"total {res['total_cycles']:,.0f} cycles = {res['latency_ms']:.3f} ms, {res['energy_uj']:.2f} uJ per "
                   f"inference (estimate); flash ~{res['flash_bytes']:,} B, RAM ~{res['ram_bytes']:,} B "
                   f"({'fits' if res['fits'] else 'does NOT fit'} {res['board']}); outputs not run")
        return
    _progress(not as_json)
    x, golden = _load_inputs(inputs_path, n)
    res = run_simulate(model, t, inputs=x, n=n or 16, seed=seed, golden=golden, out_dir=out_dir,
                       options=_options(mst, mst_depth, mst_permute))
    if as_json:
        click.echo(json.dumps(res, sort_keys=True))
    else:
        _simulate_table(res, f"mean of {res['n']} inputs")
        if res.get("estimated_cycles"):
            click.echo(f"analytic estimate {res['estimated_cycles']:,.0f} cycles "
                       f"({res['estimated_cycles'] / res['total_cycles'] - 1:+.1%} vs the ISS)")
        if "mst_layers" in res:
            _mst_table(res)
        v = res["verification"]
        click.echo(f"total {res['total_cycles']:,.0f} cycles = {res['latency_ms']:.3f} ms, {res['energy_uj']:.2f} uJ per "
                   f"inference; flash {res['flash_bytes']:,} B, RAM {res['ram_bytes']:,} B; outputs "
                   f"{'bit-exact' if res['outputs_match'] else 'MISMATCH'} vs onnxruntime "
                   f"({v['argmax_match']}/{v['n']} argmax)")
        if out_dir:
            click.echo(f"bnncc: wrote {out_dir}/report.html and simulation.json")
    sys.exit(0 if res["outputs_match"] else 1)


def _simulate_table(res: dict, what: str) -> None:
    table = Table(title=f"bnncc simulate: {res['target']} on {res['board']} ({res['core']}, "
                        f"{res['clock_hz'] / 1e6:g} MHz), {what}")
    est = res["method"] == "iss" and res.get("estimated_cycles") is not None
    cols = ("#", "op", "cycles") + (("est.",) if est else ()) + ("%", "binary MACs", "cycles/bMAC", "weight B", "act. B")
    for col in cols:
        table.add_column(col, justify="left" if col == "op" else "right")
    for L in res["layers"]:
        cpm = L["cycles_per_binary_mac"]
        table.add_row(str(L["index"]), L["op"], f"{L['cycles']:,.0f}",
                      *((f"{L['estimated_cycles']:,.0f}",) if est else ()), f"{L['percent']:.1f}",
                      f"{L['binary_macs']:,}" if L["binary_macs"] else "", f"{cpm:.3f}" if cpm else "",
                      f"{L['weight_bytes']:,}", f"{L['activation_bytes']:,}")
    Console(width=120).print(table)


def _simulate_fpga(model, t, fold_spec, fps, max_luts, as_json, options=None):
    """The FPGA branch of ``simulate``: estimates only, so it exits 0 unless the folding
    misses a requested --fps or the design does not fit the board (exit 1)."""
    from .fpga import simulate as run_fpga

    res = run_fpga(model, t, fold_spec=fold_spec, fps=fps, max_luts=max_luts, options=options)
    ok = res["fits"] and res["fold"].get("reached") is not False
    if as_json:
        click.echo(json.dumps(res, sort_keys=True))
        sys.exit(0 if ok else 1)
    table = Table(title=f"bnncc simulate: {res['target']} ({res['part']}, {res['clock_hz'] / 1e6:g} MHz), "
                        f"FINN-style dataflow estimate")
    for col in ("#", "op", "name", "PE", "SIMD", "cycles", "%", "LUT", "BRAM36", "FF", "DSP"):
        table.add_column(col, justify="left" if col in ("op", "name") else "right")
    for L in res["layers"]:
        table.add_row("" if L["index"] is None else str(L["index"]), L["op"], L["name"][:24],
                      str(L["pe"] or ""), str(L["simd"] or ""), f"{L['cycles']:,}", f"{L['percent']:.0f}",
                      f"{L['lut']:,}", f"{L['bram36']:g}", f"{L['ff']:,}", str(L["dsp"] or ""))
    fifo, sh, u = res["fifo"], res["shell"], res["utilisation_percent"]
    table.add_row("", "FIFOs", "", "", "", "", "", f"{fifo['lut']:,}", f"{fifo['bram36']:g}", f"{fifo['ff']:,}", "")
    table.add_row("", "shell", "DMA+control", "", "", "", "", f"{sh['lut']:,}", f"{sh['bram36']:g}",
                  f"{sh['ff']:,}", "")
    table.add_row("", "total", "", "", "", f"{res['ii_cycles']:,}", "", f"{res['luts']:,}", f"{res['brams']:g}",
                  f"{res['ffs']:,}", str(res["dsps"] or ""))
    Console(width=130).print(table)
    b, p = res["bottleneck"], res["power_w"]
    click.echo(f"{res['fps']:,.1f} frames/s (II {res['ii_cycles']:,} cycles; bottleneck {b['op']} '{b['name']}'), "
               f"first-frame latency {res['total_cycles']:,} cycles = {res['latency_ms']:.4f} ms")
    click.echo(f"utilisation: LUT {u['lut']:.1f}%, FF {u['ff']:.1f}%, BRAM36 {u['bram36']:.1f}%, DSP {u['dsp']:.1f}%"
               f"{'' if res['fits'] else '  -- DOES NOT FIT the device'}; power {p['total_w']:.3f} W "
               f"({p['static_w']:.3f} static), {res['energy_uj']:.3f} uJ/frame")
    if res["fold"].get("message"):
        click.echo(("bnncc: " if res["fold"].get("reached") is False else "auto-fold: ") + res["fold"]["message"])
    for note in res["notes"]:
        click.echo(f"note: {note}")
    if "mst_layers" in res:
        _mst_table(res)
    spec = ",".join(f"{k}={v[0]}x{v[1]}" for k, v in res["folding"].items())
    click.echo(f"folding: {spec}; outputs {res['verification']}")
    sys.exit(0 if ok else 1)


def _mst_table(res) -> None:
    """The per-layer MST table of ``simulate --mst auto|force``: MCU (ISS cycles of two
    runs) or FPGA (the unit's LUTs / tree bits / latency from hw_sim.fpga.mst, and the
    stage's LUTs in the two simulate estimates)."""
    fpga = any("fpga" in r for r in res["mst_layers"])
    if fpga:
        title = "MST per layer: before -> after (hw_sim.fpga.mst: constant-weight unit; stage LUT: simulate totals)"
        cols = ("#", "op", "applied", "PExSIMD", "depth", "bit-ops", "tree bits", "unit LUT", "latency",
                "stage LUT", "why")
    else:
        title = "MST per layer: before -> after (ISS cycles: two runs, without and with MST)"
        cols = ("#", "op", "applied", "depth", "bit-ops", "words", "inputs permuted", "predicted cycles", "ISS cycles",
                "ISS gain")
    table = Table(title=title)
    for col in cols:
        table.add_column(col, justify="left" if col in ("op", "applied", "why", "inputs permuted") else "right")
    for r in res["mst_layers"]:
        head = (str(r["index"]), r["op"], "yes" if r["applied"] else "no")
        bits = f"{r['bit_ops_before']:,} -> {r['bit_ops_after']:,}"
        if fpga:
            f = r["fpga"]
            table.add_row(*head, f"{f['pe']}x{f['simd']}", str(r["depth"]), bits,
                          f"{f['tree_bits_before']:,} -> {f['tree_bits_after']:,}",
                          f"{f['lut_before']:,} -> {f['lut_after']:,}", f"{f['latency_before']} -> {f['latency_after']}",
                          f"{r.get('stage_lut_before', 0):,} -> {r.get('stage_lut_after', 0):,}", f["why"])
            continue
        pb, pa = r["predicted_cycles_before"], r["predicted_cycles_after"]
        ip = r.get("input_permutation") or {}
        unit = "cycles" if ip.get("objective") == "predicted_cycles" else "words"
        perm = (f"yes ({ip['objective_unpermuted']:,.0f} -> {ip['objective_permuted']:,.0f} {unit})" if ip.get("applied")
                else "no")
        table.add_row(*head, str(r["depth"]), bits, f"{r['words_before']:,} -> {r['words_after']:,}", perm,
                      f"{pb:,.0f} -> {pa:,.0f}" if pb is not None else "n/a",
                      f"{r['iss_cycles_before']:,.0f} -> {r['iss_cycles_after']:,.0f}",
                      f"{r['iss_cycles_before'] / r['iss_cycles_after']:.2f}x" if r["iss_cycles_after"] else "")
    Console(width=170 if fpga else 140).print(table)
    if fpga:
        click.echo(f"total {res['luts_without_mst']:,} LUT without MST, {res['luts']:,} with; first-frame latency "
                   f"{res['total_cycles_without_mst']:,} -> {res['total_cycles']:,} cycles")
    else:
        click.echo(f"total {res['total_cycles_without_mst']:,.0f} cycles without MST, {res['total_cycles']:,.0f} with")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--ir", "show_ir", is_flag=True, help="Print the IR after every pass.")
@click.option("--target", "-t", default="host", show_default=True)
@pass_options
def inspect(model, show_ir, target, mst, mst_depth, mst_permute):
    """Show the layers of MODEL (and with --ir the IR after each pass)."""
    from .compiler import lower
    from .ir import dump
    from .ir import ops as O
    from .targets import load_target

    c = lower(model, load_target(target), options=_options(mst, mst_depth, mst_permute))
    if show_ir:
        for name, g in c.stages:
            click.echo(f"// after {name}")
            # names come from the model: no terminal control sequences
            click.echo("".join(ch if ch == "\n" or ch.isprintable() else repr(ch)[1:-1] for ch in dump(g)))
        return
    table = Table(title=escape(f"{shown(model)} ({len(c.graph.ops)} ops, target {target})"))
    for col in ("#", "op", "onnx node", "input", "output", "binary", "binary MACs"):
        table.add_column(col)
    for k, op in enumerate(c.graph.ops):
        ti, to = c.graph.tensors[op.inputs[0]], c.graph.tensors[op.output]
        macs = ""
        if isinstance(op, O.Dense):
            macs = str(op.weight.size)
        elif isinstance(op, O.Conv2d):
            macs = str(op.weight.size * to.pixels)
        binary = "yes" if ti.dtype.is_binary or to.dtype.is_binary else "no"
        table.add_row(str(k), op.kind, escape(shown(op.name)), escape(shown(str(ti))), escape(shown(str(to))), binary, macs)
    Console().print(table)


@main.command()
@click.argument("models", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--quick", is_flag=True, help="CI-sized run: 4 inputs per model, reduced kernel shapes.")
@click.option("-n", "n", type=int, default=None, help="Inputs per model (default 100, --quick 4).")
@click.option("--no-kernels", is_flag=True, help="Only the whole networks, not the kernel bench.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the tables.")
def bench(models, quick, n, no_kernels, as_json):
    """bnncc's BNN code vs the same networks in float32 and int8 C (and TVM if installed)
    on the Cortex-M4 ISS: cycle ratios, kernel cycles per binary MAC, compile time.
    MODELS default to the shared models (../shared or $BNNCC_SHARED)."""
    from .bench.run import print_tables, run

    _progress(not as_json)
    res = run(models, quick=quick, with_kernels=not no_kernels, n=n)
    if as_json:
        click.echo(json.dumps(res, sort_keys=True))
    else:
        print_tables(res)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--targets", "target_names", default="cortex-m4,pynq-z2", show_default=True,
              help="Comma-separated MCU/FPGA targets or boards; a core (cortex-m4) brings its boards.")
@click.option("--objective", "objectives", multiple=True,
              help="Minimise these (repeat or comma-separate): latency, energy, luts, flash, ram, brams, cycles; "
                   "fps is maximised.  Default: latency,energy.")
@click.option("--constraint", "constraints", multiple=True, metavar="EXPR",
              help="e.g. 'ram<=192KB', 'luts<=50k', 'fps>=1000', 'latency<2ms' (repeatable).")
@click.option("--budget", type=int, default=200, show_default=True, help="Configurations to evaluate.")
@click.option("--recheck", "recheck_k", type=int, default=3, show_default=True,
              help="Re-check the front's best K on the exact path (ISS / dataflow simulation); 0: none.")
@click.option("--scheduler", default=None, metavar="ADDR",
              help="A dask.distributed scheduler (tcp://host:port; default $DASK_SCHEDULER_ADDRESS).")
@click.option("--workers", type=int, default=None, help="Process-pool workers (default: the CPU count); given, auto uses the pool.")
@click.option("--executor", type=click.Choice(["auto", "inprocess", "pool", "dask"]), default="auto",
              show_default=True, help="auto: in-process for small sweeps, a process pool for large, dask with --scheduler.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=None,
              help="Cache evaluated configurations in this folder (reused across runs).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print explore.json instead of the tables.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="explore-out", show_default=True,
              help="Write explore.json and report.html (with the Pareto plot) here.")
def explore(model, target_names, objectives, constraints, budget, recheck_k, scheduler, workers, executor,
            cache_dir, seed, as_json, out_dir):
    """Search targets, boards, FPGA foldings and MST settings with the analytic
    estimators; print the Pareto front and re-check its best rows on the exact path
    (exit code 1 if a re-check is outside the estimator's stated error or fails)."""
    from .explore import explore as run_explore
    from .explore.html import print_front, write_outputs

    res = run_explore(model, target_names.split(","), budget=budget, objectives=objectives or ("latency", "energy"),
                      constraints=constraints, recheck_k=recheck_k, mode=executor, workers=workers,
                      scheduler=scheduler, cache_dir=cache_dir, seed=seed,
                      progress=None if as_json else (lambda msg: click.echo(f"bnncc: {msg}", err=True)))
    write_outputs(res, out_dir)
    if as_json:
        click.echo(json.dumps(res, sort_keys=True))
    else:
        print_front(res)
        click.echo(f"bnncc: wrote {out_dir}/explore.json and {out_dir}/report.html; reproduce a row with "
                   f"`bnncc compile MODEL --config @{out_dir}/explore.json#ID -o DIR`")
    sys.exit(0 if all(c.get("within_stated") for c in res["recheck"]) else 1)


@main.command()
def targets():
    """List the target files."""
    from .targets import all_targets

    table = Table(title="bnncc targets")
    for col in ("name", "backend", "kind", "word bits", "popcount", "description", "file"):
        table.add_column(col)
    for t in all_targets().values():
        table.add_row(t.name, t.backend, t.kind, str(t.word_bits), t.popcount, t.description, t.source.name)
    Console().print(table)


if __name__ == "__main__":
    main()
