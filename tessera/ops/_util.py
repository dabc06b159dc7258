"""Helpers shared by the operator families: operand conversion, promotion, dims."""

import numbers

import numpy as np

from .._tensor import Tensor
from ..autograd.function import _make_tensor
from ..backend import dtypes

__all__ = ["as_tensor_arg", "promote_operands", "wrap_dim", "wrap_dims", "check_tensor",
           "broadcast_shapes", "make_tensor"]

make_tensor = _make_tensor
_BY_NUMPY = dtypes._BY_NUMPY


def check_tensor(x, op, name="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be a Tensor, not {type(x).__name__}")
    return x


def as_tensor_arg(x, op, dtype=None):
    """A Tensor for ``x``: Tensors pass through; numbers, lists and arrays are converted."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (numbers.Number, np.ndarray, np.generic, list, tuple)):
        from .creation import tensor
        return tensor(x, dtype=dtype)
    raise TypeError(f"{op}(): expected a Tensor or a number, got {type(x).__name__}")


def promote_operands(op, *operands):
    """Tensors of one common dtype (PyTorch's promotion) for Tensors and Python numbers."""
    if len(operands) == 2:  # the hot case, checked without generators
        a, b = operands
        if isinstance(a, Tensor) and isinstance(b, Tensor) and a._data.dtype == b._data.dtype:
            return operands
    elif all(isinstance(x, Tensor) for x in operands):
        dt = operands[0]._data.dtype
        if all(x._data.dtype == dt for x in operands):
            return operands
    converted = []
    for x in operands:
        if isinstance(x, np.ndarray):
            x = _make_tensor(x)
        elif not isinstance(x, (Tensor, numbers.Number, np.generic)):
            raise TypeError(f"{op}(): expected Tensors or numbers, got {type(x).__name__}")
        converted.append(x)
    target = dtypes.result_type(*converted)
    out = []
    for x in converted:
        if isinstance(x, Tensor):
            out.append(x if x._data.dtype == target.np_dtype else cast(x, target))
        else:
            out.append(_make_tensor(np.asarray(x, dtype=target.np_dtype)))
    return tuple(out)


def cast(x, dtype):
    from .elementwise import cast as _cast
    return _cast(x, dtype)


def wrap_dim(dim, ndim, op="operation"):
    n = ndim if ndim > 0 else 1
    if isinstance(dim, Tensor):
        dim = int(dim.item())
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim


def wrap_dims(dims, ndim, op="operation"):
    """A sorted tuple of non-negative dims; None means all dims."""
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, (int, np.integer)):
        dims = (dims,)
    out = tuple(sorted({wrap_dim(d, ndim, op) for d in dims}))
    if len(out) != len(dims):
        raise RuntimeError(f"{op}: dim appears multiple times in the list of dims")
    return out


def broadcast_shapes(op, *shapes):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise RuntimeError(_broadcast_message(op, shapes)) from None


def _broadcast_message(op, shapes):
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    for i in range(ndim):
        sizes = {p[i] for p in padded} - {1}
        if len(sizes) > 1:
            return (f"{op}: The size of tensor a ({padded[0][i]}) must match the size of tensor "
                    f"b ({padded[1][i]}) at non-singleton dimension {i} (shapes "
                    + " and ".join(str(tuple(s)) for s in shapes) + ")")
    return f"{op}: shapes {shapes} cannot be broadcast together"
