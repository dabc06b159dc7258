"""Matrix functions (``torch.linalg``): inverse, determinants, solves, Cholesky, powers and
norms, batched over the leading dims.

Factorizations go to ``numpy.linalg`` (LAPACK, float32 kept in float32). Backward rules are
closed forms written with tessera's own operators (``inv``, ``matmul``, ``tril``), so gradients
of gradients work. Only ``det``, ``inverse``, ``slogdet``, ``matrix_power`` and ``cholesky``
are exported to the top-level namespace, as in PyTorch; the rest is reached through
``tessera.linalg``.
"""

import collections
import math

import numpy as np

from ..autograd.function import Function, sum_to_shape
from ..backend import dtypes
from ._util import check_tensor, make_tensor, wrap_dim
from .elementwise import abs, cast, where
from .linalg import matmul, tril
from .reduce import Amax, Amin, VectorNorm, _check_nonempty, _dims, amax, amin
from .reduce import sum as _sum

__all__ = ["det", "inverse", "slogdet", "matrix_power", "cholesky"]

_slogdet_result = collections.namedtuple("slogdet", ["sign", "logabsdet"])
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _check_square(A, op, name="A"):
    check_tensor(A, op, name)
    shape = A._data.shape
    if len(shape) < 2:
        raise RuntimeError(f"{op}: The input tensor {name} must have at least 2 dimensions, but "
                           f"got shape {tuple(shape)}")
    if shape[-1] != shape[-2]:
        raise RuntimeError(f"{op}: {name} must be batches of square matrices, but they are "
                           f"{shape[-2]} by {shape[-1]} matrices")
    _check_float(A, op)


def _check_float(A, op):
    if A._data.dtype not in _FLOATS:
        raise RuntimeError(f"{op}: Expected a float32 or float64 tensor as input, got "
                           f"{A.dtype}")


# == inverse =====================================================================================

class Inv(Function):
    """``A^-1``; backward ``-A^-T g A^-T``."""

    keeps_outputs = True

    def forward(self, a):
        try:
            return np.linalg.inv(a)
        except np.linalg.LinAlgError:
            raise RuntimeError(f"linalg.inv: The input matrix of shape {a.shape} is singular, "
                               f"the inversion could not be completed") from None

    def backward(self, g):
        (x,) = self.saved_outputs
        xt = x.mT
        return -matmul(matmul(xt, g), xt)


def inv(A):
    """The inverse of each square matrix in ``A``. Shape: (*, n, n) -> (*, n, n)."""
    _check_square(A, "linalg.inv")
    return Inv.apply(A)


def inverse(input):
    """The inverse of each square matrix (``torch.inverse``, an alias of ``linalg.inv``)."""
    return inv(input)


# == determinants ================================================================================

def _inv_or_nan(a, d):
    # At a singular matrix the closed form divides by zero: nan there, not an error.
    out = np.full(a.shape, np.nan, a.dtype)
    regular = d != 0
    out[regular] = np.linalg.inv(a[regular])
    return out


class Det(Function):
    """``det(A)``; backward ``g det(A) A^-T``."""

    keeps_inputs = True
    keeps_outputs = True

    def forward(self, a):
        return np.linalg.det(a)

    def backward(self, g):
        (a,) = self.saved_inputs
        (d,) = self.saved_outputs
        scale = (g * d).unsqueeze(-1).unsqueeze(-1)
        if not np.all(d._data):
            return scale * make_tensor(_inv_or_nan(a._data, d._data)).mT
        return scale * Inv.apply(a).mT


def det(A):
    """The determinant of each square matrix in ``A``. Shape: (*, n, n) -> (*)."""
    _check_square(A, "linalg.det")
    return Det.apply(A)


class Slogdet(Function):
    """``(sign, log|det A|)``; the gradient of ``log|det A|`` is ``A^-T`` (sign has none)."""

    keeps_inputs = True

    def forward(self, a):
        sign, logabsdet = np.linalg.slogdet(a)
        return np.asarray(sign, a.dtype), np.asarray(logabsdet, a.dtype)

    def backward(self, g_sign, g_logabsdet):
        (a,) = self.saved_inputs
        return g_logabsdet.unsqueeze(-1).unsqueeze(-1) * Inv.apply(a).mT


def slogdet(A):
    """The sign and the log of the absolute value of the determinant, as a named tuple
    ``(sign, logabsdet)``. Shape: (*, n, n) -> (*), (*)."""
    _check_square(A, "linalg.slogdet")
    return _slogdet_result(*Slogdet.apply(A))


