"""Tensor types.

Shapes exclude the batch dimension (bnncc compiles for batch 1).  Activations inside the
network use channel-last order: a conv feature map is ``(H, W, C)``, a vector ``(C,)``.

Binary activations: ``BIPOLAR`` holds values in {-1, +1}; ``TERNARY`` in {-1, 0, +1}
(ONNX ``Sign(0) = 0`` and zero padding make zeros real).  Encoding, once packed: bit = 1
means +1.  A ternary tensor has two bit planes of equal size: the value plane, then the
nonzero plane (bit = 1 where the value is not 0).  Packing runs along the channel axis,
``ceil(C / word_bits)`` words per pixel, unused tail bits are 0 in every plane.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class DType(Enum):
    FLOAT32 = "f32"
    INT32 = "i32"
    INT64 = "i64"
    BIPOLAR = "bipolar"
    TERNARY = "ternary"

    @property
    def is_binary(self) -> bool:
        return self in (DType.BIPOLAR, DType.TERNARY)

    @property
    def c_type(self) -> str:
        return {"f32": "float", "i32": "int32_t", "i64": "int64_t"}.get(self.value, "bnn_word_t")


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int, ...]
    dtype: DType
    word_bits: int = 0  # 0 until the pack_bits pass chooses the word width

    @property
    def channels(self) -> int:
        return self.shape[-1]

    @property
    def pixels(self) -> int:
        return math.prod(self.shape[:-1])

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def words_per_pixel(self) -> int:
        assert self.dtype.is_binary and self.word_bits, "only packed binary tensors have words"
        return -(-self.channels // self.word_bits)

    @property
    def planes(self) -> int:
        return 2 if self.dtype is DType.TERNARY else 1

    @property
    def plane_words(self) -> int:
        return self.pixels * self.words_per_pixel

    @property
    def nbytes(self) -> int:
        if self.dtype.is_binary:
            if not self.word_bits:
                return -(-self.numel * self.planes // 8)
            return self.planes * self.plane_words * self.word_bits // 8
        return self.numel * (8 if self.dtype is DType.INT64 else 4)

    def __str__(self) -> str:
        dims = "x".join(str(d) for d in self.shape)
        packed = f"/w{self.word_bits}" if self.dtype.is_binary and self.word_bits else ""
        return f"{self.dtype.value}<{dims}>{packed}"
