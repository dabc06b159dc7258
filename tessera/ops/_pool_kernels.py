"""Compiled 2x2 max pooling (numba; loaded through :func:`tessera.backend.jit.load`).

The pooling of almost every CNN: 2x2 windows with stride 2 that tile the input. One loop
over output pixels reads each input element once and keeps each window's maximum and its
position, where the NumPy path (``pool.py``) compares strided views position by position
((64, 32, 32, 32) float32: 0.19 ms on one thread against 1.4 ms on two). The window
arithmetic must be constants for the loops to vectorise: with the kernel size and stride as
arguments they run scalar, 30x slower, so other windows keep the NumPy path.

Semantics are ``pool.py``'s: positions ``a * 2 + b`` within the window, the first maximum
wins and a NaN wins over any number (the last NaN). Both kernels take a range of images so
that ``parallel_for`` can split the batch (the GIL is released).
"""

from ..backend.jit import kernel


@kernel
def max_pool_2x2(x, out, pos, start, stop):
    """``out`` and ``pos`` (the window position of each maximum) of images ``start:stop``."""
    C, Ho, Wo = out.shape[1:]
    for n in range(start, stop):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    m = x[n, c, 2 * i, 2 * j]
                    p = 0
                    for k in range(1, 4):
                        v = x[n, c, 2 * i + k // 2, 2 * j + k % 2]
                        if v > m or v != v:
                            m = v
                            p = k
                    out[n, c, i, j] = m
                    pos[n, c, i, j] = p


@kernel
def max_pool_2x2_scatter(g, pos, dx, start, stop):
    """``dx`` of images ``start:stop``: each gradient onto its window's maximum, 0 elsewhere
    (every element of ``dx`` is written)."""
    C, Ho, Wo = g.shape[1:]
    zero = dx.dtype.type(0)
    for n in range(start, stop):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    p = pos[n, c, i, j]
                    v = g[n, c, i, j]
                    dx[n, c, 2 * i, 2 * j] = v if p == 0 else zero
                    dx[n, c, 2 * i, 2 * j + 1] = v if p == 1 else zero
                    dx[n, c, 2 * i + 1, 2 * j] = v if p == 2 else zero
                    dx[n, c, 2 * i + 1, 2 * j + 1] = v if p == 3 else zero
