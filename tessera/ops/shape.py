"""Shape operators: views (reshape, transpose, expand ...), joins and splits, reordering,
repetition, and padding.

Operators whose result shares the input's storage set ``is_view``; the others copy, as
in PyTorch (``flip`` and ``roll`` copy, ``reshape`` copies only when it must).
"""

import numbers
import operator

import numpy as np

from .._tensor import Tensor
from ..autograd.function import Function, sum_to_shape
from ..backend import dtypes
from ._util import broadcast_shapes, check_tensor, make_tensor, promote_operands, wrap_dim

__all__ = ["pad", "reshape", "view", "view_as", "expand", "expand_as", "broadcast_to", "permute",
           "transpose", "swapaxes", "t", "movedim", "moveaxis", "unsqueeze", "squeeze", "flatten",
           "unflatten", "cat", "concat", "concatenate", "stack", "hstack", "vstack", "split",
           "chunk", "unbind", "narrow", "repeat", "tile", "flip", "roll"]


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


def _ints(values, op, name):
    """A tuple of ints from an int or a sequence of ints (or integer 0-d Tensors)."""
    if isinstance(values, (numbers.Integral, Tensor)):
        values = (values,)
    try:
        return tuple(int(v) for v in values)
    except TypeError:
        raise TypeError(f"{op}(): argument '{name}' must be an int or a tuple of ints, got "
                        f"{values!r}") from None


# == reshaping views =============================================================================

def _infer_shape(shape, numel, op, in_shape):
    """The shape with -1 resolved, or PyTorch's error for one that does not fit."""
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}(): shape must be a sequence of ints, got {list(shape)}") from None
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred")
    if -1 in shape:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        if known == 0 or numel % known:
            raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    n = 1
    for s in shape:
        if s < 0:
            raise RuntimeError(f"{op}: invalid shape dimension {s}")
        n *= s
    if n != numel:
        raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel} "
                           f"(input shape {tuple(in_shape)})")
    return shape


class Reshape(Function):
    is_view = True

    def forward(self, x, shape):
        self.in_shape = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return _reshape(g, self.in_shape)


class ReshapeCopy(Reshape):
    """A reshape that NumPy can only do by copying (a non-contiguous input): not a view."""

    is_view = False


def _reshapes_in_place(x, shape):
    if x.flags.c_contiguous:
        return True
    try:
        x.reshape(shape, copy=False)
    except ValueError:
        return False
    except TypeError:  # NumPy < 2.1 has no ``copy=``: see whether the result shares memory
        return np.may_share_memory(x.reshape(shape), x)
    return True


def _reshape(input, shape):
    if _reshapes_in_place(input._data, shape):
        return Reshape.apply(input, shape=shape)
    return ReshapeCopy.apply(input, shape=shape)


def reshape(input, *shape):
    """The same elements in ``shape`` (one size may be -1): a view when the layout allows."""
    shape = _shape_args(shape)
    try:
        return _reshape(input, shape)  # NumPy infers -1 and checks the size
    except (ValueError, TypeError):
        _infer_shape(shape, input._data.size, "reshape", input._data.shape)
        raise


class _ViewDtype(Function):
    """The same bytes read as another dtype (no gradient)."""

    is_view = True

    def forward(self, x, dtype):
        return x.view(dtype)


def view(input, *shape):
    """A view with a new ``shape`` (an error if the layout needs a copy; see reshape), or the
    same bytes as another dtype with ``view(dtype)``."""
    if len(shape) == 1 and not isinstance(shape[0], (numbers.Integral, tuple, list, Tensor)):
        try:
            dt = dtypes.as_dtype(shape[0])
        except TypeError:
            raise TypeError(f"view(): expected a shape or a dtype, got {shape[0]!r}") from None
        try:
            return _ViewDtype.apply(input, dtype=dt.np_dtype)
        except ValueError as exc:
            raise RuntimeError(f"view(): cannot view a {input.dtype} tensor of shape "
                               f"{tuple(input.shape)} as {dt}: {exc}") from None
    shape = _shape_args(shape)
    x = input._data
    if not x.flags.c_contiguous:
        shape = _infer_shape(shape, x.size, "view", x.shape)
        if not _reshapes_in_place(x, shape):
            raise RuntimeError("view(): view size is not compatible with input tensor's size and "
                               "stride (at least one dimension spans across two contiguous "
                               "subspaces). Use .reshape(...) instead.")
    try:
        return Reshape.apply(input, shape=shape)  # NumPy infers -1 and checks the size
    except (ValueError, TypeError):
        _infer_shape(shape, x.size, "view", x.shape)
        raise


