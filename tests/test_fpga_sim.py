"""hw_sim.fpga: cycles equal FINN's formulas, the dataflow simulation agrees with them,
the resource model behaves, auto-folding reaches (or refuses) a target, the CLI report,
and the stated band of the estimate against published BNN-PYNQ figures."""

import json
import math
import random
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from bnn_models import random_bnn
from bnncc.cli import main
from bnncc.compiler import lower
from bnncc.errors import BnnccError
from bnncc.folding import auto_fold, divisors, mvau_layers
from bnncc.fpga import build_pipeline, estimate, report
from bnncc.targets import load_target
from conftest import REPO
from hw_sim.fpga import (Dwc, FmPad, LabelSelect, Mvau, Pool, StreamingMaxPool, Swu, Thresholding, bram18_units,
                         estimate_power, simulate, stage_resources)
from hw_sim.fpga.dataflow import size_fifos

PYNQ = load_target("pynq-z2")


# --------------------------------------------------------------- FINN's formulas, verbatim
# Transcribed from Xilinx/finn 39f0c9a6 (v0.10.1-10), src/finn/custom_op/fpgadataflow/.

def finn_mvau(mh, mw, pe, simd, num_inp_vec):          # matrixvectoractivation.py
    return int((mh / pe) * (mw / simd) * np.prod(num_inp_vec) / 1)


def finn_swu(ifm_ch, k_h, k_w, ifm_dim_h, ifm_dim_w, ofm_dim_h, ofm_dim_w, stride_h, stride_w, dilation_h, simd):
    # hls/convolutioninputgenerator_hls.py, 2-D case
    cycles_write_block = (ofm_dim_w * k_w * k_h * (ifm_ch / simd)) / 1
    cycles_read_block = stride_w * ifm_dim_w * (ifm_ch / simd)
    max_cycles = max(cycles_write_block, cycles_read_block)
    return int(ifm_dim_w * k_h * dilation_h * (ifm_ch / simd) + ofm_dim_h * max_cycles)


def finn_fmpad(odim_h, odim_w, channels, simd):       # fmpadding.py
    return int((channels / simd) * 1 * odim_h * odim_w)


def finn_maxpool(ifm_dim, k):                          # streamingmaxpool.py, 2-D
    return int(ifm_dim * ifm_dim * (1 + 1 / (k * k)))


def finn_pool(ifm_ch, pe, k, odims):                   # pool.py
    return int(((ifm_ch * k * k) / pe) * np.prod(odims) * 1)


