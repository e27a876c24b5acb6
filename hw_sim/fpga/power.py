"""Static + dynamic power of the programmable logic, and energy per frame.

Model (Xilinx Power Estimator style, UG440): dynamic power is linear in the clock and in
each resource count::

    P_dyn = f_MHz * (toggle / 0.125) * (LUT * k_lut + FF * k_ff + BRAM36 * k_bram
                                        + DSP * k_dsp)          [uW]
    P     = P_static + P_dyn
    E_frame = P / frames_per_second                        (steady state, pipeline full)

The ``k_*`` coefficients (uW per MHz per resource at XPE's default 12.5 % toggle rate,
routing and local clocking included; BRAM at 50 % enable) and ``P_static`` (PL static
at 25 C junction, typical process) are per-board data in ``targets/<board>.toml``'s
``[fpga]`` table (``static_w``, ``uw_per_mhz_lut``, ``uw_per_mhz_ff``,
``uw_per_mhz_bram36``, ``uw_per_mhz_dsp``, ``toggle_rate``).  They are rounded,
order-of-magnitude XPE-like figures stated as assumptions, not measurements: expect
+-50 %.  The processing system (ARM cores, DDR) is not included.
"""

from __future__ import annotations

from dataclasses import dataclass

POWER_KEYS = ("static_w", "uw_per_mhz_lut", "uw_per_mhz_ff", "uw_per_mhz_bram36", "uw_per_mhz_dsp", "toggle_rate")


@dataclass(frozen=True)
class Power:
    static_w: float
    dynamic_w: float
    by_resource_w: dict

    @property
    def total_w(self) -> float:
        return self.static_w + self.dynamic_w

    def energy_uj(self, fps: float) -> float:
        return 1e6 * self.total_w / fps

    def as_dict(self) -> dict:
        return {"static_w": self.static_w, "dynamic_w": self.dynamic_w, "total_w": self.total_w,
                "by_resource_w": self.by_resource_w}


def estimate(fpga: dict, clock_hz: float, lut: float, ff: float, bram36: float, dsp: float) -> Power:
    """Power of a design using the given resources at ``clock_hz`` on the board ``fpga``
    (a target's ``[fpga]`` table)."""
    missing = [k for k in POWER_KEYS if k not in fpga]
    if missing:
        raise KeyError(f"[fpga] lacks the power constants {', '.join(missing)}")
    scale = clock_hz / 1e6 * float(fpga["toggle_rate"]) / 0.125 * 1e-6
    parts = {"lut": lut * fpga["uw_per_mhz_lut"] * scale, "ff": ff * fpga["uw_per_mhz_ff"] * scale,
             "bram": bram36 * fpga["uw_per_mhz_bram36"] * scale, "dsp": dsp * fpga["uw_per_mhz_dsp"] * scale}
    return Power(float(fpga["static_w"]), sum(parts.values()), parts)
