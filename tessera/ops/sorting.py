"""Sorting and searching: sort, argsort, topk (values and indices, as torch.return_types),
searchsorted, bucketize and unique (no gradients: their results are indices)."""

import collections

import numpy as np

from .._tensor import Tensor
from ..autograd.function import Function
from ._util import check_tensor, make_tensor, wrap_dim
from .index import _FULL
from .scatter import Gather

__all__ = ["sort", "argsort", "topk", "searchsorted", "bucketize", "unique"]

# The results of sort and topk, named as torch.return_types names them.
_SortResult = collections.namedtuple("sort", ["values", "indices"])
_TopkResult = collections.namedtuple("topk", ["values", "indices"])


def _argsort(x, axis, descending):
    """Stable argsort; descending keeps equal elements in their original order, NaN first."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    # Sorting the reversed input and reversing the result keeps ties in input order.
    order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return (x.shape[axis] - 1) - np.flip(order, axis)


class Argsort(Function):
    """The (stable) sorting indices along ``dim``, int64; no gradient."""

    def forward(self, x, dim, descending):
        if x.ndim == 0:
            return np.zeros((), np.int64)
        return _argsort(x, dim, descending)


def sort(input, dim=-1, descending=False, stable=False):
    """``(values, indices)`` sorted along ``dim``; the sort is always stable."""
    check_tensor(input, "sort")
    if input.ndim == 0:
        values, indices = sort(input.reshape(1), 0, descending)
        return _SortResult(values.reshape(()), indices.reshape(()))
    dim = wrap_dim(dim, input.ndim, "sort")
    idx = Argsort.apply(input, dim=dim, descending=descending)
    return _SortResult(Gather.apply(input, dim=dim, index=idx._data, unique=True), idx)


def argsort(input, dim=-1, descending=False, stable=False):
    """The indices that sort ``input`` along ``dim`` (stable)."""
    check_tensor(input, "argsort")
    if input.ndim == 0:
        return Argsort.apply(input, dim=0, descending=descending)
    return Argsort.apply(input, dim=wrap_dim(dim, input.ndim, "argsort"), descending=descending)


# Up to this k, k passes of argmax beat np.argpartition (about 10x for k=5 over 1000).
_TOPK_SCAN_MAX_K = 8


def _topk_by_scans(x, k, dim, largest):
    """Indices of the top k by repeated argmax (argmin); x must be finite (inf is the mark)."""
    lines = np.moveaxis(x, dim, -1)
    lead = lines.shape[:-1]
    work = np.array(lines.reshape(-1, lines.shape[-1]))
    rows = np.arange(work.shape[0])
    out = np.empty((work.shape[0], k), np.int64)
    pick = work.argmax if largest else work.argmin
    mark = -np.inf if largest else np.inf
    for j in range(k):
        found = pick(axis=1)
        out[:, j] = found
        work[rows, found] = mark
    return np.moveaxis(out.reshape(lead + (k,)), -1, dim)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """``(values, indices)`` of the ``k`` largest (or smallest) entries along ``dim``.

    The result is always sorted (``sorted=False`` allows any order, and sorted is one).
    """
    check_tensor(input, "topk")
    if input.ndim == 0:
        values, indices = topk(input.reshape(1), k, 0, largest)
        return _TopkResult(values.reshape(()), indices.reshape(()))
    dim = wrap_dim(dim, input.ndim, "topk")
    x = input._data
    n = x.shape[dim]
    if not 0 <= k <= n:
        raise RuntimeError(f"topk(): selected index k out of range: k={k} for dimension {dim} "
                           f"of size {n}")
    idx = TopkIndex.apply(input, k=k, dim=dim, largest=largest)
    return _TopkResult(Gather.apply(input, dim=dim, index=idx._data, unique=True), idx)


class TopkIndex(Function):
    """The indices (int64, sorted) of the ``k`` largest (smallest) along ``dim``; no gradient."""

    def forward(self, x, k, dim, largest):
        n = x.shape[dim]
        cut = (_FULL,) * dim + (slice(0, k),)
        if k == 0:
            idx = np.zeros(x.shape[:dim] + (0,) + x.shape[dim + 1:], np.int64)
        elif k <= _TOPK_SCAN_MAX_K and x.dtype in (np.float32, np.float64) and n > 4 * k and \
                np.isfinite(x).all():
            idx = _topk_by_scans(x, k, dim, largest)
        elif 4 * k >= n:
            idx = _argsort(x, dim, largest)[cut]
        else:
            # Partition first (linear time), then sort only the k candidates.
            part = np.argpartition(x, n - k if largest else k - 1, axis=dim)
            candidates = part[(_FULL,) * dim + (slice(n - k, n) if largest else slice(0, k),)]
            order = _argsort(np.take_along_axis(x, candidates, axis=dim), dim, largest)
            idx = np.take_along_axis(candidates, order, axis=dim)
        return np.ascontiguousarray(idx)


class Searchsorted(Function):
    """Insertion indices of ``values`` in the innermost dim of ``seq``; no gradient."""

    def forward(self, seq, vals, sorter, side, out_int32):
        if sorter is not None:
            seq = np.take_along_axis(seq, sorter, axis=-1)
        if seq.ndim == 1:
            out = np.searchsorted(seq, vals, side=side)
        else:
            rows_s, rows_v = seq.reshape(-1, seq.shape[-1]), vals.reshape(-1, vals.shape[-1])
            out = np.stack([np.searchsorted(a, b, side=side) for a, b in zip(rows_s, rows_v)])
            out = out.reshape(vals.shape)
        return np.asarray(out, np.int32 if out_int32 else np.int64)


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """Indices where ``values`` would be inserted to keep the innermost dim sorted."""
    check_tensor(sorted_sequence, "searchsorted")
    seq = sorted_sequence._data
    if not isinstance(values, Tensor):
        values = make_tensor(np.asarray(values))
    vals = values._data
    side = side or ("right" if right else "left")
    if seq.ndim != 1 and seq.shape[:-1] != vals.shape[:-1]:
        raise RuntimeError(f"searchsorted: boundaries {tuple(seq.shape)} and values "
                           f"{tuple(vals.shape)} must have the same leading dims")
    return Searchsorted.apply(sorted_sequence, values, sorter, side=side, out_int32=out_int32)


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each element given sorted 1-D ``boundaries`` (searchsorted's mirror)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries must be 1-D, got {boundaries.ndim}-D")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


class Unique(Function):
    """(distinct values, inverse indices, counts) as np.unique gives them; no gradient."""

    def forward(self, x, dim):
        values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True, axis=dim)
        shape = x.shape if dim is None else (x.shape[dim],)
        return values, inverse.reshape(shape).astype(np.int64), counts.astype(np.int64)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct elements (sorted), optionally with inverse indices and counts."""
    check_tensor(input, "unique")
    values, inverse, counts = Unique.apply(input.detach() if input.requires_grad else input,
                                           dim=dim)
    out = [values]
    if return_inverse:
        out.append(inverse)
    if return_counts:
        out.append(counts)
    return out[0] if len(out) == 1 else tuple(out)
