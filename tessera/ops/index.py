"""Indexing operators: getitem and setitem, gather and scatter, index_select and index_add,
masks, sorting, one_hot and embedding.

An index is split as PyTorch splits it: the basic part (ints, slices, None, Ellipsis) is
applied first and gives a view; the advanced part (integer and boolean arrays) is then
applied to that view with NumPy's placement rule, which is PyTorch's once the ints are gone.
The backward of every gathering operator is one accumulation into zeros (a Function whose
own backward is the gathering again), so gradients of gradients work.
"""

import collections
import numbers
import operator

import numpy as np

from .._tensor import Tensor
from ..autograd import grad_mode
from ..autograd.function import Function, sum_to_shape
from ._util import check_tensor, make_tensor, wrap_dim
from .elementwise import cast, where

__all__ = [
    "getitem", "setitem", "gather", "scatter", "scatter_add", "scatter_reduce", "index_select",
    "index_add", "index_fill", "masked_fill", "masked_select", "take", "take_along_dim",
    "nonzero", "one_hot", "sort", "argsort", "topk", "embedding",
]

_state = grad_mode.state

# The results of sort and topk, named as torch.return_types names them.
_SortResult = collections.namedtuple("sort", ["values", "indices"])
_TopkResult = collections.namedtuple("topk", ["values", "indices"])

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


# == accumulation kernels (arrays) ===============================================================

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


# == parsing an index ============================================================================

_INT, _SLICE, _NONE, _ELLIPSIS, _BOOL, _ARRAY, _MASK = range(7)
_FULL = slice(None)


def _classify_array(data, op):
    kind = data.dtype.kind
    if kind == "b" or data.dtype == np.uint8:
        if data.ndim == 0:
            return _BOOL, bool(data)
        return _MASK, data.astype(bool, copy=False)
    if kind in "iu":
        if data.ndim == 0:  # a 0-d integer tensor selects, as an int does
            return _INT, int(data)
        return _ARRAY, data
    raise IndexError(f"{op}: tensors used as indices must be long, int, byte or bool tensors, "
                     f"got dtype {data.dtype}")


def _sequence_array(seq, op):
    if len(seq) == 0:
        return np.zeros(0, np.int64)
    try:
        arr = np.asarray([x._data if isinstance(x, Tensor) else x for x in seq])
    except ValueError:
        raise IndexError(f"{op}: a list used as an index must be rectangular, got {seq!r}") \
            from None
    return arr


def _list_is_tuple(seq):
    # PyTorch reads a short list holding slices, None, Ellipsis, tensors or sequences as a tuple.
    if len(seq) >= 32:
        return False
    return any(x is None or x is Ellipsis or isinstance(x, (slice, Tensor, list, tuple))
               for x in seq)


def _check_bounds(arr, size, dim, op):
    """``arr`` as non-negative int64 indices into a dim of ``size``, or IndexError."""
    if arr.size:
        lo, hi = arr.min(), arr.max()
        if lo < -size or hi >= size:
            bad = int(lo) if lo < -size else int(hi)
            raise IndexError(f"{op}: index {bad} is out of bounds for dimension {dim} with "
                             f"size {size}")
        if lo < 0:
            return np.where(arr < 0, arr + size, arr).astype(np.int64, copy=False)
    return arr.astype(np.int64, copy=False)


