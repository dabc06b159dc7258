"""Activation functions, as in ``torch.nn.functional``.

Pointwise nonlinearities with their own forward and backward where that is cheaper
(ReLU, leaky ReLU, ELU, GELU, softplus); the rest are compositions of other operators.
"""

import math

import numpy as np

from ..autograd.function import Function
from ..backend import jit
from ..backend.parallel import parallel_for, pass_ns, threads_for
from ._util import make_tensor
from .elementwise import (_erf_array, abs, add, clamp, div, erf, exp, mul, neg, sigmoid, sub,
                          tanh, where, zeros_scalar)

__all__ = ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish",
           "softplus", "softsign", "hardtanh", "hardsigmoid", "hardswish", "logsigmoid",
           "threshold", "glu", "hardshrink", "softshrink", "tanhshrink", "prelu", "rrelu"]


# == activations ==================================================================================

_ZERO_ROW = 4096
_zero_rows = {}  # dtype -> a row of _ZERO_ROW zeros (see _relu_into)


def _relu_into(x, out):
    """``out = max(x, 0)`` (NaN stays NaN, as PyTorch's).

    NumPy's maximum against a scalar takes a slow loop (12.8 us on 128x256 float32); against a
    row of zeros broadcast over ``x`` seen as rows of 4096, its vectorised one (7.2 us; 2048x1024:
    778 -> 584 us), so contiguous arrays are viewed that way and only a short tail uses the
    scalar.
    """
    n = x.size
    whole = n - n % _ZERO_ROW
    if not whole or not (x.flags.c_contiguous and out.flags.c_contiguous):
        return np.maximum(x, 0, out=out)
    zeros = _zero_rows.get(x.dtype)
    if zeros is None:
        zeros = _zero_rows[x.dtype] = np.zeros(_ZERO_ROW, x.dtype)
    flat, flat_out = x.reshape(-1), out.reshape(-1)
    np.maximum(flat[:whole].reshape(-1, _ZERO_ROW), zeros,
               out=flat_out[:whole].reshape(-1, _ZERO_ROW))
    if whole < n:
        np.maximum(flat[whole:], 0, out=flat_out[whole:])
    return out


class Relu(Function):
    keeps_outputs = True

    def forward(self, x):
        if x.size < _ZERO_ROW:
            return np.maximum(x, 0)
        y = np.empty(x.shape, x.dtype)
        if threads_for(pass_ns(x.size)) == 1:
            return _relu_into(x, y)
        parallel_for(len(x), lambda a, b: _relu_into(x[a:b], y[a:b]), pass_ns(x[:1].size))
        return y

    def backward(self, g):
        (y,) = self.saved_outputs
        return ReluBackward.apply(g, y)


class ReluBackward(Function):
    """``g * (y > 0)`` as one operator: one new array instead of a mask, its cast and a
    product (measured 3x faster on a CNN's activations, where fresh arrays cost page faults).
    """

    keeps_inputs = True

    def forward(self, g, y):
        kernels = _relu_kernels(g, y)
        if kernels is not None:
            out = np.empty(y.shape, g.dtype)
            kernels.relu_backward(g.reshape(-1), y.reshape(-1), out.reshape(-1))
            return out
        if g.shape != y.shape or y.ndim == 0 or threads_for(pass_ns(y.size, 2)) == 1:
            out = np.array(y > 0, dtype=g.dtype)  # an array for 0-d y (astype gives a scalar)
            return np.multiply(out, g, out=out)
        out = np.empty(y.shape, g.dtype)

        def rows(a, b):
            np.greater(y[a:b], 0, out=out[a:b])
            np.multiply(out[a:b], g[a:b], out=out[a:b])
        parallel_for(len(y), rows, pass_ns(y[:1].size, 2))
        return out

    def backward(self, gg):
        g, y = self.saved_inputs
        return ReluBackward.apply(gg, y), None  # the mask is piecewise constant in y


def _relu_kernels(g, y):
    """The compiled ReLU backward for large float32/float64 arrays of one shape and layout
    (one pass on one thread beats two NumPy passes split over two), else None."""
    if y.size < _ZERO_ROW or g.dtype != y.dtype or g.dtype not in (np.float32, np.float64) \
            or g.shape != y.shape or not (g.flags.c_contiguous and y.flags.c_contiguous):
        return None
    return jit.load("tessera.ops._activation_kernels")


def relu(input, inplace=False):
    if inplace:
        return input.relu_()
    if not input.is_floating_point():
        return IntRelu.apply(input)
    return Relu.apply(input)


class IntRelu(Function):
    """``relu`` of an integer (or bool) tensor: no gradient."""

    def forward(self, x):
        return np.maximum(x, 0)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0)


class LeakyRelu(Function):
    keeps_inputs = True

    def forward(self, x, slope):
        self.slope = slope
        return np.where(x > 0, x, x * x.dtype.type(slope))

    def backward(self, g):
        (x,) = self.saved_inputs
        scale = np.where(x._data > 0, 1, self.slope).astype(g._data.dtype)
        return g * make_tensor(scale)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    out = LeakyRelu.apply(input, slope=negative_slope)
    return input.copy_(out) if inplace else out


