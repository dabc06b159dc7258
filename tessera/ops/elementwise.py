"""Elementwise operators: arithmetic, math functions, comparisons, logic.

Each operator is one Function with its forward (on arrays) and its backward (on
Tensors) side by side. Broadcasting is undone by ``sum_to_shape`` alone.
"""

import math
import numbers

import numpy as np

from .._tensor import Tensor
from ..autograd.function import (Function, _make_tensor, sum_array_to_shape, sum_to_shape,
                                 unrecorded_backward)
from ..backend import dtypes, get_array_module
from ._util import as_tensor_arg, broadcast_shapes, check_tensor, make_tensor, promote_operands

__all__ = ["cast", "clone", "copy_from", "add", "sub", "subtract", "mul", "multiply", "div",
    "divide", "true_divide", "floor_divide", "remainder", "fmod", "pow", "maximum", "minimum",
    "fmax", "fmin", "lerp", "addcmul", "addcdiv", "neg", "negative", "abs", "sign", "exp", "exp2",
    "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "reciprocal", "square", "sin",
    "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "sigmoid", "erf", "erfinv",
    "clamp", "clip", "where", "floor", "ceil", "round", "trunc", "frac", "nan_to_num", "eq", "ne",
    "lt", "le", "gt", "ge", "equal", "isclose", "allclose", "isnan", "isinf", "isfinite",
    "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
    "bitwise_xor", "bitwise_not", "clamp_min", "clamp_max", "hypot", "atan2", "logaddexp",
    "xlogy", "sinc"]


# == dtype conversion and copies =================================================================

class Cast(Function):
    def forward(self, x, dtype):
        self.in_dtype = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        if self.in_dtype.kind != "f" and self.in_dtype != dtypes.bfloat16.np_dtype:
            return None
        return cast(g, dtypes.from_numpy_dtype(self.in_dtype))


def cast(x, dtype, copy=False):
    dtype = dtypes.as_dtype(dtype)
    if x._data.dtype == dtype.np_dtype and not copy:
        return x
    return Cast.apply(x, dtype=dtype.np_dtype)


class Clone(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return g


def clone(x, *, memory_format=None):
    return Clone.apply(check_tensor(x, "clone"))


class CopyFrom(Function):
    """``dst.copy_(src)`` as a function: the result is src, cast and broadcast to dst."""

    def forward(self, dst, src):
        self.src_shape = src.shape
        self.src_dtype = src.dtype
        return np.broadcast_to(src, dst.shape).astype(dst.dtype, copy=True)

    def backward(self, g):
        return None, cast(sum_to_shape(g, self.src_shape), dtypes.from_numpy_dtype(self.src_dtype))


def copy_from(dst, src):
    broadcast_shapes("copy_", src.shape, dst.shape)
    return CopyFrom.apply(dst, src)


# == arithmetic ==================================================================================

def _binary(op_cls, a, b, name):
    a, b = promote_operands(name, a, b)
    try:
        return op_cls.apply(a, b)
    except ValueError:
        broadcast_shapes(name, a._data.shape, b._data.shape)
        raise


class Add(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g):
        return sum_to_shape(g, self.shapes[0]), sum_to_shape(g, self.shapes[1])


class Sub(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, g):
        return sum_to_shape(g, self.shapes[0]), sum_to_shape(-g, self.shapes[1])


class Mul(Function):
    keeps_inputs = True

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.saved_inputs
        if unrecorded_backward():      # on arrays, no dispatch
            return (_make_tensor(sum_array_to_shape(g._data * b._data, a._data.shape))
                    if self.next_edges[0] else None,
                    _make_tensor(sum_array_to_shape(g._data * a._data, b._data.shape))
                    if self.next_edges[1] else None)
        return (sum_to_shape(g * b, a._data.shape) if self.next_edges[0] else None,
                sum_to_shape(g * a, b._data.shape) if self.next_edges[1] else None)


class Div(Function):
    keeps_inputs = True

    def forward(self, a, b):
        return a / b

    def backward(self, g):
        a, b = self.saved_inputs
        ga = sum_to_shape(g / b, a._data.shape) if self.next_edges[0] else None
        gb = sum_to_shape(-g * a / (b * b), b._data.shape) if self.next_edges[1] else None
        return ga, gb


def add(input, other, *, alpha=1):
    if alpha != 1:
        other = mul(other, alpha)
    return _binary(Add, input, other, "add")


def sub(input, other, *, alpha=1):
    if isinstance(input, Tensor) and input.dtype is dtypes.bool:
        raise RuntimeError("sub: subtraction with two bool tensors is not supported; use "
                           "logical_xor or ~ instead")
    if alpha != 1:
        other = mul(other, alpha)
    return _binary(Sub, input, other, "sub")


subtract = sub


def mul(input, other):
    return _binary(Mul, input, other, "mul")


multiply = mul


def div(input, other, *, rounding_mode=None):
    if rounding_mode is None:
        a, b = promote_operands("div", input, other)
        if not a.is_floating_point():  # true division of integers gives the default float
            a, b = cast(a, dtypes.get_default_dtype()), cast(b, dtypes.get_default_dtype())
        return _binary(Div, a, b, "div")
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode == "trunc":
        a, b = promote_operands("div", input, other)
        if a.is_floating_point():
            return trunc(_binary(Div, a, b, "div"))
        return _nondiff_binary(TruncDivide, a, b, "div")
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                     f"found '{rounding_mode}'")


