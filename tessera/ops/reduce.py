"""Reductions: sums, means, extremes, statistics, scans, and softmax."""

import numpy as np

from ..autograd.function import Function
from ..backend import dtypes
from ._util import make_tensor, wrap_dims
from .elementwise import cast

__all__ = ["softmax", "log_softmax", "sum", "mean"]


def _expand_grad(g, shape, dims, keepdim):
    """Broadcast a reduced gradient back over the reduced dims."""
    if not keepdim and dims and g._data.ndim:
        g = g.reshape(tuple(1 if i in dims else s for i, s in enumerate(shape)))
    return g.expand(shape)


class Sum(Function):
    def forward(self, x, dims, keepdim, dtype):
        self.shape, self.dims, self.keepdim = x.shape, dims, keepdim
        return np.sum(x, axis=dims, keepdims=keepdim, dtype=dtype)

    def backward(self, g):
        return _expand_grad(g, self.shape, self.dims, self.keepdim)


def sum(input, dim=None, keepdim=False, *, dtype=None):
    dims = wrap_dims(dim, input._data.ndim, "sum")
    dt = dtypes.as_dtype(dtype)
    if dt is None and input._data.dtype.kind in "biu":
        dt = dtypes.int64  # integer sums accumulate in int64, as in PyTorch
    if dt is not None and dt.np_dtype != input._data.dtype and input.is_floating_point():
        input = cast(input, dt)
        dt = None
    return Sum.apply(input, dims=dims, keepdim=keepdim, dtype=None if dt is None else dt.np_dtype)


class Mean(Function):
    def forward(self, x, dims, keepdim):
        self.shape, self.dims, self.keepdim = x.shape, dims, keepdim
        self.count = int(np.prod([x.shape[d] for d in dims])) if dims else 1
        return np.mean(x, axis=dims, keepdims=keepdim)

    def backward(self, g):
        return _expand_grad(g / self.count, self.shape, self.dims, self.keepdim)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = cast(input, dtypes.as_dtype(dtype))
    if not input.is_floating_point():
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {input.dtype}")
    dims = wrap_dims(dim, input._data.ndim, "mean")
    if input._data.size == 0:
        return make_tensor(np.full(np.sum(input._data, axis=dims, keepdims=keepdim).shape, np.nan,
                                   input._data.dtype))
    return Mean.apply(input, dims=dims, keepdim=keepdim)


def softmax(*args, **kwargs):  # placeholder while this family is being written
    raise NotImplementedError("softmax")


def log_softmax(*args, **kwargs):  # placeholder while this family is being written
    raise NotImplementedError("log_softmax")