def view_as(input, other):
    """``input.view(other.shape)``."""
    return view(input, check_tensor(other, "view_as", "other")._data.shape)


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim`` to ``end_dim`` into one (a 0-d input becomes 1-d)."""
    shape = check_tensor(input, "flatten")._data.shape
    n = len(shape)
    start = wrap_dim(start_dim, n, "flatten")
    end = wrap_dim(end_dim, n, "flatten")
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if n == 0:
        return _reshape(input, (1,))
    if start == end:
        return input
    size = 1
    for s in shape[start:end + 1]:
        size *= s
    return _reshape(input, shape[:start] + (size,) + shape[end + 1:])


def unflatten(input, dim, sizes):
    """Split dim ``dim`` into ``sizes`` (one of which may be -1)."""
    shape = check_tensor(input, "unflatten")._data.shape
    d = wrap_dim(dim, len(shape), "unflatten")
    sizes = _ints(sizes, "unflatten", "sizes")
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    try:
        inner = _infer_shape(sizes, shape[d], "unflatten", shape)
    except RuntimeError:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the "
                           f"size of dim {dim} ({shape[d]}) in the input tensor") from None
    return _reshape(input, shape[:d] + inner + shape[d + 1:])


def unsqueeze(input, dim):
    """A view with a new dim of size 1 at ``dim``."""
    d = wrap_dim(dim, input._data.ndim + 1, "unsqueeze")
    shape = input._data.shape
    return Reshape.apply(input, shape=shape[:d] + (1,) + shape[d:])


def squeeze(input, dim=None):
    """A view without the dims of size 1 (only ``dim``, an int or tuple, if given; a dim whose
    size is not 1 is left alone, as in PyTorch)."""
    shape = input._data.shape
    if dim is None:
        dims = {i for i, s in enumerate(shape) if s == 1}
    else:
        dims = {wrap_dim(d, len(shape), "squeeze") for d in (dim if isinstance(dim, (tuple, list))
                                                             else (dim,))}
        dims = {d for d in dims if shape[d] == 1} if shape else set()
    if not dims:
        return Reshape.apply(input, shape=shape)
    return Reshape.apply(input, shape=tuple(s for i, s in enumerate(shape) if i not in dims))


# == broadcasting views ==========================================================================

class Expand(Function):
    is_view = True

    def forward(self, x, shape):
        self.in_shape = x.shape
        return np.broadcast_to(x, shape)

    def backward(self, g):
        return sum_to_shape(g, self.in_shape)


def expand(input, *sizes):
    """A broadcast view of ``sizes`` (-1 keeps a size); no memory is copied."""
    sizes = _shape_args(sizes)
    shape = input._data.shape
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({len(shape)})")
    target = tuple(shape[i - lead] if s == -1 and i >= lead else int(s)
                   for i, s in enumerate(sizes))
    if any(s < 0 for s in target):
        raise RuntimeError(f"expand: -1 is not allowed in a leading, non-existing dimension "
                           f"(sizes {list(sizes)}, tensor sizes {list(shape)})")
    for i, s in enumerate(shape):
        if s != 1 and s != target[i + lead]:
            raise RuntimeError(f"expand: the expanded size of the tensor ({target[i + lead]}) "
                               f"must match the existing size ({s}) at non-singleton dimension "
                               f"{i + lead}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                               f"{list(shape)}")
    if target == shape:
        return input
    return Expand.apply(input, shape=target)


def expand_as(input, other):
    """``input.expand(other.shape)``."""
    return expand(input, check_tensor(other, "expand_as", "other")._data.shape)


def broadcast_to(input, shape):
    """``input.expand(shape)``, with NumPy's broadcasting error message."""
    broadcast_shapes("broadcast_to", input._data.shape, tuple(shape))
    return expand(input, *shape)


