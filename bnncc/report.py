"""report.html: the compile report (report.json) and, after ``simulate``, the measured
cycles and the verification result, as one self-contained HTML file.

Python only gathers numbers (the report dict, the target, the simulation record) and
the scales of the two charts; ``templates/report/report.html.j2`` draws everything,
including the inline SVG bar chart and memory timeline.  Autoescaping is on: model,
node and tensor names come from the ONNX file and are untrusted.  No timestamps, no
dict-order dependence: the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import math

import jinja2

from .resources import templates_dir
from .targets import Target

TEMPLATE = "report/report.html.j2"


def _nice_max(v: float) -> float:
    """The smallest 1/2/5 x 10^k at or above v (axis end), at least 1."""
    if v <= 1:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 5, 10):
        if m * e >= v:
            return float(m * e)
    return float(10 * e)


def context(report: dict, target: Target, simulation: dict | None = None) -> dict:
    """Plain data for the template."""
    layers = [dict(L) for L in report["layers"]]
    sim_layers = {L["index"]: L for L in (simulation or {}).get("layers", [])}
    totals = report["totals"]
    const_bytes = max(1, totals["const_bytes"])
    arena = totals["arena_bytes"]
    plan = report.get("memory_plan", [])
    # which arena tensor each layer writes (for its RAM share): activation_bytes is
    # what the layer writes; tensors outside the arena (graph output) share no arena
    for L in layers:
        s = sim_layers.get(L["index"])
        L["cycles"] = s["cycles"] if s else None
        L["percent"] = s["percent"] if s else None
        L["cycles_per_binary_mac"] = s["cycles_per_binary_mac"] if s else None
        L["flash_share"] = 100.0 * L["weight_bytes"] / const_bytes
        L["ram_share"] = 100.0 * L["activation_bytes"] / arena if arena else 0.0
    measured = simulation is not None
    metric = "cycles" if measured else "binary_macs"
    bar_max = _nice_max(max([L[metric] or 0 for L in layers] + [1]))
    n_layers = max(1, len(layers))
    timeline = [dict(p, index=i) for i, p in enumerate(plan)]
    return {
        "report": report,
        "layers": layers,
        "totals": totals,
        "target": target,
        "mcu": target.mcu,
        "cflags": " ".join(target.cflags),
        "sim": simulation,
        "measured": measured,
        "metric": metric,
        "bar_max": bar_max,
        "bar_ticks": [bar_max * k / 4 for k in range(5)],
        "n_layers": n_layers,
        "timeline": timeline,
        "arena": arena,
        "arena_axis": arena or 1,
        "verification": (simulation or {}).get("verification"),
    }


def _fmt_int(v) -> str:
    return f"{int(round(v)):,}" if v is not None else ""


def render_html(report: dict | str, target: Target, simulation: dict | None = None) -> str:
    """report.html from report.json (dict or its text), the target and, optionally,
    ``mcu.simulate``'s record."""
    if isinstance(report, str):
        report = json.loads(report)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["int"] = _fmt_int
    env.filters["f1"] = lambda v: f"{v:.1f}"
    env.filters["f2"] = lambda v: f"{v:.2f}"
    env.filters["f3"] = lambda v: f"{v:.3f}"
    return env.get_template(TEMPLATE).render(**context(report, target, simulation))