divide = div
true_divide = div


def _no_grad(t):
    """``t`` cut from the graph: the result of an operator without gradient (zero almost
    everywhere) does not require grad."""
    return t.detach() if t.requires_grad else t


def _nondiff_binary(op_cls, a, b, name):
    a, b = promote_operands(name, a, b)
    broadcast_shapes(name, a._data.shape, b._data.shape)
    return op_cls.apply(_no_grad(a), _no_grad(b))


class TruncDivide(Function):
    """Integer division rounded toward zero (no gradient)."""

    def forward(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.trunc(a / b).astype(a.dtype)


class FloorDivide(Function):
    """Division rounded down (no gradient)."""

    def forward(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.floor_divide(a, b)


class IntRemainder(Function):
    """``remainder`` of integers (no gradient)."""

    def forward(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.remainder(a, b)


class IntFmod(Function):
    """``fmod`` of integers (no gradient)."""

    def forward(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.fmod(a, b)


class IntPow(Function):
    """``pow`` of integers (no gradient)."""

    def forward(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.power(a, b)


def _int_zero_division_check(name, b):
    if b._data.dtype.kind in "iu" and np.any(b._data == 0):
        raise RuntimeError(f"{name}: ZeroDivisionError (integer division by zero)")


def floor_divide(input, other):
    a, b = promote_operands("floor_divide", input, other)
    _int_zero_division_check("floor_divide", b)
    return _nondiff_binary(FloorDivide, a, b, "floor_divide")


class Remainder(Function):
    keeps_inputs = True

    def forward(self, a, b):
        return np.remainder(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        gb = sum_to_shape(-g * floor(a / b), b._data.shape) if self.next_edges[1] else None
        return sum_to_shape(g, a._data.shape), gb


class Fmod(Function):
    keeps_inputs = True

    def forward(self, a, b):
        return np.fmod(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        gb = sum_to_shape(-g * trunc(a / b), b._data.shape) if self.next_edges[1] else None
        return sum_to_shape(g, a._data.shape), gb


def remainder(input, other):
    a, b = promote_operands("remainder", input, other)
    if not a.is_floating_point():
        _int_zero_division_check("remainder", b)
        return _nondiff_binary(IntRemainder, a, b, "remainder")
    return _binary(Remainder, a, b, "remainder")


def fmod(input, other):
    a, b = promote_operands("fmod", input, other)
    if not a.is_floating_point():
        _int_zero_division_check("fmod", b)
        return _nondiff_binary(IntFmod, a, b, "fmod")
    return _binary(Fmod, a, b, "fmod")


class PowScalar(Function):
    keeps_inputs = True

    def forward(self, x, exponent):
        self.exponent = exponent
        if exponent == 2:
            return x * x
        if exponent == 0.5:
            return np.sqrt(x)
        return np.power(x, exponent)

    def backward(self, g):
        (x,) = self.saved_inputs
        e = self.exponent
        if e == 0:
            return g * 0
        if e == 2:
            return g * (x * 2)
        return g * (pow(x, e - 1) * e)


class Pow(Function):
    keeps_inputs = True
    keeps_outputs = True

    def forward(self, a, b):
        return np.power(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        ga = gb = None
        if self.next_edges[0]:
            ga = sum_to_shape(g * b * pow(a, b - 1), a._data.shape)
        if self.next_edges[1]:
            (out,) = self.saved_outputs
            # d/db a^b = a^b log a, taken as 0 where a == 0 (PyTorch's convention).
            log_a = where(a == 0, zeros_scalar(a), log(where(a == 0, ones_scalar(a), a)))
            gb = sum_to_shape(g * out * log_a, b._data.shape)
        return ga, gb


class IntPowScalar(Function):
    """An integer tensor to a non-negative integer power (no gradient)."""

    def forward(self, x, exponent):
        return np.power(x, exponent)


def zeros_scalar(like):
    return make_tensor(np.zeros((), like._data.dtype))


def ones_scalar(like):
    return make_tensor(np.ones((), like._data.dtype))


def pow(input, exponent):
    if isinstance(input, Tensor) and isinstance(exponent, numbers.Number) and \
            not isinstance(exponent, bool):
        if input.is_floating_point() or (isinstance(exponent, numbers.Integral) and exponent >= 0):
            if not input.is_floating_point():
                return IntPowScalar.apply(input, exponent=exponent)
            return PowScalar.apply(input, exponent=exponent)
    a, b = promote_operands("pow", input, exponent)
    if not a.is_floating_point():
        if np.any(b._data < 0):
            raise RuntimeError("pow: integers to negative integer powers are not allowed.")
        return _nondiff_binary(IntPow, a, b, "pow")
    return _binary(Pow, a, b, "pow")


class Maximum(Function):
    keeps_inputs = True

    def forward(self, a, b):
        return np.maximum(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        # Ties split the gradient evenly, as PyTorch does.
        mask_a = (a._data > b._data) + 0.5 * (a._data == b._data)
        return _masked_pair(g, mask_a.astype(g._data.dtype), a, b)


class Minimum(Function):
    keeps_inputs = True

    def forward(self, a, b):
        return np.minimum(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        mask_a = (a._data < b._data) + 0.5 * (a._data == b._data)
        return _masked_pair(g, mask_a.astype(g._data.dtype), a, b)


def _masked_pair(g, mask_a, a, b):
    ma = make_tensor(mask_a)
    return (sum_to_shape(g * ma, a._data.shape), sum_to_shape(g * (1 - ma), b._data.shape))


def maximum(input, other):
    return _binary(Maximum, input, other, "maximum")


def minimum(input, other):
    return _binary(Minimum, input, other, "minimum")


def fmax(input, other):
    a, b = promote_operands("fmax", input, other)
    return where(isnan(b) | (a >= b), a, b) if a.is_floating_point() else maximum(a, b)


def fmin(input, other):
    a, b = promote_operands("fmin", input, other)
    return where(isnan(b) | (a <= b), a, b) if a.is_floating_point() else minimum(a, b)


def lerp(input, end, weight):
    """``input + weight * (end - input)``."""
    return add(input, mul(weight, sub(end, input)))


def addcmul(input, tensor1, tensor2, *, value=1):
    return add(input, mul(mul(tensor1, tensor2), value))


def addcdiv(input, tensor1, tensor2, *, value=1):
    return add(input, mul(div(tensor1, tensor2), value))


# == unary math ===================================================================================

def _float_input(x, name):
    """Unary float functions promote integer input to the default float dtype."""
    if not isinstance(x, Tensor):
        x = as_tensor_arg(x, name)
    if x._data.dtype.kind in "biu":
        return cast(x, dtypes.get_default_dtype())
    return x


class Neg(Function):
    def forward(self, x):
        return np.negative(x)

    def backward(self, g):
        return -g


def neg(input):
    if input.dtype is dtypes.bool:
        raise RuntimeError("neg: negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    return Neg.apply(input)


negative = neg


class Abs(Function):
    keeps_inputs = True

    def forward(self, x):
        return np.abs(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * sign(x)


def abs(input):
    return Abs.apply(input)


class Sign(Function):
    """-1, 0 or 1 (no gradient: the result does not require grad)."""

    def forward(self, x):
        return np.sign(x)


def sign(input):
    return Sign.apply(_no_grad(input))


class Exp(Function):
    keeps_outputs = True

    def forward(self, x):
        return np.exp(x)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * y


class Exp2(Function):
    keeps_outputs = True

    def forward(self, x):
        return np.exp2(x)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * y * math.log(2.0)


class Log(Function):
    keeps_inputs = True

    def forward(self, x):
        return np.log(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g / x


class Log2(Function):
    keeps_inputs = True

    def forward(self, x):
        return np.log2(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g / (x * math.log(2.0))


class Log10(Function):
    keeps_inputs = True

    def forward(self, x):
        return np.log10(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g / (x * math.log(10.0))


class Log1p(Function):
    keeps_inputs = True

    def forward(self, x):
        return np.log1p(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g / (x + 1)


class Expm1(Function):
    keeps_outputs = True

    def forward(self, x):
        return np.expm1(x)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * (y + 1)


class Sqrt(Function):
    keeps_outputs = True

    def forward(self, x):
        return np.sqrt(x)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g / (y * 2)


class Rsqrt(Function):
    keeps_outputs = True

    def forward(self, x):
        return 1 / np.sqrt(x)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * (y * y * y) * -0.5


class Reciprocal(Function):
    keeps_outputs = True

    def forward(self, x):
        return 1 / x

    def backward(self, g):
        (y,) = self.saved_outputs
        return -g * y * y


class Sin(Function):
    keeps_inputs = True

    def forward(self, x):
        return np.sin(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * cos(x)


class Cos(Function):
    keeps_inputs = True

    def forward(self, x):
        return np.cos(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return -g * sin(x)


class Tan(Function):
    keeps_outputs = True

    def forward(self, x):
        return np.tan(x)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * (y * y + 1)


class Asin(Function):
    keeps_inputs = True

    def forward(self, x):
        return np.arcsin(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * rsqrt(1 - x * x)


class Acos(Function):
    keeps_inputs = True

    def forward(self, x):
        return np.arccos(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return -g * rsqrt(1 - x * x)


class Atan(Function):
    keeps_inputs = True

    def forward(self, x):
        return np.arctan(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g / (x * x + 1)


class Sinh(Function):
    keeps_inputs = True

    def forward(self, x):
        return np.sinh(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * cosh(x)


class Cosh(Function):
    keeps_inputs = True

    def forward(self, x):
        return np.cosh(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * sinh(x)


class Tanh(Function):
    keeps_outputs = True

    def forward(self, x):
        return np.tanh(x)

    def backward(self, g):
        (y,) = self.saved_outputs
        return TanhBackward.apply(g, y)


class TanhBackward(Function):
    """``g * (1 - y**2)`` in one kernel: the backward of tanh is on every RNN's hot path."""

    keeps_inputs = True

    def forward(self, g, y):
        return g * (1 - y * y)

    def backward(self, gg):
        g, y = self.saved_inputs
        return gg * (1 - y * y), gg * g * y * -2


class Sigmoid(Function):
    keeps_outputs = True

    def forward(self, x):
        # exp of -|x| never overflows; float32 stays float32.
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)

    def backward(self, g):
        (y,) = self.saved_outputs
        return SigmoidBackward.apply(g, y)


class SigmoidBackward(Function):
    """``g * y * (1 - y)`` in one kernel (sigmoid gates of LSTMs and GRUs)."""

    keeps_inputs = True

    def forward(self, g, y):
        return g * y * (1 - y)

    def backward(self, gg):
        g, y = self.saved_inputs
        return gg * y * (1 - y), gg * g * (1 - y * 2)


def _unary(op_cls, name):
    def fn(input):
        return op_cls.apply(_float_input(input, name))
    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name}; integer input is promoted to the default float dtype."
    return fn


exp = _unary(Exp, "exp")
exp2 = _unary(Exp2, "exp2")
log = _unary(Log, "log")
log2 = _unary(Log2, "log2")
log10 = _unary(Log10, "log10")
log1p = _unary(Log1p, "log1p")
expm1 = _unary(Expm1, "expm1")
sqrt = _unary(Sqrt, "sqrt")
rsqrt = _unary(Rsqrt, "rsqrt")
reciprocal = _unary(Reciprocal, "reciprocal")
sin = _unary(Sin, "sin")
cos = _unary(Cos, "cos")
tan = _unary(Tan, "tan")
asin = _unary(Asin, "asin")
acos = _unary(Acos, "acos")
atan = _unary(Atan, "atan")
sinh = _unary(Sinh, "sinh")
cosh = _unary(Cosh, "cosh")
tanh = _unary(Tanh, "tanh")
sigmoid = _unary(Sigmoid, "sigmoid")


def square(input):
    return mul(input, input) if not input.is_floating_point() else PowScalar.apply(input,
                                                                                   exponent=2)


# erf without SciPy: a power series near 0 and a Chebyshev fit of erfc beyond, each accurate
# to float32's precision (erfc's relative error < 1.2e-7, Numerical Recipes' erfcc).
def _erf_array(x):
    xp = get_array_module(x)
    t = x.dtype.type if x.dtype.kind == "f" else np.float64
    work = x.astype(np.float64) if x.dtype != np.float64 else x
    ax = xp.abs(work)
    small = ax < 1.0
    x2 = work * work
    term = work.copy()
    series = work.copy()
    for n in range(1, 14):
        term = term * -x2 / n
        series = series + term / (2 * n + 1)
    series *= 2.0 / math.sqrt(math.pi)
    z = 1.0 / (1.0 + 0.5 * ax)
    poly = (-1.26551223 + z * (1.00002368 + z * (0.37409196 + z * (0.09678418 + z * (
        -0.18628806 + z * (0.27886807 + z * (-1.13520398 + z * (1.48851587 + z * (
            -0.82215223 + z * 0.17087277)))))))))
    erfc = z * xp.exp(-ax * ax + poly)
    large = xp.sign(work) * (1.0 - erfc)
    return xp.where(small, series, large).astype(t, copy=False)


class Erf(Function):
    keeps_inputs = True

    def forward(self, x):
        return _erf_array(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * exp(-(x * x)) * (2.0 / math.sqrt(math.pi))


erf = _unary(Erf, "erf")


class Erfinv(Function):
    """Inverse error function by Newton steps on erf (no gradient)."""

    def forward(self, x, dtype):
        y = np.clip(x.astype(np.float64), -1 + 1e-16, 1 - 1e-16)
        w = -np.log((1.0 - y) * (1.0 + y))
        guess = np.sign(y) * np.sqrt(np.sqrt((2 / (math.pi * 0.147) + w / 2) ** 2 - w / 0.147)
                                     - (2 / (math.pi * 0.147) + w / 2))
        for _ in range(3):
            guess = guess - (_erf_array(guess) - y) / (2 / math.sqrt(math.pi)
                                                       * np.exp(-guess ** 2))
        guess = np.where(x >= 1, np.inf, np.where(x <= -1, -np.inf, guess))
        return guess.astype(dtype)


def erfinv(input):
    """Inverse error function by Newton steps on erf (no gradient)."""
    x = _float_input(input, "erfinv")
    dtype = input._data.dtype if input.is_floating_point() else \
        dtypes.get_default_dtype().np_dtype
    return Erfinv.apply(_no_grad(x), dtype=dtype)


# == clamping and selection =======================================================================

class Clamp(Function):
    keeps_inputs = True

    def forward(self, x, lo, hi):
        self.lo, self.hi = lo, hi
        return np.clip(x, lo, hi)

    def backward(self, g):
        (x,) = self.saved_inputs
        inside = np.ones(x._data.shape, dtype=bool)
        if self.lo is not None:
            inside &= x._data >= self.lo
        if self.hi is not None:
            inside &= x._data <= self.hi
        return g * make_tensor(inside.astype(g._data.dtype))


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    if not input.is_floating_point():
        if any(isinstance(v, float) for v in (min, max)):
            input = cast(input, dtypes.get_default_dtype())
        else:
            return ClampInt.apply(input, lo=min, hi=max)
    t = input._data.dtype.type
    return Clamp.apply(input, lo=None if min is None else t(min),
                       hi=None if max is None else t(max))


clip = clamp


class ClampInt(Function):
    """``clamp`` of an integer tensor by Python numbers (no gradient)."""

    def forward(self, x, lo, hi):
        return np.clip(x, lo, hi)


class Where(Function):
    def forward(self, cond, a, b):
        self.cond = cond
        self.shapes = a.shape, b.shape
        return np.where(cond, a, b)

    def backward(self, g):
        zero = zeros_scalar(g)
        c = make_tensor(self.cond)
        return (None, sum_to_shape(where(c, g, zero), self.shapes[0]),
                sum_to_shape(where(c, zero, g), self.shapes[1]))


def where(condition, input=None, other=None):
    if input is None and other is None:
        from .index import nonzero
        return nonzero(condition, as_tuple=True)
    condition = as_tensor_arg(condition, "where")
    if condition.dtype is not dtypes.bool:
        if condition.dtype is dtypes.uint8:
            condition = cast(condition, dtypes.bool)
        else:
            raise RuntimeError(f"where expected condition to be a boolean tensor, but got a "
                               f"tensor with dtype {condition.dtype}")
    a, b = promote_operands("where", input, other)
    broadcast_shapes("where", condition._data.shape, a._data.shape, b._data.shape)
    return Where.apply(condition, a, b)


class Floor(Function):
    def forward(self, x):
        return np.floor(x)


class Ceil(Function):
    def forward(self, x):
        return np.ceil(x)


class Trunc(Function):
    def forward(self, x):
        return np.trunc(x)


class Round(Function):
    def forward(self, x, decimals):
        return np.round(x, decimals)


def _rounding(op_cls, name):
    def op(input):
        if not input.is_floating_point():
            return Clone.apply(input)
        return op_cls.apply(_no_grad(input))
    op.__name__ = name
    op.__doc__ = f"Elementwise {name} (no gradient: zero almost everywhere)."
    return op


floor = _rounding(Floor, "floor")
ceil = _rounding(Ceil, "ceil")
trunc = _rounding(Trunc, "trunc")


def round(input, *, decimals=0):
    """Elementwise round, half to even (no gradient: zero almost everywhere)."""
    if not input.is_floating_point():
        return Clone.apply(input)
    return Round.apply(_no_grad(input), decimals=decimals)


def frac(input):
    return sub(input, trunc(input))


class NanToNum(Function):
    """NaN and infinities replaced (no gradient: :func:`nan_to_num` routes it by a mask)."""

    def forward(self, x, nan, posinf, neginf):
        return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    fixed = NanToNum.apply(_no_grad(input), nan=nan, posinf=posinf, neginf=neginf)
    return where(isfinite(input), input, fixed)


# == comparisons and logic (no gradients) =========================================================
# Bool (or integer) results: Functions without backward, so that the tracer records them.

class Eq(Function):
    def forward(self, a, b):
        return np.equal(a, b)


class Ne(Function):
    def forward(self, a, b):
        return np.not_equal(a, b)


class Lt(Function):
    def forward(self, a, b):
        return np.less(a, b)


class Le(Function):
    def forward(self, a, b):
        return np.less_equal(a, b)


class Gt(Function):
    def forward(self, a, b):
        return np.greater(a, b)


class Ge(Function):
    def forward(self, a, b):
        return np.greater_equal(a, b)


class LogicalAnd(Function):
    def forward(self, a, b):
        return np.logical_and(a, b)


class LogicalOr(Function):
    def forward(self, a, b):
        return np.logical_or(a, b)


class LogicalXor(Function):
    def forward(self, a, b):
        return np.logical_xor(a, b)


class LogicalNot(Function):
    def forward(self, x):
        return np.logical_not(x)


def _compare(op_cls, name):
    def op(input, other):
        a, b = promote_operands(name, input, other)
        try:
            return op_cls.apply(a, b)
        except ValueError:
            broadcast_shapes(name, a._data.shape, b._data.shape)
            raise
    op.__name__ = name
    op.__doc__ = f"Elementwise ``{name}`` comparison; a bool tensor."
    return op


eq = _compare(Eq, "eq")
ne = _compare(Ne, "ne")
lt = _compare(Lt, "lt")
le = _compare(Le, "le")
gt = _compare(Gt, "gt")
ge = _compare(Ge, "ge")
logical_and = _compare(LogicalAnd, "logical_and")
logical_or = _compare(LogicalOr, "logical_or")
logical_xor = _compare(LogicalXor, "logical_xor")


def logical_not(input):
    return LogicalNot.apply(input)


class BitwiseAnd(Function):
    def forward(self, a, b):
        return np.bitwise_and(a, b)


class BitwiseOr(Function):
    def forward(self, a, b):
        return np.bitwise_or(a, b)


class BitwiseXor(Function):
    def forward(self, a, b):
        return np.bitwise_xor(a, b)


class BitwiseNot(Function):
    def forward(self, x):
        return np.invert(x)


def _bitwise(op_cls, name):
    def op(input, other):
        a, b = promote_operands(name, input, other)
        if a.is_floating_point():
            raise TypeError(f"{name}: bitwise operations need integer or bool tensors, got "
                            f"{a.dtype}")
        return op_cls.apply(a, b)
    op.__name__ = name
    return op


bitwise_and = _bitwise(BitwiseAnd, "bitwise_and")
bitwise_or = _bitwise(BitwiseOr, "bitwise_or")
bitwise_xor = _bitwise(BitwiseXor, "bitwise_xor")


def bitwise_not(input):
    if input.is_floating_point():
        raise TypeError(f"bitwise_not: needs an integer or bool tensor, got {input.dtype}")
    return BitwiseNot.apply(input)


def equal(input, other):
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))


class IsClose(Function):
    def forward(self, a, b, rtol, atol, equal_nan):
        return np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = promote_operands("isclose", input, other)
    return IsClose.apply(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


class IsNan(Function):
    def forward(self, x):
        return np.isnan(x)


class IsInf(Function):
    def forward(self, x):
        return np.isinf(x)


class IsFinite(Function):
    def forward(self, x):
        return np.isfinite(x)


def isnan(input):
    return IsNan.apply(input)


def isinf(input):
    return IsInf.apply(input)


def isfinite(input):
    return IsFinite.apply(input)


# == two-argument math functions ==================================================================

def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def _float_operands(name, input, other, promote_ints):
    """Operands of one float dtype: integers go to the default float (``promote_ints``) or
    are refused, as PyTorch does per operator."""
    a, b = promote_operands(name, input, other)
    if not a.is_floating_point():
        if not promote_ints:
            raise RuntimeError(f"{name}: expected floating point tensors, got {a.dtype}")
        a, b = cast(a, dtypes.get_default_dtype()), cast(b, dtypes.get_default_dtype())
    return a, b


class Hypot(Function):
    keeps_inputs = True
    keeps_outputs = True

    def forward(self, a, b):
        return np.hypot(a, b)  # no overflow of a*a for large inputs

    def backward(self, g):
        a, b = self.saved_inputs
        (out,) = self.saved_outputs
        scale = g / out
        return (sum_to_shape(scale * a, a._data.shape) if self.next_edges[0] else None,
                sum_to_shape(scale * b, b._data.shape) if self.next_edges[1] else None)


def hypot(input, other):
    """``sqrt(input**2 + other**2)`` elementwise, with broadcasting."""
    return _binary(Hypot, *_float_operands("hypot", input, other, False), "hypot")


class Atan2(Function):
    keeps_inputs = True

    def forward(self, a, b):
        return np.arctan2(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        scale = g / (a * a + b * b)
        return (sum_to_shape(scale * b, a._data.shape) if self.next_edges[0] else None,
                sum_to_shape(-scale * a, b._data.shape) if self.next_edges[1] else None)


def atan2(input, other):
    """The angle of the point ``(other, input)``, in ``[-pi, pi]``; integers give floats."""
    return _binary(Atan2, *_float_operands("atan2", input, other, True), "atan2")


class Logaddexp(Function):
    keeps_inputs = True

    def forward(self, a, b):
        return np.logaddexp(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        wa = sigmoid(a - b)  # exp(a) / (exp(a) + exp(b)), without overflow
        return (sum_to_shape(g * wa, a._data.shape) if self.next_edges[0] else None,
                sum_to_shape(g * (1 - wa), b._data.shape) if self.next_edges[1] else None)


def logaddexp(input, other):
    """``log(exp(input) + exp(other))`` computed without overflow."""
    return _binary(Logaddexp, *_float_operands("logaddexp", input, other, False), "logaddexp")


class Xlogy(Function):
    keeps_inputs = True

    def forward(self, x, y):
        with np.errstate(divide="ignore", invalid="ignore"):
            out = x * np.log(y)
        # 0 * log(y) is 0 even where log(y) is -inf, but a NaN y stays NaN.
        return np.where((x == 0) & ~np.isnan(y), np.zeros((), out.dtype), out)

    def backward(self, g):
        x, y = self.saved_inputs
        ga = gb = None
        if self.next_edges[0]:
            # PyTorch's rule: log(y), except 0 where x == 0 and log(y) is undefined.
            undefined = make_tensor((x._data == 0) & (y._data <= 0))
            ga = sum_to_shape(where(undefined, zeros_scalar(g), xlogy(g, y)), x._data.shape)
        if self.next_edges[1]:
            gb = sum_to_shape(g * x / y, y._data.shape)
        return ga, gb


def xlogy(input, other):
    """``input * log(other)``, taken as 0 where ``input == 0`` (unless other is NaN)."""
    return _binary(Xlogy, *_float_operands("xlogy", input, other, True), "xlogy")


def sinc(input):
    """The normalized sinc ``sin(pi x) / (pi x)``, 1 at 0."""
    x = _float_input(input, "sinc")
    at_zero = eq(x, 0)
    # The divisor is made safe at 0 so that the unused branch gives no NaN gradient.
    px = where(at_zero, ones_scalar(x), x * math.pi)
    return where(at_zero, ones_scalar(x), sin(px) / px)
