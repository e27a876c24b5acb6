"""bnncc's FPGA resource estimate against published BNN-PYNQ designs.

Builds the IR of BNN-PYNQ's LFC-w1a1 and CNV-w1a1 directly (the hardware topology of
``bnn/src/network/{lfcW1A1,cnvW1A1}/hw/config.h`` at Xilinx/BNN-PYNQ commit d39c1c75,
padded sizes included: LFC 832 -> 1024 -> 1024 -> 1024 -> 64, CNV's last layer 64 wide),
folds every layer with those files' PE/SIMD, lowers the IR to the pipeline with
``bnncc.fpga`` and compares the LUT/BRAM36 totals with the published xc7z020
implementation figures (LFC-w1a1 28,360 LUT / 110 BRAM36, CNV-w1a1 26,072 LUT / 124
BRAM36, as quoted in bnncc issue 5).  The estimate is not tuned to these numbers.

Modelling choices matching BNN-PYNQ: LFC's input image is binarized by the host (no
input binarizer on the fabric); CNV's first layer takes 8-bit pixels; both end with the
last MVAU's raw accumulators (no float tail, argmax on the host).

    PYTHONPATH=. python -m bench.fpga_published [--json]
"""

from __future__ import annotations

import json
import sys

import numpy as np

from bnncc.fpga import estimate
from bnncc.ir import Graph
from bnncc.ir import ops as O
from bnncc.ir.types import DType, TensorType
from bnncc.targets import load_target

PUBLISHED = {"lfc": {"lut": 28_360, "bram36": 110}, "cnv": {"lut": 26_072, "bram36": 124}}

# (PE, SIMD) per MVAU, in layer order: BNN-PYNQ config.h L0..L3 / L0..L8
LFC_FOLD = [(32, 64), (64, 32), (32, 64), (16, 8)]
CNV_FOLD = [(16, 3), (32, 32), (16, 32), (16, 32), (4, 32), (1, 32), (1, 4), (1, 8), (4, 1)]


class _G:
    def __init__(self, shape, dtype):
        self.tensors = {"x": TensorType(tuple(shape), dtype)}
        self.ops: list[O.Op] = []
        self.cur = "x"

    def _t(self, shape, dtype) -> str:
        name = f"t{len(self.tensors)}"
        self.tensors[name] = TensorType(tuple(shape), dtype)
        return name

    def add(self, make, shape, dtype) -> int:
        out = self._t(shape, dtype)
        self.ops.append(make(self.cur, out))
        self.cur = out
        return len(self.ops) - 1

    def dense(self, n: int) -> int:
        k = self.tensors[self.cur].numel
        w = np.ones((n, k), np.int8)
        return self.add(lambda i, o: O.Dense(f"fc{len(self.ops)}", (i,), o, weight=w), (n,), DType.INT32)

    def conv(self, cout: int, k: int = 3) -> int:
        h, w_, cin = self.tensors[self.cur].shape
        acc = "float" if self.tensors[self.cur].dtype is DType.FLOAT32 else "dot"
        wt = np.ones((cout, k, k, cin), np.int8)
        return self.add(lambda i, o: O.Conv2d(f"conv{len(self.ops)}", (i,), o, weight=wt, acc=acc),
                        (h - k + 1, w_ - k + 1, cout), DType.INT32)

    def thr(self) -> None:
        shape = self.tensors[self.cur].shape
        c = shape[-1]
        z = np.zeros(c, np.int32)
        self.add(lambda i, o: O.Threshold(f"thr{len(self.ops)}", (i,), o, dir=np.ones(c, np.int8), lo=z, hi=z),
                 shape, DType.BIPOLAR)

    def pool(self) -> None:
        h, w, c = self.tensors[self.cur].shape
        self.add(lambda i, o: O.PoolBits(f"pool{len(self.ops)}", (i,), o, is_max=np.ones(c, bool)),
                 (h // 2, w // 2, c), DType.BIPOLAR)

    def graph(self, name: str) -> Graph:
        return Graph(name, "x", self.cur, self.tensors, tuple(self.ops), (1,), (1,))


def lfc() -> tuple[Graph, dict]:
    g = _G((832,), DType.BIPOLAR)
    idx = []
    for n in (1024, 1024, 1024):
        idx.append(g.dense(n))
        g.thr()
    idx.append(g.dense(64))
    return g.graph("lfc_w1a1"), dict(zip(idx, LFC_FOLD))


def cnv() -> tuple[Graph, dict]:
    g = _G((32, 32, 3), DType.FLOAT32)
    idx = []
    for cout, pool in ((64, False), (64, True), (128, False), (128, True), (256, False), (256, False)):
        idx.append(g.conv(cout))
        g.thr()
        if pool:
            g.pool()
    for n in (512, 512):
        idx.append(g.dense(n))
        g.thr()
    idx.append(g.dense(64))
    return g.graph("cnv_w1a1"), dict(zip(idx, CNV_FOLD))


def compare(target: str = "pynq-z2", weight_layout: str = "per_pe", ram_style: str = "auto",
            lut_model: str = "finn") -> dict:
    """Our estimate and the ratio ours/published for LFC and CNV."""
    t = load_target(target)
    out = {}
    for name, build in (("lfc", lfc), ("cnv", cnv)):
        g, fold = build()
        e = estimate(g, t, fold, weight_layout=weight_layout, ram_style=ram_style, lut_model=lut_model)
        pub = PUBLISHED[name]
        out[name] = {"lut": round(e.total.lut), "bram36": e.total.bram36, "ff": round(e.total.ff),
                     "lut_ratio": e.total.lut / pub["lut"], "bram36_ratio": e.total.bram36 / pub["bram36"],
                     "published": pub, "ii_cycles": e.ii, "fps": t.fpga["clock_hz"] / e.ii,
                     "fold": {str(k): list(v) for k, v in fold.items()},
                     "stages": [(s.kind, s.name, c, round(r.lut), r.bram36)
                                for s, c, r in zip(e.stages, e.cycles, e.res)]}
    return out


def main(argv: list[str]) -> None:
    res = {f"{lay}/{style}/{lm}": compare(weight_layout=lay, ram_style=style, lut_model=lm)
           for lay, style, lm in (("per_pe", "auto", "finn"), ("per_pe", "block", "finn"), ("wide", "auto", "finn"),
                                  ("per_pe", "auto", "yosys"))}
    if "--json" in argv:
        print(json.dumps(res, indent=1))
        return
    for lay, r in res.items():
        for name, v in r.items():
            w, rs, lm = lay.split("/")
            print(f"{name.upper()}-w1a1 (weights {w}, ram_style {rs}, LUT model {lm}): ours {v['lut']:,} LUT / "
                  f"{v['bram36']:g} BRAM36, "
                  f"published {v['published']['lut']:,} / {v['published']['bram36']} -> ratio LUT "
                  f"{v['lut_ratio']:.2f}, BRAM36 {v['bram36_ratio']:.2f}; {v['fps']:,.0f} frames/s "
                  f"(II {v['ii_cycles']} cycles)")


if __name__ == "__main__":
    main(sys.argv[1:])
