"""bnncc's typed intermediate representation.

* ``types``  — ``DType``, ``TensorType`` (shape, dtype, packed word width).
* ``ops``    — one frozen dataclass per operation.
* ``graph``  — ``Graph`` (a sequential SSA program), ``verify()``, ``dump()``.
* ``interp`` — the numpy meaning of every op: the interpreter *is* the specification.
"""

from .graph import Graph, dump, verify
from .types import DType, TensorType

__all__ = ["Graph", "dump", "verify", "DType", "TensorType"]