# == solve =======================================================================================

class Solve(Function):
    """``X = A^-1 B`` for matrices ``B`` (*, n, k), batch dims broadcast; backward
    ``gB = A^-T g``, ``gA = -gB X^T``."""

    keeps_inputs = True
    keeps_outputs = True

    def forward(self, a, b):
        try:
            return np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            raise RuntimeError(f"linalg.solve: The solver failed because the input matrix of "
                               f"shape {a.shape} is singular.") from None

    def backward(self, g):
        a, b = self.saved_inputs
        (x,) = self.saved_outputs
        gb = Solve.apply(a.mT, g)
        ga = None
        if self.next_edges[0] is not None:
            ga = sum_to_shape(-matmul(gb, x.mT), a.shape)
        if self.next_edges[1] is not None:
            gb = sum_to_shape(gb, b.shape)
        else:
            gb = None
        return ga, gb


def solve(A, B, *, left=True):
    """The solution ``X`` of ``A X = B`` (``X A = B`` with ``left=False``).

    Shape: A (*, n, n); B (*, n, k) or, as a vector, (n) or A's shape without its last dim;
    batch dims broadcast.
    """
    op = "linalg.solve"
    _check_square(A, op)
    check_tensor(B, op, "B")
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(f"{op}: Expected A and B to have the same dtype, but found A of type "
                           f"{A.dtype} and B of type {B.dtype} instead")
    sa, sb = A._data.shape, B._data.shape
    vector = len(sb) == 1 or (left and sb == sa[:-1])
    if vector and not left:
        raise RuntimeError(f"{op}: Vector broadcasting of the left hand side is not supported "
                           f"for left=False. In this case linalg.solve is equivalent to "
                           f"B / A.squeeze(-1)")
    if vector:
        B = B.unsqueeze(-1)
    elif len(sb) < 2:
        raise RuntimeError(f"{op}: The input tensor B must have at least 1 dimension, got "
                           f"shape {tuple(sb)}")
    n, bs = sa[-1], B._data.shape
    if bs[-2 if left else -1] != n:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({n}x{n} and "
                           f"{bs[-2]}x{bs[-1]})")
    try:
        np.broadcast_shapes(sa[:-2], bs[:-2])
    except ValueError:
        raise RuntimeError(f"{op}: the batch dimensions of A {tuple(sa)} and B {tuple(sb)} "
                           f"cannot be broadcast together") from None
    if left:
        out = Solve.apply(A, B)
    else:  # X A = B  <=>  A^T X^T = B^T
        out = Solve.apply(A.mT, B.mT).mT
    return out.squeeze(-1) if vector else out


# == Cholesky ====================================================================================

class Cholesky(Function):
    """The lower Cholesky factor ``L`` of ``A = L L^T``; backward as PyTorch's
    ``cholesky_backward``: ``L^-T Phi(L^T gL) L^-1``, symmetrized, with ``Phi`` taking the
    lower triangle and halving the diagonal."""

    keeps_outputs = True

    def forward(self, a):
        try:
            return np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            raise RuntimeError("linalg.cholesky: The factorization could not be completed "
                               "because the input is not positive-definite.") from None

    def backward(self, g):
        (L,) = self.saved_outputs
        p = tril(matmul(L.mT, g))
        p = (p + tril(p, -1).mT) * 0.5
        linv = Inv.apply(L)
        return matmul(matmul(linv.mT, p), linv)


def _cholesky(A, upper, op):
    _check_square(A, op)
    L = Cholesky.apply(A)
    return L.mT if upper else L


def cholesky(input, upper=False):
    """The Cholesky factor of each symmetric positive-definite matrix: lower ``L`` with
    ``A = L L^T``, or upper ``U = L^T`` with ``upper=True``. Shape: (*, n, n) -> (*, n, n)."""
    return _cholesky(input, upper, "cholesky")


def linalg_cholesky(A, *, upper=False):
    """``torch.linalg.cholesky``: :func:`cholesky` with ``upper`` keyword-only."""
    return _cholesky(A, upper, "linalg.cholesky")


# == matrix power ================================================================================

