"""Per-stage LUT / FF / BRAM / DSP model of the streaming pipeline (FINN-R style).

Sources (read at Xilinx/finn commit 39f0c9a6, ``v0.10.1-10``):

* MVAU LUTs — FINN ``hls/matrixvectoractivation_hls.py`` ``lut_estimation``, itself the
  model of Blott et al., "FINN-R: An End-to-End Deep-Learning Framework for Fast
  Exploration of Quantized Neural Networks", ACM TRETS 11(3), 2018::

      LUT = c0 + c1 * P * (mult + addertree + acc + thr + comp) + c2
      c0 = 300, c1 = 1.1
      mult      = Q * (2 * ceil((W + A) / 6) - 1) * (W + A)   (XNOR: W = A = 1 -> 2 Q)
      addertree = (W + A) * (2 Q - 1)                          (popcount tree)
      acc       = accumulator bits
      comp      = (2^B - 1) * acc        (B output bits: 2^B - 1 threshold comparators)
      thr       = (2^B - 1) * acc * ceil(TMEM / 64)   when thresholds sit in LUTRAM
      c2        = P * Q * W * ceil(WMEM / 64)         when weights sit in LUTRAM

  with P = PE, Q = SIMD, W/A weight/input bits.  This scales with PE * SIMD (popcount
  trees) and with the threshold bits (comparators), as asked.
* Memory style, like FINN's ``ram_style = "auto"`` / ``internal_embedded`` rule
  (``calc_wmem() <= 128`` -> LUTRAM): a memory of depth <= 128 words is LUTRAM
  (``width * ceil(depth / 64)`` LUTs: a SLICEM LUT6 is a 64x1 RAM), deeper ones BRAM.
* BRAM packing — real aspect ratios (UG473, 7-series; the same for UltraScale+ UG573):
  a RAMB18 in simple dual port is 16Kx1, 8Kx2, 4Kx4, 2Kx9, 1Kx18 or 512x36; a RAMB36
  32Kx1, 16Kx2, 8Kx4, 4Kx9, 2Kx18, 1Kx36 or 512x72 (= two RAMB18 sites).  A memory of
  width w and depth d takes the cheapest tiling ``ceil(w / W_c) * ceil(d / D_c)`` over
  those shapes, in RAMB18 units; ``bram36`` = units / 2, as Vivado counts RAMB18 as
  0.5 Block RAM tile.  Weights are partitioned per PE (one SIMD*W-bit wide, WMEM deep
  memory per PE, as BNN-PYNQ's ``BinaryWeights<SIMD,PE,TILES>`` and the bnncc HLS
  backend); ``weight_layout="wide"`` instead models FINN's one PE*SIMD*W-bit memory
  (``internal_decoupled``).  Thresholds: one memory per PE, ``(2^B-1) * acc`` bits wide,
  TMEM deep.  FINN's own MVAU ``bram_estimation`` uses the same shape table restricted to
  RAMB18.
* SWU — FINN ``hls/convolutioninputgenerator_hls.py``: LUT = 300 + LUTRAM; BRAM18 =
  (K + stride) * ceil(SIMD * bits / ram_width) * ceil(IFM_W * CF / ram_depth) with
  FINN's ram_width(depth) table (36 up to 512 deep, 18 to 1K, 9, 4, 2, 1).
* Thresholding — FINN ``hls/thresholding_hls.py``: comparators A * P per threshold step
  plus the threshold memory (style as above).
* DWC — FINN ``streamingdatawidthconverter.py``: counter + control-set LUTs over the
  lcm width.  FIFO — FINN ``streamingfifo.py``: SRL/LUTRAM ``2 ceil(log2 D) +
  ceil(D / 32) * ceil(W / 2)`` up to 256 deep, BRAM (FINN's table) beyond.
* FFs — FINN has no FF model; ours: per PE the accumulator, output register and
  adder-tree pipeline registers (one register stage per two tree levels, ~ (W+A) * Q
  bits), plus the input word, each weight word read, and 2 * c0 / 3 control FFs.
  Unvalidated against a published FF figure.
* Max pooling (ours): a line buffer of OFM_W pooled pixels plus ``C * bits`` OR/compare
  LUTs.  Float tail (ours): per float32 operator the Xilinx Floating-Point Operator
  (PG060, 7-series, "full DSP" where offered) resource figures, rounded: add/sub 2 DSP
  230 LUT 330 FF; mul 3 DSP 80 LUT 160 FF; div 0 DSP 800 LUT 1400 FF; max/min 70 LUT 40
  FF; int->float 200 LUT 220 FF; a lookup-table tail is a float32 ROM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from . import cycles as C

LUTRAM_MAX_DEPTH = 128
MVAU_C0, MVAU_C1 = 300, 1.1
# c1 re-fitted (least squares, no intercept) to yosys 0.23 ``synth_xilinx -family xc7``
# LUT counts of a binary PE datapath (XNOR, popcount, accumulator, threshold compare) for
# (PE, SIMD) = (1,8) (1,16) (1,32) (1,64) (4,32) (16,64): per-point ratios 0.47..0.59.
# Reproduce with ``python -m bench.fpga_yosys_calib``.
MVAU_C1_BY_MODEL = {"finn": MVAU_C1, "yosys": 0.51}

RAMB18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
RAMB36_SHAPES = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))

FP_OPS = {  # LUT, FF, DSP per float32 operator (PG060, rounded)
    "add": (230, 330, 2), "sub": (230, 330, 2), "rsub": (230, 330, 2),
    "mul": (80, 160, 3), "div": (800, 1400, 0), "rdiv": (800, 1400, 0),
    "max": (70, 40, 0), "min": (70, 40, 0), "cvt": (200, 220, 0),
}


@dataclass(frozen=True)
class Res:
    lut: float = 0
    ff: float = 0
    bram18: int = 0
    dsp: int = 0
    lutram: float = 0      # the part of ``lut`` used as distributed memory

    def __add__(self, o: "Res") -> "Res":
        return Res(*(getattr(self, f.name) + getattr(o, f.name) for f in fields(self)))

    @property
    def bram36(self) -> float:
        return self.bram18 / 2

    def as_dict(self) -> dict:
        return {"lut": round(self.lut), "ff": round(self.ff), "bram18": self.bram18, "bram36": self.bram36,
                "dsp": self.dsp, "lutram": round(self.lutram)}


def bram18_units(width: int, depth: int) -> int:
    """RAMB18 units (a RAMB36 counts 2) of the cheapest tiling of a width x depth memory."""
    if width <= 0 or depth <= 0:
        return 0
    best = min(math.ceil(width / w) * math.ceil(depth / d) for d, w in RAMB18_SHAPES)
    best36 = min(math.ceil(width / w) * math.ceil(depth / d) for d, w in RAMB36_SHAPES)
    return min(best, 2 * best36)


def memory(width: int, depth: int, copies: int = 1, style: str = "auto") -> Res:
    """``copies`` memories of ``width`` bits x ``depth`` words: LUTRAM or BRAM."""
    if width <= 0 or depth <= 0 or copies <= 0:
        return Res()
    if style == "distributed" or (style == "auto" and depth <= LUTRAM_MAX_DEPTH):
        luts = copies * width * math.ceil(depth / 64)
        return Res(lut=luts, lutram=luts)
    return Res(bram18=copies * bram18_units(width, depth))


def _mvau(s: C.Mvau, weight_layout: str, ram_style: str, lut_model: str = "finn") -> Res:
    P, Q, W, A = s.pe, s.simd, s.w_bits, s.in_bits
    acc = s.acc_width
    mult = Q * (2 * math.ceil((W + A) / 6) - 1) * (W + A)
    tree = (W + A) * (2 * Q - 1)
    steps = s.thresholds
    comp = steps * acc
    if weight_layout == "wide":
        wmem = memory(P * Q * W, s.wmem, style=ram_style)
    else:
        wmem = memory(Q * W, s.wmem, copies=P, style=ram_style)
    tmem = memory(steps * acc, s.tmem, copies=P) if steps else Res()
    logic = MVAU_C0 + MVAU_C1_BY_MODEL[lut_model] * P * (mult + tree + acc + comp)
    ff = 2 * MVAU_C0 / 3 + P * (2 * acc + s.out_bits + (W + A) * Q) + Q * A + P * Q * W
    return Res(lut=logic, ff=ff) + wmem + tmem


def _mst_mvau(s: C.MstMvau, weight_layout: str, ram_style: str, lut_model: str) -> Res:
    """An MVAU evaluated along an MST plan (``hw_sim.fpga.mst``).  Unrolled (PE = MH,
    SIMD = MW): the MVAU's own figure plus the MST delta (after - before of the
    constant-weight unit), so a layer's total moves by the popcount trees MST removes
    and the adders it adds, nothing else.  Otherwise (``--mst force`` on a folded layer)
    the unit is a different architecture from the folded MVAU -- all channels in
    parallel over the buffered input, constants instead of a weight memory -- and is
    counted absolutely: c0 + c1 * after."""
    c1 = MVAU_C1_BY_MODEL[lut_model]
    if s.unrolled:
        return _mvau(s, weight_layout, ram_style, lut_model) + Res(lut=c1 * (s.mst_sum_after - s.mst_sum_before),
                                                                   ff=s.mst_ff_after - s.mst_ff_before)
    return Res(lut=MVAU_C0 + c1 * s.mst_sum_after, ff=s.mst_ff_after)


def _swu_ram_width(depth: int) -> int:
    for limit, width in ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2)):
        if depth <= limit:
            return width
    return 1


def _swu(s: C.Swu) -> Res:
    k, stride = s.kernel[0], s.stride[0]
    depth = s.ifm[1] * s.cf
    width = s.simd * s.bits
    ctrl = Res(lut=300, ff=200 + 2 * width)
    if depth <= LUTRAM_MAX_DEPTH:
        return ctrl + memory(width, depth, copies=k + stride, style="distributed")
    rw = _swu_ram_width(depth)
    return ctrl + Res(bram18=(k + stride) * math.ceil(width / rw) * math.ceil(s.ifm[1] * s.cf / depth))


def _thresholding(s: C.Thresholding) -> Res:
    A, P, n = s.in_bits, s.pe, s.thresholds
    return Res(lut=A * P * n, ff=P * (A + s.out_bits) + 30) + memory(A * n, s.tmem, copies=P)


def _dwc(s: C.Dwc) -> Res:
    inw, outw = s.in_width, s.out_width
    if inw == outw:
        return Res()
    intw = inw * outw // math.gcd(inw, outw)
    cnt = cset = 0
    if inw != intw:
        cnt += abs(math.ceil(math.log2(inw / intw)))
        cset += intw
    if intw != outw:
        cnt += abs(math.ceil(math.log2(intw / outw)))
        cset += outw
    return Res(lut=cnt + cset, ff=intw + 2 * cnt)


def fifo(width: int, depth: int) -> Res:
    """One stream FIFO (FINN ``streamingfifo.py``): SRL/LUTRAM up to 256 deep, else BRAM."""
    if depth <= 2:
        return Res(ff=depth * width)      # HLS default depth-2 streams are register pairs
    addr = 2 * math.ceil(math.log2(depth))
    if depth <= 256:
        ram = math.ceil(depth / 32) * math.ceil(width / 2)
        return Res(lut=addr + ram, ff=width + addr, lutram=ram)
    return Res(lut=addr, ff=width + addr, bram18=bram18_units(width, depth))


def stage(s: C.Stage, weight_layout: str = "per_pe", ram_style: str = "auto", lut_model: str = "finn") -> Res:
    """Resources of one stage; a stage without a model raises (never a silent 0).
    ``ram_style`` of weight memories: "auto" (LUTRAM up to 128 deep), "block" (always
    BRAM, as Vivado HLS maps BNN-PYNQ's weight arrays) or "distributed".  ``lut_model``:
    "finn" (FINN-R's c1 = 1.1) or "yosys" (c1 fitted to yosys synth_xilinx)."""
    if isinstance(s, C.MstMvau):
        return _mst_mvau(s, weight_layout, ram_style, lut_model)
    if isinstance(s, C.Mvau):
        return _mvau(s, weight_layout, ram_style, lut_model)
    if isinstance(s, C.Swu):
        return _swu(s)
    if isinstance(s, C.Thresholding):
        return _thresholding(s)
    if isinstance(s, C.Dwc):
        return _dwc(s)
    if isinstance(s, C.FmPad):
        w = s.simd * s.bits
        return Res(lut=50 + w, ff=50 + w)
    if isinstance(s, C.StreamingMaxPool):
        w = s.channels * s.bits
        return Res(lut=100 + w * max(1, 2 * (s.bits - 1) + 1), ff=60 + 2 * w) + memory(w, s.ofm[1])
    if isinstance(s, C.Pool):
        w = s.channels * s.bits
        return Res(lut=100 + w, ff=60 + 2 * w)
    if isinstance(s, C.LabelSelect):
        return Res(lut=50 + 2 * s.pe * s.in_bits, ff=40 + 2 * s.in_bits)
    if isinstance(s, C.Elementwise):
        r = Res(lut=40, ff=40)
        for op in s.fp_ops:
            lut, ff, dsp = FP_OPS[op]
            r = r + Res(lut=lut, ff=ff, dsp=dsp)
        return r + (memory(32, s.lut_entries) if s.lut_entries else Res())
    raise NotImplementedError(f"no resource model for {type(s).__name__}")


def pipeline(stages: list[C.Stage], fifo_depths: list[int], weight_layout: str = "per_pe",
             ram_style: str = "auto", lut_model: str = "finn") -> tuple[list[Res], list[Res]]:
    """Per-stage resources and per-FIFO resources (``F_0 .. F_n``; ``F_0`` is the input
    stream, with ``stages[0].in_width``)."""
    per = [stage(s, weight_layout, ram_style, lut_model) for s in stages]
    widths = [stages[0].in_width] + [s.out_width for s in stages]
    return per, [fifo(w, d) for w, d in zip(widths, fifo_depths)]
