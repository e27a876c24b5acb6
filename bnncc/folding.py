"""Folding of the FPGA dataflow: how many output channels (PE) and input bits (SIMD) each
matrix-vector-threshold unit (MVAU) handles per clock cycle.

Every ``Dense`` and ``Conv2d`` of the lowered IR is one MVAU with a weight matrix of
``MH`` rows (output channels) by ``MW`` columns (inputs: ``K`` for a dense layer,
``kh * kw * Cin`` for a convolution, whose sliding-window unit feeds it ``Cin``-wide pixels in
(ky, kx, ci) order).  As in FINN, ``PE`` must divide ``MH`` and ``SIMD`` must divide ``MW``
(for a convolution ``SIMD`` must divide ``Cin``, since the window streams whole pixels), and
the unit takes ``(MH / PE) * (MW / SIMD)`` cycles per output pixel.

A folding is a mapping ``{op index: (PE, SIMD)}``; layers not named keep ``(1, 1)`` (fully
folded: smallest, slowest).  Spelled on the command line as ``--fold "2=16x32,4=8x64"``
(op index as in ``bnncc inspect``), or ``--fold @fold.json`` with ``{"2": [16, 32], ...}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import BnnccError
from .ir import Graph
from .ir import ops as O

Folding = dict[int, tuple[int, int]]


@dataclass(frozen=True)
class Mvau:
    """The matrix shape of one MVAU layer (op ``index`` of the graph)."""

    index: int
    name: str
    kind: str            # "Dense" | "Conv2d"
    mh: int              # output channels (rows)
    mw: int              # inputs per output (columns)
    pixels: int          # output pixels (1 for Dense)
    simd_unit: int       # SIMD must divide this: MW for Dense, Cin for Conv2d

    def pe_options(self) -> list[int]:
        return divisors(self.mh)

    def simd_options(self) -> list[int]:
        return divisors(self.simd_unit)

    def cycles(self, pe: int, simd: int) -> int:
        """FINN's MVAU cycle count: (MH / PE) * (MW / SIMD) * output pixels."""
        return (self.mh // pe) * (self.mw // simd) * self.pixels


def divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n ** 0.5) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def mvau_layers(g: Graph) -> list[Mvau]:
    out = []
    for k, op in enumerate(g.ops):
        if isinstance(op, O.Dense):
            n, kk = op.weight.shape
            out.append(Mvau(k, op.name, op.kind, n, kk, 1, kk))
        elif isinstance(op, O.Conv2d):
            cout, kh, kw, cin = op.weight.shape
            out.append(Mvau(k, op.name, op.kind, cout, kh * kw * cin, g.tensors[op.output].pixels, cin))
    return out


def parse_fold(spec: str | None) -> Folding:
    """``"2=16x32,4=8x64"`` or ``"@file.json"`` -> {2: (16, 32), 4: (8, 64)}; None/"" -> {}."""
    if not spec:
        return {}
    if spec.startswith("@"):
        path = Path(spec[1:])
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return {int(k): (int(v[0]), int(v[1])) for k, v in raw.items()}
        except (OSError, ValueError, TypeError, IndexError, AttributeError) as exc:
            raise BnnccError(f"cannot read the folding file: {exc}", where=str(path)) from None
    out: Folding = {}
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*=\s*(\d+)\s*x\s*(\d+)\s*", part)
        if not m:
            raise BnnccError(f"bad --fold entry '{part.strip()}' (expected INDEX=PExSIMD, e.g. 2=16x32)")
        out[int(m[1])] = (int(m[2]), int(m[3]))
    return out


def check_fold(g: Graph, fold: Folding) -> Folding:
    """The complete folding (every MVAU layer, (1, 1) where not given), after checking
    that each (PE, SIMD) divides its layer; one clear error otherwise."""
    layers = {m.index: m for m in mvau_layers(g)}
    for k in fold:
        if k not in layers:
            raise BnnccError(f"--fold names op {k}, which is not a Dense/Conv2d layer "
                             f"(those are: {', '.join(map(str, sorted(layers))) or 'none'})")
    full = {}
    for k, m in layers.items():
        pe, simd = fold.get(k, (1, 1))
        if pe < 1 or m.mh % pe:
            raise BnnccError(f"PE={pe} does not divide the {m.mh} output channels of layer {k} ({m.kind} {m.name})")
        if simd < 1 or m.simd_unit % simd:
            what = "input channels" if m.kind == "Conv2d" else "inputs"
            raise BnnccError(f"SIMD={simd} does not divide the {m.simd_unit} {what} of layer {k} ({m.kind} {m.name})")
        full[k] = (pe, simd)
    return full


def auto_fold(graph: Graph, target, fps: float | None = None, max_luts: int | None = None):
    """Automatic folding for an FPGA target (to ``fps`` and/or a LUT budget); see
    ``bnncc.fpga.auto_fold``, which holds the algorithm next to the estimates it uses."""
    from .fpga import auto_fold as _auto_fold

    return _auto_fold(graph, target, fps, max_luts)
