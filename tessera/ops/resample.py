"""Resampling: ``interpolate`` (nearest, nearest-exact, linear, bilinear, trilinear, area)
and the ``upsample`` aliases.

Each axis is resampled by a sparse linear map (``pool._Taps`` applied by ``pool.AxisMap``,
whose backward is its adjoint and vice versa, so gradients of gradients work); "area" is
adaptive average pooling.
"""

import math
import warnings

import numpy as np

from ._util import check_tensor
from .elementwise import clone
from .pool import AxisMap, _float_input, _Taps, adaptive_avg_pool1d, adaptive_avg_pool2d

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]


# == public API: interpolation ===================================================================

_LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _scale_value(scale, n_in, n_out, ft):
    """PyTorch's source/destination ratio: 1 / scale_factor when given, else in / out."""
    if scale is not None and scale > 0:
        return ft(1.0 / scale)
    return ft(n_in) / ft(n_out)


def _nearest_index(n_in, n_out, scale, exact):
    # PyTorch computes these indices in float32 whatever the input dtype.
    if not exact and n_out == n_in:
        return np.arange(n_out, dtype=np.int64)
    if not exact and n_out == 2 * n_in:
        return np.arange(n_out, dtype=np.int64) >> 1
    ratio = _scale_value(scale, n_in, n_out, np.float32)
    if exact:
        src = ((np.arange(n_out) + 0.5) * np.float64(ratio)).astype(np.float32)
    else:
        src = np.arange(n_out, dtype=np.float32) * ratio
    return np.minimum(np.floor(src).astype(np.int64), n_in - 1)


