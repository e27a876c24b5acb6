"""Per-layer cycle model of a FINN-style streaming dataflow pipeline.

Every stage of the pipeline is a frozen dataclass that knows, for one frame:

* ``cycles()`` — its expected cycles per frame (its initiation interval when it is never
  starved nor blocked), in closed form, following FINN's ``get_exp_cycles`` where FINN
  has one (sources below, all read at Xilinx/finn commit 39f0c9a6, ``v0.10.1-10``);
* ``in_words`` / ``out_words`` and ``in_width`` / ``out_width`` — the stream words it
  reads and writes per frame and their widths in bits;
* ``steps()`` — its token schedule: a sequence of ``(gap, consume, produce)`` steps whose
  gaps sum to ``cycles()``, with ``in_words`` consumes and ``out_words`` produces.  The
  dataflow simulator (``dataflow.py``) plays these schedules against FIFOs, so its
  per-stage figures agree with ``cycles()`` by construction, and back-pressure,
  starvation and first-frame latency come out of the simulation.

Formulas (``CF = C / SIMD``; all divisions exact under the divisibility rules):

==================  =========================================================================
``Mvau``            ``(MH / PE) * (MW / SIMD) * pixels`` — FINN
                    ``matrixvectoractivation.py`` ``MVAU.get_exp_cycles`` (mmv = 1).
``Swu``             ``IFM_W * K_H * DIL_H * CF + OFM_H * max(OFM_W * K_W * K_H * CF,
                    STRIDE_H * IFM_W * CF)`` — FINN ``hls/convolutioninputgenerator_hls.py``
                    ``ConvolutionInputGenerator_hls.get_exp_cycles``, 2-D case (the
                    finn-hlslib ``ConvolutionInputGenerator`` of ``slidingwindow.h``).  FINN
                    writes ``stride_w`` in the read block; we use ``stride_h`` (a block
                    reads ``stride_h`` rows), identical for the square strides FINN's HLS
                    SWU supports.
``FmPad``           ``CF * OH_padded * OW_padded`` — FINN ``fmpadding.py`` (FMPadding).
``StreamingMaxPool``  ``IFM_H * IFM_W + OFM_H * OFM_W`` — equals FINN ``streamingmaxpool.py``
                    ``int(IFM^2 * (1 + 1/K^2))`` whenever K divides IFM (FINN's
                    StreamingMaxPool_Batch requirement); one full-width pixel per word.
``Pool``            ``(C * K_H * K_W / PE) * OFM_H * OFM_W`` — FINN ``pool.py`` (Pool_Batch,
                    after a depthwise SWU; used when stride != kernel or with padding).
``Thresholding``    ``C / PE * pixels`` — FINN ``thresholding.py``.
``Dwc``             ``pixels * max(C / in_par, C / out_par)`` — FINN has no cycle estimate
                    for StreamingDataWidthConverter; ours: one word per cycle on the
                    wider-count side (the HLS DWC reads or writes every cycle).
``LabelSelect``     ``labels / PE`` — FINN ``labelselect.py``.
``Elementwise``     ``max(in_words, out_words)`` — float tail (affine steps / LUT), unpack;
                    one element per cycle (ours; FINN keeps the tail on the host).
==================  =========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

Step = tuple[int, bool, bool]   # (gap in cycles since the previous step, consume, produce)


def _div(a: int, b: int, what: str) -> int:
    if b < 1 or a % b:
        raise ValueError(f"{what}: {b} does not divide {a}")
    return a // b


@dataclass(frozen=True)
class Stage:
    """Common fields: ``name`` (for reports) and ``op`` (IR op index it came from, -1 for
    stages inserted by the pipeline builder, such as width converters)."""

    name: str
    op: int

    kind = "stage"

    def cycles(self) -> int:  # pragma: no cover - every stage overrides it
        raise NotImplementedError(f"{type(self).__name__} has no cycle estimate")

    def steps(self) -> Iterator[Step]:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} has no token schedule")

    @property
    def parallelism(self) -> tuple[int, int]:
        """(PE, SIMD) as shown in reports; 0 where the stage has no such knob."""
        return (0, 0)


@dataclass(frozen=True)
class Mvau(Stage):
    """Matrix-vector(-threshold) unit: ``pixels`` matrix-vector products of an MH x MW
    matrix, PE rows and SIMD columns per cycle.  ``in_bits``/``w_bits``: input activation
    and weight precision (1 = bipolar XNOR); ``thresholds``: threshold steps per output
    (0: no activation, the accumulator leaves the unit); ``thr_sets``: independent
    threshold sets (1 per channel; ``pixels`` when thresholds are per element)."""

    mh: int = 1
    mw: int = 1
    pixels: int = 1
    pe: int = 1
    simd: int = 1
    in_bits: int = 1
    w_bits: int = 1
    thresholds: int = 1
    thr_sets: int = 1
    acc_bits: int = 0          # 0: derived (acc_width)

    kind = "MVAU"

    def __post_init__(self):
        _div(self.mh, self.pe, f"{self.name}: PE")
        _div(self.mw, self.simd, f"{self.name}: SIMD")

    @property
    def parallelism(self):
        return (self.pe, self.simd)

    @property
    def nf(self) -> int:
        return self.mh // self.pe

    @property
    def sf(self) -> int:
        return self.mw // self.simd

    @property
    def wmem(self) -> int:
        return self.nf * self.sf

    @property
    def tmem(self) -> int:
        return self.nf * self.thr_sets if self.thresholds else 0

    @property
    def acc_width(self) -> int:
        """Accumulator bits: popcount 0..MW (unsigned) for XNOR; a signed sum of MW
        products of in_bits x w_bits otherwise."""
        if self.acc_bits:
            return self.acc_bits
        if self.in_bits == 1 and self.w_bits == 1:
            return max(1, math.ceil(math.log2(self.mw + 1)))
        top = self.mw * (2 ** self.in_bits - 1) * (2 ** (self.w_bits - 1) if self.w_bits > 1 else 1)
        return math.ceil(math.log2(top + 1)) + 1

    @property
    def out_bits(self) -> int:
        return math.ceil(math.log2(self.thresholds + 1)) if self.thresholds else self.acc_width

    @property
    def in_words(self) -> int:
        return self.sf * self.pixels

    @property
    def out_words(self) -> int:
        return self.nf * self.pixels

    @property
    def in_width(self) -> int:
        return self.simd * self.in_bits

    @property
    def out_width(self) -> int:
        return self.pe * self.out_bits

    def cycles(self) -> int:
        return self.nf * self.sf * self.pixels

    def steps(self):
        # Per output pixel: the first neuron fold reads the input vector (sf words, kept in
        # the input buffer) and writes PE outputs at its end; the other nf-1 folds reuse the
        # buffer and each writes PE outputs after sf cycles (finn-hlslib Matrix_Vector_Activate_Batch).
        sf, nf = self.sf, self.nf
        for _ in range(self.pixels):
            for i in range(sf):
                yield (1, True, i == sf - 1)
            for _ in range(nf - 1):
                yield (sf, False, True)


@dataclass(frozen=True)
class MstMvau(Mvau):
    """An MVAU whose output channels follow an MST plan (``hw_sim.fpga.mst``): all MH
    channels in parallel (``pe`` = MH), weights and difference masks constants in logic,
    the input vector read in MW / SIMD words per pixel.  Cycles and token schedule are
    the MVAU's at PE = MH.  ``mst_*``: the unit's figures before (every channel a root)
    and after MST (``mst.Unit``); ``unrolled``: SIMD = MW as well (the resource model
    then adds only the MST delta to the MVAU's figure, see ``resources``)."""

    unrolled: bool = True
    mst_sum_before: float = 0.0
    mst_sum_after: float = 0.0
    mst_ff_before: float = 0.0
    mst_ff_after: float = 0.0
    latency_before: int = 0
    latency_after: int = 0

    kind = "MVAU+MST"

    def __post_init__(self):
        super().__post_init__()
        if self.pe != self.mh:
            raise ValueError(f"{self.name}: an MST unit computes all {self.mh} channels in parallel (PE = MH)")


@dataclass(frozen=True)
class Swu(Stage):
    """Sliding-window unit (ConvolutionInputGenerator): reads the feature map pixel by
    pixel (``CF`` words of SIMD channels each) into a line buffer and emits, per output
    pixel, the K_H x K_W window in (ky, kx, c) order."""

    ifm: tuple[int, int] = (1, 1)
    ofm: tuple[int, int] = (1, 1)
    channels: int = 1
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    simd: int = 1
    bits: int = 1

    kind = "SWU"

    def __post_init__(self):
        _div(self.channels, self.simd, f"{self.name}: SIMD")

    @property
    def parallelism(self):
        return (0, self.simd)

    @property
    def cf(self) -> int:
        return self.channels // self.simd

    @property
    def in_words(self) -> int:
        return self.ifm[0] * self.ifm[1] * self.cf

    @property
    def out_words(self) -> int:
        return self.ofm[0] * self.ofm[1] * self.kernel[0] * self.kernel[1] * self.cf

    @property
    def in_width(self) -> int:
        return self.simd * self.bits

    out_width = in_width

    def _blocks(self) -> tuple[int, int, int]:
        iw, ow, (kh, kw) = self.ifm[1], self.ofm[1], self.kernel
        fill = iw * kh * self.dilation[0] * self.cf
        write = ow * kw * kh * self.cf
        read = self.stride[0] * iw * self.cf
        return fill, write, read

    def cycles(self) -> int:
        fill, write, read = self._blocks()
        return fill + self.ofm[0] * max(write, read)

    def steps(self):
        # The initial fill reads K_H rows; then each output row is one block of
        # max(write, read) cycles that writes its windows while reading the next rows.
        # Reads stop once the whole frame is in (the HLS loop keeps counting cycles).
        fill, write, read = self._blocks()
        left = self.in_words
        for _ in range(fill):
            c = left > 0
            left -= c
            yield (1, c, False)
        for _ in range(self.ofm[0]):
            for i in range(max(write, read)):
                c = i < read and left > 0
                left -= c
                yield (1, c, i < write)


@dataclass(frozen=True)
class FmPad(Stage):
    """Zero padding of a feature map (FMPadding): every padded pixel written, interior
    ones read."""

    ifm: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)   # top, left, bottom, right
    channels: int = 1
    simd: int = 1
    bits: int = 1
    out_bits: int = 0          # 0: same as bits; 2 when a bipolar map gains zeros (value + nonzero planes)

    kind = "FMPad"

    def __post_init__(self):
        _div(self.channels, self.simd, f"{self.name}: SIMD")

    @property
    def parallelism(self):
        return (0, self.simd)

    @property
    def ofm(self) -> tuple[int, int]:
        t, l, b, r = self.pads
        return (self.ifm[0] + t + b, self.ifm[1] + l + r)

    @property
    def cf(self) -> int:
        return self.channels // self.simd

    @property
    def in_words(self) -> int:
        return self.ifm[0] * self.ifm[1] * self.cf

    @property
    def out_words(self) -> int:
        return self.ofm[0] * self.ofm[1] * self.cf

    @property
    def in_width(self) -> int:
        return self.simd * self.bits

    @property
    def out_width(self) -> int:
        return self.simd * (self.out_bits or self.bits)

    def cycles(self) -> int:
        return self.out_words

    def steps(self):
        t, l, _, _ = self.pads
        (ih, iw), (oh, ow) = self.ifm, self.ofm
        for y in range(oh):
            for x in range(ow):
                inside = t <= y < t + ih and l <= x < l + iw
                for _ in range(self.cf):
                    yield (1, inside, True)


