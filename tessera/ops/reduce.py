"""Reductions: sums, means, statistics, extremes, scans, norms, and softmax.

Names here shadow Python builtins (``sum``, ``max``, ``min``, ``all``, ``any``); this
module reaches the builtins through ``builtins.`` where it needs them.
"""

import builtins
import collections
import math
import warnings

import numpy as np

from .._tensor import Tensor
from ..autograd.function import Function, _make_tensor, unrecorded_backward
from ..backend import dtypes
from ._util import check_tensor, make_tensor, wrap_dim, wrap_dims
from .elementwise import abs, cast, exp, maximum, minimum, sign, where

__all__ = ["sum", "mean", "var", "std", "var_mean", "std_mean", "max", "min", "amax", "amin",
           "argmax", "argmin", "prod", "logsumexp", "cumsum", "cumprod", "all", "any", "median",
           "count_nonzero", "softmax", "log_softmax", "norm"]

# The (values, indices) results of max, min and median with a dim, as torch.return_types.
_max_result = collections.namedtuple("max", ["values", "indices"])
_min_result = collections.namedtuple("min", ["values", "indices"])
_median_result = collections.namedtuple("median", ["values", "indices"])


# == shared helpers ==============================================================================

_ALL_DIMS = [tuple(range(n)) for n in range(65)]


def _dims(input, dim, op):
    """The reduced dims as a sorted tuple: None or an empty list means every dim (PyTorch)."""
    ndim = input._data.ndim
    if dim is None or (type(dim) in (tuple, list) and not dim):
        return _ALL_DIMS[ndim]
    if type(dim) is int and -ndim <= dim < ndim:  # the common case, without wrap_dims
        return (dim + ndim if dim < 0 else dim,)
    if ndim == 0:
        wrap_dims(dim, 0, op)  # a 0-d tensor accepts dim 0 or -1 and reduces nothing
        return ()
    return wrap_dims(dim, ndim, op)


def _kept_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _expand_grad(g, shape, dims, keepdim):
    """Broadcast a reduced gradient back over the reduced dims (a read-only view)."""
    if unrecorded_backward():      # on the array, no dispatch
        return _make_tensor(np.broadcast_to(_keep(g._data, shape, dims, keepdim), shape))
    if not keepdim and dims and g._data.ndim:
        g = g.reshape(_kept_shape(shape, dims))
    return g.expand(shape)


def _keep(a, shape, dims, keepdim):
    """A reduced array with its reduced dims kept (size 1), to broadcast against the input."""
    return a if keepdim else a.reshape(_kept_shape(shape, dims))


def _check_nonempty(x, dims, op, full):
    """max, min and friends have no identity: a reduction over no elements is an error."""
    if x.size:
        return
    if full:
        raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == "
                           f"0. Specify the reduction dim with the 'dim' argument.")
    for d in dims:
        if x.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


# == sum and mean ================================================================================

class Sum(Function):
    def forward(self, x, dims, keepdim, dtype):
        self.shape, self.dims, self.keepdim = x.shape, dims, keepdim
        return x.sum(axis=dims, keepdims=keepdim, dtype=dtype)

    def backward(self, g):
        return _expand_grad(g, self.shape, self.dims, self.keepdim)


