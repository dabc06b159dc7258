"""Dropout: elementwise, channel-wise (1d/2d/3d) and alpha dropout.

Masks are drawn from tessera's default generator, so ``ts.manual_seed`` makes them
reproducible. One Function serves every variant: ``out = input * scale + shift``, where its
forward draws the mask of ``noise_shape`` (broadcastable to the input) and makes ``scale``
(the kept mask divided by the keep probability) and, for alpha dropout, ``shift`` (its
affine correction).
"""

import warnings

import numpy as np

from .. import backend
from ..autograd.function import Function
from ..backend import dtypes
from ._util import check_tensor, make_tensor

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
           "feature_alpha_dropout"]

# SELU's negative saturation value: alpha dropout sets dropped units to it.
_ALPHA = 1.7580993408473766


class Dropout(Function):
    """``input * scale + shift`` with a fresh Bernoulli(1 - p) mask of ``noise_shape``
    (broadcast against the input) drawn by the forward, so that each call (and each replay
    of a compiled graph) draws its own."""

    def forward(self, x, p, noise_shape, alpha):
        # Half-precision inputs draw their mask in float32: NumPy has no bfloat16 generator.
        draw = np.float64 if x.dtype == np.float64 else np.float32
        if p == 1:
            self.scale = np.zeros(noise_shape, dtype=draw).astype(x.dtype)
            return x * self.scale
        uniform = backend.default_generator.numpy.random(noise_shape, dtype=draw)
        keep = uniform >= draw(p)
        if not alpha:
            scale = np.multiply(keep, draw(1.0 / (1.0 - p)), dtype=draw)
            self.scale = scale.astype(x.dtype, copy=False)
            return x * self.scale
        # PyTorch's alpha dropout: a * (x * keep + alpha' * (1 - keep)) + b keeps mean and
        # variance.
        a = 1.0 / np.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
        scale = np.multiply(keep, draw(a), dtype=draw)
        shift = (keep.astype(draw) - 1) * draw(_ALPHA * a) + draw(_ALPHA * a * p)
        self.scale = scale.astype(x.dtype, copy=False)
        out = x * self.scale
        out += shift.astype(x.dtype, copy=False)
        return out

    def backward(self, g):
        return g * make_tensor(self.scale)


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _noise(x, p, noise_shape, alpha, op):
    """The ``Dropout`` operator on ``x`` (a floating point tensor)."""
    dtype = x._data.dtype
    if dtype.kind != "f" and dtype != dtypes.bfloat16.np_dtype:
        raise RuntimeError(f"{op}: expected a floating point input, got {x.dtype}")
    return Dropout.apply(x, p=p, noise_shape=tuple(noise_shape), alpha=alpha)


def _apply(input, p, training, inplace, feature_dims, alpha, op):
    """Dropout whose mask is shared along every dim after the first ``feature_dims`` (0 for
    elementwise dropout; 2 for channel dropout of ``(N, C, ...)``, 1 without the batch dim)."""
    check_tensor(input, op)
    _check_p(p)
    if p == 0 or not training or input._data.size == 0:
        return input
    shape = input._data.shape
    if feature_dims:
        if len(shape) < feature_dims:
            raise RuntimeError(f"{op}: Feature dropout requires at least 2 dimensions in the "
                               f"input, got an input of shape {tuple(shape)}")
        noise_shape = shape[:feature_dims] + (1,) * (len(shape) - feature_dims)
    else:
        noise_shape = shape
    if inplace:
        return input._apply_inplace(_noise, p, noise_shape, alpha, op)
    return _noise(input, p, noise_shape, alpha, op)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    In eval mode (``training=False``) or with ``p=0`` the input is returned unchanged.
    """
    return _apply(input, p, training, inplace, 0, False, "dropout")


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of a ``(N, C, L)`` or ``(C, L)`` input with probability ``p``."""
    check_tensor(input, "dropout1d")
    _check_p(p)
    ndim = input._data.ndim
    if ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {ndim}D input. "
                           "Note that dropout1d exists to provide channel-wise dropout on inputs "
                           "with 1 spatial dimension, a channel dimension, and an optional batch "
                           "dimension (i.e. 2D or 3D inputs).")
    return _apply(input, p, training, inplace, 2 if ndim == 3 else 1, False, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of a ``(N, C, H, W)`` input with probability ``p``.

    As in PyTorch, a 3-D input is taken as ``(N, C, L)`` (channel-wise 1-D dropout).
    """
    check_tensor(input, "dropout2d")
    _check_p(p)
    ndim = input._data.ndim
    if ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {ndim}-D input to dropout2d, which is deprecated "
                      "and will result in an error in a future release. To retain the behavior "
                      "and silence this warning, please use dropout instead. Note that dropout2d "
                      "exists to provide channel-wise dropout on inputs with 2 spatial "
                      "dimensions, a channel dimension, and an optional batch dimension (i.e. 3D "
                      "or 4D inputs).", stacklevel=2)
    if ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                      "where C is the channel dim. This behavior will change in a future release "
                      "to interpret the input as one without a batch dimension, i.e. shape (C, H, "
                      "W). To maintain the 1D channel-wise dropout behavior, please switch to "
                      "using dropout1d instead.", stacklevel=2)
    return _apply(input, p, training, inplace, 2, False, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of a ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input."""
    check_tensor(input, "dropout3d")
    _check_p(p)
    ndim = input._data.ndim
    if ndim not in (4, 5):
        warnings.warn(f"dropout3d: Received a {ndim}-D input to dropout3d, which is deprecated "
                      "and will result in an error in a future release. To retain the behavior "
                      "and silence this warning, please use dropout instead. Note that dropout3d "
                      "exists to provide channel-wise dropout on inputs with 3 spatial "
                      "dimensions, a channel dimension, and an optional batch dimension (i.e. 4D "
                      "or 5D inputs).", stacklevel=2)
    return _apply(input, p, training, inplace, 2 if ndim == 5 else 1, False, "dropout3d")


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks: dropped units take SELU's saturation value and an affine
    correction keeps the mean and variance of the input."""
    return _apply(input, p, training, inplace, 0, True, "alpha_dropout")


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout of whole channels (dims 0 and 1 pick the channel)."""
    return _apply(input, p, training, inplace, 2, True, "feature_alpha_dropout")

