"""Vendor-free C-simulation of the HLS backend's output: g++ (C++14) with the vendored
ap_types headers and the emitted ``csim/hls_stream.h``, then the testbench over a file
of inputs (``api.run_harness``).  Used by ``bnncc verify --target <fpga target>``."""

from __future__ import annotations

import subprocess
from pathlib import Path


from .errors import BnnccError
from .resources import ap_types_dir
from .targets import Target

# Warnings on for bnncc's own code (the emitted C++, bnn_hls.h, the stream shim), as
# errors; ap_types comes in as a system header.  GCC's uninitialized-use analysis
# reports false positives inside ap_private's inlined constructors even there, so
# those two are off; HLS pragmas and loop labels mean nothing to g++.
STRICT = ("-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas", "-Wno-unused-label", "-Wno-uninitialized",
          "-Wno-maybe-uninitialized")


def build_csim(lib: Path, target: Target, extra_flags=()) -> Path:
    """Compile testbench.cpp + top.cpp of an emitted HLS folder into ``lib/csim_tb``."""
    exe = lib / "csim_tb"
    cmd = [target.cc, *target.cflags, *STRICT, *extra_flags, "-I", str(lib), "-I", str(lib / "csim"),
           "-isystem", str(ap_types_dir()), str(lib / "testbench.cpp"), str(lib / "top.cpp"), "-o", str(exe)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise BnnccError(f"C-simulation needs the C++ compiler '{target.cc}', which is not installed") from None
    if res.returncode != 0:
        errs = [ln for ln in res.stderr.splitlines() if "error" in ln] or res.stderr.strip().splitlines() or ["?"]
        raise BnnccError(f"building the HLS C-simulation failed: {errs[0]}")
    return exe