def _parse_index(index, shape, op):
    """Split an index into ``(basic, entries, unique)``.

    ``basic`` is a tuple for NumPy's basic indexing (a view), or None when only advanced
    indexing follows and the basic part would do nothing. ``entries`` is None or a tuple of
    ``(dim, int64 array)`` on the dims of that view: non-negative, bounds-checked, a boolean
    mask expanded into one array per dim it covers. ``unique`` says the advanced index cannot
    repeat a position (it came from one mask), so its backward may assign instead of add.
    """
    if type(index) is not tuple:
        index = tuple(index) if type(index) is list and _list_is_tuple(index) else (index,)
    items = []
    consumed = 0
    seen_ellipsis = False
    for item in index:
        t = type(item)
        if t is int:
            kind = _INT
        elif t is slice:
            kind = _SLICE
        elif item is None:
            kind = _NONE
        elif item is Ellipsis:
            if seen_ellipsis:
                raise IndexError(f"{op}: an index can only have a single ellipsis ('...')")
            seen_ellipsis = True
            kind = _ELLIPSIS
        elif t is bool or t is np.bool_:
            kind, item = _BOOL, bool(item)
        elif isinstance(item, Tensor):
            kind, item = _classify_array(item._data, op)
        elif isinstance(item, (np.ndarray, np.generic)):
            kind, item = _classify_array(np.asarray(item), op)
        elif isinstance(item, (list, tuple)):
            kind, item = _classify_array(_sequence_array(item, op), op)
        elif hasattr(item, "__index__"):
            kind, item = _INT, operator.index(item)
        else:
            raise IndexError(f"{op}: only integers, slices (`:`), ellipsis (`...`), None and "
                             f"long or byte tensors are valid indices (got {t.__name__})")
        if kind <= _SLICE or kind == _ARRAY:
            consumed += 1
        elif kind == _MASK:
            consumed += item.ndim
        items.append((kind, item))
    ndim = len(shape)
    if consumed > ndim:
        raise IndexError(f"{op}: too many indices for tensor of dimension {ndim}")

    basic = []
    entries = []
    trivial = True       # the basic part is all full slices
    masks = 0
    dim = vdim = 0       # position in the input's dims, and in the basic view's dims
    for kind, item in items:
        if kind == _INT:
            size = shape[dim]
            if not -size <= item < size:
                raise IndexError(f"{op}: index {item} is out of bounds for dimension {dim} with "
                                 f"size {size}")
            basic.append(item)
            trivial = False
            dim += 1
        elif kind == _SLICE:
            if item.step is not None and operator.index(item.step) <= 0:
                raise ValueError(f"{op}: step must be greater than zero, got {item.step}")
            basic.append(item)
            trivial = trivial and item.start is None and item.stop is None and \
                item.step is None
            dim += 1
            vdim += 1
        elif kind == _NONE:
            basic.append(None)
            trivial = False
            vdim += 1
        elif kind == _ELLIPSIS:
            n = ndim - consumed
            basic.extend([_FULL] * n)
            dim += n
            vdim += n
        elif kind == _BOOL:
            # A bool is a new dim of size 1, indexed by [0] (True) or [] (False).
            basic.append(None)
            trivial = False
            entries.append((vdim, np.zeros(1 if item else 0, np.int64)))
            masks += 1
            vdim += 1
        elif kind == _ARRAY:
            entries.append((vdim, _check_bounds(item, shape[dim], dim, op)))
            basic.append(_FULL)
            masks += 2
            dim += 1
            vdim += 1
        else:
            k = item.ndim
            if item.shape != shape[dim:dim + k]:
                j = next(j for j in range(k) if item.shape[j] != shape[dim + j])
                raise IndexError(f"{op}: the shape of the mask {list(item.shape)} at index {j} "
                                 f"does not match the shape of the indexed tensor "
                                 f"{list(shape)} at index {dim + j}")
            for j, arr in enumerate(np.nonzero(item)):
                entries.append((vdim + j, arr))
            basic.extend([_FULL] * k)
            masks += 1
            dim += k
            vdim += k
    basic.append(Ellipsis)  # keeps a 0-d result an array view, never a NumPy scalar
    if not entries:
        return tuple(basic), None, False
    return (None if trivial else tuple(basic)), tuple(entries), masks == 1


def _fancy(entries):
    index = [_FULL] * (entries[-1][0] + 1)
    for d, arr in entries:
        index[d] = arr
    return tuple(index)


def _indexed_shape(shape, basic, entries):
    view = np.broadcast_to(np.zeros((), np.int8), shape)
    if basic is not None:
        view = view[basic]
    return view[_fancy(entries)].shape if entries else view.shape


# == getitem and setitem =========================================================================

class BasicIndex(Function):
    """``x[ints, slices, None, ...]``: a view."""

    is_view = True

    def forward(self, x, index):
        self.in_shape, self.index = x.shape, index
        return x[index]

    def backward(self, g):
        return BasicIndexBackward.apply(g, shape=self.in_shape, index=self.index)


class BasicIndexBackward(Function):
    """Zeros with ``g`` written at a basic index (a slice assignment: no position repeats)."""

    def forward(self, g, shape, index):
        self.index = index
        out = np.zeros(shape, g.dtype)
        out[index] = g
        return out

    def backward(self, gg):
        return BasicIndex.apply(gg, index=self.index)


class AdvancedIndex(Function):
    """``x[arrays]`` on dims given by ``entries`` (see ``_parse_index``): a copy."""

    def forward(self, x, entries, unique=False):
        self.in_shape, self.entries, self.unique = x.shape, entries, unique
        if len(entries) == 1:
            out = np.take(x, entries[0][1], axis=entries[0][0])
        else:
            out = x[_fancy(entries)]
        return out if type(out) is np.ndarray else np.asarray(out)

    def backward(self, g):
        return AdvancedIndexBackward.apply(g, shape=self.in_shape, entries=self.entries,
                                           unique=self.unique)


class AdvancedIndexBackward(Function):
    """Zeros with ``g`` added at an advanced index; repeated positions accumulate."""

    def forward(self, g, shape, entries, unique):
        self.entries, self.unique = entries, unique
        out = np.zeros(shape, g.dtype)
        if unique:
            out[_fancy(entries)] = g
            return out
        if len(entries) == 1:
            dim, idx = entries[0]
            src = g.reshape(shape[:dim] + (idx.size,) + shape[dim + 1:])
            _index_add_(out, dim, idx.reshape(-1), src)
            return out
        # Several arrays: one linear index over the indexed dims, which are moved to the front.
        dims = [d for d, _ in entries]
        arrays = np.broadcast_arrays(*[a for _, a in entries])
        nb = arrays[0].ndim
        indexed = tuple(shape[d] for d in dims)
        lin = np.ravel_multi_index(arrays, indexed).reshape(-1)
        if dims[-1] - dims[0] == len(dims) - 1 and dims[0] > 0:
            # Adjacent arrays: NumPy left the result's indexed dims in place; bring them first.
            g = np.moveaxis(g, range(dims[0], dims[0] + nb), range(nb))
        rest = [d for d in range(len(shape)) if d not in dims]
        table = np.zeros((int(np.prod(indexed, dtype=np.int64)),) + tuple(shape[d] for d in rest),
                         g.dtype)
        _index_add_(table, 0, lin, g.reshape((lin.size,) + table.shape[1:]))
        order = np.argsort(dims + rest)
        return np.ascontiguousarray(table.reshape(indexed + table.shape[1:]).transpose(order))

    def backward(self, gg):
        return AdvancedIndex.apply(gg, entries=self.entries, unique=self.unique)


