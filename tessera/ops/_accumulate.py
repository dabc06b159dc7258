"""Accumulation kernels on arrays: ``out[index[j]] += src[j]`` with repeats summed, the
backward of every gathering operator (advanced indexing, gather, index_select, embedding)."""

import numpy as np

# How rows are accumulated into a table (out[index[j]] += src[j], repeats summed), measured
# with NumPy 2.4 on float32 against sorting + np.add.reduceat and np.add.at on rows:
# - a one-hot GEMM wins while the table and the number of rows are both small;
# - for wide rows, vectorised row adds grouped by "rank of the repeat" win (each group has
#   distinct targets, so ``out[idx] += rows`` is exact), up to a few groups;
# - otherwise np.add.at over flat element positions (its fast 1-D path).
_ONE_HOT_MAX_ROWS = 64
_ONE_HOT_MAX_CELLS = 1 << 16
_RANKED_MIN_WIDTH = 128
_RANKED_MAX_GROUPS = 8



def _index_add_(out, dim, index, src):
    """``out[..., index[j], ...] += src[..., j, ...]`` along ``dim``, duplicates summed.

    ``out`` is C-contiguous, ``index`` 1-D and non-negative, ``src`` has ``out``'s shape with
    ``dim`` of length ``len(index)``.
    """
    shape = out.shape
    outer = int(np.prod(shape[:dim], dtype=np.int64))
    size = shape[dim]
    inner = int(np.prod(shape[dim + 1:], dtype=np.int64))
    n = index.size
    src = src.reshape(outer, n, inner)
    if outer == 1 and size <= _ONE_HOT_MAX_ROWS and size * n <= _ONE_HOT_MAX_CELLS and \
            out.dtype in (np.float32, np.float64):
        one_hot = np.zeros((size, n), out.dtype)
        one_hot[index, np.arange(n)] = 1
        out.reshape(size, inner)[...] += one_hot @ src[0]
        return
    if outer == 1 and inner >= _RANKED_MIN_WIDTH and n > 1:
        index, src = _add_rows_by_rank(out.reshape(size, inner), index, src[0])
        if index.size == 0:
            return
        src = src[None]
    flat = (index * inner)[:, None] + np.arange(inner)
    if outer > 1:
        flat = (np.arange(outer) * (size * inner))[:, None, None] + flat
    np.add.at(out.reshape(-1), flat.reshape(-1), src.reshape(-1))


def _add_rows_by_rank(table, index, rows):
    """Add rows whose target repeats at most ``_RANKED_MAX_GROUPS`` times so far, in groups of
    distinct targets; returns the rows left over (targets repeated more often)."""
    n = index.size
    order = np.argsort(index, kind="stable")
    targets = index[order]
    first = np.empty(n, bool)
    first[0] = True
    np.not_equal(targets[1:], targets[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    rank = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
    by_rank = order[np.argsort(rank, kind="stable")]
    sizes = np.bincount(rank)
    pos = 0
    for size in sizes[:_RANKED_MAX_GROUPS]:
        group = by_rank[pos:pos + size]
        table[index[group]] += rows[group]
        pos += size
    rest = by_rank[pos:]
    return index[rest], rows[rest]


def _linear_along(shape, dim, index):
    """Flat positions in a C-ordered array of ``shape`` of ``index`` taken along ``dim``."""
    strides = np.cumprod((1,) + shape[:0:-1])[::-1]
    lin = index.astype(np.int64) * int(strides[dim])
    ndim = len(shape)
    for d in range(ndim):
        if d != dim and index.shape[d] > 1:
            view = [1] * ndim
            view[d] = -1
            lin += (np.arange(index.shape[d]) * int(strides[d])).reshape(view)
    return lin


def _restrict(x, shape, dim=None):
    """``x`` cut to ``shape`` in every dim except ``dim`` (scatter/gather index extents)."""
    if all(s == t or d == dim for d, (s, t) in enumerate(zip(x.shape, shape))):
        return x
    return x[tuple(slice(None) if d == dim else slice(0, s) for d, s in enumerate(shape))]


def _scatter_along(out, dim, index, src, mode):
    """Scatter ``src`` (array or scalar) into ``out`` along ``dim``: assign, add or multiply."""
    if mode is None:
        np.put_along_axis(_restrict(out, index.shape, dim), index, src, axis=dim)
        return
    lin = _linear_along(out.shape, dim, index).reshape(-1)
    values = np.broadcast_to(src, index.shape).reshape(-1)
    ufunc = np.add if mode == "add" else np.multiply
    ufunc.at(out.reshape(-1), lin, values)
