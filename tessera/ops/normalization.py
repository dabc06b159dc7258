"""Normalization: layer, batch, group, instance and RMS norm, and Lp normalization.

Layer, batch (training), group, instance and RMS norm share one fused operator,
:class:`Normalize`: standardize over some axes, then scale and shift by per-feature
parameters. Its backward is written with tessera operations: when no graph is recorded
the statistics of the forward are reused as constants (cheap); when one is
(``create_graph=True``) they are recomputed differentiably, so gradients of gradients work.

Batch norm in training is :class:`BatchNorm`, a ``Normalize`` whose forward also updates
the running statistics, which are its inputs, in place (as PyTorch's native batch_norm):
an operator that declares ``updates_inputs`` (see ``autograd.function.UpdatesInputs``), so that a
compiled replay makes the same update.
"""

import numbers

import numpy as np

from ..autograd import grad_mode
from ..autograd.function import Function, UpdatesInputs, sum_to_shape
from ..backend import jit
from ._util import check_tensor, make_tensor
from .elementwise import clamp, rsqrt
from .reduce import norm as vector_norm
from .shape import pad

__all__ = ["layer_norm", "batch_norm", "group_norm", "instance_norm", "rms_norm", "normalize",
           "local_response_norm"]

_state = grad_mode.state


def _compute_dtype(array):
    """Statistics of half-precision inputs are computed in float32, as PyTorch does."""
    return array.dtype if array.dtype in (np.float32, np.float64) else np.dtype(np.float32)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _contract(a, b, axes):
    """``sum(a * b)`` over ``axes`` with kept dims, without the product as a temporary."""
    letters = _LETTERS[:a.ndim]
    kept = "".join(c for i, c in enumerate(letters) if i not in axes)
    out = np.einsum(f"{letters},{letters}->{kept}", a, b)
    return out.reshape(tuple(1 if i in axes else s for i, s in enumerate(a.shape)))


def _layer_norm_kernels(x, axes, param_shape, weight, bias):
    """The compiled layer norm (``_norm_kernels.py``) when it applies: statistics over the
    last axis of a C-contiguous float32/float64 ``x``, parameters of its shape and dtype."""
    if x.dtype not in (np.float32, np.float64) or not x.flags.c_contiguous or x.ndim == 0 \
            or axes != (x.ndim - 1,) or tuple(param_shape) != x.shape[-1:] or x.shape[-1] == 0:
        return None
    if any(p is not None and (p.dtype != x.dtype or not p.flags.c_contiguous)
           for p in (weight, bias)):
        return None
    return jit.load("tessera.ops._norm_kernels")


def _moments(x, axes, center):
    """Mean (None when not centering), biased variance over ``axes`` (kept dims), and x
    centered (x itself when not centering)."""
    count = 1
    for i in axes:
        count *= x.shape[i]
    mean = x.mean(axis=axes, keepdims=True) if center else None
    xc = x - mean if center else x
    var = _contract(xc, xc, axes)
    var /= max(count, 1)
    return mean, var, xc