def _apply_index(x, basic, entries, unique):
    if basic is not None:
        x = BasicIndex.apply(x, index=basic)
    if entries is not None:
        x = AdvancedIndex.apply(x, entries=entries, unique=unique)
    return x


def getitem(input, index):
    """``input[index]`` with PyTorch's rules: basic indexing gives a view, advanced a copy."""
    basic, entries, unique = _parse_index(index, input._data.shape, "getitem")
    return _apply_index(input, basic, entries, unique)


def _assign(out, basic, entries, value):
    target = out[basic] if basic is not None else out
    if entries is None:
        target[...] = value
    else:
        target[_fancy(entries)] = value


class SetItem(Function):
    """``x[index] = value`` as a function: in place on ``x`` (setitem) or on a copy."""

    def forward(self, x, value, basic, entries, unique, inplace):
        self.basic, self.entries, self.unique = basic, entries, unique
        self.value_shape = value.shape
        out = x if inplace else x.copy()
        _assign(out, basic, entries, value)
        return out

    def backward(self, g):
        gx = gv = None
        if self.next_edges[0] is not None:
            zero = make_tensor(np.zeros((), g._data.dtype))
            gx = SetItem.apply(g, zero, basic=self.basic, entries=self.entries,
                               unique=self.unique, inplace=False)
        if self.next_edges[1] is not None:
            gv = _sum_to_value(_apply_index(g, self.basic, self.entries, self.unique),
                               self.value_shape)
        return gx, gv


def _sum_to_value(g, shape):
    """Undo the broadcast of an assigned value (which may carry extra leading 1-dims)."""
    if g.ndim < len(shape):
        g = g.reshape((1,) * (len(shape) - g.ndim) + tuple(g.shape))
    return sum_to_shape(g, shape)


def setitem(input, index, value):
    """``input[index] = value`` in place; differentiable when autograd is recording.

    ``value`` (a Tensor, number or list) is cast to ``input``'s dtype and broadcast to the
    indexed shape.
    """
    input._check_inplace()
    if not input._data.flags.writeable:
        raise RuntimeError("setitem: the tensor is a read-only view (several of its elements "
                           "may share one memory location, as after expand); clone() it before "
                           "writing to it")
    basic, entries, unique = _parse_index(index, input._data.shape, "setitem")
    if isinstance(value, Tensor):
        if value._data.dtype != input._data.dtype:
            value = cast(value, input.dtype)
    else:
        value = make_tensor(np.asarray(value, dtype=input._data.dtype))
    try:
        if _state.enabled and (input.requires_grad or value.requires_grad):
            out = SetItem.apply(input, value, basic=basic, entries=entries, unique=unique,
                                inplace=True)
            input._node, input._output_nr = out._node, out._output_nr
            input.requires_grad = out.requires_grad
        else:
            _assign(input._data, basic, entries, value._data)
    except ValueError:
        shape = _indexed_shape(input._data.shape, basic, entries)
        raise RuntimeError(f"setitem: shape mismatch: value tensor of shape {list(value.shape)} "
                           f"cannot be broadcast to indexing result of shape {list(shape)}") \
            from None
    input._version[0] += 1


# == gather and scatter ==========================================================================

def _index_data(index, op, name="index"):
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be a Tensor, not {type(index).__name__}")
    data = index._data
    if data.dtype.kind not in "iu" or data.dtype == np.uint8:
        raise RuntimeError(f"{op}(): expected dtype int64 or int32 for {name}, got {index.dtype}")
    return data


def _check_along(op, shape, dim, index, src_shape=None):
    """PyTorch's shape and range checks for gather/scatter; returns int64 indices."""
    if index.ndim != len(shape):
        raise RuntimeError(f"{op}(): index tensor must have the same number of dimensions as "
                           f"input tensor, got {index.ndim} and {len(shape)}")
    for d, (i, s) in enumerate(zip(index.shape, shape)):
        if d != dim and i > s:
            raise RuntimeError(f"{op}(): size does not match at dimension {d}: expected index "
                               f"{list(index.shape)} to be no larger than self {list(shape)} "
                               f"apart from dimension {dim}")
    if src_shape is not None and any(i > s for i, s in zip(index.shape, src_shape)):
        raise RuntimeError(f"{op}(): expected index {list(index.shape)} to be no larger than "
                           f"src {list(src_shape)}")
    if index.size:
        lo, hi = index.min(), index.max()
        if lo < 0 or hi >= shape[dim]:
            raise RuntimeError(f"{op}(): index {int(lo) if lo < 0 else int(hi)} is out of "
                               f"bounds for dimension {dim} with size {shape[dim]}")
    return index.astype(np.int64, copy=False)


