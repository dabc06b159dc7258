"""Compiled optimizer updates (numba; loaded through :func:`tessera.backend.jit.load`).

Each reads a parameter's arrays once where the NumPy update makes a dozen passes over
them. The arithmetic is the NumPy path's, operation for operation in the parameter's
dtype (no fused multiply-adds: numba compiles without fast-math), so both give the same
bits; tests/optim check that they do.
"""

import numpy as np

from ..backend.jit import kernel


@kernel
def adam_update(p, g, m, v, decay, m_weight, m_from_g, beta2, one_minus_beta2, denom_scale,
                denom_shift):
    """One Adam(W) step over flat arrays: ``p *= decay``; ``m`` moves towards ``g`` by
    ``m_weight`` (PyTorch's two-sided lerp: from ``g``'s side when ``m_from_g``);
    ``v = beta2 * v + one_minus_beta2 * g**2``;
    ``p -= m / (sqrt(v) * denom_scale + denom_shift)``."""
    for k in range(p.size):
        gk = g[k]
        if m_from_g:
            mk = gk - (gk - m[k]) * m_weight
        else:
            mk = m[k] + (gk - m[k]) * m_weight
        vk = v[k] * beta2 + gk * gk * one_minus_beta2
        m[k] = mk
        v[k] = vk
        p[k] = p[k] * decay - mk / (np.sqrt(vk) * denom_scale + denom_shift)