# == reordering dims =============================================================================

class Permute(Function):
    is_view = True

    def forward(self, x, dims):
        self.dims = dims
        return np.transpose(x, dims)

    def backward(self, g):
        return Permute.apply(g, dims=tuple(np.argsort(self.dims).tolist()))


def permute(input, *dims):
    """A view with the dims reordered as ``dims``."""
    dims = _shape_args(dims)
    n = input._data.ndim
    if len(dims) != n:
        raise RuntimeError(f"permute: number of dimensions in the tensor input does not match "
                           f"the length of the desired ordering of dimensions i.e. input.dim() "
                           f"= {n} is not equal to len(dims) = {len(dims)}")
    dims = tuple(wrap_dim(d, n, "permute") for d in dims)
    if len(set(dims)) != n:
        raise RuntimeError(f"permute: repeated dim in {list(dims)}")
    return Permute.apply(input, dims=dims)


def transpose(input, dim0, dim1):
    """A view with dims ``dim0`` and ``dim1`` swapped."""
    n = input._data.ndim
    if n == 0:
        wrap_dim(dim0, 0, "transpose")
        wrap_dim(dim1, 0, "transpose")
        return input
    d0, d1 = wrap_dim(dim0, n, "transpose"), wrap_dim(dim1, n, "transpose")
    dims = list(range(n))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(input, dims=tuple(dims))


def swapaxes(input, axis0, axis1):
    """NumPy's name for :func:`transpose`."""
    return transpose(input, axis0, axis1)


def t(input):
    """The transpose of a matrix; a tensor of fewer than 2 dims is returned as a view."""
    n = input._data.ndim
    if n > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {n}D")
    return Permute.apply(input, dims=tuple(range(n))[::-1])


