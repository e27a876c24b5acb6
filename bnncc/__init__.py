"""bnncc: a compiler for binarized neural networks.

Pipeline (each stage is a sub-package):  frontend -> ir -> passes -> backends.
The public Python entry points are in :mod:`bnncc.api`.
"""

__version__ = "0.1.0"