class Gather(Function):
    def forward(self, x, dim, index, unique=False):
        self.in_shape, self.dim, self.index, self.unique = x.shape, dim, index, unique
        return np.take_along_axis(_restrict(x, index.shape, dim), index, axis=dim)

    def backward(self, g):
        return GatherBackward.apply(g, shape=self.in_shape, dim=self.dim, index=self.index,
                                    unique=self.unique)


class GatherBackward(Function):
    """Zeros with ``g`` added along ``dim`` at ``index`` (the transpose of gather)."""

    def forward(self, g, shape, dim, index, unique):
        self.dim, self.index, self.unique = dim, index, unique
        out = np.zeros(shape, g.dtype)
        _scatter_along(out, dim, index, g, None if unique else "add")
        return out

    def backward(self, gg):
        return Gather.apply(gg, dim=self.dim, index=self.index, unique=self.unique)


def _pad_to(t, shape):
    """``t`` in the leading corner of zeros of ``shape`` (src larger than its index)."""
    if tuple(t.shape) == tuple(shape):
        return t
    index = tuple(slice(0, s) for s in t.shape) + (Ellipsis,)
    return BasicIndexBackward.apply(t, shape=tuple(shape), index=index)


def _as_1d(*tensors):
    return tuple(t.reshape(1) if t is not None and t.ndim == 0 else t for t in tensors)


def gather(input, dim, index, *, sparse_grad=False):
    """``out[i][j] = input[index[i][j]][j]`` (for ``dim=0``); index values in [0, size).

    ``index`` may be smaller than ``input`` in the other dims. ``sparse_grad`` is accepted for
    compatibility: tessera's gradients are dense.
    """
    check_tensor(input, "gather")
    idx = _index_data(index, "gather")
    if input.ndim == 0 or idx.ndim == 0:
        out = gather(*_as_1d(input), dim, _as_1d(index)[0])
        return out.reshape(idx.shape) if idx.ndim == 0 else out
    dim = wrap_dim(dim, input.ndim, "gather")
    idx = _check_along("gather", input._data.shape, dim, idx)
    return Gather.apply(input, dim=dim, index=idx)


class Scatter(Function):
    def forward(self, x, src, dim, index, value, reduce):
        self.dim, self.index, self.reduce = dim, index, reduce
        self.src_shape = None if src is None else src.shape
        out = x.copy()
        values = _restrict(src, index.shape) if src is not None else x.dtype.type(value)
        _scatter_along(out, dim, index, values, reduce)
        return out

    def backward(self, g):
        if self.reduce is not None:
            raise RuntimeError("scatter: the derivative of scatter with reduce= is not "
                               "implemented (as in PyTorch); use scatter_add or scatter_reduce")
        gx = gsrc = None
        if self.next_edges[0] is not None:
            gx = Scatter.apply(g, None, dim=self.dim, index=self.index, value=0, reduce=None)
        if self.next_edges[1] is not None:
            gsrc = _pad_to(Gather.apply(g, dim=self.dim, index=self.index), self.src_shape)
        return gx, gsrc


def _scatter_args(op, input, dim, index, src):
    check_tensor(input, op)
    idx = _index_data(index, op)
    if src is not None:
        check_tensor(src, op, "src")
        if src._data.dtype != input._data.dtype:
            raise RuntimeError(f"{op}(): expected self.dtype to be equal to src.dtype, got "
                               f"{input.dtype} and {src.dtype}")
    ndims = (input.ndim, idx.ndim) + (() if src is None else (src.ndim,))
    if 0 in ndims and max(ndims) <= 1:
        return None  # 0-d operands are handled as 1-element vectors
    dim = wrap_dim(dim, input.ndim, op)
    idx = _check_along(op, input._data.shape, dim, idx, None if src is None else src._data.shape)
    return dim, idx


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """Write ``src`` (or the number ``value``) into a copy of ``input`` along ``dim``.

    ``reduce`` may be ``'add'`` or ``'multiply'`` (no gradient then, as in PyTorch).
    """
    if src is not None and not isinstance(src, Tensor):
        src, value = None, src
    if src is None and value is None:
        raise TypeError("scatter(): expected a src tensor or a value")
    if isinstance(value, Tensor):
        value = value.item()
    if reduce not in (None, "add", "multiply"):
        raise RuntimeError(f"scatter(): reduce argument must be either add or multiply, got "
                           f"{reduce!r}")
    args = _scatter_args("scatter", input, dim, index, src)
    if args is None:
        out = scatter(*_as_1d(input), dim, _as_1d(index)[0], _as_1d(src)[0], value=value,
                      reduce=reduce)
        return out.reshape(input.shape)
    return Scatter.apply(input, src, dim=args[0], index=args[1], value=value, reduce=reduce)


class ScatterAdd(Function):
    def forward(self, x, src, dim, index):
        self.dim, self.index, self.src_shape = dim, index, src.shape
        out = x.copy()
        _scatter_along(out, dim, index, _restrict(src, index.shape), "add")
        return out

    def backward(self, g):
        gsrc = None
        if self.next_edges[1] is not None:
            gsrc = _pad_to(Gather.apply(g, dim=self.dim, index=self.index), self.src_shape)
        return g, gsrc