def matrix_power(A, n):
    """``A`` multiplied by itself ``n`` times (``n < 0``: its inverse's power; ``n == 0``: the
    identity). Shape: (*, m, m) -> (*, m, m)."""
    op = "linalg.matrix_power"
    check_tensor(A, op)
    shape = A._data.shape
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise RuntimeError(f"{op}: A must be batches of square matrices, but got shape "
                           f"{tuple(shape)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{op}: argument 'n' must be int, not {type(n).__name__}")
    if n == 0:
        eye = np.broadcast_to(np.eye(shape[-1], dtype=A._data.dtype), shape)
        # where() keeps the result in the graph with a zero gradient, as PyTorch's copy_.
        return where(make_tensor(np.zeros((), np.bool_)), A, make_tensor(eye))
    if n < 0:
        _check_float(A, op)
        A, n = inv(A), -n
    # Repeated squaring: log2(n) products instead of n.
    result = None
    while True:
        if n & 1:
            result = A if result is None else matmul(result, A)
        n >>= 1
        if not n:
            return result
        A = matmul(A, A)


# == norms =======================================================================================

def _float_input(x, dtype, op):
    check_tensor(x, op)
    if dtype is not None:
        x = cast(x, dtypes.as_dtype(dtype))
    if not x.is_floating_point():
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got "
                           f"{x.dtype}")
    return x


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The vector ``ord``-norm of ``x`` over ``dim`` (all elements by default):
    ``sum(|x|**ord) ** (1/ord)``; ``inf``/``-inf`` give max/min of ``|x|``, 0 counts nonzeros.
    """
    op = "linalg.vector_norm"
    x = _float_input(x, dtype, op)
    if isinstance(ord, str) or ord is None:
        raise RuntimeError(f"{op}: ord must be a number, got {ord!r}")
    dims = _dims(x, dim, op)
    if ord == math.inf or ord == -math.inf:
        _check_nonempty(x._data, dims, op, dim is None)
        return (Amax if ord > 0 else Amin).apply(abs(x), dims=dims, keepdim=keepdim)
    if ord < 0 and x._data.size == 0:
        raise RuntimeError(f"{op}: Expected a non-empty tensor for a negative ord, got shape "
                           f"{tuple(x.shape)}")
    return VectorNorm.apply(x, p=float(ord), dims=dims, keepdim=keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """The matrix norm of the matrices over the two dims ``dim``: ``'fro'`` (Frobenius),
    1 / -1 (max / min column sum of ``|A|``), ``inf`` / ``-inf`` (max / min row sum).
    ``'nuc'``, 2 and -2 need singular values and raise NotImplementedError."""
    op = "linalg.matrix_norm"
    A = _float_input(A, dtype, op)
    if A.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions, got "
                           f"shape {tuple(A.shape)}")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError(f"{op}: dim must be a 2-tuple. Got {dim}")
    d0, d1 = (wrap_dim(d, A.ndim, op) for d in dim)
    if d0 == d1:
        raise RuntimeError(f"{op}: dims must be different. Got ({d0}, {d1})")
    if ord == "fro":
        return VectorNorm.apply(A, p=2.0, dims=tuple(sorted((d0, d1))), keepdim=keepdim)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(f"{op}: ord={ord!r} needs singular values, which tessera does "
                                  f"not compute yet; use 'fro', 1, -1, inf or -inf")
    if ord not in (1, -1, math.inf, -math.inf):
        raise RuntimeError(f"{op}: Order {ord} not supported.")
    # 1 / -1 sum each column (over d0) and reduce over d1; inf / -inf the other way round.
    summed, reduced = (d0, d1) if ord in (1, -1) else (d1, d0)
    if A._data.shape[reduced] == 0:
        raise IndexError(f"{op}: Expected a non-empty matrix for ord={ord}, got shape "
                         f"{tuple(A.shape)}")
    sums = _sum(abs(A), summed, keepdim=True)
    out = (amax if ord > 0 else amin)(sums, reduced, keepdim=True)
    return out if keepdim else out.squeeze((d0, d1))


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """``torch.linalg.norm``: a vector norm over one dim (or over all elements when neither
    ``ord`` nor ``dim`` is given), a matrix norm over two dims (or of a 2-D input)."""
    op = "linalg.norm"
    check_tensor(A, op)
    if dim is not None:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        if len(dims) == 1:
            if isinstance(ord, str):
                raise RuntimeError(f"{op}: ord={ord!r} is a matrix norm, but dim={dim} names "
                                   f"one dimension")
            return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
        if len(dims) != 2:
            raise RuntimeError(f"{op}: If dim is specified, it must be of length 1 or 2. Got "
                               f"{list(dims)}")
        return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim == 1 and not isinstance(ord, str):
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    if A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    raise RuntimeError(f"{op}: If dim is not specified but ord is, the input must be 1D or 2D. "
                       f"Got {A.ndim}D.")
