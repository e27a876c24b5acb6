"""Step rules of a monotone float function, found by binary search over float32.

Helper of ``binarize_input`` and ``threshold_real_layer``.  float32 is totally ordered
(NaN aside) and its order is the order of ``to_key`` (the bit pattern read as a signed
magnitude), so a function q that is monotone in each element and takes at most three
levels {-a, 0, +a} is fixed by two keys per element:

    lo = the smallest x with q(x) != q(-FLT_MAX)
    hi = the smallest x with q(x) == q(+FLT_MAX)

and then q(x) = dir * ([x >= hi] + [x >= lo] - 1) for every finite x (dir = +1 when q
increases, -1 when it decreases, 0 when it is constant: then q = const).  ``evaluate``
is always the reference (onnxruntime), so no float formula is trusted.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import UnsupportedError

FLT_MAX = np.finfo(np.float32).max


def to_key(x: np.ndarray) -> np.ndarray:
    bits = np.asarray(x, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(bits >= 0, bits, -(bits & 0x7FFFFFFF))


def from_key(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, dtype=np.int64)
    bits = np.where(k >= 0, k, (-k) | 0x80000000).astype(np.uint32)
    return bits.view(np.float32)


def _first_true(evaluate, lo, hi, pred):
    """Per element, the smallest key in (lo, hi] where pred (monotone) holds; pred(hi) holds."""
    lo, hi = lo.copy(), hi.copy()
    while (hi - lo > 1).any():
        mid = lo + (hi - lo) // 2
        t = pred(evaluate(mid))
        active = hi - lo > 1
        hi = np.where(active & t, mid, hi)
        lo = np.where(active & ~t, mid, lo)
    return hi


def step_rules(evaluate: Callable[[np.ndarray], np.ndarray], n: int, level: float, where: str,
               bound: float = float(FLT_MAX)):
    """``evaluate(keys[n]) -> y[n]`` (element i of the output depends only on key i),
    searched over [-bound, bound].  Returns dir int8, lo float32, hi float32, const
    int8 (each [n]) and whether a 0 level is reachable (a ternary output)."""
    kmin = np.full(n, to_key(np.float32(-bound)), dtype=np.int64)
    kmax = np.full(n, to_key(np.float32(bound)), dtype=np.int64)
    f_lo, f_hi = evaluate(kmin), evaluate(kmax)
    a = np.float32(level)
    for v in (f_lo, f_hi):
        if not np.isin(v, (a, -a, 0)).all():
            raise UnsupportedError(f"quantizer output {float(v[~np.isin(v, (a, -a, 0))][0]):g} is not in {{-{a:g}, 0, +{a:g}}}",
                                   where=where)
    const = f_lo == f_hi
    k1 = _first_true(evaluate, kmin, kmax, lambda y: y != f_lo)
    k2 = _first_true(evaluate, kmin, kmax, lambda y: y == f_hi)
    mid_val = evaluate(k1)
    before_hi = evaluate(np.maximum(k2 - 1, kmin))
    three = (~const) & (k1 < k2)
    if (three & ((mid_val != 0) | (before_hi != 0))).any():
        raise UnsupportedError("the quantizer has more than three levels (or is not monotone)", where=where)
    dirs = np.where(const, 0, np.where(f_hi > f_lo, 1, -1)).astype(np.int8)
    lo = np.where(const, 0, from_key(k1)).astype(np.float32)
    hi = np.where(const, 0, from_key(k2)).astype(np.float32)
    cval = np.where(const, np.sign(f_lo), 0).astype(np.int8)
    ternary = bool(three.any() or (const & (cval == 0)).any())
    return dirs, lo, hi, cval, ternary
