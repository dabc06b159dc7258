"""Gather and scatter along a dim, and index_select / index_add / index_fill.

Each gathering operator's backward is an accumulation into zeros (``_accumulate.py``), a
Function whose own backward is the gathering again, so gradients of gradients work.
"""


import numpy as np

from .._tensor import Tensor
from ..autograd import grad_mode
from ..autograd.function import Function
from ._util import check_tensor, make_tensor, wrap_dim
from .elementwise import cast, where
from .index import (_FULL, AdvancedIndex, BasicIndex, BasicIndexBackward, _check_bounds,
                    _fill_value, masked_fill)
from ._accumulate import _index_add_, _linear_along, _restrict, _scatter_along

__all__ = ["gather", "scatter", "scatter_add", "scatter_reduce", "index_select", "index_add",
           "index_fill", "take", "take_along_dim"]

_state = grad_mode.state


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




# == take, take_along_dim ===============================================================

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