def sum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over ``dim`` (an int, a tuple, or None for every dim); integers sum in int64."""
    dims = _dims(check_tensor(input, "sum"), dim, "sum")
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
        self.count = math.prod(x.shape[d] for d in dims)
        if self.count == 0:  # the mean of nothing is nan, as in PyTorch, without a warning
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return x.mean(axis=dims, keepdims=keepdim)
        return x.mean(axis=dims, keepdims=keepdim)

    def backward(self, g):
        return _expand_grad(g / builtins.max(self.count, 1), self.shape, self.dims, self.keepdim)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    """Mean over ``dim``; the input (or ``dtype``) must be floating point."""
    if dtype is not None:
        input = cast(input, dtypes.as_dtype(dtype))
    if not check_tensor(input, "mean").is_floating_point():
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {input.dtype}")
    return Mean.apply(input, dims=_dims(input, dim, "mean"), keepdim=keepdim)


# == variance and standard deviation =============================================================

class Var(Function):
    keeps_inputs = True

    def forward(self, x, dims, correction, keepdim):
        self.shape, self.dims, self.keepdim = x.shape, dims, keepdim
        self.divisor = builtins.max(math.prod(x.shape[d] for d in dims) - correction, 0)
        if self.divisor > 0 and x.ndim:
            centered = x - x.mean(axis=dims, keepdims=True)
            np.multiply(centered, centered, out=centered)
            return centered.sum(axis=dims, keepdims=keepdim) / self.divisor
        if self.divisor > 0:
            return np.var(x, axis=dims, ddof=correction, keepdims=keepdim)
        warnings.warn("var(): degrees of freedom is <= 0. Correction should be strictly less "
                      "than the reduction factor (input numel divided by output numel).",
                      RuntimeWarning, stacklevel=4)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.var(x, axis=dims, ddof=correction, keepdims=keepdim)

    def backward(self, g):
        (x,) = self.saved_inputs
        scale = 2.0 / self.divisor if self.divisor > 0 else math.inf
        centered = x - mean(x, self.dims, keepdim=True)
        return _expand_grad(g, self.shape, self.dims, self.keepdim) * centered * scale


def _correction(op, dim, unbiased, correction):
    if isinstance(dim, bool):  # var(x, False): the old positional ``unbiased``
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise RuntimeError(f"{op}(): cannot specify both 'unbiased' and 'correction'")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return dim, correction


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over ``dim`` with ``correction`` (1: Bessel's, the default; 0: biased).

    The older ``unbiased=True/False`` keyword is accepted as ``correction=1/0``.
    """
    dim, correction = _correction("var", dim, unbiased, correction)
    if not check_tensor(input, "var").is_floating_point():
        raise RuntimeError(f"var(): std and var only support floating point and complex dtypes, "
                           f"got {input.dtype}")
    return Var.apply(input, dims=_dims(input, dim, "var"), correction=correction,
                     keepdim=keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation: ``sqrt(var(...))`` with the same arguments."""
    dim, correction = _correction("std", dim, unbiased, correction)
    if not check_tensor(input, "std").is_floating_point():
        raise RuntimeError(f"std(): std and var only support floating point and complex dtypes, "
                           f"got {input.dtype}")
    v = Var.apply(input, dims=_dims(input, dim, "std"), correction=correction, keepdim=keepdim)
    return v.sqrt()


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(var(input, ...), mean(input, ...))`` in one call."""
    dim, correction = _correction("var_mean", dim, unbiased, correction)
    return (var(input, dim, keepdim=keepdim, correction=correction),
            mean(input, dim, keepdim=keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(std(input, ...), mean(input, ...))`` in one call."""
    dim, correction = _correction("std_mean", dim, unbiased, correction)
    return (std(input, dim, keepdim=keepdim, correction=correction),
            mean(input, dim, keepdim=keepdim))


# == extremes ====================================================================================

class _EvenSplit(Function):
    """A reduction to a value of the input (amax, amin, median): its gradient is split evenly
    among the elements equal to the result, as PyTorch does."""

    keeps_inputs = True
    nan_hits = False  # whether a nan result sends its gradient to the nan inputs

    def backward(self, g):
        (x,) = self.saved_inputs
        out = _keep(self.out, self.shape, self.dims, self.keepdim)
        hits = x._data == out
        if self.nan_hits and x._data.dtype.kind == "f" and np.isnan(self.out).any():
            hits |= np.isnan(x._data) & np.isnan(out)
        count = hits.sum(axis=self.dims, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):  # nan results match nothing
            share = (hits / count).astype(g._data.dtype, copy=False)
        return _expand_grad(g, self.shape, self.dims, self.keepdim) * make_tensor(share)


class Amax(_EvenSplit):
    def forward(self, x, dims, keepdim):
        self.shape, self.dims, self.keepdim = x.shape, dims, keepdim
        self.out = x.max(axis=dims, keepdims=keepdim)
        return self.out


class Amin(_EvenSplit):
    def forward(self, x, dims, keepdim):
        self.shape, self.dims, self.keepdim = x.shape, dims, keepdim
        self.out = x.min(axis=dims, keepdims=keepdim)
        return self.out


class MaxAll(Amax):
    """``max(input)``: like amax, but a nan maximum takes its gradient to the nan inputs."""

    nan_hits = True


class MinAll(Amin):
    nan_hits = True


class MedianAll(_EvenSplit):
    nan_hits = True

    def forward(self, x):
        self.shape, self.dims, self.keepdim = x.shape, tuple(range(x.ndim)), False
        flat = x.reshape(-1)
        if flat.size == 0:
            self.out = np.array(np.nan, x.dtype)
        elif x.dtype.kind == "f" and np.isnan(flat).any():
            self.out = np.array(np.nan, x.dtype)
        else:
            k = (flat.size - 1) // 2  # the lower median, as PyTorch
            self.out = np.partition(flat, k)[k].reshape(())
        return self.out


def _extreme(cls, input, dim, keepdim, op):
    dims = _dims(check_tensor(input, op), dim, op)
    _check_nonempty(input._data, dims, op, dim is None)
    return cls.apply(input, dims=dims, keepdim=keepdim)


def amax(input, dim=(), keepdim=False):
    """Maximum over ``dim`` (all dims by default); ties share the gradient evenly."""
    return _extreme(Amax, input, dim, keepdim, "amax")


def amin(input, dim=(), keepdim=False):
    """Minimum over ``dim`` (all dims by default); ties share the gradient evenly."""
    return _extreme(Amin, input, dim, keepdim, "amin")


class TakeAlongDim(Function):
    """The values at ``index`` (keepdim-shaped, or without ``dim``) along ``dim``; the gradient
    goes back there."""

    def forward(self, x, index, dim, keepdim):
        if index.ndim < x.ndim:  # indices without the reduced dim (as max(dim) returns them)
            index = np.expand_dims(index, dim)
        self.index, self.dim, self.keepdim, self.shape = index, dim, keepdim, x.shape
        out = np.take_along_axis(x, index, axis=dim)
        return out if keepdim else out.squeeze(dim)

    def backward(self, g):
        return PutAlongDim.apply(g, index=self.index, dim=self.dim, keepdim=self.keepdim,
                                 shape=self.shape)


class PutAlongDim(Function):
    """Zeros of ``shape`` holding ``g`` at ``index`` along ``dim`` (TakeAlongDim's backward)."""

    def forward(self, g, index, dim, keepdim, shape):
        self.index, self.dim, self.keepdim = index, dim, keepdim
        out = np.zeros(shape, g.dtype)
        np.put_along_axis(out, index, g if keepdim else np.expand_dims(g, dim), axis=dim)
        return out

    def backward(self, gg):
        return TakeAlongDim.apply(gg, index=self.index, dim=self.dim, keepdim=self.keepdim)


def _select_along(input, dim, keepdim, op, result, pick):
    """(values, indices) of the element the Function ``pick`` selects along ``dim``."""
    check_tensor(input, op)
    x = input._data
    if x.ndim == 0:
        wrap_dim(dim, 0, op)
        return _select_along(input.reshape(1), 0, False, op, result, pick)
    d = wrap_dim(dim, x.ndim, op)
    _check_nonempty(x, (d,), op, False)
    index = pick.apply(input, dim=d, keepdim=keepdim)
    return result(TakeAlongDim.apply(input, index=index._data, dim=d, keepdim=keepdim), index)


class ArgMax(Function):
    """Indices (int64) of the largest values along ``dim`` (of the flattened input when dim
    is None); no gradient."""

    def forward(self, x, dim, keepdim):
        return _arg_forward(np.argmax, x, dim, keepdim)


class ArgMin(Function):
    """Indices (int64) of the smallest values, as :class:`ArgMax`."""

    def forward(self, x, dim, keepdim):
        return _arg_forward(np.argmin, x, dim, keepdim)


def _arg_forward(fn, x, dim, keepdim):
    if dim is None:
        out = np.asarray(fn(x), dtype=np.int64)
        return out.reshape((1,) * x.ndim) if keepdim else out
    if x.ndim == 0:
        return np.zeros((), np.int64)
    return fn(x, axis=dim, keepdims=keepdim).astype(np.int64, copy=False)


def max(input, dim=None, keepdim=False, *, other=None):
    """``max(input)``: the largest value; ``max(input, dim)``: (values, indices) along dim;
    ``max(input, other)`` with a Tensor: the elementwise :func:`maximum`."""
    if other is not None or isinstance(dim, Tensor):
        return maximum(input, dim if other is None else other)
    if dim is None:
        return _extreme(MaxAll, input, None, False, "max")
    return _select_along(input, dim, keepdim, "max", _max_result, ArgMax)


def min(input, dim=None, keepdim=False, *, other=None):
    """``min(input)``: the smallest value; ``min(input, dim)``: (values, indices) along dim;
    ``min(input, other)`` with a Tensor: the elementwise :func:`minimum`."""
    if other is not None or isinstance(dim, Tensor):
        return minimum(input, dim if other is None else other)
    if dim is None:
        return _extreme(MinAll, input, None, False, "min")
    return _select_along(input, dim, keepdim, "min", _min_result, ArgMin)


def _arg_extreme(cls, input, dim, keepdim, op):
    x = check_tensor(input, op)._data
    if dim is None:
        _check_nonempty(x, (), op, True)
        return cls.apply(input, dim=None, keepdim=keepdim)
    if x.ndim == 0:
        wrap_dim(dim, 0, op)
        return cls.apply(input, dim=0, keepdim=False)
    d = wrap_dim(dim, x.ndim, op)
    _check_nonempty(x, (d,), op, False)
    return cls.apply(input, dim=d, keepdim=keepdim)


def argmax(input, dim=None, keepdim=False):
    """Index of the largest value along ``dim`` (of the flattened input when dim is None)."""
    return _arg_extreme(ArgMax, input, dim, keepdim, "argmax")


def argmin(input, dim=None, keepdim=False):
    """Index of the smallest value along ``dim`` (of the flattened input when dim is None)."""
    return _arg_extreme(ArgMin, input, dim, keepdim, "argmin")


class MedianIndex(Function):
    """Indices (int64) of the lower medians along ``dim``; no gradient."""

    def forward(self, x, dim, keepdim):
        index = _median_kept(x, dim).astype(np.int64, copy=False)
        return index if keepdim else index.squeeze(dim)


def _median_kept(x, d):
    k = (x.shape[d] - 1) // 2
    index = np.take(np.argsort(x, axis=d, kind="stable"), [k], axis=d)
    if x.dtype.kind == "f":  # a slice holding nan has nan as its median, at its first nan
        nan = np.isnan(x)
        has_nan = nan.any(axis=d, keepdims=True)
        if has_nan.any():
            index = np.where(has_nan, np.argmax(nan, axis=d, keepdims=True), index)
    return index


def median(input, dim=None, keepdim=False):
    """``median(input)``: the lower median of all values (nan if any is nan);
    ``median(input, dim)``: (values, indices) of the lower median along dim."""
    if dim is None:
        return MedianAll.apply(check_tensor(input, "median"))
    return _select_along(input, dim, keepdim, "median", _median_result, MedianIndex)


# == products and scans ==========================================================================

def _accumulation(input, dtype):
    """The input and the numpy dtype of a product or scan: integers accumulate in int64."""
    dt = dtypes.as_dtype(dtype)
    if dt is None:
        return input, (np.int64 if input._data.dtype.kind in "biu" else None)
    if dt.is_floating_point or input.is_floating_point():
        return cast(input, dt), None
    return input, dt.np_dtype


class Prod(Function):
    keeps_inputs = True
    keeps_outputs = True

    def forward(self, x, dims, keepdim, dtype):
        self.shape, self.dims, self.keepdim = x.shape, dims, keepdim
        return x.prod(axis=dims, keepdims=keepdim, dtype=dtype)

    def backward(self, g):
        (x,) = self.saved_inputs
        shape, dims, keepdim = self.shape, self.dims, self.keepdim
        g = _expand_grad(g, shape, dims, keepdim)
        if not (x._data == 0).any():
            (out,) = self.saved_outputs
            return g * _expand_grad(out, shape, dims, keepdim) / x
        if not dims:
            return g
        if len(dims) == 1:
            return _prod_grad(x, g, dims[0])
        return _prod_grad(x.reshape(-1), g.reshape(-1), 0).reshape(shape)


def _first_zeros(x, d):
    """Masks along ``d``: each slice's first zero, the slices that have one, and the
    positions from that zero on."""
    zero = x._data == 0
    has = zero.any(axis=d, keepdims=True)
    n = zero.shape[d]
    first = np.where(has, zero.argmax(axis=d, keepdims=True), n)
    position = np.arange(n).reshape((n,) + (1,) * (zero.ndim - d - 1))
    return position == first, has, position >= first


def _prod_grad(x, g, d):
    """``g * d prod(x, d) / dx`` where x may hold zeros, written in tessera ops.

    With z = x whose first zero x_k (per slice) is replaced by 1, prod(x) = x_k * prod(z):
    the gradient is prod(z) at k and x_k * (the gradient of prod(z)) elsewhere. x_k is 0,
    but kept as a factor its derivative is right, so gradients of gradients are too.
    """
    if not (x._data == 0).any():
        return g * Prod.apply(x, dims=(d,), keepdim=True, dtype=None) / x
    at, has, _ = _first_zeros(x, d)
    at_t = make_tensor(at)
    z = where(at_t, 1.0, x)
    x_k = where(make_tensor(has), sum(x * make_tensor(at.astype(x._data.dtype)), d, True), 1.0)
    return where(at_t, g * Prod.apply(z, dims=(d,), keepdim=True, dtype=None),
                 _prod_grad(z, g * x_k, d))


def prod(input, dim=None, keepdim=False, *, dtype=None):
    """Product over ``dim`` (one int) or of every element; integers multiply in int64.

    The gradient is exact where the input has zeros.
    """
    input, acc = _accumulation(check_tensor(input, "prod"), dtype)
    if dim is not None and not isinstance(dim, (int, np.integer)):
        raise TypeError(f"prod(): argument 'dim' must be an int, not {type(dim).__name__}")
    dims = _dims(input, dim, "prod")
    return Prod.apply(input, dims=dims, keepdim=keepdim if dim is not None else False, dtype=acc)


class Cumsum(Function):
    def forward(self, x, dim, dtype):
        self.dim = dim
        return np.cumsum(x, axis=dim, dtype=dtype)

    def backward(self, g):
        return _ReverseCumsum.apply(g, dim=self.dim)


class _ReverseCumsum(Function):
    """Sums from the end along ``dim``: the backward of cumsum, and cumsum is its backward."""

    def forward(self, x, dim):
        self.dim = dim
        return np.flip(np.cumsum(np.flip(x, dim), axis=dim), dim)

    def backward(self, g):
        return Cumsum.apply(g, dim=self.dim, dtype=None)


def _scan_dim(input, dim, op):
    if input._data.ndim == 0:
        wrap_dim(dim, 0, op)
        return None
    return wrap_dim(dim, input._data.ndim, op)


def cumsum(input, dim, *, dtype=None):
    """Running sum along ``dim``; integers accumulate in int64."""
    input, acc = _accumulation(check_tensor(input, "cumsum"), dtype)
    d = _scan_dim(input, dim, "cumsum")
    if d is None:
        return cumsum(input.reshape(1), 0, dtype=acc).reshape(())
    return Cumsum.apply(input, dim=d, dtype=acc)


class Cumprod(Function):
    keeps_inputs = True
    keeps_outputs = True

    def forward(self, x, dim, dtype):
        self.dim = dim
        return np.cumprod(x, axis=dim, dtype=dtype)

    def backward(self, g):
        (x,) = self.saved_inputs
        (out,) = self.saved_outputs
        return _cumprod_grad(x, out, g, self.dim)


def _cumprod_grad(x, out, g, d):
    """The gradient of ``out = cumprod(x, d)`` for ``g``, where x may hold zeros.

    With z = x whose first zero x_k (per slice) is replaced by 1, out = cumprod(z) times
    x_k from k on: the gradient is sum_{m>=k} g_m cumprod(z)_m at k, and the gradient of
    cumprod(z) for g * (x_k from k on) elsewhere (see _prod_grad).
    """
    if not (x._data == 0).any():
        return _ReverseCumsum.apply(g * out, dim=d) / x
    at, _, from_k = _first_zeros(x, d)
    at_t, from_k = make_tensor(at), make_tensor(from_k)
    z = where(at_t, 1.0, x)
    cz = cumprod(z, d)
    x_k = sum(x * make_tensor(at.astype(x._data.dtype)), d, True)
    at_grad = sum(where(from_k, g * cz, 0.0), d, True)
    inner = _cumprod_grad(z, cz, g * where(from_k, x_k, 1.0), d)
    return where(at_t, at_grad.expand(x._data.shape), inner)


def cumprod(input, dim, *, dtype=None):
    """Running product along ``dim``; integers accumulate in int64."""
    input, acc = _accumulation(check_tensor(input, "cumprod"), dtype)
    d = _scan_dim(input, dim, "cumprod")
    if d is None:
        return cumprod(input.reshape(1), 0, dtype=acc).reshape(())
    return Cumprod.apply(input, dim=d, dtype=acc)


# == logsumexp and norms =========================================================================

class Logsumexp(Function):
    keeps_inputs = True
    keeps_outputs = True

    def forward(self, x, dims, keepdim):
        self.shape, self.dims, self.keepdim = x.shape, dims, keepdim
        m = x.max(axis=dims, keepdims=True, initial=-np.inf)
        m[~np.isfinite(m)] = 0  # an all -inf slice gives -inf, not nan
        shifted = x - m
        out = np.log(np.exp(shifted, out=shifted).sum(axis=dims, keepdims=True))
        out += m
        return out if keepdim else out.squeeze(axis=dims)

    def backward(self, g):
        (x,) = self.saved_inputs
        (out,) = self.saved_outputs
        shape, dims, keepdim = self.shape, self.dims, self.keepdim
        return _expand_grad(g, shape, dims, keepdim) * exp(x - _expand_grad(out, shape, dims,
                                                                              keepdim))


def logsumexp(input, dim, keepdim=False):
    """``log(sum(exp(input), dim))``, computed stably; integers give the default float."""
    if not check_tensor(input, "logsumexp").is_floating_point():
        input = cast(input, dtypes.get_default_dtype())
    dims = _dims(input, dim, "logsumexp")
    if not input._data.ndim:
        return Logsumexp.apply(input.reshape(1), dims=(0,), keepdim=False)
    with np.errstate(divide="ignore"):  # log(0) of an empty or all -inf slice is -inf
        return Logsumexp.apply(input, dims=dims, keepdim=keepdim)


class VectorNorm(Function):
    """``sum(|x|**p) ** (1/p)`` over ``dims`` for finite p (p = 0 counts nonzeros)."""

    keeps_inputs = True
    keeps_outputs = True

    def forward(self, x, p, dims, keepdim):
        self.p, self.shape, self.dims, self.keepdim = p, x.shape, dims, keepdim
        if p == 2:
            out = np.sqrt(np.square(x).sum(axis=dims, keepdims=keepdim))
        elif p == 1:
            out = np.abs(x).sum(axis=dims, keepdims=keepdim)
        elif p == 0:
            out = (x != 0).sum(axis=dims, keepdims=keepdim, dtype=x.dtype)
        else:
            out = (np.abs(x) ** p).sum(axis=dims, keepdims=keepdim) ** (1.0 / p)
        return out

    def backward(self, g):
        (x,) = self.saved_inputs
        p, shape, dims, keepdim = self.p, self.shape, self.dims, self.keepdim
        if p == 0:  # a count: no gradient, as in PyTorch
            return None
        if p == 1:
            return _expand_grad(g, shape, dims, keepdim) * sign(x)
        (n,) = self.saved_outputs
        # PyTorch's rule: a zero norm gives a zero gradient (not nan).
        zero = make_tensor(n._data == 0)
        safe = where(zero, 1.0, n)
        scale = where(zero, 0.0, g / (safe if p == 2 else safe ** (p - 1)))
        scale = _expand_grad(scale, shape, dims, keepdim)
        if p == 2:
            return scale * x
        if p >= 2:
            return scale * x * abs(x) ** (p - 2)
        if p >= 1:
            return scale * sign(x) * abs(x) ** (p - 1)
        x_zero = make_tensor(x._data == 0)
        return scale * sign(x) * where(x_zero, 0.0, where(x_zero, 1.0, abs(x)) ** (p - 1))


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """The vector p-norm over ``dim`` (all dims by default), as ``torch.norm``.

    ``p`` is a number (2, 1, 0, inf, -inf or any other) or ``'fro'`` (the 2-norm).
    """
    if out is not None:
        raise TypeError("norm(): the 'out' argument is not supported by tessera")
    check_tensor(input, "norm")
    if dtype is not None:
        input = cast(input, dtypes.as_dtype(dtype))
    if not input.is_floating_point():
        raise RuntimeError(f"norm(): Expected a floating point tensor as input. Got "
                           f"{input.dtype}")
    if isinstance(p, str):
        if p != "fro":
            raise NotImplementedError(f"norm(): matrix norm p={p!r} is not supported by tessera; "
                                      f"use p='fro' or a number")
        if dim is not None and not isinstance(dim, int) and len(dim) > 2:
            raise RuntimeError(f"norm(): the Frobenius norm needs at most 2 dims, got "
                               f"{list(dim)}")
        p = 2
    elif p is None:
        p = 2
    dims = _dims(input, dim, "norm")
    if p == math.inf or p == -math.inf:
        _check_nonempty(input._data, dims, "norm", dim is None)
        return (Amax if p > 0 else Amin).apply(abs(input), dims=dims, keepdim=keepdim)
    return VectorNorm.apply(input, p=float(p), dims=dims, keepdim=keepdim)


# == logical reductions and counts ===============================================================

class All(Function):
    """True where every element along ``dims`` is nonzero (uint8 input gives uint8)."""

    def forward(self, x, dims, keepdim):
        return _logical_forward(np.all, x, dims, keepdim)


class Any(Function):
    """True where some element along ``dims`` is nonzero (uint8 input gives uint8)."""

    def forward(self, x, dims, keepdim):
        return _logical_forward(np.any, x, dims, keepdim)


def _logical_forward(fn, x, dims, keepdim):
    out = np.asarray(fn(x, axis=dims, keepdims=keepdim))
    return out.astype(np.uint8) if x.dtype == np.uint8 else out


def _logical(cls, input, dim, keepdim, op):
    check_tensor(input, op)
    if dim is None:
        dims = None
    elif type(dim) in (tuple, list) and not dim:
        dims = ()  # unlike sum, an empty dim list reduces nothing
    else:
        dims = _dims(input, dim, op)
    return cls.apply(input, dims=dims, keepdim=keepdim)


def all(input, dim=None, keepdim=False):
    """True where every element along ``dim`` is nonzero (uint8 input gives uint8)."""
    return _logical(All, input, dim, keepdim, "all")


def any(input, dim=None, keepdim=False):
    """True where some element along ``dim`` is nonzero (uint8 input gives uint8)."""
    return _logical(Any, input, dim, keepdim, "any")


class CountNonzero(Function):
    def forward(self, x, dims):
        return np.asarray(np.count_nonzero(x, axis=dims), dtype=np.int64)


def count_nonzero(input, dim=None):
    """The number of nonzero elements along ``dim`` (int64)."""
    check_tensor(input, "count_nonzero")
    return CountNonzero.apply(input, dims=_dims(input, dim, "count_nonzero"))


# == softmax =====================================================================================

def _softmax_axis(input, dim, dtype, op):
    """The (cast) input and the dim of a softmax, checked."""
    check_tensor(input, op)
    if dtype is not None:
        input = cast(input, dtypes.as_dtype(dtype))
    if not input.is_floating_point():
        raise RuntimeError(f"{op}(): expected a floating point input, got {input.dtype}; pass "
                           f"dtype= to compute in a floating point type")
    ndim = input._data.ndim
    if dim is None:
        dim = 0 if ndim in (0, 1, 3) else 1
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call "
                      f"to include dim=X as an argument.", UserWarning, stacklevel=3)
    if type(dim) is not int or not -ndim <= dim < ndim:
        dim = wrap_dim(dim, ndim, op)
    return input, dim


class Softmax(Function):
    keeps_outputs = True

    def forward(self, x, dim):
        self.dim = dim
        if x.size == 0:
            return x.copy()
        y = x - x.max(axis=dim, keepdims=True)
        np.exp(y, out=y)
        y *= 1 / y.sum(axis=dim, keepdims=True)  # one division per slice, not per element
        return y

    def backward(self, g):
        (y,) = self.saved_outputs
        return SoftmaxBackward.apply(g, y, dim=self.dim)


class SoftmaxBackward(Function):
    """``y * (g - sum(g * y))`` in one kernel; its own backward makes double backward work."""

    keeps_inputs = True

    def forward(self, g, y, dim):
        self.dim = dim
        gy = g * y
        gy -= y * gy.sum(axis=dim, keepdims=True)
        return gy

    def backward(self, gg):
        g, y = self.saved_inputs
        d = self.dim
        grad_g = SoftmaxBackward.apply(gg, y, dim=d) if self.next_edges[0] else None
        grad_y = None
        if self.next_edges[1]:
            grad_y = gg * (g - sum(g * y, d, True)) - g * sum(gg * y, d, True)
        return grad_g, grad_y


class LogSoftmax(Function):
    keeps_outputs = True

    def forward(self, x, dim):
        self.dim = dim
        if x.size == 0:
            return x.copy()
        shifted = x - x.max(axis=dim, keepdims=True)
        shifted -= np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        return shifted

    def backward(self, g):
        (out,) = self.saved_outputs
        return LogSoftmaxBackward.apply(g, out, dim=self.dim)


class LogSoftmaxBackward(Function):
    """``g - exp(out) * sum(g)`` in one kernel; its own backward makes double backward work."""

    keeps_inputs = True

    def forward(self, g, out, dim):
        self.dim = dim
        grad = np.exp(out)
        grad *= g.sum(axis=dim, keepdims=True)
        return np.subtract(g, grad, out=grad)

    def backward(self, gg):
        g, out = self.saved_inputs
        d = self.dim
        p = exp(out)
        grad_g = gg - sum(gg * p, d, True) if self.next_edges[0] else None
        grad_out = -(gg * p * sum(g, d, True)) if self.next_edges[1] else None
        return grad_g, grad_out


def _dtype_in_stacklevel(_stacklevel, dtype):
    # torch.softmax(x, dim, dtype) and F.softmax(x, dim, _stacklevel, dtype) share this
    # function: a dtype in the third position is the former.
    if dtype is None and _stacklevel is not None and not isinstance(_stacklevel, int):
        return _stacklevel
    return dtype


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim``, computed stably (after casting to ``dtype``)."""
    dtype = _dtype_in_stacklevel(_stacklevel, dtype)
    input, dim = _softmax_axis(input, dim, dtype, "softmax")
    if not input._data.ndim:
        return Softmax.apply(input.reshape(1), dim=0).reshape(())
    return Softmax.apply(input, dim=dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``log(softmax(x))`` along ``dim``, computed stably (after casting to ``dtype``)."""
    dtype = _dtype_in_stacklevel(_stacklevel, dtype)
    input, dim = _softmax_axis(input, dim, dtype, "log_softmax")
    if not input._data.ndim:
        return LogSoftmax.apply(input.reshape(1), dim=0).reshape(())
    return LogSoftmax.apply(input, dim=dim)