def movedim(input, source, destination):
    """A view with dims ``source`` moved to positions ``destination`` (ints or tuples)."""
    n = input._data.ndim
    src = _ints(source, "movedim", "source")
    dst = _ints(destination, "movedim", "destination")
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} "
                           f"dims) should contain the same number of dims as destination "
                           f"({list(dst)} dims)")
    src = tuple(wrap_dim(d, n, "movedim") for d in src)
    dst = tuple(wrap_dim(d, n, "movedim") for d in dst)
    if len(set(src)) != len(src):
        raise RuntimeError(f"movedim: repeated dim in `source` ({list(source)})")
    if len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({list(destination)})")
    order = [d for d in range(n) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return Permute.apply(input, dims=tuple(order))


moveaxis = movedim


# == joining =====================================================================================

class Cat(Function):
    def forward(self, *xs, dim, skip):
        self.dim, self.skip = dim, skip
        if skip:  # PyTorch's legacy rule: 1-d empty tensors join anything, and are dropped
            self.empty = [x.dtype for x in xs]
            xs = [x for x, s in zip(xs, skip) if not s]
        self.sizes = tuple(x.shape[dim] for x in xs)
        return np.concatenate(xs, axis=dim)

    def backward(self, g):
        parts = Split.apply(g, sizes=self.sizes, dim=self.dim)
        if not self.skip:
            return parts
        parts = iter(parts)
        return tuple(make_tensor(np.zeros((0,), dt)) if s else next(parts)
                     for s, dt in zip(self.skip, self.empty))


def _tensor_list(tensors, op):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (tuple, list)):
        raise TypeError(f"{op}(): argument 'tensors' must be a tuple or list of Tensors, not "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise RuntimeError(f"{op}(): expected a non-empty list of Tensors")
    for i, x in enumerate(tensors):
        if not isinstance(x, Tensor):
            raise TypeError(f"{op}(): expected a list of Tensors, but element {i} is "
                            f"{type(x).__name__}")
    return promote_operands(op, *tensors)


def _cat_error(tensors, d, op):
    """The PyTorch message for tensors that do not concatenate along ``d``."""
    first = tensors[0]._data.shape
    for i, x in enumerate(tensors):
        shape = x._data.shape
        if len(shape) != len(first):
            return RuntimeError(f"{op}(): Tensors must have same number of dimensions: got "
                                f"{len(first)} and {len(shape)}")
        for k, (a, b) in enumerate(zip(first, shape)):
            if k != d and a != b:
                return RuntimeError(f"{op}(): Sizes of tensors must match except in dimension "
                                    f"{d}. Expected size {a} but got size {b} for tensor number "
                                    f"{i} in the list.")
    return RuntimeError(f"{op}(): cannot concatenate shapes "
                        f"{[tuple(x._data.shape) for x in tensors]} along dim {d}")


def _legacy_layout(tensors):
    """(ndim, skip) for tensors of mixed ranks: PyTorch skips 1-d empty tensors."""
    for i, x in enumerate(tensors):
        if x._data.ndim == 0:
            raise RuntimeError(f"cat(): zero-dimensional tensor (at position {i}) cannot be "
                               f"concatenated")
    skip = tuple(x._data.shape == (0,) for x in tensors)
    if all(skip):
        return 1, None
    return next(x._data.ndim for x, s in zip(tensors, skip) if not s), skip


def cat(tensors, dim=0):
    """Join ``tensors`` along an existing ``dim`` (dtypes promote as in PyTorch)."""
    tensors = _tensor_list(tensors, "cat")
    ndim = tensors[0]._data.ndim
    skip = None
    for x in tensors:
        if x._data.ndim != ndim or not ndim:
            ndim, skip = _legacy_layout(tensors)
            break
    d = dim + ndim if type(dim) is int and -ndim <= dim < 0 else dim
    if type(d) is not int or not 0 <= d < ndim:
        d = wrap_dim(dim, ndim, "cat")
    try:
        return Cat.apply(*tensors, dim=d, skip=skip)
    except ValueError:
        kept = tensors if skip is None else [x for x, s in zip(tensors, skip) if not s]
        raise _cat_error(kept, d, "cat") from None


concat = cat


def concatenate(tensors, axis=0):
    """NumPy's name for :func:`cat` (with ``axis``)."""
    return cat(tensors, axis)


class Stack(Function):
    def forward(self, *xs, dim):
        self.dim = dim
        shape = xs[0].shape
        out = np.empty(shape[:dim] + (len(xs),) + shape[dim:], xs[0].dtype)
        lead = (slice(None),) * dim
        for i, x in enumerate(xs):
            out[lead + (i,)] = x
        return out

    def backward(self, g):
        return Unbind.apply(g, dim=self.dim)


def stack(tensors, dim=0):
    """Join equally shaped ``tensors`` along a new ``dim``."""
    tensors = _tensor_list(tensors, "stack")
    first = tensors[0]._data.shape
    for i, x in enumerate(tensors):
        if x._data.shape != first:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(first)} at entry 0 and {list(x._data.shape)} at entry {i}")
    return Stack.apply(*tensors, dim=wrap_dim(dim, len(first) + 1, "stack"))


def hstack(tensors):
    """Join along dim 1 (dim 0 for 1-d tensors); 0-d tensors count as 1-d."""
    tensors = [x if x._data.ndim else _reshape(x, (1,)) for x in _tensor_list(tensors, "hstack")]
    return cat(tensors, 0 if tensors[0]._data.ndim == 1 else 1)


def vstack(tensors):
    """Join along dim 0, with 0-d and 1-d tensors seen as rows."""
    tensors = [x if x._data.ndim >= 2 else _reshape(x, (1, x._data.size))
               for x in _tensor_list(tensors, "vstack")]
    return cat(tensors, 0)


# == splitting ===================================================================================

class Split(Function):
    is_view = True

    def forward(self, x, sizes, dim):
        self.dim = dim
        lead = (slice(None),) * dim
        parts = []
        start = 0
        for s in sizes:
            parts.append(x[lead + (slice(start, start + s),)])
            start += s
        return tuple(parts)

    def backward(self, *grads):
        return Cat.apply(*grads, dim=self.dim, skip=None)


