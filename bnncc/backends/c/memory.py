"""Static memory plan: every intermediate tensor gets an offset in one arena.

Liveness: a tensor lives from the op that writes it to the last op that reads it.
Placement: greedy first fit, largest tensors first (ties by first use), 8-byte
aligned; two tensors share bytes only if their lifetimes do not overlap.  The graph
input and output live in the caller's buffers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...ir.graph import Graph

ALIGN = 8


@dataclass(frozen=True)
class Plan:
    offsets: dict[str, int]
    sizes: dict[str, int]
    arena_bytes: int
    lifetimes: dict[str, tuple[int, int]]


def plan(g: Graph) -> Plan:
    first, last = {}, {}
    for k, op in enumerate(g.ops):
        first.setdefault(op.output, k)
        last.setdefault(op.output, k)
        for i in op.inputs:
            last[i] = k
    names = [n for n in first if n not in (g.input, g.output)]
    sizes = {n: -(-g.tensors[n].nbytes // ALIGN) * ALIGN for n in names}
    order = sorted(names, key=lambda n: (-sizes[n], first[n], n))
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    offsets = {}
    for n in order:
        lo, hi = first[n], last[n]
        clashes = sorted((o, e) for o, e, f, l in placed if not (l < lo or hi < f))
        off = 0
        for o, e in clashes:
            if off + sizes[n] <= o:
                break
            off = max(off, e)
        offsets[n] = off
        placed.append((off, off + sizes[n], lo, hi))
    arena = max((e for _, e, _, _ in placed), default=0)
    return Plan(offsets=offsets, sizes=sizes, arena_bytes=arena, lifetimes={n: (first[n], last[n]) for n in names})
