"""hw_sim.fpga — analytic models of a FINN-style streaming dataflow accelerator.

``cycles`` (per-stage cycles and token schedules, FINN's formulas), ``dataflow``
(event-level simulation with FIFOs), ``resources`` (FINN-R-style LUT/FF/BRAM/DSP) and
``power`` (static + dynamic power, energy per frame).  Works on plain stage
descriptions; never imports ``bnncc`` (``bnncc.fpga`` builds the stages from the IR).
See README.md for every formula and its source.
"""

from .cycles import (Dwc, Elementwise, FmPad, LabelSelect, MstMvau, Mvau, Pool, Stage, StreamingMaxPool, Swu,
                     Thresholding, check_chain, per_layer)
from .dataflow import SimResult, simulate
from .power import Power, estimate as estimate_power
from .resources import Res, bram18_units, fifo, memory, pipeline as pipeline_resources, stage as stage_resources

__all__ = ["Dwc", "Elementwise", "FmPad", "LabelSelect", "MstMvau", "Mvau", "Pool", "Stage", "StreamingMaxPool", "Swu",
           "Thresholding", "check_chain", "per_layer", "SimResult", "simulate", "Power", "estimate_power",
           "Res", "bram18_units", "fifo", "memory", "pipeline_resources", "stage_resources"]