def scatter_add(input, dim, index, src):
    """A copy of ``input`` with ``src`` added along ``dim`` at ``index`` (repeats sum)."""
    args = _scatter_args("scatter_add", input, dim, index, src)
    if args is None:
        out = scatter_add(*_as_1d(input), dim, _as_1d(index)[0], _as_1d(src)[0])
        return out.reshape(input.shape)
    return ScatterAdd.apply(input, src, dim=args[0], index=args[1])


_REDUCE_UFUNCS = {"sum": np.add, "prod": np.multiply, "mean": np.add, "amax": np.maximum,
                  "amin": np.minimum}


class ScatterReduce(Function):
    keeps_inputs = True
    keeps_outputs = True

    def forward(self, x, src, dim, index, reduce, include_self):
        self.dim, self.index, self.reduce, self.include_self = dim, index, reduce, include_self
        out = x.copy()
        flat = out.reshape(-1)
        lin = _linear_along(x.shape, dim, index).reshape(-1)
        values = _restrict(src, index.shape).reshape(-1)
        if not include_self:
            # Positions that receive values forget input's value: start from the first value
            # (amax, amin) or from the reduction's identity.
            if reduce in ("amax", "amin"):
                first = np.unique(lin, return_index=True)[1]
                flat[lin[first]] = values[first]
            else:
                flat[lin] = 1 if reduce == "prod" else 0
        _REDUCE_UFUNCS[reduce].at(flat, lin, values)
        if reduce == "mean":
            counts = np.bincount(lin, minlength=flat.size).reshape(x.shape)
            counts = (counts + 1 if include_self else np.maximum(counts, 1)).astype(x.dtype)
            self.counts = counts
            if out.dtype.kind in "iu":
                out //= counts
            else:
                out /= counts
        return out

    def backward(self, g):
        # PyTorch's formulas (FunctionsManual.cpp, scatter_reduce_backward).
        x, src = self.saved_inputs
        (result,) = self.saved_outputs
        dim, reduce, include_self = self.dim, self.reduce, self.include_self
        index = make_tensor(self.index)
        src = _restrict_tensor(src, self.index.shape)
        if reduce == "sum":
            gx, gsrc = g, gather(g, dim, index)
        elif reduce == "mean":
            gx = g / make_tensor(self.counts)
            gsrc = gather(gx, dim, index)
        elif reduce in ("amax", "amin"):
            self_is_result = cast(x == result, x.dtype)
            src_is_result = cast(src == gather(result, dim, index), x.dtype)
            share = g / scatter_add(self_is_result, dim, index, src_is_result)
            gx = self_is_result * share
            gsrc = src_is_result * gather(share, dim, index)
        else:
            masked_x = masked_fill(x, x == 0, 1)
            gx = g * scatter_reduce(masked_x, dim, index, src, "prod",
                                    include_self=include_self) / masked_x
            src_zero = src == 0
            zeros = scatter_add(make_tensor(np.zeros(x.shape, x._data.dtype)), dim, index,
                                cast(src_zero, x.dtype))
            single_zero = src_zero & (gather(zeros, dim, index) == 1)
            masked_src_result = scatter_reduce(x, dim, index, masked_fill(src, single_zero, 1),
                                               "prod", include_self=include_self)
            gsrc = where(single_zero, gather(g * masked_src_result, dim, index),
                         gather(g * result, dim, index) / masked_fill(src, src_zero, 1))
        if not include_self:
            gx = scatter(gx, dim, index, 0)
        return gx, _pad_to(gsrc, self.saved_inputs[1].shape)


def _restrict_tensor(t, shape):
    if tuple(t.shape) == tuple(shape):
        return t
    return BasicIndex.apply(t, index=tuple(slice(0, s) for s in shape) + (Ellipsis,))


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """Reduce ``src`` into a copy of ``input`` along ``dim`` at ``index``.

    ``reduce`` is ``'sum'``, ``'prod'``, ``'mean'``, ``'amax'`` or ``'amin'``; with
    ``include_self=False`` the positions that receive values ignore ``input``'s.
    """
    if reduce not in _REDUCE_UFUNCS:
        raise RuntimeError(f"scatter_reduce(): reduce argument must be one of 'sum', 'prod', "
                           f"'mean', 'amax', 'amin', got {reduce!r}")
    check_tensor(src, "scatter_reduce", "src")
    args = _scatter_args("scatter_reduce", input, dim, index, src)
    if args is None:
        out = scatter_reduce(*_as_1d(input), dim, _as_1d(index)[0], _as_1d(src)[0], reduce,
                             include_self=include_self)
        return out.reshape(input.shape)
    return ScatterReduce.apply(input, src, dim=args[0], index=args[1], reduce=reduce,
                               include_self=include_self)


# == index_select, index_add, index_fill =========================================================

