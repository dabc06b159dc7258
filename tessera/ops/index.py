"""Indexing operators: getitem and setitem, masks, take, nonzero, one_hot and embedding.

An index is split as PyTorch splits it: the basic part (ints, slices, None, Ellipsis) is
applied first and gives a view; the advanced part (integer and boolean arrays) is then
applied to that view with NumPy's placement rule, which is PyTorch's once the ints are gone.
The backward of every gathering operator is one accumulation into zeros (a Function whose
own backward is the gathering again), so gradients of gradients work. Gather and scatter
along a dim live in ``scatter.py``, sorting in ``sorting.py``.
"""

import numbers
import operator

import numpy as np

from .._tensor import Tensor
from ..autograd import grad_mode
from ..autograd.function import Function, sum_to_shape
from ._util import check_tensor, make_tensor
from .elementwise import cast, where
from ._accumulate import _index_add_

__all__ = ["getitem", "setitem", "masked_fill", "masked_select", "nonzero", "one_hot",
           "embedding"]

_state = grad_mode.state


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
        source = None    # a mask Tensor, whose nonzero entries an operator finds
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
            source = item
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
        items.append((kind, item, source if kind == _MASK else None))
    ndim = len(shape)
    if consumed > ndim:
        raise IndexError(f"{op}: too many indices for tensor of dimension {ndim}")

    basic = []
    entries = []
    trivial = True       # the basic part is all full slices
    masks = 0
    dim = vdim = 0       # position in the input's dims, and in the basic view's dims
    for kind, item, source in items:
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
            if source is not None and k:
                found = [t._data for t in NonzeroTuple.apply(source)]
            else:
                found = np.nonzero(item)
            for j, arr in enumerate(found):
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
    base = input._base
    if base is not None and _state.enabled and (
            base.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
        # A write into a view of a tensor in the graph: recorded on the base as well.
        def assign(old, v):
            out = old.clone()
            setitem(out, index, v)
            return out
        input._apply_inplace(assign, value)
        return
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
    if m.shape != shape:
        mask = mask.expand(*shape)
    where_true = NonzeroTuple.apply(mask)
    entries = tuple(enumerate(t._data for t in where_true))
    return AdvancedIndex.apply(input, entries=entries, unique=True)



# == nonzero ====================================================================================

class Nonzero(Function):
    """The (n, ndim) int64 indices of the non-zero entries; no gradient."""

    def forward(self, x):
        return np.argwhere(x)


class NonzeroTuple(Function):
    """The indices of the non-zero entries, one int64 vector per dim (one for a 0-d input)."""

    def forward(self, x):
        return tuple(np.nonzero(x.reshape(1) if x.ndim == 0 else x))


def nonzero(input, *, as_tuple=False):
    """Indices of the non-zero entries: an (n, ndim) int64 tensor, or one vector per dim."""
    check_tensor(input, "nonzero")
    if as_tuple:
        return NonzeroTuple.apply(input)
    return Nonzero.apply(input)



# == one_hot ======================================================================================

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
    elif num_classes < 0:
        raise RuntimeError(f"one_hot: num_classes should be -1 or non-negative, got "
                           f"{num_classes}")
    return OneHot.apply(tensor, num_classes=num_classes)


class OneHot(Function):
    """int64 one-hot encoding (``num_classes`` -1: the largest class + 1); no gradient."""

    def forward(self, x, num_classes):
        if num_classes == -1:
            num_classes = int(x.max()) + 1
        if x.size:
            if x.min() < 0:
                raise RuntimeError("one_hot: class values must be non-negative.")
            if x.max() >= num_classes:
                raise RuntimeError(f"one_hot: class values must be smaller than num_classes "
                                   f"({num_classes}), got {int(x.max())}.")
        out = np.zeros(x.shape + (num_classes,), np.int64)
        np.put_along_axis(out, x[..., None], 1, axis=-1)
        return out




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