def split(tensor, split_size_or_sections, dim=0):
    """Views of ``tensor`` along ``dim``: pieces of one size (the last may be smaller), or of
    the sizes in a list."""
    shape = check_tensor(tensor, "split", "tensor")._data.shape
    if not shape:
        raise RuntimeError("split(): expected a tensor with at least one dimension")
    d = wrap_dim(dim, len(shape), "split")
    n = shape[d]
    if isinstance(split_size_or_sections, (numbers.Integral, Tensor)):
        size = int(split_size_or_sections)
        if size < 0:
            raise RuntimeError(f"split(): split_size must be non-negative, got {size}")
        if size == 0:
            if n:
                raise RuntimeError(f"split(): split_size can only be 0 if dimension size is 0, "
                                   f"but got dimension size of {n}")
            sizes = (0,)
        else:
            sizes = (size,) * (n // size) + ((n % size,) if n % size else ())
            sizes = sizes or (0,)
    else:
        sizes = _ints(split_size_or_sections, "split", "split_size_or_sections")
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {d}), but got "
                               f"split_sizes={list(sizes)}")
    return Split.apply(tensor, sizes=sizes, dim=d)


def chunk(input, chunks, dim=0):
    """At most ``chunks`` views of equal size along ``dim`` (the last may be smaller)."""
    chunks = int(chunks)
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    shape = check_tensor(input, "chunk")._data.shape
    if not shape:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    n = shape[wrap_dim(dim, len(shape), "chunk")]
    if n == 0:
        return split(input, [0] * chunks, dim)
    return split(input, -(-n // chunks), dim)


class Unbind(Function):
    is_view = True

    def forward(self, x, dim):
        self.dim = dim
        lead = (slice(None),) * dim
        # The trailing Ellipsis keeps a 1-d input's slices 0-d views, not NumPy scalars.
        return tuple(x[lead + (i, Ellipsis)] for i in range(x.shape[dim]))

    def backward(self, *grads):
        return Stack.apply(*grads, dim=self.dim)


def unbind(input, dim=0):
    """Views of every slice along ``dim``, without that dim."""
    shape = check_tensor(input, "unbind")._data.shape
    if not shape:
        raise IndexError("unbind(): Dimension specified as 0 but tensor has no dimensions")
    return Unbind.apply(input, dim=wrap_dim(dim, len(shape), "unbind"))


class Narrow(Function):
    is_view = True

    def forward(self, x, dim, start, length):
        self.widths = tuple((-start, start + length - s) if i == dim else (0, 0)
                            for i, s in enumerate(x.shape))
        return x[(slice(None),) * dim + (slice(start, start + length),)]

    def backward(self, g):
        # Zeros around the gradient: the constant pad that undoes the crop.
        return ConstantPad.apply(g, widths=tuple((-lo, -hi) for lo, hi in self.widths), value=0)


def narrow(input, dim, start, length):
    """A view of ``length`` elements from ``start`` along ``dim``."""
    shape = check_tensor(input, "narrow")._data.shape
    if not shape:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = wrap_dim(dim, len(shape), "narrow")
    start, length, n = int(start), int(length), shape[d]
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if not -n <= start <= n:
        raise IndexError(f"narrow(): start out of range (expected to be in range of [{-n}, "
                         f"{n}], but got {start})")
    if start < 0:
        start += n
    if start + length > n:
        raise RuntimeError(f"narrow(): start ({start}) + length ({length}) exceeds dimension size "
                           f"({n}).")
    return Narrow.apply(input, dim=d, start=start, length=length)


# == repetition and reordering of elements =======================================================

class Repeat(Function):
    def forward(self, x, repeats):
        self.in_shape, self.repeats = x.shape, repeats
        self.shape = shape = (1,) * (len(repeats) - x.ndim) + x.shape
        # One copy, broadcasting x into the output seen as (r0, s0, r1, s1, ...), instead of
        # np.tile's copy per dim.
        out = np.empty(tuple(r * s for r, s in zip(repeats, shape)), x.dtype)
        out.reshape(tuple(v for r, s in zip(repeats, shape) for v in (r, s)))[...] = \
            x.reshape(tuple(v for s in shape for v in (1, s)))
        return out

    def backward(self, g):
        spread = tuple(v for r, s in zip(self.repeats, self.shape) for v in (r, s))
        total = g.reshape(spread).sum(dim=tuple(range(0, len(spread), 2)))
        return _reshape(total, self.in_shape)


def repeat(input, *sizes):
    """The tensor repeated ``sizes[i]`` times along each dim (new leading dims allowed)."""
    sizes = _ints(_shape_args(sizes), "repeat", "repeats")
    if len(sizes) < input._data.ndim:
        raise RuntimeError("repeat(): Number of dimensions of repeat dims can not be smaller "
                           "than number of dimensions of tensor")
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"repeat: repeats must be non-negative, got {list(sizes)}")
    return Repeat.apply(input, repeats=sizes)


def tile(input, *dims_args, dims=None):
    """:func:`repeat`, where fewer ``dims`` than the tensor has are padded with leading 1s."""
    dims = _ints(_shape_args(dims_args) if dims is None else dims, "tile", "dims")
    return repeat(input, (1,) * (input._data.ndim - len(dims)) + dims)


class Flip(Function):
    def forward(self, x, dims):
        self.dims = dims
        return np.flip(x, dims).copy()

    def backward(self, g):
        return Flip.apply(g, dims=self.dims)


def flip(input, *dims_args, dims=None):
    """A copy with the order of elements reversed along ``dims``."""
    if dims is None:
        dims = _shape_args(dims_args)
    n = check_tensor(input, "flip")._data.ndim
    wrapped = tuple(wrap_dim(d, n, "flip") for d in _ints(dims, "flip", "dims"))
    if len(set(wrapped)) != len(wrapped):
        raise RuntimeError(f"flip: dim {wrapped[0]} appears multiple times in the list of dims")
    return Flip.apply(input, dims=wrapped if n else ())


class Roll(Function):
    def forward(self, x, shifts, dims):
        self.shifts, self.dims = shifts, dims
        if dims is None:
            return np.roll(x.reshape(-1), shifts).reshape(x.shape)
        return np.roll(x, shifts, dims)

    def backward(self, g):
        return Roll.apply(g, shifts=tuple(-s for s in self.shifts), dims=self.dims)


def roll(input, shifts, dims=None):
    """Elements shifted cyclically by ``shifts`` along ``dims`` (of the flattened tensor when
    dims is None)."""
    shifts = _ints(shifts, "roll", "shifts")
    n = check_tensor(input, "roll")._data.ndim
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, "
                               f"dims:0")
        return Roll.apply(input, shifts=shifts, dims=None)
    dims = _ints(dims, "roll", "dims")
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims:"
                           f"{len(dims)}")
    dims = tuple(wrap_dim(d, n, "roll") for d in dims)
    if n == 0:
        return Roll.apply(input, shifts=shifts, dims=None)
    return Roll.apply(input, shifts=shifts, dims=dims)