def _vector_index(index, op, size, dim):
    """A 1-D int64 index into a dim of ``size`` (PyTorch rejects negative values here)."""
    idx = _index_data(index, op)
    if idx.ndim > 1:
        raise IndexError(f"{op}(): index is supposed to be a vector, got shape {tuple(idx.shape)}")
    idx = idx.reshape(-1)
    if idx.size:
        lo, hi = idx.min(), idx.max()
        if lo < 0 or hi >= size:
            raise IndexError(f"{op}(): index {int(lo) if lo < 0 else int(hi)} is out of range "
                             f"for dimension {dim} with size {size}")
    return idx.astype(np.int64, copy=False)


def index_select(input, dim, index):
    """The entries of ``input`` at ``index`` (a vector) along ``dim``."""
    check_tensor(input, "index_select")
    if input.ndim == 0:
        idx = _vector_index(index, "index_select", 1, 0)
        return AdvancedIndex.apply(input.reshape(1), entries=((0, idx),)).reshape(
            () if idx.size == 1 else (idx.size,))
    dim = wrap_dim(dim, input.ndim, "index_select")
    idx = _vector_index(index, "index_select", input._data.shape[dim], dim)
    return AdvancedIndex.apply(input, entries=((dim, idx),))


class IndexAdd(Function):
    def forward(self, x, src, dim, index, alpha):
        self.dim, self.index, self.alpha = dim, index, alpha
        out = x.copy()
        _index_add_(out, dim, index, src if alpha == 1 else src * alpha)
        return out

    def backward(self, g):
        gsrc = None
        if self.next_edges[1] is not None:
            gsrc = AdvancedIndex.apply(g, entries=((self.dim, self.index),))
            if self.alpha != 1:
                gsrc = gsrc * self.alpha
        return g, gsrc


def index_add(input, dim, index, source, *, alpha=1):
    """A copy of ``input`` with ``alpha * source`` added at ``index`` along ``dim``."""
    check_tensor(input, "index_add")
    check_tensor(source, "index_add", "source")
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(f"index_add(): self ({input.dtype}) and source ({source.dtype}) must "
                           f"have the same scalar type")
    if input.ndim == 0 or source.ndim == 0:
        out = index_add(input.reshape(-1), 0, index, source.reshape(-1), alpha=alpha)
        return out.reshape(input.shape)
    dim = wrap_dim(dim, input.ndim, "index_add")
    shape = input._data.shape
    idx = _vector_index(index, "index_add", shape[dim], dim)
    expected = shape[:dim] + (idx.size,) + shape[dim + 1:]
    if source._data.shape != expected:
        raise RuntimeError(f"index_add(): source of shape {tuple(source.shape)} does not match: "
                           f"expected {expected} for {idx.size} indices along dim {dim} of "
                           f"self of shape {tuple(shape)}")
    return IndexAdd.apply(input, source, dim=dim, index=idx, alpha=alpha)


class IndexFill(Function):
    def forward(self, x, value, dim, index, scalar):
        self.dim, self.index = dim, index
        out = x.copy()
        out[(_FULL,) * dim + (index,)] = value if value is not None else scalar
        return out

    def backward(self, g):
        gx = gv = None
        if self.next_edges[0] is not None:
            gx = IndexFill.apply(g, None, dim=self.dim, index=self.index, scalar=0)
        if self.next_edges[1] is not None:
            filled = np.unique(self.index)
            gv = AdvancedIndex.apply(g, entries=((self.dim, filled),), unique=True).sum()
        return gx, gv


def index_fill(input, dim, index, value):
    """A copy of ``input`` with the entries at ``index`` along ``dim`` set to ``value``."""
    check_tensor(input, "index_fill")
    if input.ndim == 0:
        return index_fill(input.reshape(1), 0, index, value).reshape(())
    dim = wrap_dim(dim, input.ndim, "index_fill")
    idx = _vector_index(index, "index_fill", input._data.shape[dim], dim)
    value, scalar = _fill_value(input, value, "index_fill")
    return IndexFill.apply(input, value, dim=dim, index=idx, scalar=scalar)