def finn_thresholding(channels, pe, pixels):           # thresholding.py: prod(folded oshape[:-1])
    return int(channels // pe * pixels)


def _schedule_ok(s):
    steps = list(s.steps())
    assert sum(g for g, _, _ in steps) == s.cycles()
    assert sum(c for _, c, _ in steps) == s.in_words
    assert sum(p for _, _, p in steps) == s.out_words
    assert all(g >= 1 for g, _, _ in steps)


def _rand_mvau(rng):
    mh = rng.randint(1, 40)
    mw = rng.randint(1, 60)
    return Mvau("m", 0, mh=mh, mw=mw, pixels=rng.randint(1, 9), pe=rng.choice(divisors(mh)),
                simd=rng.choice(divisors(mw)), in_bits=rng.choice((1, 2, 8)), thresholds=rng.choice((0, 1, 2)))


@pytest.mark.parametrize("seed", range(40))
def test_mvau_cycles_are_finns(seed):
    s = _rand_mvau(random.Random(seed))
    assert s.cycles() == finn_mvau(s.mh, s.mw, s.pe, s.simd, [s.pixels])
    _schedule_ok(s)


@pytest.mark.parametrize("seed", range(60))
def test_swu_and_padding_cycles_are_finns(seed):
    """Odd channel counts, padding, strides 1..3, dilation 1..2, square kernels/strides
    (FINN's HLS SWU is square; our stride_h equals its stride_w there)."""
    rng = random.Random(seed)
    c = rng.choice((1, 3, 5, 7, 12, 33, 64))
    simd = rng.choice(divisors(c))
    k, st, dil = rng.randint(1, 4), rng.randint(1, 3), rng.randint(1, 2)
    pads = tuple(rng.randint(0, 2) for _ in range(4)) if rng.random() < 0.5 else (0, 0, 0, 0)
    span = dil * (k - 1) + 1
    # every case valid: the padded map is at least one window (no skipped parameters)
    ih = max(rng.randint(1, 12), span - pads[0] - pads[2], 1)
    iw = max(rng.randint(1, 12), span - pads[1] - pads[3], 1)
    ph, pw = ih + pads[0] + pads[2], iw + pads[1] + pads[3]
    assert ph >= span and pw >= span
    oh, ow = (ph - span) // st + 1, (pw - span) // st + 1
    pad = FmPad("p", 0, ifm=(ih, iw), pads=pads, channels=c, simd=simd)
    assert pad.cycles() == finn_fmpad(ph, pw, c, simd)
    _schedule_ok(pad)
    swu = Swu("s", 0, ifm=(ph, pw), ofm=(oh, ow), channels=c, kernel=(k, k), stride=(st, st), dilation=(dil, dil),
              simd=simd)
    assert swu.cycles() == finn_swu(c, k, k, ph, pw, oh, ow, st, st, dil, simd)
    _schedule_ok(swu)


@pytest.mark.parametrize("ifm,k,c", [(4, 2, 3), (28, 2, 64), (10, 2, 128), (9, 3, 5), (12, 4, 1)])
def test_pooling_cycles_are_finns(ifm, k, c):
    s = StreamingMaxPool("mp", 0, ifm=(ifm, ifm), kernel=(k, k), channels=c)
    assert s.cycles() == finn_maxpool(ifm, k)
    _schedule_ok(s)
    p = Pool("pool", 0, ofm=(ifm // k, ifm // k), kernel=(k, k), channels=c)
    assert p.cycles() == finn_pool(c, c, k, (ifm // k, ifm // k))
    _schedule_ok(p)


@pytest.mark.parametrize("seed", range(20))
def test_thresholding_dwc_labelselect(seed):
    rng = random.Random(seed)
    c, pix = rng.choice((1, 6, 10, 64, 784)), rng.randint(1, 5)
    t = Thresholding("t", 0, channels=c, pixels=pix, pe=rng.choice(divisors(c)), thresholds=rng.choice((1, 2, 3)))
    assert t.cycles() == finn_thresholding(c, t.pe, pix)
    _schedule_ok(t)
    a, b = rng.choice(divisors(c)), rng.choice(divisors(c))
    d = Dwc("d", -1, channels=c, pixels=pix, in_par=a, out_par=b)
    assert d.cycles() == pix * max(c // a, c // b)
    _schedule_ok(d)
    lab = LabelSelect("l", 0, labels=c, pe=1)
    assert lab.cycles() == c
    _schedule_ok(lab)


@pytest.mark.parametrize("seed,kind", [(s, k) for s in range(6) for k in ("dense", "conv")])
def test_lowered_models_use_finns_formulas(seed, kind):
    """Random IR graphs (odd channels, padded/strided convs, pools) under random foldings:
    every MVAU stage has FINN's cycles, every SWU FINN's, and the dataflow simulation
    with FIFOs sized FINN's way runs at the analytic II."""
    case = random_bnn(np.random.default_rng(seed), kind, "mixed", real_input=seed % 3 == 2)
    g = lower(case.model, PYNQ).graph
    rng = random.Random(seed)
    fold = {m.index: (rng.choice(m.pe_options()), rng.choice(m.simd_options())) for m in mvau_layers(g)}
    stages, _ = build_pipeline(g, fold)
    by_op = {m.index: m for m in mvau_layers(g)}
    for s in stages:
        if isinstance(s, Mvau):
            m = by_op[s.op]
            assert (s.pe, s.simd) == fold[s.op]
            assert s.cycles() == m.cycles(*fold[s.op]) == finn_mvau(m.mh, m.mw, s.pe, s.simd, [m.pixels])
        if isinstance(s, Swu):
            assert s.cycles() == finn_swu(s.channels, *s.kernel, *s.ifm, *s.ofm, s.stride[0], s.stride[0],
                                          s.dilation[0], s.simd)
    ii = max(s.cycles() for s in stages)
    r = simulate(stages, 3, size_fifos(stages))
    assert r.ii == ii


# ------------------------------------------------------------------ dataflow simulation

def _chain(rng):
    """A random chain of MVAUs joined by DWCs (a dense BNN)."""
    widths = [rng.choice((8, 12, 30, 64)) for _ in range(rng.randint(2, 4))]
    stages, prev_pe = [], None
    for i, (k, n) in enumerate(zip(widths, widths[1:])):
        m = Mvau(f"m{i}", i, mh=n, mw=k, pe=rng.choice(divisors(n)), simd=rng.choice(divisors(k)))
        if prev_pe is not None and prev_pe != m.simd:
            stages.append(Dwc(f"d{i}", -1, channels=k, in_par=prev_pe, out_par=m.simd))
        stages.append(m)
        prev_pe = m.pe
    return stages


@pytest.mark.parametrize("seed", range(25))
def test_dataflow_ii_is_the_bottleneck_and_latency_is_consistent(seed):
    stages = _chain(random.Random(seed))
    cyc = [s.cycles() for s in stages]
    r = simulate(stages, frames=4)                      # unbounded FIFOs
    assert r.ii == max(cyc)
    assert all(b - a == max(cyc) for a, b in zip(r.completions[1:], r.completions[2:]))
    # first frame: at least the slowest stage's frame, at most FINN's pessimistic critical
    # path (the sum of stage cycles) plus the source and sink words and one cycle per FIFO
    assert max(cyc) <= r.first_frame_latency <= sum(cyc) + stages[0].in_words + stages[-1].out_words + len(stages) + 1
    # each stage alone runs a frame in exactly its analytic cycles
    for s in stages:
        alone = simulate([s], frames=3)
        assert alone.ii == s.cycles()
    # FIFOs sized from the paced simulation keep the analytic II; a depth-1 FIFO may not
    sized = simulate(stages, 4, size_fifos(stages))
    assert sized.ii == max(cyc)
    assert simulate(stages, 4, 1).ii >= max(cyc)


def test_back_pressure_is_simulated():
    """Two 64x64 fully folded layers: the second reads its whole input vector first, so
    with 32-deep FIFOs the first stalls (II 6019 > 4096); sized FIFOs (63 deep) fix it."""
    st = [Mvau("a", 0, mh=64, mw=64), Mvau("b", 1, mh=64, mw=64), Mvau("c", 2, mh=10, mw=64, thresholds=0)]
    assert simulate(st, 4, 32).ii == 6019
    depths = size_fifos(st)
    assert depths[1] == 63
    assert simulate(st, 4, depths).ii == 4096


# ------------------------------------------------------------------------ resources

@pytest.mark.parametrize("width,depth,units", [(36, 512, 1), (72, 512, 2), (1, 16384, 1), (1, 32768, 2),
                                               (32, 18432, 36), (64, 416, 2), (8, 512, 1), (2048, 416, 57),
                                               (9, 2048, 1), (4, 32768, 8)])
def test_bram_packing(width, depth, units):
    assert bram18_units(width, depth) == units


@pytest.mark.parametrize("mh,mw,pixels", [(64, 64, 1), (128, 576, 9), (10, 784, 1), (30, 27, 100)])
def test_resources_monotone_in_pe_and_simd(mh, mw, pixels):
    """Logic LUTs (popcount trees, comparators) and FFs grow with PE and with SIMD.  The
    total is not monotone: a shallower weight memory can move from BRAM to LUTRAM."""
    def logic(r):
        return r.lut - r.lutram
    for simd in divisors(mw):
        r = [stage_resources(Mvau("m", 0, mh=mh, mw=mw, pixels=pixels, pe=pe, simd=simd)) for pe in divisors(mh)]
        assert [logic(x) for x in r] == sorted(logic(x) for x in r)
        assert [x.ff for x in r] == sorted(x.ff for x in r)
    for pe in divisors(mh):
        r = [stage_resources(Mvau("m", 0, mh=mh, mw=mw, pixels=pixels, pe=pe, simd=simd))
             for simd in divisors(mw)]
        assert [logic(x) for x in r] == sorted(logic(x) for x in r)
        assert [x.ff for x in r] == sorted(x.ff for x in r)
        bits = [x.bram18 * 18432 + x.lutram * 64 for x in r]   # storage allocated >= weight bits
        assert all(b >= mh * mw for b in bits)


def test_fits_the_board(shared):
    g = lower(shared / "models/qonnx_tfc_w1a1/TFC_1W1A.onnx", PYNQ).graph
    small = report(estimate(g, PYNQ, {}), PYNQ, 2)
    assert small["fits"] and small["luts"] < PYNQ.fpga["luts"]
    full = {m.index: (m.mh, m.simd_unit) for m in mvau_layers(g)}     # fully unfolded: 784x64 XNORs...
    big = report(estimate(g, PYNQ, full), PYNQ, 2)
    assert not big["fits"] and big["utilisation_percent"]["lut"] > 100
    zcu = load_target("zcu104")
    assert report(estimate(g, zcu, full), zcu, 2)["utilisation_percent"]["lut"] < big["utilisation_percent"]["lut"]


# ---------------------------------------------------------------------- auto-folding

def test_auto_fold_reaches_a_reachable_fps(shared):
    g = lower(shared / "models/qonnx_tfc_w1a1/TFC_1W1A.onnx", PYNQ).graph
    for fps in (1e4, 2e5, 1e6):
        r = auto_fold(g, PYNQ, fps=fps)
        assert r.reached, r.message
        assert PYNQ.fpga["clock_hz"] / r.estimate.ii >= fps
        assert r.estimate.total.lut <= 0.8 * PYNQ.fpga["luts"]
    # a budget is respected and costs speed
    tight = auto_fold(g, PYNQ, max_luts=8000)
    assert tight.estimate.total.lut <= 8000 and tight.reached
    assert tight.estimate.ii > auto_fold(g, PYNQ).estimate.ii


def test_auto_fold_reports_an_unreachable_fps(shared):
    g = lower(shared / "models/qonnx_tfc_w1a1/TFC_1W1A.onnx", PYNQ).graph
    r = auto_fold(g, PYNQ, fps=1e9)
    assert not r.reached and "cannot reach 1e+09 frames/s" in r.message and "bottleneck" in r.message
    r = auto_fold(g, PYNQ, fps=1e6, max_luts=7000)
    assert not r.reached and "cannot reach" in r.message and "within the budget" in r.message
    r = auto_fold(g, PYNQ, fps=10, max_luts=5000)
    assert not r.reached and "does not fit even fully folded" in r.message
    with pytest.raises(BnnccError):
        auto_fold(g, PYNQ, fps=-1)


def test_power_model():
    f = PYNQ.fpga
    idle = estimate_power(f, 100e6, 0, 0, 0, 0)
    assert idle.dynamic_w == 0 and idle.total_w == f["static_w"]
    p = estimate_power(f, 100e6, 10_000, 20_000, 10, 5)
    # hand computation: 100 MHz * (10k*0.05 + 20k*0.012 + 10*12 + 5*5) uW
    assert math.isclose(p.dynamic_w, 100 * (500 + 240 + 120 + 25) * 1e-6)
    assert math.isclose(estimate_power(f, 200e6, 10_000, 20_000, 10, 5).dynamic_w, 2 * p.dynamic_w)
    assert math.isclose(p.energy_uj(1000), 1e3 * p.total_w)
    for t in ("ultra96", "kv260", "zcu104"):
        assert estimate_power(load_target(t).fpga, 100e6, 1, 1, 1, 1).static_w > 0


# ------------------------------------------------------------------------------ CLI

MCU_KEYS = {"total_cycles", "latency_ms", "energy_uj", "layers", "target", "board", "clock_hz", "n",
            "flash_bytes", "ram_bytes", "outputs_match", "verification", "core", "elf_sizes",
            "instructions_per_inference"}   # bnncc.mcu.simulate's keys


def test_cli_simulate_fpga_json(shared):
    model = str(shared / "models/qonnx_tfc_w1a1/TFC_1W1A.onnx")
    res = CliRunner().invoke(main, ["simulate", model, "-t", "pynq-z2", "--fps", "100000", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert MCU_KEYS | {"fps", "luts", "brams", "bottleneck", "folding"} <= set(r)
    assert r["outputs_match"] is None and r["flash_bytes"] is None and "bnncc verify" in r["verification"]
    assert r["fps"] >= 1e5 and r["fold"]["reached"] is True
    assert {"index", "op", "pe", "simd", "cycles", "lut", "bram36", "ff"} <= set(r["layers"][0])
    assert math.isclose(r["energy_uj"], 1e6 * r["power_w"]["total_w"] / r["fps"])
    assert r["ii_cycles"] == r["analytic_ii_cycles"] == r["bottleneck"]["cycles"]
    # unreachable: exit 1 and a clear line
    res = CliRunner().invoke(main, ["simulate", model, "-t", "pynq-z2", "--fps", "1e9"])
    assert res.exit_code == 1 and "cannot reach 1e+09 frames/s" in res.output
    # a given folding, in the table
    res = CliRunner().invoke(main, ["simulate", model, "-t", "pynq-z2", "--fold", "1=16x16,3=4x8"])
    assert res.exit_code == 0 and "MVAU" in res.output and "frames/s" in res.output
    res = CliRunner().invoke(main, ["simulate", model, "-t", "pynq-z2", "--fold", "1=3x1"])
    assert res.exit_code == 2 and "PE=3 does not divide" in res.output


def test_cli_fpga_options_refused_on_mcu(shared):
    res = CliRunner().invoke(main, ["simulate", str(shared / "models/qonnx_tfc_w1a1/TFC_1W1A.onnx"),
                                    "-t", "cortex-m4", "--fps", "10"])
    assert res.exit_code == 2 and "FPGA targets" in res.output


# ------------------------------------------------- published designs (stated band)

def test_lfc_cnv_against_published_bnn_pynq():
    """Ours / published for BNN-PYNQ LFC-w1a1 and CNV-w1a1 at their folding on xc7z020.
    Measured (per-PE weight memories, auto RAM style): LFC LUT 1.75, BRAM36 0.96; CNV
    LUT 1.16, BRAM36 0.50.  Stated band: LUT within 0.5..2, BRAM36 within 0.4..2.5."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from bench.fpga_published import compare

    for lut_model in ("finn", "yosys"):   # yosys-fitted c1: LFC LUT 0.91, CNV 0.77
        r = compare(lut_model=lut_model)
        for name in ("lfc", "cnv"):
            assert 0.5 <= r[name]["lut_ratio"] <= 2.0, r[name]
            assert 0.4 <= r[name]["bram36_ratio"] <= 2.5, r[name]
    assert r["lfc"]["ii_cycles"] == 512          # BNN-PYNQ LFC: WMEM 512 per layer
    assert r["cnv"]["ii_cycles"] == 32768        # CNV: L6/L7 WMEM 32768
