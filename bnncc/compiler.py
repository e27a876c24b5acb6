"""The driver: ONNX file -> checked, normalised ONNX -> IR -> passes -> lowered IR."""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from .frontend.import_onnx import import_onnx
from .frontend.load import load
from .ir import Graph, verify
from .passes import IR_PIPELINE, ONNX_PIPELINE
from .targets import Target


@dataclass
class Compiled:
    model: onnx.ModelProto      # the loaded model (batch 1), the reference's input
    imported: Graph             # the IR straight from the front-end
    graph: Graph                # after all passes
    stages: list[tuple[str, Graph]]


def lower(model, target: Target, *, skip: tuple[str, ...] = (), options: dict | None = None) -> Compiled:
    """``options``: pass options chosen by the user (``mst``, ``mst_depth``; see the passes)."""
    m, name = load(model)
    norm = m
    for _, fn in ONNX_PIPELINE:
        norm = fn(norm)
    g = verify(import_onnx(norm, name))
    imported = g
    stages = [("import", g)]
    options = {"word_bits": target.word_bits, "max_lut_bytes": target.max_lut_bytes, "target_kind": target.kind,
               "core": target.mcu.get("core"), "mst_costs": target.extra.get("mst"), **(options or {})}
    for pname, fn in IR_PIPELINE:
        if pname in skip:
            continue
        g = verify(fn(g, options))
        stages.append((pname, g))
    return Compiled(model=m, imported=imported, graph=g, stages=stages)