def _fill_value(input, value, op):
    """``(tensor, None)`` for a 0-d Tensor value (cast to input's dtype), else (None, scalar)."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"{op}: only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value.ndim} dimension(s).")
        if value._data.dtype != input._data.dtype:
            value = cast(value, input.dtype)
        return value, None
    if not isinstance(value, (numbers.Number, np.generic)):
        raise TypeError(f"{op}: value must be a number or a 0-d Tensor, got "
                        f"{type(value).__name__}")
    return None, np.asarray(value, dtype=input._data.dtype)


# == masks =======================================================================================

class MaskedFill(Function):
    def forward(self, x, value, mask, scalar):
        self.mask, self.in_shape = mask, x.shape
        return np.where(mask, value if value is not None else scalar, x)

    def backward(self, g):
        mask = make_tensor(self.mask)
        zero = make_tensor(np.zeros((), g._data.dtype))
        gx = gv = None
        if self.next_edges[0] is not None:
            gx = sum_to_shape(where(mask, zero, g), self.in_shape)
        if self.next_edges[1] is not None:
            gv = where(mask, g, zero).sum()
        return gx, gv


def _bool_mask(mask, op):
    check_tensor(mask, op, "mask")
    if mask._data.dtype != np.bool_:
        raise RuntimeError(f"{op}: only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype}")
    return mask._data


def masked_fill(input, mask, value):
    """``input`` with ``value`` (a number or 0-d Tensor) where ``mask`` (broadcast) is True."""
    check_tensor(input, "masked_fill")
    m = _bool_mask(mask, "masked_fill")
    value, scalar = _fill_value(input, value, "masked_fill")
    try:
        np.broadcast_shapes(m.shape, input._data.shape)
    except ValueError:
        raise RuntimeError(f"masked_fill: mask of shape {tuple(m.shape)} cannot be broadcast to "
                           f"input of shape {tuple(input.shape)}") from None
    return MaskedFill.apply(input, value, mask=m, scalar=scalar)


def masked_select(input, mask):
    """The entries of ``input`` where ``mask`` is True (both broadcast), as a 1-D tensor."""
    check_tensor(input, "masked_select")
    m = _bool_mask(mask, "masked_select")
    try:
        shape = np.broadcast_shapes(m.shape, input._data.shape)
    except ValueError:
        raise RuntimeError(f"masked_select: mask of shape {tuple(m.shape)} and input of shape "
                           f"{tuple(input.shape)} cannot be broadcast together") from None
    if not shape:
        shape = (1,)
        input = input.reshape(1)
    if input._data.shape != shape:
        input = input.expand(*shape)
    entries = tuple(enumerate(np.nonzero(np.broadcast_to(m, shape))))
    return AdvancedIndex.apply(input, entries=entries, unique=True)


# == take, take_along_dim, nonzero ===============================================================

def take(input, index):
    """``input`` read as 1-D at ``index``; the result has ``index``'s shape."""
    check_tensor(input, "take")
    idx = _index_data(index, "take")
    n = input._data.size
    if idx.size:
        lo, hi = idx.min(), idx.max()
        if lo < -n or hi >= n:
            raise IndexError(f"take(): out of range: tried to access index "
                             f"{int(lo) if lo < -n else int(hi)} on a tensor of {n} elements.")
    idx = _check_bounds(idx, n, 0, "take")
    out = AdvancedIndex.apply(input.reshape(-1), entries=((0, idx.reshape(-1)),))
    return out.reshape(idx.shape)


def take_along_dim(input, indices, dim=None):
    """Values of ``input`` at ``indices`` along ``dim`` (both broadcast apart from ``dim``);
    with ``dim=None``, of the flattened input."""
    check_tensor(input, "take_along_dim")
    idx = _index_data(indices, "take_along_dim", "indices")
    if dim is None:
        return gather(input.reshape(-1), 0, make_tensor(idx.reshape(-1)))
    if idx.ndim != input.ndim:
        raise RuntimeError(f"take_along_dim(): input and indices should have the same number "
                           f"of dimensions, but got {input.ndim} dimensions for input, and "
                           f"{idx.ndim} dimensions for indices")
    if input.ndim == 0:
        return gather(input, 0, indices)
    dim = wrap_dim(dim, input.ndim, "take_along_dim")
    in_shape = input._data.shape
    try:
        common = list(np.broadcast_shapes(in_shape[:dim] + (1,) + in_shape[dim + 1:],
                                          idx.shape[:dim] + (1,) + idx.shape[dim + 1:]))
    except ValueError:
        raise RuntimeError(f"take_along_dim(): input of shape {tuple(in_shape)} and indices of "
                           f"shape {tuple(idx.shape)} cannot be broadcast apart from dim "
                           f"{dim}") from None
    common[dim] = in_shape[dim]
    if tuple(common) != in_shape:
        input = input.expand(*common)
    common[dim] = idx.shape[dim]
    return gather(input, dim, make_tensor(np.broadcast_to(idx, tuple(common))))


def nonzero(input, *, as_tuple=False):
    """Indices of the non-zero entries: an (n, ndim) int64 tensor, or one vector per dim."""
    check_tensor(input, "nonzero")
    x = input._data
    if as_tuple:
        return tuple(make_tensor(i) for i in np.nonzero(x.reshape(1) if x.ndim == 0 else x))
    return make_tensor(np.argwhere(x))


# == one_hot, sorting ============================================================================

def one_hot(tensor, num_classes=-1):
    """int64 one-hot encoding with a new last dim of ``num_classes`` (inferred when -1)."""
    check_tensor(tensor, "one_hot", "tensor")
    x = tensor._data
    if x.dtype != np.int64:
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor "
                           f"(int64), got {tensor.dtype}")
    if num_classes == -1:
        if x.size == 0:
            raise RuntimeError("one_hot: can not infer total number of classes from empty "
                               "tensor.")
        num_classes = int(x.max()) + 1
    elif num_classes < 0:
        raise RuntimeError(f"one_hot: num_classes should be -1 or non-negative, got "
                           f"{num_classes}")
    if x.size:
        if x.min() < 0:
            raise RuntimeError("one_hot: class values must be non-negative.")
        if x.max() >= num_classes:
            raise RuntimeError(f"one_hot: class values must be smaller than num_classes "
                               f"({num_classes}), got {int(x.max())}.")
    out = np.zeros(x.shape + (num_classes,), np.int64)
    np.put_along_axis(out, x[..., None], 1, axis=-1)
    return make_tensor(out)


