"""Index maps between ONNX row-major order and bnncc's channel-last IR order."""

from __future__ import annotations

import numpy as np


def ir_shape(onnx_shape: tuple[int, ...]) -> tuple[int, ...]:
    """IR shape (batch dropped) of an ONNX activation shape: [1,C,H,W] -> (H,W,C), else flat."""
    if len(onnx_shape) == 4:
        _, c, h, w = onnx_shape
        return (h, w, c)
    return (int(np.prod(onnx_shape[1:], dtype=np.int64)),)


def ir_to_onnx(onnx_shape: tuple[int, ...]) -> np.ndarray:
    """perm with perm[j] = ONNX flat index of IR flat element j."""
    n = int(np.prod(onnx_shape, dtype=np.int64))
    if len(onnx_shape) == 4:
        _, c, h, w = onnx_shape
        return np.arange(n, dtype=np.int64).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
    return np.arange(n, dtype=np.int64)


def inverse(perm: np.ndarray) -> np.ndarray:
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size, dtype=perm.dtype)
    return inv
