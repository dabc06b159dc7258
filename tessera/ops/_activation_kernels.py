"""Compiled activation gradients (numba; loaded through :func:`tessera.backend.jit.load`).

ReLU's backward as one loop over flat arrays: each element of the gradient and of the
output read once, where NumPy makes a mask pass and a product pass ((64, 32, 32, 32)
float32: 0.49 ms on one thread against 0.89 ms for the NumPy passes on two).
"""

from ..backend.jit import kernel


@kernel
def relu_backward(g, y, out):
    """``out = g where y > 0, else 0`` (flat arrays; a NaN output passes no gradient, and a
    NaN or inf gradient where y <= 0 gives 0, as PyTorch's threshold_backward)."""
    for k in range(out.size):
        out[k] = g[k] if y[k] > 0 else 0
