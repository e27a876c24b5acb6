"""ONNX pass: drop nodes that cannot affect the graph output, and forward no-ops.

Matches: ``Identity`` and ``Dropout`` (inference: identity on its first output) whose
output is not a graph output; any node none of whose outputs reaches the graph output
(e.g. TopK's unused values, leftovers of constant folding).

Rewrites: consumers of a forwarded node read its input instead; dead nodes and unused
initializers are removed.  No value changes: the identity is y = x.
"""

from __future__ import annotations

import onnx


def run(m: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(m)
    g = out.graph
    graph_outputs = {o.name for o in g.output}
    rename: dict[str, str] = {}
    nodes = []
    for n in g.node:
        for k, i in enumerate(n.input):
            if i in rename:
                n.input[k] = rename[i]
        if n.domain in ("", "ai.onnx") and n.op_type in ("Identity", "Dropout") and n.output[0] not in graph_outputs:
            rename[n.output[0]] = n.input[0]
            continue
        nodes.append(n)
    live = set(graph_outputs)
    kept = []
    for n in reversed(nodes):
        if any(o in live for o in n.output):
            kept.append(n)
            live.update(i for i in n.input if i)
    kept.reverse()
    del g.node[:]
    g.node.extend(kept)
    inits = [i for i in g.initializer if i.name in live]
    del g.initializer[:]
    g.initializer.extend(inits)
    return out
