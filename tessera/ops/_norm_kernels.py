"""Compiled layer norm over the last axis (numba; loaded through
:func:`tessera.backend.jit.load`).

One pass per row for the statistics, one for the output, all in cache, where the NumPy
path (``normalization.py``) makes whole-array passes for the mean, the variance, each
elementwise step and the backward's reductions: (2048, 256) float32 forward 0.59 ->
0.11 ms, backward 1.5 -> 0.15 ms. Rows are ``x`` reshaped to ``(rows, D)``; ``weight``
and ``bias`` are ``(D,)`` (ones and zeros when the layer has none).
"""

import numpy as np

from ..backend.jit import kernel


@kernel(reassociate=True)
def layer_norm_forward(x, weight, bias, eps, y, mean, rstd):
    """``y`` and each row's ``mean`` and ``rstd = 1 / sqrt(var + eps)`` (biased variance)."""
    rows, D = x.shape
    inv_d = x.dtype.type(1.0 / D)
    for r in range(rows):
        total = x.dtype.type(0)
        for j in range(D):
            total += x[r, j]
        m = total * inv_d
        squares = x.dtype.type(0)
        for j in range(D):
            d = x[r, j] - m
            squares += d * d
        rs = x.dtype.type(1) / np.sqrt(squares * inv_d + eps)
        for j in range(D):
            y[r, j] = (x[r, j] - m) * rs * weight[j] + bias[j]
        mean[r] = m
        rstd[r] = rs


@kernel(reassociate=True)
def layer_norm_backward(g, x, weight, mean, rstd, gx, gweight, gbias):
    """``gx`` (when it is not empty) and, accumulated into, ``gweight`` and ``gbias``:
    with xhat = (x - mean) * rstd, gx = rstd * (g w - mean(g w) - xhat mean(g w xhat))."""
    rows, D = x.shape
    inv_d = x.dtype.type(1.0 / D)
    want_gx = gx.size > 0
    for r in range(rows):
        m, rs = mean[r], rstd[r]
        mean_gw = x.dtype.type(0)
        mean_gwx = x.dtype.type(0)
        for j in range(D):
            xhat = (x[r, j] - m) * rs
            gw = g[r, j] * weight[j]
            mean_gw += gw
            mean_gwx += gw * xhat
            gweight[j] += g[r, j] * xhat
            gbias[j] += g[r, j]
        if want_gx:
            mean_gw *= inv_d
            mean_gwx *= inv_d
            for j in range(D):
                xhat = (x[r, j] - m) * rs
                gx[r, j] = rs * (g[r, j] * weight[j] - mean_gw - xhat * mean_gwx)
