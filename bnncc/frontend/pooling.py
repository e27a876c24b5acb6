"""ONNX MaxPool -> ``PoolBits``: the one place that reads MaxPool's attributes.

Used by the importer (a MaxPool after the quantizer) and by ``fuse_sign_threshold``
(a MaxPool before it, moved after the threshold)."""

from __future__ import annotations

import numpy as np
from onnx import helper

from ..errors import UnsupportedError
from ..ir import ops as O


def pool_bits(node, inputs: tuple[str, ...], output: str, is_max: np.ndarray) -> O.PoolBits:
    a = {at.name: helper.get_attribute_value(at) for at in node.attribute}
    auto_pad = a.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    where = f"node '{node.name or node.output[0]}' (MaxPool)"
    if auto_pad not in ("NOTSET", "VALID") or a.get("storage_order", 0) != 0 or (len(node.output) > 1 and node.output[1]):
        raise UnsupportedError("MaxPool with auto_pad SAME, storage_order or indices output is not supported", where=where)
    if len(a.get("kernel_shape", [])) != 2:
        raise UnsupportedError("only 2-D MaxPool is supported", where=where)
    pads = tuple(a.get("pads", [0, 0, 0, 0]))
    return O.PoolBits(node.name or node.output[0], inputs, output, kernel=tuple(a["kernel_shape"]),
                      strides=tuple(a.get("strides", [1, 1])), pads=(pads[0], pads[1], pads[2], pads[3]),
                      dilations=tuple(a.get("dilations", [1, 1])), ceil_mode=bool(a.get("ceil_mode", 0)), is_max=is_max)
