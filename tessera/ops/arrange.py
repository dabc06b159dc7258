"""Operations that arrange or combine tensors, composed from other operators.

None has a backward of its own: each is built from differentiable primitives (indexing,
expand, cat, stack, flip, transpose, arithmetic), so gradients, and gradients of
gradients, come from those.
"""

import numpy as np

from .._tensor import Tensor
from ._util import as_tensor_arg, check_tensor, make_tensor, wrap_dim
from .creation import zeros
from .elementwise import sub
from .scatter import index_select
from .shape import cat, expand, flatten, flip, narrow, reshape, stack, transpose

__all__ = ["repeat_interleave", "diag", "meshgrid", "broadcast_tensors", "cartesian_prod",
           "block_diag", "kron", "atleast_1d", "atleast_2d", "atleast_3d", "rot90", "diff"]


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element ``repeats`` times (an int or one count per element) along ``dim``.

    With a single tensor argument, ``repeat_interleave(repeats)`` repeats ``arange(len)``.
    """
    if repeats is None:  # torch.repeat_interleave(repeats)
        counts = check_tensor(input, "repeat_interleave")
        return make_tensor(np.repeat(np.arange(counts._data.size), counts._data))
    if dim is None:
        input, dim = flatten(input), 0
    dim = wrap_dim(dim, input.ndim, "repeat_interleave")
    size = input.shape[dim]
    counts = repeats._data if isinstance(repeats, Tensor) else np.asarray(repeats)
    counts = np.broadcast_to(counts.reshape(-1), (size,)) if counts.size == 1 else counts
    if counts.shape != (size,):
        raise RuntimeError(f"repeat_interleave: repeats must have the same size as input along "
                           f"dim {dim} ({size}), got {counts.size}")
    if np.any(counts < 0):
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    index = make_tensor(np.repeat(np.arange(size), counts))
    return index_select(input, dim, index)


def diag(input, diagonal=0):
    """A 1-D tensor -> the square matrix with it on a diagonal; a matrix -> its diagonal."""
    check_tensor(input, "diag")
    if input.ndim == 2:
        return input.diagonal(diagonal)
    if input.ndim != 1:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")
    n = input.shape[0] + abs(diagonal)
    rows = np.arange(input.shape[0]) + max(-diagonal, 0)
    cols = np.arange(input.shape[0]) + max(diagonal, 0)
    out = zeros(n, n, dtype=input.dtype)
    out[make_tensor(rows), make_tensor(cols)] = input
    return out


def broadcast_tensors(*tensors):
    """Views of the tensors expanded to their common broadcast shape."""
    tensors = [as_tensor_arg(t, "broadcast_tensors") for t in tensors]
    try:
        shape = np.broadcast_shapes(*(t._data.shape for t in tensors))
    except ValueError:
        raise RuntimeError("broadcast_tensors: shapes " + ", ".join(
            str(tuple(t.shape)) for t in tensors) + " cannot be broadcast together") from None
    return tuple(expand(t, *shape) for t in tensors)


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids from 1-D tensors (``indexing`` "ij", matrix, or "xy", Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for t in tensors:
        if check_tensor(t, "meshgrid").ndim > 1:
            raise RuntimeError(f"meshgrid: expected 0D or 1D tensors, got {t.ndim}D")
    swap = indexing == "xy" and len(tensors) >= 2
    ordered = list(tensors)
    if swap:
        ordered[0], ordered[1] = ordered[1], ordered[0]
    shape = tuple(t.numel() for t in ordered)
    grids = []
    for i, t in enumerate(ordered):
        view = [1] * len(ordered)
        view[i] = -1
        grids.append(expand(reshape(t, *view), *shape))
    if swap:  # built in (y, x) order; return in the caller's order
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def cartesian_prod(*tensors):
    """Every combination of the elements of 1-D tensors, one per row."""
    if len(tensors) == 1:
        return tensors[0]
    return stack([flatten(g) for g in meshgrid(*tensors, indexing="ij")], dim=1)


def block_diag(*tensors):
    """The block-diagonal matrix of the given tensors (0-, 1- or 2-D)."""
    blocks = [reshape(t, 1, -1) if t.ndim < 2 else t for t in
              (as_tensor_arg(t, "block_diag") for t in tensors)]
    if any(b.ndim != 2 for b in blocks):
        raise RuntimeError("block_diag: Input tensors must have 2 or fewer dimensions")
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        right = width - left - b.shape[1]
        parts = [zeros(b.shape[0], left, dtype=b.dtype)] if left else []
        parts.append(b)
        if right:
            parts.append(zeros(b.shape[0], right, dtype=b.dtype))
        rows.append(cat(parts, dim=1))
        left += b.shape[1]
    return cat(rows, dim=0)


def kron(input, other):
    """The Kronecker product."""
    ndim = max(input.ndim, other.ndim)
    a = reshape(input, *([1] * (ndim - input.ndim) + list(input.shape)))
    b = reshape(other, *([1] * (ndim - other.ndim) + list(other.shape)))
    # Interleave: a's dims at even places, b's at odd, then merge each pair.
    a_view = reshape(a, *[s for d in a.shape for s in (d, 1)])
    b_view = reshape(b, *[s for d in b.shape for s in (1, d)])
    out = a_view * b_view
    return reshape(out, *[x * y for x, y in zip(a.shape, b.shape)])


def atleast_1d(*tensors):
    out = tuple(reshape(t, 1) if t.ndim == 0 else t for t in tensors)
    return out[0] if len(out) == 1 else out


def atleast_2d(*tensors):
    out = tuple(reshape(t, 1, -1) if t.ndim < 2 else t for t in tensors)
    return out[0] if len(out) == 1 else out


def atleast_3d(*tensors):
    def lift(t):
        if t.ndim == 0:
            return reshape(t, 1, 1, 1)
        if t.ndim == 1:
            return reshape(t, 1, -1, 1)
        if t.ndim == 2:
            return reshape(t, *t.shape, 1)
        return t
    out = tuple(lift(t) for t in tensors)
    return out[0] if len(out) == 1 else out


def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``, from the first towards
    the second."""
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected total rotation dims == 2, but got {len(dims)}")
    d0, d1 = (wrap_dim(d, input.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise RuntimeError(f"rot90: expected rotation dims to be different, got {dims}")
    k %= 4
    if k == 1:
        return transpose(flip(input, d1), d0, d1)
    if k == 2:
        return flip(input, d0, d1)
    if k == 3:
        return flip(transpose(input, d0, d1), d1)
    return input * 1


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim``."""
    dim = wrap_dim(dim, input.ndim, "diff")
    if prepend is not None or append is not None:
        parts = [p for p in (prepend, input, append) if p is not None]
        input = cat([expand(p, *input.shape[:dim], -1, *input.shape[dim + 1:])
                     if p.ndim == input.ndim else p for p in parts], dim=dim)
    for _ in range(n):
        length = input.shape[dim]
        if length == 0:
            break
        input = sub(narrow(input, dim, 1, length - 1), narrow(input, dim, 0, length - 1))
    return input