# == padding =====================================================================================

class ConstantPad(Function):
    """Pads (or, with negative widths, crops) every dim by ``widths[d] = (before, after)``."""

    def forward(self, x, widths, value):
        self.widths = widths
        out = np.full(tuple(s + lo + hi for s, (lo, hi) in zip(x.shape, widths)), value, x.dtype)
        src, dst = [], []
        for s, (lo, hi) in zip(x.shape, widths):
            first = max(-lo, 0)
            size = max(s - first - max(-hi, 0), 0)
            src.append(slice(first, first + size))
            dst.append(slice(max(lo, 0), max(lo, 0) + size))
        out[tuple(dst)] = x[tuple(src)]
        return out

    def backward(self, g):
        return ConstantPad.apply(g, widths=tuple((-lo, -hi) for lo, hi in self.widths), value=0)


class _DimPad:
    """How one dim is padded by copying input positions: the untouched middle is one slice
    copy, and only the few edge positions are gathered (and scattered back in backward)."""

    def __init__(self, dim, n, lo, hi, index):
        self.dim, self.n = dim, n
        self.start = max(-lo, 0)                          # first input position kept
        self.before = max(lo, 0)                          # output position of that input
        self.kept = max(n - self.start - max(-hi, 0), 0)  # length of the middle
        self.size = len(index)
        self.edges = np.r_[0:self.before, self.before + self.kept:self.size]
        self.sources = index[self.edges]

    def gather(self, x):
        lead = (slice(None),) * self.dim
        out = np.empty(x.shape[:self.dim] + (self.size,) + x.shape[self.dim + 1:], x.dtype)
        out[lead + (slice(self.before, self.before + self.kept),)] = \
            x[lead + (slice(self.start, self.start + self.kept),)]
        if self.edges.size:
            out[lead + (self.edges,)] = x[lead + (self.sources,)]
        return out

    def scatter(self, g):
        lead = (slice(None),) * self.dim
        out = np.zeros(g.shape[:self.dim] + (self.n,) + g.shape[self.dim + 1:], g.dtype)
        out[lead + (slice(self.start, self.start + self.kept),)] = \
            g[lead + (slice(self.before, self.before + self.kept),)]
        # A position copied more than once receives every copy's gradient.
        if self.edges.size > 16:
            np.add.at(out, lead + (self.sources,), g[lead + (self.edges,)])
        else:  # a few slice additions beat np.add.at
            for p, source in zip(self.edges.tolist(), self.sources.tolist()):
                out[lead + (source,)] += g[lead + (p,)]
        return out


