"""Gradient clipping: by total norm and by value, in place."""

import math
import types
import warnings

from ... import backend
from ..._tensor import Tensor
from ...autograd.function import _make_tensor
from ...backend import dtypes

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_"]


def _as_list(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _vector_norm(xp, a, norm_type):
    if norm_type == 2.0:
        flat = a.reshape(-1)
        return xp.sqrt(xp.dot(flat, flat)) if flat.size else xp.zeros((), a.dtype)
    if a.size == 0:
        return xp.zeros((), a.dtype)
    if norm_type == math.inf:
        return xp.abs(a).max()
    if norm_type == -math.inf:
        return xp.abs(a).min()
    if norm_type == 0.0:
        return xp.asarray(xp.count_nonzero(a), dtype=a.dtype)
    if norm_type == 1.0:
        return xp.abs(a).sum()
    return (xp.abs(a) ** norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of all the tensors together, as one 0-d Tensor.

    Args:
        tensors (Tensor or iterable of Tensors): typically the gradients.
        norm_type (float): the p of the p-norm; ``inf`` for the largest magnitude.
        error_if_nonfinite (bool): raise if the norm is nan or inf.
    """
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return _make_tensor(backend.get_array_module().zeros((), dtypes.get_default_dtype()
                                                             .np_dtype))
    xp = backend.get_array_module(tensors[0]._data)
    out_dtype = dtypes.result_type(*tensors).np_dtype
    norms = xp.stack([_vector_norm(xp, t._data, norm_type).astype(out_dtype) for t in tensors])
    total = _vector_norm(xp, norms, norm_type).astype(out_dtype)
    if error_if_nonfinite and not xp.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` "
                           "is non-finite, so it cannot be clipped. To disable this error and "
                           "scale the gradients by the non-finite norm anyway, set "
                           "`error_if_nonfinite=False`")
    return _make_tensor(xp.asarray(total))


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients by ``min(1, max_norm / (total_norm + 1e-6))`` in place."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    coef = min(float(max_norm) / (float(total_norm) + 1e-6), 1.0)
    if math.isnan(float(total_norm)):
        coef = math.nan
    for g in grads:
        g._data *= g._data.dtype.type(coef)  # in place, keeping float32 float32
        g._version[0] += 1


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Clip the gradients of ``parameters`` in place so that their total norm is at most
    ``max_norm``.

    Args:
        parameters (Tensor or iterable of Tensors): the tensors whose ``.grad`` is clipped.
        max_norm (float): the largest allowed total norm.
        norm_type (float): the p of the p-norm; ``inf`` for the largest magnitude.
        error_if_nonfinite (bool): raise if the total norm is nan or inf.

    Returns:
        the total norm of the gradients before clipping (a 0-d Tensor).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                          stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated alias of :func:`clip_grad_norm_`."""
    warnings.warn("`tessera.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`tessera.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of ``parameters`` to ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        g = p.grad
        if g is not None:
            xp = backend.get_array_module(g._data)
            xp.clip(g._data, -clip_value, clip_value, out=g._data)
            g._version[0] += 1