class Normalize(Function):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` with statistics over ``axes``.

    ``param_shape`` is the shape weight and bias are viewed as to broadcast against x;
    ``center=False`` gives RMS norm (no mean subtracted); ``stats`` are the precomputed
    ``_moments`` of x, or None to compute them here.
    """

    keeps_inputs = True
    kernels = None   # the compiled layer norm, when the forward took it

    def forward(self, x, weight, bias, axes, eps, param_shape, center=True, stats=None):
        self.axes, self.eps, self.param_shape, self.center = axes, eps, param_shape, center
        if center and stats is None:
            self.kernels = _layer_norm_kernels(x, axes, param_shape, weight, bias)
            if self.kernels is not None:
                return self._forward_compiled(x, weight, bias, eps)
        work = _compute_dtype(x)
        xf = x if x.dtype == work else x.astype(work)
        mean, var, xc = _moments(xf, axes, center) if stats is None else stats
        rstd = 1 / np.sqrt(var + work.type(eps))
        self.mean, self.rstd = mean, rstd
        # The centered copy becomes the output (no other temporary the size of x).
        y = xc if center else xf * rstd
        if center:
            y *= rstd
        if weight is not None:
            y *= weight.reshape(param_shape)
        if bias is not None:
            y += bias.reshape(param_shape)
        return y.astype(x.dtype, copy=False)

    def _forward_compiled(self, x, weight, bias, eps):
        d = x.shape[-1]
        rows = x.reshape(-1, d)
        y = np.empty_like(x)
        mean, rstd = np.empty(len(rows), x.dtype), np.empty(len(rows), x.dtype)
        self.kernels.layer_norm_forward(
            rows, np.ones(d, x.dtype) if weight is None else weight,
            np.zeros(d, x.dtype) if bias is None else bias, x.dtype.type(eps),
            y.reshape(-1, d), mean, rstd)
        self.mean, self.rstd = mean.reshape(x.shape[:-1] + (1,)), rstd.reshape(x.shape[:-1] + (1,))
        return y

    def _backward_compiled(self, g, x, weight, bias):
        d = x.shape[-1]
        gx = np.empty_like(x) if self.next_edges[0] else np.empty((0, d), x.dtype)
        gw, gb = np.zeros(d, x.dtype), np.zeros(d, x.dtype)
        self.kernels.layer_norm_backward(
            np.ascontiguousarray(g, dtype=x.dtype).reshape(-1, d), x.reshape(-1, d),
            np.ones(d, x.dtype) if weight is None else weight._data, self.mean.reshape(-1),
            self.rstd.reshape(-1), gx.reshape(-1, d), gw, gb)
        return (make_tensor(gx) if self.next_edges[0] else None,
                make_tensor(gw) if weight is not None and self.next_edges[1] else None,
                make_tensor(gb) if bias is not None and self.next_edges[2] else None)

    def _param_axes(self, ndim):
        """The axes of x along which weight and bias are shared (their gradients sum there)."""
        shape = (1,) * (ndim - len(self.param_shape)) + tuple(self.param_shape)
        return tuple(i for i, s in enumerate(shape) if s == 1)

    def backward(self, g):
        x, weight, bias = self.saved_inputs[:3]
        if _state.enabled:
            return self._backward_graph(g, x, weight, bias)
        return self._backward_arrays(g._data, x._data, weight, bias)

    def _backward_arrays(self, g, x, weight, bias):
        """First-order backward (no graph recorded): fused NumPy passes, as PyTorch's kernel."""
        if self.kernels is not None:
            return self._backward_compiled(g, x, weight, bias)
        axes, dtype = self.axes, x.dtype
        work = self.rstd.dtype
        if g.dtype != work:
            g, x = g.astype(work), x.astype(work)
        xhat = x - self.mean if self.center else x * 1
        xhat *= self.rstd
        gw = gb = gx = None
        if weight is not None and self.next_edges[1]:
            gw = make_tensor(_contract(g, xhat, self._param_axes(g.ndim)).reshape(
                weight.shape).astype(dtype, copy=False))
        if bias is not None and self.next_edges[2]:
            gb = make_tensor(g.sum(axis=self._param_axes(g.ndim)).reshape(bias.shape).astype(
                dtype, copy=False))
        if self.next_edges[0]:
            gxhat = g * weight._data.reshape(self.param_shape) if weight is not None else g
            count = 1
            for i in axes:
                count *= x.shape[i]
            proj = _contract(gxhat, xhat, axes)
            proj /= max(count, 1)
            xhat *= proj
            if self.center:
                gx = gxhat - gxhat.mean(axis=axes, keepdims=True)
                gx -= xhat
            else:
                gx = gxhat - xhat
            gx *= self.rstd
            gx = make_tensor(gx.astype(dtype, copy=False))
        return gx, gw, gb

    def _backward_graph(self, g, x, weight, bias):
        """The same gradients in tessera operations, with the statistics recomputed from x,
        so that the graph they record gives gradients of gradients."""
        axes = self.axes
        xc = x - x.mean(dim=axes, keepdim=True) if self.center else x
        rstd = rsqrt((xc * xc).mean(dim=axes, keepdim=True) + self.eps)
        xhat = xc * rstd
        gw = gb = gx = None
        if weight is not None and self.next_edges[1]:
            gw = sum_to_shape(g * xhat, self.param_shape).reshape(weight.shape)
        if bias is not None and self.next_edges[2]:
            gb = sum_to_shape(g, self.param_shape).reshape(bias.shape)
        if self.next_edges[0]:
            gxhat = g * weight.reshape(self.param_shape) if weight is not None else g
            proj = xhat * (gxhat * xhat).mean(dim=axes, keepdim=True)
            if self.center:
                gx = (gxhat - gxhat.mean(dim=axes, keepdim=True) - proj) * rstd
            else:
                gx = (gxhat - proj) * rstd
        return gx, gw, gb


class BatchNorm(UpdatesInputs, Normalize):
    """Batch norm in training: :class:`Normalize` over ``axes`` with the batch statistics,
    which also update ``running_mean`` and ``running_var`` (inputs 3 and 4, None when not
    tracked) in place: ``running = (1 - momentum) * running + momentum * batch`` (the
    variance unbiased, as PyTorch)."""

    updates_inputs = (3, 4)

    def forward(self, x, weight, bias, running_mean, running_var, axes, eps, param_shape,
                momentum):
        work = _compute_dtype(x)
        stats = _moments(x if x.dtype == work else x.astype(work), axes, True)
        mean, var = stats[:2]
        if running_mean is not None:
            _update_running(running_mean, mean.reshape(-1), momentum)
        if running_var is not None:
            count = x.size // max(mean.size, 1)
            _update_running(running_var, var.reshape(-1) * (count / (count - 1)), momentum)
        return super().forward(x, weight, bias, axes, eps, param_shape, stats=stats)

    def backward(self, g):
        return super().backward(g) + (None, None)


class CountBatch(UpdatesInputs):
    """``counter += 1`` in place (a batch norm layer's ``num_batches_tracked``); returns the
    new count. Not differentiable."""

    updates_inputs = (0,)

    def forward(self, counter):
        counter += 1
        return counter.copy()


def count_batch(counter):
    """Add one to ``counter`` (an integer tensor) in place, as an operator; returns it."""
    check_tensor(counter, "count_batch")
    CountBatch.apply(counter)
    return counter


def _check_float(input, op):
    check_tensor(input, op)
    if not input.is_floating_point():
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")


def _check_param(param, shape, name, op, input_shape):
    if param is None:
        return
    check_tensor(param, op, name)
    if tuple(param.shape) != tuple(shape):
        raise RuntimeError(f"{op}: expected {name} of shape {tuple(shape)}, got {name} of shape "
                           f"{tuple(param.shape)} (input of shape {tuple(input_shape)})")


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing ``normalized_shape`` dims, then scale and shift.

    Shape: input ``(*, *normalized_shape)``; weight and bias ``normalized_shape``.
    """
    _check_float(input, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) \
        else tuple(int(s) for s in normalized_shape)
    k = len(shape)
    in_shape = input._data.shape
    if k == 0:
        raise RuntimeError("layer_norm: Expected normalized_shape to be at least 1-dimensional, "
                           "i.e., containing at least one element, but got normalized_shape = []")
    if in_shape[len(in_shape) - k:] != shape or len(in_shape) < k:
        raise RuntimeError(f"layer_norm: Given normalized_shape={list(shape)}, expected input "
                           f"with shape [*, {', '.join(map(str, shape))}], but got input of size"
                           f"{list(in_shape)}")
    _check_param(weight, shape, "weight", "layer_norm", in_shape)
    _check_param(bias, shape, "bias", "layer_norm", in_shape)
    ndim = len(in_shape)
    return Normalize.apply(input, weight, bias, axes=tuple(range(ndim - k, ndim)), eps=eps,
                           param_shape=shape)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """Root-mean-square norm over the trailing dims: ``x / sqrt(mean(x^2) + eps) * weight``.

    ``eps=None`` uses the machine epsilon of the computation's dtype, as PyTorch does.
    """
    _check_float(input, "rms_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) \
        else tuple(int(s) for s in normalized_shape)
    k = len(shape)
    in_shape = input._data.shape
    if k == 0 or len(in_shape) < k or in_shape[len(in_shape) - k:] != shape:
        raise RuntimeError(f"rms_norm: Given normalized_shape={list(shape)}, expected input with "
                           f"shape [*, {', '.join(map(str, shape))}], but got input of size"
                           f"{list(in_shape)}")
    _check_param(weight, shape, "weight", "rms_norm", in_shape)
    if eps is None:  # the epsilon of the dtype the statistics are computed in (float32 for half)
        eps = float(np.finfo(_compute_dtype(input._data)).eps)
    ndim = len(in_shape)
    return Normalize.apply(input, weight, None, axes=tuple(range(ndim - k, ndim)), eps=eps,
                           param_shape=shape, center=False)


def _channel_params(input, weight, bias, op, names=("weight", "bias")):
    channels = input._data.shape[1]
    for param, name in zip((weight, bias), names):
        if param is not None:
            check_tensor(param, op, name)
            if param._data.size != channels:
                raise RuntimeError(f"{op}: {name} should contain {channels} elements not "
                                   f"{param._data.size} (input of shape "
                                   f"{tuple(input._data.shape)})")


def _affine_constant_stats(input, mean, var, weight, bias, eps):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` with constant per-channel statistics:
    two passes over x; weight and bias get gradients through the small scale/shift tensors."""
    view = (-1,) + (1,) * (input._data.ndim - 2)
    scale = rsqrt(var + eps)
    if weight is not None:
        scale = scale * weight
    shift = -mean * scale
    if bias is not None:
        shift = shift + bias
    return input * scale.reshape(view) + shift.reshape(view)


def _update_running(data, batch_value, momentum):
    """``data = (1 - momentum) * data + momentum * batch_value``, in place (arrays)."""
    data *= 1 - momentum
    data += (momentum * batch_value).astype(data.dtype, copy=False)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization over ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)`` inputs.

    In training the batch statistics normalize the input and update ``running_mean`` and
    ``running_var`` in place (the variance unbiased, as PyTorch); in evaluation the running
    statistics are used.
    """
    _check_float(input, "batch_norm")
    shape = input._data.shape
    if len(shape) < 2:
        raise RuntimeError(f"batch_norm: expected an input of shape (N, C) or (N, C, *), got an "
                           f"input of shape {tuple(shape)}")
    _channel_params(input, weight, bias, "batch_norm")
    _channel_params(input, running_mean, running_var, "batch_norm",
                    ("running_mean", "running_var"))
    if not training:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm: running_mean and running_var must be defined in "
                               "evaluation mode")
        mean = running_mean.reshape(-1).to(input.dtype)
        var = running_var.reshape(-1).to(input.dtype)
        return _affine_constant_stats(input, mean.detach(), var.detach(), weight, bias, eps)
    count = shape[0] * int(np.prod(shape[2:]))
    if count == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{tuple(shape)}")
    axes = (0,) + tuple(range(2, len(shape)))
    param_shape = (-1,) + (1,) * (len(shape) - 2)
    return BatchNorm.apply(input, weight, bias, running_mean, running_var, axes=axes, eps=eps,
                           param_shape=param_shape, momentum=momentum)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalize each channel of each sample over its spatial dims (``(N, C, *)`` input).

    With ``use_input_stats`` the running statistics (if given) are updated in place with the
    batch average of the per-instance statistics; without, they normalize the input.
    """
    _check_float(input, "instance_norm")
    shape = input._data.shape
    if len(shape) < 3:
        raise RuntimeError(f"instance_norm: expected an input of shape (N, C, *) with at least "
                           f"one spatial dim, got an input of shape {tuple(shape)}")
    _channel_params(input, weight, bias, "instance_norm")
    _channel_params(input, running_mean, running_var, "instance_norm",
                    ("running_mean", "running_var"))
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise RuntimeError("instance_norm: Expected running_mean and running_var to be "
                               "defined when use_input_stats is false")
        mean = running_mean.reshape(-1).to(input.dtype).detach()
        var = running_var.reshape(-1).to(input.dtype).detach()
        return _affine_constant_stats(input, mean, var, weight, bias, eps)
    count = int(np.prod(shape[2:]))
    if count == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                         f"{tuple(shape)}")
    axes = tuple(range(2, len(shape)))
    data = input._data
    work = _compute_dtype(data)
    stats = _moments(data if data.dtype == work else data.astype(work), axes, True)
    mean, var = stats[:2]
    if running_mean is not None:
        _update_running(running_mean._data, mean.reshape(shape[:2]).mean(axis=0), momentum)
        running_mean._version[0] += 1
    if running_var is not None:
        unbiased = var.reshape(shape[:2]) * (count / (count - 1))
        _update_running(running_var._data, unbiased.mean(axis=0), momentum)
        running_var._version[0] += 1
    param_shape = (-1,) + (1,) * (len(shape) - 2)
    return Normalize.apply(input, weight, bias, axes=axes, eps=eps, param_shape=param_shape,
                           stats=stats)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize groups of channels of an ``(N, C, *)`` input; per-channel weight and bias."""
    _check_float(input, "group_norm")
    shape = input._data.shape
    if len(shape) < 2:
        raise RuntimeError(f"group_norm: Expected at least 2 dimensions for input tensor but "
                           f"received {len(shape)}")
    n, c = shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(f"group_norm: Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(shape)} and "
                           f"num_groups={num_groups}")
    for param, name in ((weight, "weight"), (bias, "bias")):
        if param is not None and (param._data.ndim != 1 or param._data.size != c):
            raise RuntimeError(f"group_norm: Expected {name} to be a vector of size equal to the "
                               f"number of channels in input, but got {name} of shape "
                               f"{list(param.shape)} and input of shape {list(shape)}")
    group_size = c // num_groups * int(np.prod(shape[2:]))
    if group_size == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{[n * c // num_groups, num_groups] + list(shape[2:])}")
    spatial = shape[2:]
    grouped = input.reshape(n, num_groups, c // num_groups, *spatial)
    axes = tuple(range(2, grouped._data.ndim))
    param_shape = (num_groups, c // num_groups) + (1,) * len(spatial)
    out = Normalize.apply(grouped, weight, bias, axes=axes, eps=eps, param_shape=param_shape)
    return out.reshape(shape)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p, eps)`` along ``dim`` (an int or a tuple of ints)."""
    _check_float(input, "normalize")
    if out is not None:
        raise TypeError("normalize: the out= argument is not supported by tessera")
    denom = clamp(vector_norm(input, p, dim, keepdim=True), min=eps)
    return input / denom


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Divide each element by ``(k + alpha * mean of x^2 over `size` neighbouring channels)^beta``.

    Windows and zero padding as PyTorch: channel c sees channels c - size // 2 to
    c + (size - 1) // 2.
    """
    _check_float(input, "local_response_norm")
    ndim = input._data.ndim
    if ndim < 3:
        raise ValueError(f"local_response_norm: Expected 3D or higher dimensionality input (got "
                         f"{ndim} dimensions)")
    if input._data.size == 0:
        return input
    channels = input._data.shape[1]
    padded = pad(input * input, [0, 0] * (ndim - 2) + [size // 2, (size - 1) // 2])
    total = padded.narrow(1, 0, channels)
    for start in range(1, size):
        total = total + padded.narrow(1, start, channels)
    return input / (total * (alpha / size) + k) ** beta
