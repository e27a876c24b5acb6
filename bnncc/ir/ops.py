"""The operations of bnncc's IR: one frozen dataclass each.

Every op has a ``name`` (the ONNX node it came from, for messages), ``inputs`` and one
``output`` (tensor names in ``Graph.tensors``).  Numeric attributes are numpy arrays;
their meaning is given by the matching function in ``bnncc.ir.interp``.

Lifecycle: the front-end emits ``FloatChain`` (an untouched piece of the ONNX graph
whose float semantics only onnxruntime defines), ``Dense``, ``Conv2d`` and ``ArgMax``.
Passes replace every ``FloatChain`` by exact integer/bit ops (``BinarizeInput``,
``Threshold``, ``PoolBits``, ``AffineOut``, ``Unpack``) or, before a first layer with a
real-valued input, by ``FloatSteps``; backends accept no ``FloatChain``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx


@dataclass(frozen=True, eq=False)
class Op:
    name: str
    inputs: tuple[str, ...]
    output: str

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, eq=False)
class FloatChain(Op):
    """A run of ONNX nodes applied to one activation, kept verbatim.

    ``role`` says where it sits: ``input`` (graph input -> first binary layer),
    ``input_real`` (graph input -> a first layer that takes real values: elementwise
    float ops, no quantizer; the output is float32), ``activation`` (accumulator -> next
    binary layer) or ``tail`` (accumulator -> output).
    The IR input is converted to the ONNX tensor ``onnx_in`` (shape ``onnx_in_shape``,
    batch 1 included) as: float input as is; an accumulator (int32, or float32 after a
    real-input layer) in channel-last order is put in ONNX order (``in_perm``) and
    multiplied by ``acc_scale`` (one factor per ONNX element: activation level x weight
    magnitude; for int32 the importer checks that every partial sum stays exact in
    float32).  The output is the quantizer's output (or the float values for
    ``input_real``), mapped to the IR layout with ``out_perm`` (views after it are not
    part of it).
    """

    role: str = "activation"
    nodes: tuple[onnx.NodeProto, ...] = ()
    consts: dict = field(default_factory=dict)
    opsets: tuple[tuple[str, int], ...] = ()
    onnx_in: str = ""
    onnx_in_shape: tuple[int, ...] = ()
    onnx_out: str = ""
    onnx_out_shape: tuple[int, ...] = ()
    in_perm: np.ndarray = None            # ONNX input flat index i <- IR input flat index in_perm[i]
    out_perm: np.ndarray | None = None    # IR output flat index j <- ONNX output flat index out_perm[j]
    acc_scale: np.ndarray | None = None   # float32 per ONNX input element (int inputs only)
    acc_range: int = 0                    # |accumulator| <= acc_range (the fan-in K)
    level: float = 1.0                    # quantizer output magnitude a: values in {-a, 0, +a}


@dataclass(frozen=True, eq=False)
class BinarizeInput(Op):
    """Float input -> binary activation, one comparison rule per input element.

    Elements are in ONNX (row-major, NCHW) order; ``perm[i]`` is the ONNX flat index that
    feeds output element i (output in channel-last order).  With ``ge_lo = x >= lo`` and
    ``ge_hi = x >= hi`` (lo <= hi): ``dir=+1``: +1 if ge_hi, 0 if ge_lo only, else -1;
    ``dir=-1``: the negation; ``dir=0``: the constant ``const``.  ``level`` is the
    magnitude a of the {-a, 0, +a} values in the ONNX graph.
    """

    dir: np.ndarray = None      # int8 [n]
    lo: np.ndarray = None       # float32 [n]
    hi: np.ndarray = None       # float32 [n]
    const: np.ndarray = None    # int8 [n]
    perm: np.ndarray = None     # int64 [n]
    level: float = 1.0


@dataclass(frozen=True, eq=False)
class FloatSteps(Op):
    """float32 -> float32, elementwise, then into the IR layout: output element i is
    input element ``src[i]`` (ONNX order) after each step ``(op, const)`` (the same
    step kinds as ``AffineOut``; const has one float32 per input element), each rounded
    to float32 in order.  The graph input's own preprocessing before a real-input layer."""

    steps: tuple = ()
    src: np.ndarray = None


@dataclass(frozen=True, eq=False)
class MstPlan:
    """How a binary layer computes its output channels along a spanning tree
    (``passes/mst_reorder.py`` derives the identity).  Arrays are per output channel j:
    ``parent[j] = -1``: channel j is computed in full (a root); else from its parent
    p = parent[j] with the difference set D_j = {k: w_jk != w_pk} (``comp[j]`` False) or
    D_j = {k: w_jk == w_pk} (``comp[j]`` True: w_j is close to -w_p), as
        dot_j = s_j dot_p - 2 s_j sum_{k in D_j} a_k w_pk,   s_j = -1 if comp[j] else +1.
    ``order`` lists every channel once, each parent before its children (BFS); outputs
    stay in the original channel order.  ``depth`` is the longest chain of children
    below a root; ``metric`` names what the tree minimised (``bits``: |D|, the paper's
    Hamming weight; ``cycles``: the target's word-level cost model)."""

    order: np.ndarray = None   # int32 [N]
    parent: np.ndarray = None  # int32 [N]
    comp: np.ndarray = None    # bool [N]
    depth: int = 0
    metric: str = "bits"