class IndexPad(Function):
    """Pads the last dims by copying input positions (reflect, replicate, circular)."""

    def forward(self, x, dims):
        self.dims = dims
        for d in dims:
            x = d.gather(x)
        return x

    def backward(self, g):
        return IndexPadBackward.apply(g, dims=self.dims)


class IndexPadBackward(Function):
    """Sums the gradient of every padded position into the input position it came from."""

    def forward(self, g, dims):
        self.dims = dims
        for d in reversed(dims):
            g = d.scatter(g)
        return g

    def backward(self, gg):
        return IndexPad.apply(gg, dims=self.dims)


def _pad_index(mode, n, lo, hi, dim, shape):
    """The input position that each output position along one dim copies."""
    if mode == "circular":
        # PyTorch crops the negative widths first, then wraps around what is left.
        start = max(-lo, 0)
        kept = n - start - max(-hi, 0)
        before, after = max(lo, 0), max(hi, 0)
        if before > kept or after > kept:
            raise RuntimeError("pad: Padding value causes wrapping around more than once.")
        return start + np.arange(-before, kept + after) % kept
    positions = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(positions, 0, n - 1)
    if lo >= n or hi >= n:
        raise RuntimeError(f"pad: Argument #4: Padding size should be less than the "
                           f"corresponding input dimension, but got: padding ({lo}, {hi}) at "
                           f"dimension {dim} of input {list(shape)}")
    positions = np.abs(positions)
    return np.where(positions >= n, 2 * (n - 1) - positions, positions)


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims, last dim first: ``pad = (left, right, top,
    bottom, ...)``; negative widths crop.

    Args:
        mode: ``'constant'`` (fill with ``value``, 0 by default), ``'reflect'`` (mirror without
            the edge), ``'replicate'`` (repeat the edge) or ``'circular'`` (wrap around).
    """
    shape = check_tensor(input, "pad")._data.shape
    pad = _ints(pad, "pad", "pad")
    if len(pad) % 2:
        raise RuntimeError("pad: Padding length must be divisible by 2")
    k = len(pad) // 2
    ndim = len(shape)
    if k > ndim:
        raise RuntimeError(f"pad: Padding length should be less than or equal to two times the "
                           f"input dimension but got padding length {len(pad)} and input of "
                           f"dimension {ndim}")
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: Unrecognised padding mode {mode!r} (expected one of "
                                  f"{', '.join(_PAD_MODES)})")
    widths = [(0, 0)] * (ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in range(k - 1, -1, -1)]
    for d, (s, (lo, hi)) in enumerate(zip(shape, widths)):
        if s + lo + hi < 0:
            raise RuntimeError(f"pad: dimension {d} of size {s} padded by ({lo}, {hi}) would "
                               f"have negative size {s + lo + hi}")
    if mode == "constant":
        return ConstantPad.apply(input, widths=tuple(widths), value=0 if value is None else value)
    if value is not None:
        raise RuntimeError(f'pad: Padding mode "{mode}" doesn\'t take in value argument')
    if not 1 <= k <= 3 or ndim not in (k + 1, k + 2):
        raise NotImplementedError(f"pad: Padding size {len(pad)} is not supported for {ndim}D "
                                  f"input tensor; non-constant padding supports padding size 2 "
                                  f"for 2D or 3D input, 4 for 3D or 4D input, 6 for 4D or 5D "
                                  f"input")
    dims = tuple(_DimPad(d, shape[d], lo, hi, _pad_index(mode, shape[d], lo, hi, d, shape))
                 for d, (lo, hi) in enumerate(widths) if d >= ndim - k)
    return IndexPad.apply(input, dims=dims)


# == sliding windows (Tensor.unfold) =============================================================

def _window_view(x, dim, size, step, writeable):
    """The windows of ``size`` every ``step`` along ``dim`` as a strided view of ``x``: dim
    holds the window index, a new last dim the position in the window."""
    count = (x.shape[dim] - size) // step + 1
    stride = x.strides[dim]
    shape = x.shape[:dim] + (count,) + x.shape[dim + 1:] + (size,)
    strides = x.strides[:dim] + (step * stride,) + x.strides[dim + 1:] + (stride,)
    return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=writeable)


class TensorUnfold(Function):
    """Sliding windows along one dim, a view of the input. Overlapping windows (step < size)
    are read-only: a write would land in several windows at once."""

    is_view = True

    def forward(self, x, dim, size, step):
        self.in_shape, self.params = x.shape, (dim, size, step)
        if x.ndim == 0:  # a 0-d tensor unfolds as one of a single element
            return x.reshape(1)[:size]
        return _window_view(x, dim, size, step, step >= size and x.flags.writeable)

    def backward(self, g):
        return TensorFold.apply(g, in_shape=self.in_shape, params=self.params)


class TensorFold(Function):
    """The adjoint of ``TensorUnfold``: windows added back where they came from."""

    def forward(self, g, in_shape, params):
        self.in_shape, self.params = in_shape, params
        if not in_shape:
            return g.reshape(()) if g.size else np.zeros((), g.dtype)
        dim, size, step = params
        out = np.zeros(in_shape, g.dtype)
        view = _window_view(out, dim, size, step, True)
        if step >= size:  # windows do not overlap: one copy
            view[...] = g
        elif size <= view.shape[dim]:
            # Position k of every window is a distinct element: one add per position.
            for k in range(size):
                view[..., k] += g[..., k]
        else:
            # Within one window every element is distinct: one add per window.
            index = (slice(None),) * dim
            for j in range(view.shape[dim]):
                view[index + (j,)] += g[index + (j,)]
        return out

    def backward(self, gg):
        dim, size, step = self.params
        return TensorUnfold.apply(gg, dim=dim, size=size, step=step)


def _tensor_unfold(input, dimension, size, step):
    """``Tensor.unfold``: every slice of ``size`` elements along ``dimension``, ``step`` apart,
    as a view with a new last dim of ``size``."""
    shape = check_tensor(input, "unfold")._data.shape
    dim = wrap_dim(dimension, len(shape), "unfold")
    size, step = operator.index(size), operator.index(step)
    length = shape[dim] if shape else 1
    if size < 0:
        raise RuntimeError(f"unfold: size is {size} but must be >= 0")
    if size > length:
        raise RuntimeError(f"unfold: maximum size for tensor at dimension {dim} is {length} but "
                           f"size is {size}")
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    return TensorUnfold.apply(input, dim=dim, size=size, step=step)
