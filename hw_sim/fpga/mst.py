"""MST channel reordering on the FPGA: LUTs, FFs and latency of a constant-weight
binary layer with and without the spanning-tree evaluation (bnncc's ``mst_reorder``).

Where it can pay.  In a folded MVAU (PE < MH or SIMD < MW) the PE/SIMD datapath is
time-multiplexed over the weight memory: a child channel's difference mask would be
one more word read from memory, i.e. data, and the popcount tree stays SIMD bits wide.
MST saves nothing there.  The saving exists only when the layer's weights are constants
in logic, the fully unrolled case (PE = MH, SIMD = MW, one output pixel per cycle,
"LogicNets-style"): every output channel is its own XNOR + popcount tree over the K
inputs, and an XNOR with a constant is a wire or an inverter that synthesis folds into
the tree's first LUT level.  With MST a child channel j of parent i needs a popcount
tree over only its |D_j| differing inputs plus one adder/subtractor, chained after the
parent (``bnncc/passes/mst_reorder.py`` has the identities):

    q_j = q_i + |D_V| - 2 x            (plain edge)
    q_j = |V| - q_i - |D_V| + 2 x      (complement edge)

LUT model, per channel, in FINN-R's per-PE terms (``resources._mvau``, the same c0 = 300,
c1 and the same addertree constant, W = 1 weight bit, A = 1 or 2 input bits):

    tree(n)  = (W + A) * max(0, 2 n - 1)      FINN's addertree term for an n-input popcount
    root     = tree(K) + acc + comp           (mult = 0: the XNOR with a constant folds)
    child    = tree(|D|) + adder + comp,      adder = acc (bipolar: q_i + |D| - 2x with
                                              |D| a constant), 2 acc (ternary / padded
                                              input: |D_V| = popcount(D AND nz) is a
                                              second sum, its bits are inside tree(|D|)
                                              through A = 2)
    unit     = c0 + c1 * sum over channels

with ``acc`` the accumulator width (``cycles.Mvau.acc_width``) and ``comp`` = threshold
steps x acc (0 when the accumulator leaves the unit).  "before" is the same unit with
every channel a root, so before -> after is the MST effect alone: children x
(tree(K) - tree(|D|)) saved, children x adder paid.  Because tree() is affine in |D|
with a positive slope, the minimum-|D| spanning tree (the paper's Hamming-weight tree)
is also the minimum-LUT tree for a given root set.  c1 is FINN-R's 1.1 (``lut_model=
"finn"``) or the yosys-fitted 0.51 (``"yosys"``, bench/fpga_yosys_calib.py).

FFs (resources' FF model, per PE ``2 acc + out_bits + (W + A) Q`` with Q = the tree's
inputs): a root ``2 acc + out + (W+A) K``, a child ``2 acc + out + (W+A) |D| + acc``
(the adder's output register), plus the registers that hold early channels until the
slowest one is ready (out bits per cycle of slack, see latency).

Latency (cycles from the last input word of a pixel to its output word): a popcount
tree over n inputs has ceil(log2 n) adder levels, registered every
``TREE_LEVELS_PER_STAGE`` = 2 levels (as the FF model assumes) -> ``stages(n)`` cycles;
a root is ready after stages(K), a child ``ADDER_STAGES`` = 1 cycle after the later of
its parent and its own tree: ready_j = max(ready_i, stages(|D_j|)) + 1.  The unit's
latency is max over channels of ready + 1 (threshold compare and output register).
So the depth bound caps the extra latency at ``depth`` cycles; the initiation interval
is unchanged (a new pixel every MW / SIMD cycles, 1 when unrolled): the chain is a
pipeline, not a loop.

These are estimates of the same kind as the rest of hw_sim.fpga (not Vivado).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import cycles as C
from .resources import MVAU_C0, MVAU_C1_BY_MODEL

TREE_LEVELS_PER_STAGE = 2
ADDER_STAGES = 1
W_BITS = 1


def tree(n: int, in_bits: int) -> int:
    """FINN-R's addertree term of an n-input popcount (LUTs before the c1 factor)."""
    return (W_BITS + in_bits) * max(0, 2 * int(n) - 1)


def stages(n: int) -> int:
    """Register stages of an n-input popcount tree."""
    if n <= 1:
        return 0
    return math.ceil(math.ceil(math.log2(n)) / TREE_LEVELS_PER_STAGE)


@dataclass(frozen=True)
class Unit:
    """One constant-weight layer, before and after MST (``sum_*``: the per-channel
    LUT terms before c0 and c1; ``ff_*``: flip-flops; ``latency_*``: cycles)."""

    sum_before: float
    sum_after: float
    ff_before: float
    ff_after: float
    latency_before: int
    latency_after: int
    tree_bits_before: int
    tree_bits_after: int

    def luts(self, which: str, lut_model: str = "finn") -> float:
        return MVAU_C0 + MVAU_C1_BY_MODEL[lut_model] * (self.sum_before if which == "before" else self.sum_after)


def unit(k: int, mh: int, in_bits: int, thresholds: int, parent, d_bits, order, sf: int = 1) -> Unit:
    """The figures of an ``mh`` x ``k`` constant-weight layer with ``in_bits``-bit inputs,
    ``thresholds`` threshold steps per output (0: accumulator out), evaluated along the
    tree ``parent`` (-1: root) with ``d_bits[j]`` = |D_j| for children, channels in
    ``order`` (parents first).  ``sf``: input words per pixel (MW / SIMD)."""
    parent = np.asarray(parent)
    d_bits = np.asarray(d_bits)
    acc = C.Mvau("mst", -1, mh=mh, mw=k, in_bits=in_bits, thresholds=thresholds).acc_width
    out = math.ceil(math.log2(thresholds + 1)) if thresholds else acc
    comp = thresholds * acc
    adder = acc * (2 if in_bits > 1 else 1)
    root = tree(k, in_bits) + acc + comp
    root_ff = 2 * acc + out + (W_BITS + in_bits) * k
    base_ff = 2 * MVAU_C0 / 3 + k * in_bits        # control + the buffered input vector
    ready = np.zeros(mh, np.int64)
    s_after, ff_after, bits_after = 0.0, base_ff, 0
    for j in order:
        j = int(j)
        p = int(parent[j])
        if p < 0:
            ready[j] = stages(k)
            s_after += root
            ff_after += root_ff
            bits_after += k
        else:
            d = int(d_bits[j])
            ready[j] = max(ready[p], stages(d)) + ADDER_STAGES
            s_after += tree(d, in_bits) + adder + comp
            ff_after += 2 * acc + out + (W_BITS + in_bits) * d + acc
            bits_after += d
    slowest = int(ready.max(initial=0))
    ff_after += out * float((slowest - ready).sum())
    return Unit(sum_before=float(mh * root), sum_after=s_after, ff_before=base_ff + mh * root_ff,
                ff_after=ff_after, latency_before=sf + stages(k) + 1, latency_after=sf + slowest + 1,
                tree_bits_before=mh * k, tree_bits_after=bits_after)
