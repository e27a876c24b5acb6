"""Objectives, constraints and the Pareto front of evaluated configurations.

An evaluated configuration is a row ``{"id", "config", "metrics": {...}, ...}`` whose
metrics use the keys of ``METRICS``.  MCU rows have flash/RAM but no LUTs, FPGA rows
the reverse; an objective a row lacks keeps that row off the front (it cannot be
compared), and a constraint on a metric a row lacks does not apply to it (``ram<=192KB``
says nothing about an FPGA design).  A row that does not fit its board/device never
reaches the front.

Dominance: row a dominates b when a is no worse in every objective and better in one
(all objectives minimised; ``fps`` is maximised by minimising its negative).  Rows with
identical objective values are collapsed to the first in evaluation order (the others
are listed as its ``ties``), so the front has one row per distinct trade-off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import BnnccError

# name -> (metric key, sense (+1 minimise, -1 maximise), unit shown, kind of unit)
METRICS = {
    "latency": ("latency_ms", 1, "ms", "time"),
    "energy": ("energy_uj", 1, "uJ", "energy"),
    "luts": ("luts", 1, "", "count"),
    "brams": ("brams", 1, "", "count"),
    "flash": ("flash_bytes", 1, "B", "bytes"),
    "ram": ("ram_bytes", 1, "B", "bytes"),
    "fps": ("fps", -1, "1/s", "count"),
    "cycles": ("cycles", 1, "", "count"),
}

# units convert a constraint's number into the metric's own unit
_UNITS = {
    "time": {"": 1.0, "ms": 1.0, "s": 1e3, "us": 1e-3, "ns": 1e-6},
    "energy": {"": 1.0, "uj": 1.0, "nj": 1e-3, "mj": 1e3, "j": 1e6},
    # memory sizes in binary units, as MCU datasheets count them (192 KB = 196,608 B)
    "bytes": {"": 1, "b": 1, "kb": 1024, "kib": 1024, "k": 1024, "mb": 1024 ** 2, "mib": 1024 ** 2, "m": 1024 ** 2},
    "count": {"": 1, "k": 1e3, "m": 1e6},
}


def objective_names(spec) -> list[str]:
    """``"latency,energy"`` or ``["latency", "luts"]`` -> checked names, in order."""
    parts = spec.split(",") if isinstance(spec, str) else [p for s in spec for p in s.split(",")]
    names = [p.strip().lower() for p in parts if p.strip()]
    for n in names:
        if n not in METRICS:
            raise BnnccError(f"unknown objective '{n}' (known: {', '.join(METRICS)})")
    if not names:
        raise BnnccError("no objective given")
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Constraint:
    metric: str        # a METRICS name
    op: str            # "<=", "<", ">=", ">", "=="
    value: float       # in the metric's own unit
    text: str

    def holds(self, metrics: dict) -> bool:
        v = metrics.get(METRICS[self.metric][0])
        if v is None:
            return True
        return {"<=": v <= self.value, "<": v < self.value, ">=": v >= self.value, ">": v > self.value,
                "==": v == self.value}[self.op]


def parse_constraint(text: str) -> Constraint:
    """``ram<=192KB``, ``luts<=50k``, ``fps>=1000``, ``latency<2ms``, ``energy<=5uJ``."""
    m = re.fullmatch(r"\s*([a-zA-Z]+)\s*(<=|>=|==|<|>)\s*([0-9.]+(?:e[+-]?\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m:
        raise BnnccError(f"bad --constraint '{text}' (expected METRIC<=VALUE[UNIT], e.g. ram<=192KB)")
    name, op, num, unit = m[1].lower(), m[2], float(m[3]), m[4].lower()
    if name not in METRICS:
        raise BnnccError(f"--constraint '{text}': unknown metric '{name}' (known: {', '.join(METRICS)})")
    units = _UNITS[METRICS[name][3]]
    if unit not in units:
        raise BnnccError(f"--constraint '{text}': unit '{m[4]}' does not fit {name} "
                         f"(use {', '.join(u for u in units if u) or 'a plain number'})")
    return Constraint(name, op, num * units[unit], text.strip())


def feasible(row: dict, constraints: list[Constraint]) -> bool:
    m = row.get("metrics")
    return bool(m) and m.get("fits", False) and all(c.holds(m) for c in constraints)


def _key(row: dict, objectives: list[str]) -> tuple | None:
    m = row["metrics"]
    vals = []
    for n in objectives:
        key, sense = METRICS[n][:2]
        if m.get(key) is None:
            return None
        vals.append(sense * float(m[key]))
    return tuple(vals)


def front(rows: list[dict], objectives: list[str], constraints: list[Constraint] = ()) -> list[dict]:
    """The non-dominated feasible rows, sorted by the objectives in order; each carries
    ``ties``: ids of later rows with the same objective values."""
    keyed = []
    seen: dict[tuple, dict] = {}
    for r in rows:
        if not feasible(r, list(constraints)):
            continue
        k = _key(r, objectives)
        if k is None:
            continue
        if k in seen:
            seen[k]["ties"].append(r["id"])
            continue
        entry = {"row": r, "key": k, "ties": []}
        seen[k] = entry
        keyed.append(entry)
    keyed.sort(key=lambda e: e["key"])
    out, best = [], []
    # sorted lexicographically: a row can only be dominated by one before it
    for e in keyed:
        k = e["key"]
        if any(all(b <= x for b, x in zip(bk, k)) for bk in best):
            continue
        best.append(k)
        out.append({**e["row"], "ties": e["ties"]})
    return out