def _linear_taps(axis, n_in, n_out, scale, align_corners, np_dtype):
    """Two taps (floor and floor + 1) with PyTorch's source index and weights."""
    if n_out == n_in:
        return _Taps(axis, n_in, n_out, [(np.arange(n_out, dtype=np.int64), None)], np_dtype)
    ft = np.float64 if np_dtype == np.float64 else np.float32
    dst = np.arange(n_out, dtype=ft)
    if align_corners:
        ratio = ft(n_in - 1) / ft(n_out - 1) if n_out > 1 else ft(0)
        src = ratio * dst
    else:
        ratio = _scale_value(scale, n_in, n_out, ft)
        src = np.maximum(ratio * (dst + ft(0.5)) - ft(0.5), ft(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam1 = np.clip(src - i0.astype(ft), 0, 1)
    i1 = i0 + (i0 < n_in - 1)
    lam0 = ft(1) - lam1
    return _Taps(axis, n_in, n_out, [(i0, lam0.astype(np_dtype)), (i1, lam1.astype(np_dtype))],
                 np_dtype)


def _interpolate_sizes(input, nd, size, scale_factor, recompute_scale_factor):
    in_sizes = tuple(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("interpolate: only one of size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("interpolate: recompute_scale_factor is not meaningful with an "
                             "explicit size.")
        if isinstance(size, (tuple, list)):
            if len(size) != nd:
                raise ValueError(f"interpolate: input and output must have the same number of "
                                 f"spatial dimensions, but got input with spatial dimensions of "
                                 f"{list(in_sizes)} and output size of {tuple(size)}. Please "
                                 f"provide input tensor in (N, C, d1, d2, ...,dK) format and "
                                 f"output size in (o1, o2, ...,oK) format.")
            sizes = tuple(int(s) for s in size)
        else:
            sizes = (int(size),) * nd
        return in_sizes, sizes, (None,) * nd
    if scale_factor is None:
        raise ValueError("interpolate: either size or scale_factor should be defined")
    if isinstance(scale_factor, (tuple, list)):
        if len(scale_factor) != nd:
            raise ValueError(f"interpolate: input and scale_factor must have the same number of "
                             f"spatial dimensions, but got input with spatial dimensions of "
                             f"{list(in_sizes)} and scale_factor of shape {tuple(scale_factor)}. "
                             f"Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                             f"scale_factor in (s1, s2, ...,sK) format.")
        scales = tuple(float(s) for s in scale_factor)
    else:
        scales = (float(scale_factor),) * nd
    sizes = tuple(math.floor(float(n) * s) for n, s in zip(in_sizes, scales))
    return in_sizes, sizes, (None,) * nd if recompute_scale_factor else scales


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resample (N, C, *spatial) to a new spatial size.

    Args:
        size: output spatial size (an int or a tuple); or
        scale_factor: multiplier(s) of the spatial size (the output size is floored).
        mode: ``"nearest"``, ``"nearest-exact"``, ``"linear"`` (3-D), ``"bilinear"`` (4-D),
            ``"trilinear"`` (5-D) or ``"area"`` (adaptive average pooling, 3-D and 4-D).
        align_corners: linear modes only: map the corner pixels' centres onto each other.
        recompute_scale_factor: index with in/out sizes rather than the given scale_factor.
    """
    check_tensor(input, "interpolate")
    nd = input.ndim - 2
    if nd < 1:
        raise ValueError(f"interpolate: expected an input of shape (N, C, d1, ...), got input "
                         f"of shape {tuple(input.shape)}")
    linear = mode in _LINEAR_MODES
    if mode not in ("nearest", "nearest-exact", "area") and not linear:
        if mode == "bicubic":
            raise NotImplementedError("interpolate: mode 'bicubic' is not supported by tessera "
                                      "yet; use 'bilinear'")
        raise ValueError(f"interpolate: unknown mode {mode!r}, expected one of 'nearest', "
                         "'nearest-exact', 'linear', 'bilinear', 'trilinear' or 'area'")
    if align_corners is not None and not linear:
        raise ValueError("interpolate: align_corners option can only be set with the "
                         "interpolating modes: linear | bilinear | bicubic | trilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by tessera yet")
    if linear and _LINEAR_MODES[mode] != nd:
        raise NotImplementedError(f"interpolate: got {input.ndim}D input, but {mode} mode needs "
                                  f"{_LINEAR_MODES[mode] + 2}D input")
    if nd > 3:
        raise NotImplementedError(f"interpolate: input of shape {tuple(input.shape)} has more "
                                  "than 3 spatial dimensions")
    in_sizes, sizes, scales = _interpolate_sizes(input, nd, size, scale_factor,
                                                 recompute_scale_factor)
    if any(n <= 0 for n in in_sizes) or any(s <= 0 for s in sizes):
        raise RuntimeError(f"interpolate: input and output sizes should be greater than 0, but "
                           f"got input {in_sizes} and output {sizes}")
    if mode == "area":
        if nd == 1:
            return adaptive_avg_pool1d(input, sizes)
        if nd == 2:
            return adaptive_avg_pool2d(input, sizes)
        raise NotImplementedError("interpolate: mode 'area' supports 3-D and 4-D input")
    if linear:
        _float_input("interpolate", input)
    np_dtype = input._data.dtype
    x = input
    # The innermost axis first: the same order of operations as PyTorch's kernels.
    for axis in range(input.ndim - 1, 1, -1):
        n, m, scale = in_sizes[axis - 2], sizes[axis - 2], scales[axis - 2]
        if linear:
            taps = _linear_taps(axis, n, m, scale, bool(align_corners), np_dtype)
        else:
            index = _nearest_index(n, m, scale, mode == "nearest-exact")
            taps = _Taps(axis, n, m, [(index, None)], np_dtype)
        if m == n and len(taps.taps) == 1 and taps.taps[0][2] is None and \
                taps.taps[0][1] == slice(0, n, 1):
            continue  # the identity along this axis
        x = AxisMap.apply(x, taps=taps)
    return clone(x) if x is input else x


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate`."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(input, size, scale_factor, mode="nearest")``."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(input, size, scale_factor, "bilinear", align_corners=True)``."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