class Elu(Function):
    keeps_inputs = True
    keeps_outputs = True

    def forward(self, x, alpha, scale, input_scale):
        self.alpha, self.scale, self.input_scale = alpha, scale, input_scale
        t = x.dtype.type
        return np.where(x > 0, x * t(scale), t(scale * alpha) * np.expm1(x * t(input_scale)))

    def backward(self, g):
        (x,) = self.saved_inputs
        (y,) = self.saved_outputs
        positive = make_tensor((x._data > 0).astype(g._data.dtype))
        # For x <= 0, d/dx = input_scale * (y + scale * alpha).
        neg_grad = (y + self.scale * self.alpha) * self.input_scale
        return g * (positive * self.scale + (1 - positive) * neg_grad)


def elu(input, alpha=1.0, inplace=False):
    out = Elu.apply(input, alpha=alpha, scale=1.0, input_scale=1.0)
    return input.copy_(out) if inplace else out


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    out = Elu.apply(input, alpha=_SELU_ALPHA, scale=_SELU_SCALE, input_scale=1.0)
    return input.copy_(out) if inplace else out


def celu(input, alpha=1.0, inplace=False):
    out = Elu.apply(input, alpha=alpha, scale=1.0, input_scale=1.0 / alpha)
    return input.copy_(out) if inplace else out


_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class GeluErf(Function):
    keeps_inputs = True

    def forward(self, x):
        t = x.dtype.type
        return x * t(0.5) * (1 + _erf_array(x * t(1 / _SQRT_2)))

    def backward(self, g):
        (x,) = self.saved_inputs
        cdf = (erf(x * (1 / _SQRT_2)) + 1) * 0.5
        pdf = exp(x * x * -0.5) * _INV_SQRT_2PI
        return g * (cdf + x * pdf)


class GeluTanh(Function):
    keeps_inputs = True

    def forward(self, x):
        t = x.dtype.type
        inner = t(_SQRT_2_OVER_PI) * (x + t(0.044715) * x * x * x)
        return t(0.5) * x * (1 + np.tanh(inner))

    def backward(self, g):
        (x,) = self.saved_inputs
        inner = (x + x * x * x * 0.044715) * _SQRT_2_OVER_PI
        th = tanh(inner)
        d_inner = (x * x * (3 * 0.044715) + 1) * _SQRT_2_OVER_PI
        return g * ((th + 1) * 0.5 + x * 0.5 * (1 - th * th) * d_inner)


def gelu(input, approximate="none"):
    if approximate == "none":
        return GeluErf.apply(input)
    if approximate == "tanh":
        return GeluTanh.apply(input)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input, inplace=False):
    out = mul(input, sigmoid(input))
    return input.copy_(out) if inplace else out


def mish(input, inplace=False):
    out = mul(input, tanh(softplus(input)))
    return input.copy_(out) if inplace else out


class Softplus(Function):
    keeps_inputs = True

    def forward(self, x, beta, threshold):
        self.beta, self.threshold = beta, threshold
        t = x.dtype.type
        bx = x * t(beta)
        soft = np.logaddexp(bx, t(0)) / t(beta)
        return np.where(bx > threshold, x, soft).astype(x.dtype, copy=False)

    def backward(self, g):
        (x,) = self.saved_inputs
        bx = x * self.beta
        linear = make_tensor((bx._data > self.threshold).astype(g._data.dtype))
        return g * (linear + (1 - linear) * sigmoid(bx))


def softplus(input, beta=1.0, threshold=20.0):
    return Softplus.apply(input, beta=beta, threshold=threshold)


def logsigmoid(input):
    return neg(softplus(neg(input)))


def softsign(input):
    return div(input, add(abs(input), 1))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    out = clamp(input, min_val, max_val)
    return input.copy_(out) if inplace else out


def hardsigmoid(input, inplace=False):
    out = div(clamp(add(input, 3), 0, 6), 6)
    return input.copy_(out) if inplace else out


def hardswish(input, inplace=False):
    out = mul(input, hardsigmoid(input))
    return input.copy_(out) if inplace else out




def threshold(input, threshold, value, inplace=False):
    """``input`` where it is greater than ``threshold``, else ``value``."""
    out = where(input > threshold, input, make_tensor(np.asarray(value, input._data.dtype)))
    return input.copy_(out) if inplace else out


def glu(input, dim=-1):
    """Gated linear unit: the first half of ``dim`` times the sigmoid of the second."""
    size = input.shape[dim] if input.ndim else 0
    if size % 2:
        raise RuntimeError(f"glu: Halving dimension must be even, but dimension {dim} is size "
                           f"{size}")
    a, b = input.chunk(2, dim)
    return mul(a, sigmoid(b))


def hardshrink(input, lambd=0.5):
    return where(abs(input) > lambd, input, zeros_scalar(input))


def softshrink(input, lambd=0.5):
    zero = zeros_scalar(input)
    return where(input > lambd, sub(input, lambd), where(input < -lambd, add(input, lambd), zero))


def tanhshrink(input):
    return sub(input, tanh(input))


def prelu(input, weight):
    """Leaky ReLU with a learned slope per channel (dim 1) or one shared slope."""
    if input.ndim >= 2 and weight.numel() > 1:
        if weight.numel() != input.shape[1]:
            raise RuntimeError(f"prelu: mismatch in parameter count: weight has "
                               f"{weight.numel()} elements, input has {input.shape[1]} channels")
        weight = weight.reshape((-1,) + (1,) * (input.ndim - 2))
    return where(input >= 0, input, mul(weight, input))


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU: a slope drawn in [lower, upper] per element in training."""
    from .creation import rand_like

    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    slope = add(mul(rand_like(input), upper - lower), lower)
    out = where(input >= 0, input, mul(input, slope))
    return input.copy_(out) if inplace else out
