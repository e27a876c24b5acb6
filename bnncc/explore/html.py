"""Presenting an exploration: the rich tables, explore.json and report.html.

Python gathers plain numbers (the plot's points in SVG coordinates, log axes and their
ticks); ``templates/explore/report.html.j2`` draws everything (inline SVG, no JS).
Autoescaping is on: the model path and names come from the user.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jinja2

from ..resources import templates_dir
from .pareto import METRICS

TEMPLATE = "explore/report.html.j2"
PLOT_W, PLOT_H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 400, 70, 44, 16, 16
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")


def config_text(cfg: dict) -> str:
    if "fold" in cfg:
        return "fold " + ",".join(f"{k}={p}x{s}" for k, (p, s) in cfg["fold"].items())
    kernel = ""
    if "popcount" in cfg:
        block = f"/{cfg['hs_block']}" if cfg.get("hs_block") else ""
        kernel = f"{cfg['popcount']}{block} w{cfg.get('word_bits', '')} "
    depth = f" depth {cfg['mst_depth']}" if cfg.get("mst_depth") else ""
    return f"{kernel}mst={cfg.get('mst', 'off')}{depth}"


def _fmt(v, key: str) -> str:
    if v is None:
        return ""
    if key in ("latency_ms", "energy_uj"):
        return f"{v:.4g}"
    if key == "fps":
        return f"{v:,.0f}"
    return f"{v:,.0f}" if isinstance(v, (int, float)) else str(v)


COLUMNS = (("latency_ms", "latency ms"), ("energy_uj", "energy uJ"), ("fps", "fps"), ("luts", "LUT"),
           ("brams", "BRAM36"), ("flash_bytes", "flash B"), ("ram_bytes", "RAM B"))


def print_front(res: dict) -> None:
    import click
    from rich.console import Console
    from rich.table import Table

    rows = res["rows"]
    st = res["stats"]
    cons = f"; constraints {', '.join(res['constraints'])}" if res["constraints"] else ""
    table = Table(title=f"bnncc explore: Pareto front over {', '.join(res['objectives'])} "
                        f"({len(res['front'])} of {len(rows)} configurations{cons})")
    for col in ("#", "target", "configuration", "origin") + tuple(c for _, c in COLUMNS):
        table.add_column(col, justify="left" if col in ("target", "configuration", "origin") else "right",
                         overflow="fold")
    for i in res["front"]:
        r = rows[i]
        m = r["metrics"]
        tie = f" (+{len(res['ties'][str(i)])} ties)" if str(i) in res["ties"] else ""
        table.add_row(str(i), r["config"]["target"], config_text(r["config"]) + tie, r["origin"],
                      *(_fmt(m.get(k), k) for k, _ in COLUMNS))
    Console(width=160).print(table)
    best = res.get("best_per_target", {})
    if best:
        t3 = Table(title=f"best feasible configuration per target by {res['objectives'][0]}")
        for col in ("#", "target", "configuration") + tuple(c for _, c in COLUMNS):
            t3.add_column(col, justify="left" if col in ("target", "configuration") else "right", overflow="fold")
        for name, i in best.items():
            r = rows[i]
            t3.add_row(str(i), name, config_text(r["config"]), *(_fmt(r["metrics"].get(k), k) for k, _ in COLUMNS))
        Console(width=160).print(t3)
    if res["recheck"]:
        t2 = Table(title="re-check on the exact path (estimate vs exact; error = estimate / exact - 1)")
        for col in ("#", "target", "why", "exact path", "metric", "estimate", "exact", "error", "within stated"):
            t2.add_column(col, justify="left" if col in ("target", "why", "exact path", "metric") else "right")
        for c in res["recheck"]:
            r = rows[c["id"]]
            if "exact" not in c:
                t2.add_row(str(c["id"]), r["config"]["target"], c["why"], "failed: " + c["failed"], "", "", "", "", "")
                continue
            first = True
            for key in ("cycles", "ii_cycles", "luts", "energy_uj", "flash_bytes", "ram_bytes"):
                if key not in c["error"]:
                    continue
                t2.add_row(str(c["id"]) if first else "", r["config"]["target"] if first else "",
                           c["why"] if first else "", c["exact"]["method"] if first else "", key,
                           _fmt(c["estimate"][key], key), _fmt(c["exact"][key], key), f"{c['error'][key]:+.1%}",
                           ("yes" if c["within_stated"] else "NO") if first else "")
                first = False
        Console(width=160).print(t2)
    for note in res["notes"]:
        click.echo(f"note: {note}")
    click.echo(f"stated error: MCU {res['stated_error']['mcu']}; FPGA {res['stated_error']['fpga']}")
    rate = f"{st['configs_per_s']:,.0f} configurations/s" if st.get("configs_per_s") else "all cached"
    click.echo(f"evaluated {st['evaluated']} configurations ({st['cached']} cached) in {st['seconds']:.2f} s "
               f"({st['mode']}, {rate})")


def _log_axis(values: list[float], length: float) -> tuple:
    lo, hi = min(values), max(values)
    lo_e, hi_e = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if hi_e == lo_e:
        hi_e += 1
    span = hi_e - lo_e

    def pos(v: float) -> float:
        return length * (math.log10(v) - lo_e) / span

    ticks = [(pos(10.0 ** e), f"{10.0 ** e:g}") for e in range(lo_e, hi_e + 1)]
    return pos, ticks


def plot(res: dict) -> dict | None:
    """Points of the first two objectives on log-log axes (None with fewer than two)."""
    if len(res["objectives"]) < 2:
        return None
    (kx, sx, ux, _), (ky, sy, uy, _) = (METRICS[n] for n in res["objectives"][:2])
    on_front = set(res["front"])
    pts = [r for r in res["rows"] if "metrics" in r and (r["metrics"].get(kx) or 0) > 0
           and (r["metrics"].get(ky) or 0) > 0]
    if not pts:
        return None
    w, h = PLOT_W - PAD_L - PAD_R, PLOT_H - PAD_T - PAD_B
    px, xt = _log_axis([r["metrics"][kx] for r in pts], w)
    py, yt = _log_axis([r["metrics"][ky] for r in pts], h)
    targets = list(dict.fromkeys(r["config"]["target"] for r in pts))
    colour = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(targets)}
    points = []
    for r in sorted(pts, key=lambda r: r["id"] in on_front):   # front drawn last, on top
        m = r["metrics"]
        points.append({"x": PAD_L + px(m[kx]), "y": PAD_T + h - py(m[ky]), "front": r["id"] in on_front,
                       "fits": m["fits"], "colour": colour[r["config"]["target"]], "id": r["id"],
                       "label": f"#{r['id']} {r['config']['target']} {config_text(r['config'])}: "
                                f"{res['objectives'][0]} {m[kx]:.4g}, {res['objectives'][1]} {m[ky]:.4g}"})
    line = sorted((p for p in points if p["front"]), key=lambda p: p["x"])
    return {"w": PLOT_W, "h": PLOT_H, "pad_l": PAD_L, "pad_t": PAD_T, "inner_w": w, "inner_h": h,
            "x_ticks": [(PAD_L + x, t) for x, t in xt], "y_ticks": [(PAD_T + h - y, t) for y, t in yt],
            "x_label": f"{res['objectives'][0]} ({ux}{', maximised' if sx < 0 else ''}, log)",
            "y_label": f"{res['objectives'][1]} ({uy}{', maximised' if sy < 0 else ''}, log)",
            "points": points, "front_path": " ".join(f"{p['x']:.1f},{p['y']:.1f}" for p in line),
            "legend": [(t, colour[t]) for t in targets]}


def render_html(res: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["f1"] = lambda v: f"{v:.1f}"
    env.filters["pct"] = lambda v: f"{v:+.1%}"
    env.filters["metric"] = lambda v, key: _fmt(v, key)
    front = [{**res["rows"][i], "text": config_text(res["rows"][i]["config"])} for i in res["front"]]
    return env.get_template(TEMPLATE).render(res=res, front=front, plot=plot(res), columns=COLUMNS,
                                             rows=res["rows"])


def write_outputs(res: dict, out_dir) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "explore.json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (out / "report.html").write_text(render_html(res), encoding="utf-8")
    return out