def _argsort(x, axis, descending):
    """Stable argsort; descending keeps equal elements in their original order, NaN first."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    # Sorting the reversed input and reversing the result keeps ties in input order.
    order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return (x.shape[axis] - 1) - np.flip(order, axis)


def sort(input, dim=-1, descending=False, stable=False):
    """``(values, indices)`` sorted along ``dim``; the sort is always stable."""
    check_tensor(input, "sort")
    if input.ndim == 0:
        values, indices = sort(input.reshape(1), 0, descending)
        return _SortResult(values.reshape(()), indices.reshape(()))
    dim = wrap_dim(dim, input.ndim, "sort")
    idx = _argsort(input._data, dim, descending)
    return _SortResult(Gather.apply(input, dim=dim, index=idx, unique=True), make_tensor(idx))


def argsort(input, dim=-1, descending=False, stable=False):
    """The indices that sort ``input`` along ``dim`` (stable)."""
    check_tensor(input, "argsort")
    if input.ndim == 0:
        return make_tensor(np.zeros((), np.int64))
    return make_tensor(_argsort(input._data, wrap_dim(dim, input.ndim, "argsort"), descending))


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
    idx = np.ascontiguousarray(idx)
    return _TopkResult(Gather.apply(input, dim=dim, index=idx, unique=True), make_tensor(idx))


# == embedding ===================================================================================

class Embedding(Function):
    """Rows of ``weight`` at ``indices``; backward accumulates rows (only into weight)."""

    def forward(self, weight, indices, padding_idx, scale_grad_by_freq):
        self.num_weights = weight.shape[0]
        self.indices, self.padding_idx = indices, padding_idx
        self.scale_grad_by_freq = scale_grad_by_freq
        return np.take(weight, indices, axis=0)

    def backward(self, g):
        return EmbeddingBackward.apply(g, indices=self.indices, num_weights=self.num_weights,
                                       padding_idx=self.padding_idx,
                                       scale_grad_by_freq=self.scale_grad_by_freq)


class EmbeddingBackward(Function):
    def forward(self, g, indices, num_weights, padding_idx, scale_grad_by_freq):
        self.indices, self.padding_idx = indices, padding_idx
        idx = indices.reshape(-1)
        rows = g.reshape(idx.size, g.shape[-1])
        self.row_scale = None
        if scale_grad_by_freq or padding_idx is not None:
            # One factor per token: 1/count of its index, and 0 for padding_idx.
            scale = np.ones(idx.size, g.dtype)
            if scale_grad_by_freq:
                counts = np.bincount(idx, minlength=num_weights)
                scale /= counts[idx].astype(g.dtype)
            if padding_idx is not None:
                scale[idx == padding_idx] = 0
            self.row_scale = scale.reshape(indices.shape + (1,))
            rows = rows * scale[:, None]
        out = np.zeros((num_weights, g.shape[-1]), g.dtype)
        _index_add_(out, 0, idx, rows)
        return out

    def backward(self, gg):
        rows = AdvancedIndex.apply(gg, entries=((0, self.indices),))
        if self.row_scale is not None:
            rows = rows * make_tensor(self.row_scale)
        return rows


def _embedding_renorm_(weight, idx, max_norm, norm_type):
    """Rescale in place the rows of ``weight`` used by ``idx`` whose norm exceeds max_norm."""
    rows = np.unique(idx)
    w = weight._data[rows]
    if norm_type == float("inf"):
        norms = np.abs(w).max(axis=1)
    else:
        norms = (np.abs(w) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    over = norms > max_norm
    if over.any():
        scale = (max_norm / (norms[over] + 1e-7)).astype(w.dtype)
        weight._data[rows[over]] = w[over] * scale[:, None]
        weight._version[0] += 1


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Look up rows of ``weight`` (num_embeddings, embedding_dim) at integer ``input``.

    ``padding_idx``'s row gets no gradient; ``max_norm`` renormalises the used rows of
    ``weight`` in place first, as PyTorch does. tessera has no sparse tensors: with
    ``sparse=True`` the gradient is the same values, dense.

    Shape: input (*), weight (V, D) -> output (*, D).
    """
    check_tensor(input, "embedding")
    check_tensor(weight, "embedding", "weight")
    idx = input._data
    if idx.dtype not in (np.int64, np.int32):
        raise RuntimeError(f"embedding: expected indices of dtype int64 or int32, but got "
                           f"{input.dtype}")
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: 'weight' must be 2-D, got shape {tuple(weight.shape)}")
    num = weight._data.shape[0]
    if idx.size:
        lo, hi = idx.min(), idx.max()
        if lo < 0 or hi >= num:
            raise IndexError(f"embedding: index {int(lo) if lo < 0 else int(hi)} is out of "
                             f"range for a table of {num} rows")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx must be within num_embeddings ({num}), "
                             f"got {padding_idx}")
        padding_idx = padding_idx % num
    if max_norm is not None and idx.size:
        _embedding_renorm_(weight, idx, max_norm, norm_type)
    return Embedding.apply(weight, indices=idx, padding_idx=padding_idx,
                           scale_grad_by_freq=scale_grad_by_freq)