@dataclass(frozen=True)
class StreamingMaxPool(Stage):
    """Max pooling with stride = kernel, no padding, one full pixel (C values) per word
    (StreamingMaxPool_Batch): reads K_H rows, then writes the pooled row."""

    ifm: tuple[int, int] = (1, 1)
    kernel: tuple[int, int] = (2, 2)
    channels: int = 1
    bits: int = 1

    kind = "MaxPool"

    @property
    def ofm(self) -> tuple[int, int]:
        return (self.ifm[0] // self.kernel[0], self.ifm[1] // self.kernel[1])

    @property
    def in_words(self) -> int:
        return self.ifm[0] * self.ifm[1]

    @property
    def out_words(self) -> int:
        return self.ofm[0] * self.ofm[1]

    @property
    def in_width(self) -> int:
        return self.channels * self.bits

    out_width = in_width

    def cycles(self) -> int:
        return self.in_words + self.out_words

    def steps(self):
        (ih, iw), (oh, ow), kh = self.ifm, self.ofm, self.kernel[0]
        for _ in range(oh):
            for _ in range(kh * iw):
                yield (1, True, False)
            for _ in range(ow):
                yield (1, False, True)
        for _ in range((ih - oh * kh) * iw):   # rows a floor-mode pool drops
            yield (1, True, False)


@dataclass(frozen=True)
class Pool(Stage):
    """Pool_Batch after a depthwise SWU: reads K_H*K_W window words (PE = all channels,
    one word per tap), writes one pooled pixel."""

    ofm: tuple[int, int] = (1, 1)
    kernel: tuple[int, int] = (2, 2)
    channels: int = 1
    bits: int = 1

    kind = "Pool"

    @property
    def in_words(self) -> int:
        return self.ofm[0] * self.ofm[1] * self.kernel[0] * self.kernel[1]

    @property
    def out_words(self) -> int:
        return self.ofm[0] * self.ofm[1]

    @property
    def in_width(self) -> int:
        return self.channels * self.bits

    out_width = in_width

    def cycles(self) -> int:
        return self.in_words   # (C * K^2 / PE) * OFM^2 with PE = C

    def steps(self):
        k = self.kernel[0] * self.kernel[1]
        for _ in range(self.out_words):
            for i in range(k):
                yield (1, True, i == k - 1)


@dataclass(frozen=True)
class Thresholding(Stage):
    """Stand-alone multi-threshold unit (also the input binarizer): ``pixels`` x
    ``channels`` values of ``in_bits``, PE per cycle, ``thresholds`` steps each;
    ``thr_sets`` independent threshold sets per channel (``pixels`` when per element)."""

    channels: int = 1
    pixels: int = 1
    pe: int = 1
    in_bits: int = 32
    thresholds: int = 1
    thr_sets: int = 1

    kind = "Thresholding"

    def __post_init__(self):
        _div(self.channels, self.pe, f"{self.name}: PE")

    @property
    def parallelism(self):
        return (self.pe, 0)

    @property
    def nf(self) -> int:
        return self.channels // self.pe

    @property
    def tmem(self) -> int:
        return self.nf * self.thr_sets

    @property
    def out_bits(self) -> int:
        return math.ceil(math.log2(self.thresholds + 1))

    @property
    def in_words(self) -> int:
        return self.nf * self.pixels

    out_words = in_words

    @property
    def in_width(self) -> int:
        return self.pe * self.in_bits

    @property
    def out_width(self) -> int:
        return self.pe * self.out_bits

    def cycles(self) -> int:
        return self.in_words

    def steps(self):
        for _ in range(self.in_words):
            yield (1, True, True)


@dataclass(frozen=True)
class Dwc(Stage):
    """Stream data-width converter: per pixel, ``channels`` values of ``bits`` arrive
    ``in_par`` per word and leave ``out_par`` per word."""

    channels: int = 1
    pixels: int = 1
    in_par: int = 1
    out_par: int = 1
    bits: int = 1

    kind = "DWC"

    def __post_init__(self):
        _div(self.channels, self.in_par, f"{self.name}: input parallelism")
        _div(self.channels, self.out_par, f"{self.name}: output parallelism")

    @property
    def in_words(self) -> int:
        return self.channels // self.in_par * self.pixels

    @property
    def out_words(self) -> int:
        return self.channels // self.out_par * self.pixels

    @property
    def in_width(self) -> int:
        return self.in_par * self.bits

    @property
    def out_width(self) -> int:
        return self.out_par * self.bits

    def cycles(self) -> int:
        return max(self.in_words, self.out_words)

    def steps(self):
        # Each cycle: read a word if fewer than out_par values are buffered, then write a
        # word if at least out_par are.  Per pixel that is max(in, out) cycles (proof: when
        # the input is wider every cycle writes; when narrower every cycle reads).
        for _ in range(self.pixels):
            buf = left = 0
            left = self.channels
            while left or buf:
                c = buf < self.out_par and left > 0
                if c:
                    buf += self.in_par
                    left -= self.in_par
                p = buf >= self.out_par
                if p:
                    buf -= self.out_par
                yield (1, c, p)


@dataclass(frozen=True)
class LabelSelect(Stage):
    """Top-1 label of ``labels`` accumulators (ArgMax), PE per cycle."""

    labels: int = 1
    pe: int = 1
    in_bits: int = 32

    kind = "LabelSelect"

    def __post_init__(self):
        _div(self.labels, self.pe, f"{self.name}: PE")

    @property
    def parallelism(self):
        return (self.pe, 0)

    @property
    def in_words(self) -> int:
        return self.labels // self.pe

    out_words = 1

    @property
    def in_width(self) -> int:
        return self.pe * self.in_bits

    out_width = 32

    def cycles(self) -> int:
        return self.in_words

    def steps(self):
        n = self.in_words
        for i in range(n):
            yield (1, True, i == n - 1)


@dataclass(frozen=True)
class Elementwise(Stage):
    """One value in, one value out per cycle after a fixed pipeline: the float tail
    (``AffineOut`` steps or lookup table) and ``Unpack``.  ``fp_ops`` lists the float
    operators per element (for the resource model); ``lut_entries`` the size of a
    lookup-table tail (float32 words)."""

    elements: int = 1
    in_bits: int = 32
    out_bits: int = 32
    fp_ops: tuple[str, ...] = ()
    lut_entries: int = 0

    kind = "Elementwise"

    @property
    def in_words(self) -> int:
        return self.elements

    out_words = in_words

    @property
    def in_width(self) -> int:
        return self.in_bits

    @property
    def out_width(self) -> int:
        return self.out_bits

    def cycles(self) -> int:
        return self.elements

    def steps(self):
        for _ in range(self.elements):
            yield (1, True, True)


def check_chain(stages: list[Stage]) -> None:
    """Adjacent stages must agree on the words and width of the stream between them."""
    for a, b in zip(stages, stages[1:]):
        if a.out_words != b.in_words or a.out_width != b.in_width:
            raise ValueError(f"stream {a.name} -> {b.name}: {a.out_words} words of {a.out_width} bits "
                             f"written, {b.in_words} words of {b.in_width} bits read")


def per_layer(stages: list[Stage], clock_hz: float) -> dict:
    """Analytic pipeline figures: per-stage cycles, the bottleneck (steady-state II of the
    pipeline), frames/s at ``clock_hz`` and FINN's pessimistic critical path (the sum of
    stage cycles, ``dataflow_performance``'s latency)."""
    cyc = [s.cycles() for s in stages]
    ii = max(cyc)
    k = cyc.index(ii)
    return {"cycles": cyc, "ii": ii, "bottleneck": k, "fps": clock_hz / ii, "critical_path": sum(cyc)}
