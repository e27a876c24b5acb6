"""Calibration of the FINN-R MVAU LUT formula against yosys ``synth_xilinx`` (xc7).

Synthesizes the datapath of one binary MVAU processing element — SIMD-wide XNOR,
popcount, accumulator over the synapse folds, threshold compare, registered in and
out — written as plain RTL, for several SIMD widths and PE counts, and compares yosys'
LUT count with the per-PE part of FINN's ``lut_estimation`` (``1.1 * PE * (mult +
addertree + acc + comp)``, without the 300-LUT control constant c0, which this RTL does
not have).  Needs ``yosys`` (Debian: ``apt-get install yosys``); not part of the tests.

    PYTHONPATH=. python -m bench.fpga_yosys_calib [--json]

Caveat: yosys' generic popcount mapping (an adder chain per ``+``, ABC LUT mapping) is not
Vivado's; this bounds the formula from one real synthesizer, it does not replace Vivado.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hw_sim.fpga import Mvau, stage_resources
from hw_sim.fpga.resources import MVAU_C0

RTL = """
module pe_unit #(parameter Q = 32, parameter ACC = 11) (
  input clk, input first, input [Q-1:0] a, input [Q-1:0] w, input [ACC-1:0] thr,
  output reg y);
  reg [Q-1:0] ar, wr;
  reg [ACC-1:0] acc;
  reg firstr;
  wire [Q-1:0] x = ~(ar ^ wr);
  integer i;
  reg [ACC-1:0] cnt;
  always @* begin
    cnt = 0;
    for (i = 0; i < Q; i = i + 1) cnt = cnt + x[i];
  end
  wire [ACC-1:0] sum = (firstr ? 0 : acc) + cnt;
  always @(posedge clk) begin
    ar <= a; wr <= w; firstr <= first;
    acc <= sum;
    y <= (sum >= thr);
  end
endmodule

module mvau_pes #(parameter P = 1, parameter Q = 32, parameter ACC = 11) (
  input clk, input first, input [Q-1:0] a, input [P*Q-1:0] w, input [ACC-1:0] thr, output [P-1:0] y);
  genvar p;
  generate for (p = 0; p < P; p = p + 1) begin : pe
    pe_unit #(.Q(Q), .ACC(ACC)) u (.clk(clk), .first(first), .a(a), .w(w[p*Q +: Q]), .thr(thr), .y(y[p]));
  end endgenerate
endmodule
"""


def yosys_luts(p: int, q: int, acc: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "mvau.v"
        src.write_text(RTL, encoding="utf-8")
        script = (f"read_verilog {src}; chparam -set P {p} -set Q {q} -set ACC {acc} mvau_pes; "
                  "synth_xilinx -family xc7 -top mvau_pes -flatten; stat")
        out = subprocess.run(["yosys", "-q", "-p", script, "-l", str(Path(d) / "log")], capture_output=True,
                             text=True, check=True)
        log = (Path(d) / "log").read_text(encoding="utf-8") + out.stdout
    cells = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\S+)\s+(\d+)\s*$", log, re.M)}
    luts = sum(v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k))
    ffs = sum(v for k, v in cells.items() if k.startswith("FD"))
    return {"luts": luts, "carry4": cells.get("CARRY4", 0), "ff": ffs}


def main(argv: list[str]) -> None:
    if shutil.which("yosys") is None:
        sys.exit("yosys is not installed (Debian: apt-get install yosys)")
    rows = []
    for p, q, mw in ((1, 8, 256), (1, 16, 256), (1, 32, 1024), (1, 64, 1024), (4, 32, 1024), (16, 64, 832)):
        m = Mvau("m", 0, mh=p * 4, mw=mw, pe=p, simd=q)
        acc = m.acc_width
        finn = stage_resources(m).lut - stage_resources(m).lutram - MVAU_C0
        y = yosys_luts(p, q, acc)
        rows.append({"pe": p, "simd": q, "acc_bits": acc, "finn_per_pe_luts": round(finn),
                     "yosys_luts": y["luts"], "yosys_carry4": y["carry4"], "yosys_ff": y["ff"],
                     "ff_model": round(stage_resources(m).ff - 2 * MVAU_C0 / 3 - q - p * q),
                     "ratio_finn_over_yosys": finn / y["luts"] if y["luts"] else math.inf})
    if "--json" in argv:
        print(json.dumps(rows, indent=1))
        return
    for r in rows:
        print(f"PE={r['pe']:3d} SIMD={r['simd']:3d} acc={r['acc_bits']:2d}: FINN-R {r['finn_per_pe_luts']:6,} LUT, "
              f"yosys {r['yosys_luts']:6,} LUT + {r['yosys_carry4']} CARRY4, {r['yosys_ff']} FF "
              f"-> FINN-R / yosys {r['ratio_finn_over_yosys']:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
