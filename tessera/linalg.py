"""``tessera.linalg``: PyTorch's ``torch.linalg`` namespace.

The operators live in ``tessera/ops/matrix.py`` (and matmul, cross, diagonal in
``tessera/ops/linalg.py``); this module only gathers them under their ``torch.linalg`` names.
"""

from .ops import linalg as _linalg
from .ops.linalg import matmul
from .ops.matrix import (det, inv, matrix_norm, matrix_power, norm, slogdet, solve,
                         vector_norm)
from .ops.matrix import linalg_cholesky as cholesky

__all__ = ["norm", "vector_norm", "matrix_norm", "inv", "det", "slogdet", "solve",
           "matrix_power", "cholesky", "matmul", "cross", "diagonal"]


def cross(input, other, *, dim=-1):
    """The cross product of 3-vectors along ``dim`` (the last dim by default)."""
    return _linalg.cross(input, other, dim)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """The diagonals of the matrices over the last two dims (a view)."""
    return _linalg.diagonal(A, offset, dim1, dim2)