@dataclass(frozen=True, eq=False)
class Dense(Op):
    """Binary fully connected layer.  ``weight`` int8 [N, K] of ±1, columns in the
    channel-last order of the input tensor.  Output int32 [N]:
    ``acc="dot"``: the exact dot product sum_k a_k w_nk (a_k in {-1, 0, +1});
    ``acc="xor_popcount"``: q = popcount(a XOR w) for bipolar inputs (dot = K - 2q).
    ``acc="float"`` (a first layer with a real-valued float32 input): float32 output
    acc_n = (((0 + w_n0 x_0) + w_n1 x_1) + ...), summed in k order, each addition
    rounded to float32 (w x is x or -x, exact).  Exact whenever every partial sum is
    representable (e.g. integer pixels with K * max|x| < 2**24); otherwise it may differ
    from another summation order by at most K * 2**-24 * sum|x| (the classic bound)."""

    weight: np.ndarray = None
    acc: str = "dot"
    packed: np.ndarray | None = None  # [N, words] set by pack_bits
    mst: MstPlan | None = None        # set by mst_reorder: evaluate channels along a tree


@dataclass(frozen=True, eq=False)
class Conv2d(Op):
    """Binary 2-D convolution, channel-last.  ``weight`` int8 [Cout, kh, kw, Cin] of ±1;
    zero padding contributes 0 (neither +1 nor -1).  Output int32 [OH, OW, Cout] with
    the same ``acc`` meaning as ``Dense`` (``xor_popcount`` only without padding;
    ``float``: summed over ky, then kx, then ci, padded taps skipped)."""

    weight: np.ndarray = None
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilations: tuple[int, int] = (1, 1)
    acc: str = "dot"
    packed: np.ndarray | None = None  # [Cout, kh, kw, words]
    mst: MstPlan | None = None        # set by mst_reorder (as for Dense)


@dataclass(frozen=True, eq=False)
class Threshold(Op):
    """Accumulator -> binary activation.  Per channel (``per="channel"``) or per
    element of the channel-last tensor (``per="element"``): with ge_lo = x >= lo,
    ge_hi = x >= hi, lo <= hi: out = dir * (ge_hi + ge_lo - 1), dir in {-1, +1}.
    int32 input, int32 lo/hi: constant channels use lo = hi = INT32_MIN (always +dir)
    or INT32_MAX (always -dir).  float32 input (after a real-input layer), float32
    lo/hi: constants use -inf (always true) and +inf (false for every finite x)."""

    dir: np.ndarray = None  # int8
    lo: np.ndarray = None   # int32 or float32, the input's type
    hi: np.ndarray = None
    per: str = "channel"


@dataclass(frozen=True, eq=False)
class PoolBits(Op):
    """Max pooling on binary activations (channel-last).  Because the quantizer is
    monotone, a MaxPool placed before it becomes a pool after it: a max where the
    function after the pool is non-decreasing, a min where it is non-increasing
    (``is_max`` per channel).  Out-of-range (padded) taps are ignored, as ONNX pads
    MaxPool with -inf."""

    kernel: tuple[int, int] = (2, 2)
    strides: tuple[int, int] = (2, 2)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    ceil_mode: bool = False
    is_max: np.ndarray = None  # bool [C]


@dataclass(frozen=True, eq=False)
class AffineOut(Op):
    """int32 accumulator -> float32 output in ONNX order (the network's float tail).

    Either ``steps``: float32 operations replayed in onnxruntime's order, each
    ``(op, const)`` with op in add, sub, rsub, mul, div, rdiv, max, min and const a
    float32 array over the output elements (x' = x op c; rsub/rdiv: c op x), starting
    from x = float(acc) * acc_scale; or ``lut`` float32 [n_out, 2K+1] indexed by acc + K.
    ``src`` maps output element i to its accumulator element (channel-last flat index).
    """

    acc_scale: np.ndarray = None
    steps: tuple = ()
    lut: np.ndarray | None = None
    acc_range: int = 0
    src: np.ndarray = None


@dataclass(frozen=True, eq=False)
class Unpack(Op):
    """Binary activation -> float32 {-level, 0, +level} in ONNX order (``src`` as above)."""

    level: float = 1.0
    src: np.ndarray = None


@dataclass(frozen=True, eq=False)
class ArgMax(Op):
    """float32 vector -> int64 index of the first maximum (numpy's and TopK's rule)."""
