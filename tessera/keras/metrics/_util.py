"""Helpers shared by the metric modules."""

import numpy as np

from ...autograd.function import _make_tensor
from ...training.metrics import to_numpy

__all__ = []


def _scalar(v):
    return _make_tensor(np.asarray(v, dtype=np.float32))


def _same_rank(y_true, y_pred):
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred.reshape(y_pred.shape[:-1])
    return y_true, y_pred


def _weights_like(sample_weight, values):
    w = to_numpy(sample_weight).astype(np.float64)
    while w.ndim > values.ndim and w.shape[-1] == 1:
        w = w[..., 0]
    return w.reshape(w.shape + (1,) * (values.ndim - w.ndim))
