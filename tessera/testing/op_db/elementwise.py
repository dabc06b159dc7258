"""OpInfo entries for tessera/ops/elementwise.py."""

import numpy as np

from ..opinfo import OpInfo, SampleInput, make_array

F32 = np.float32


def _unary_samples(positive=False, low=-2.0, high=2.0):
    def samples(rng):
        return [SampleInput((make_array(rng, s, positive=positive, low=low, high=high),))
                for s in [(3, 4), (5,), (), (0, 3), (2, 3, 4)]]
    return samples


def _binary_samples(positive_b=False, positive_a=False, scalars=True):
    pairs = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (3,)), ((5,), ()),
             ((0, 3), (3,))]

    def samples(rng):
        out = [SampleInput((make_array(rng, a, positive=positive_a),
                            make_array(rng, b, positive=positive_b))) for a, b in pairs]
        if not scalars:
            return out
        out.append(SampleInput((make_array(rng, (3, 4), positive=positive_a), 2.5)))
        out.append(SampleInput((make_array(rng, (3,), np.int64, 1, 5), make_array(
            rng, (3,), np.int64, 1, 5))))
        out.append(SampleInput((make_array(rng, (3,), np.int64, 1, 5),
                                make_array(rng, (3,), F32, positive=True))))
        return out
    return samples


def _inplace_samples(positive_b=False):
    pairs = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3, 4), (3, 1)), ((5,), ())]
    return lambda rng: [SampleInput((make_array(rng, a), make_array(rng, b, positive=positive_b)))
                        for a, b in pairs]


def _unary(name, positive=False, low=-2.0, high=2.0, **kw):
    return OpInfo(name, lambda m, x, _n=name: getattr(m, _n)(x),
                  _unary_samples(positive, low, high), gradgrad=kw.pop("gradgrad", True), **kw)


def _functional(name, **params):
    return lambda m, x: getattr(m.nn.functional, name)(x, **params)

def _clamp_samples(rng):
    return [SampleInput((make_array(rng, (3, 4)), 0.3)),
            SampleInput((make_array(rng, (3, 4)), make_array(rng, (4,)))),
            SampleInput((make_array(rng, (2, 1, 4)), make_array(rng, (3, 1)))),
            SampleInput((make_array(rng, ()), -0.5)),
            SampleInput((make_array(rng, (0, 3)), 0.0)),
            SampleInput((make_array(rng, (5,), np.int64, -3, 3), 1)),
            SampleInput((make_array(rng, (5,), np.int64, -3, 3), 0.5))]


def _int_pair_samples(samples):
    def with_ints(rng):
        return samples(rng) + [SampleInput((make_array(rng, (3,), np.int64, -3, 3),
                                            make_array(rng, (3,), np.int64, 1, 3)))]
    return with_ints


def _xlogy_samples(rng):
    # The first samples keep x away from 0, where xlogy has no derivative in x.
    zeros = np.array([0.0, 1.5, 0.0, -2.0], F32)
    return (_binary_samples(positive_b=True, scalars=False)(rng) + [
        SampleInput((zeros, np.array([0.0, 2.0, 3.0, 0.5], F32))),
        SampleInput((zeros, np.array([np.nan, 2.0, 0.5, 1.0], F32))),
        SampleInput((make_array(rng, (3, 4)), 2.5)),
        SampleInput((make_array(rng, (3,), np.int64, 0, 3), make_array(rng, (3,), np.int64,
                                                                        1, 4)))])


OP_INFOS = [
    OpInfo("add", lambda m, a, b: m.add(a, b), _binary_samples(), gradgrad=True),
    OpInfo("add_alpha", lambda m, a, b: m.add(a, b, alpha=2), _binary_samples()),
    OpInfo("sub", lambda m, a, b: a - b, _binary_samples(), gradgrad=True),
    OpInfo("rsub_scalar", lambda m, a: 3 - a, _unary_samples()),
    OpInfo("mul", lambda m, a, b: a * b, _binary_samples(), gradgrad=True),
    OpInfo("div", lambda m, a, b: a / b, _binary_samples(positive_b=True), gradgrad=True),
    OpInfo("rdiv_scalar", lambda m, a: 2 / a, _unary_samples(positive=True)),
    OpInfo("div_floor", lambda m, a, b: m.div(a, b, rounding_mode="floor"),
           _binary_samples(positive_b=True), differentiable=False),
    OpInfo("div_trunc", lambda m, a, b: m.div(a, b, rounding_mode="trunc"),
           _binary_samples(positive_b=True), differentiable=False),
    OpInfo("remainder", lambda m, a, b: m.remainder(a, b), _binary_samples(positive_b=True),
           gradcheck=False),
    OpInfo("pow", lambda m, a, b: m.pow(a, b), _binary_samples(True, True), gradgrad=True),
    OpInfo("pow_scalar", lambda m, a: a ** 3, _unary_samples(), gradgrad=True),
    OpInfo("pow_scalar_half", lambda m, a: a ** 0.5, _unary_samples(positive=True)),
    OpInfo("rpow_scalar", lambda m, a: 2 ** a, _unary_samples()),
    OpInfo("maximum", lambda m, a, b: m.maximum(a, b), _binary_samples(scalars=False)),
    OpInfo("minimum", lambda m, a, b: m.minimum(a, b), _binary_samples(scalars=False)),
    OpInfo("lerp", lambda m, a, b: m.lerp(a, b, 0.3), _binary_samples(scalars=False)),
    _unary("neg"), _unary("abs"), _unary("exp"), _unary("log", positive=True),
    _unary("log1p", positive=True), _unary("expm1"), _unary("sqrt", positive=True),
    _unary("rsqrt", positive=True), _unary("sin"), _unary("cos"), _unary("tanh"),
    _unary("sigmoid"), _unary("erf"), _unary("reciprocal", positive=True), _unary("square"),
    _unary("log2", positive=True), _unary("exp2"), _unary("tan", low=-1, high=1),
    _unary("atan"), _unary("sinh"), _unary("cosh"),
    _unary("asin", low=-0.9, high=0.9), _unary("acos", low=-0.9, high=0.9),
    OpInfo("sign", lambda m, x: m.sign(x), _unary_samples(), differentiable=False),
    OpInfo("floor", lambda m, x: m.floor(x), _unary_samples(), differentiable=False),
    OpInfo("ceil", lambda m, x: m.ceil(x), _unary_samples(), differentiable=False),
    OpInfo("round", lambda m, x: m.round(x), _unary_samples(), differentiable=False),
    OpInfo("trunc", lambda m, x: m.trunc(x), _unary_samples(), differentiable=False),
    OpInfo("relu", lambda m, x: m.relu(x), _unary_samples(), gradgrad=True),
    OpInfo("leaky_relu", _functional("leaky_relu", negative_slope=0.2), _unary_samples(),
           gradgrad=True),
    OpInfo("elu", _functional("elu", alpha=1.3), _unary_samples(), gradgrad=True),
    OpInfo("selu", _functional("selu"), _unary_samples()),
    OpInfo("celu", _functional("celu", alpha=0.7), _unary_samples()),
    OpInfo("gelu", _functional("gelu"), _unary_samples(), gradgrad=True),
    OpInfo("gelu_tanh", _functional("gelu", approximate="tanh"), _unary_samples(),
           gradgrad=True),
    OpInfo("silu", _functional("silu"), _unary_samples(), gradgrad=True),
    OpInfo("mish", _functional("mish"), _unary_samples()),
    OpInfo("softplus", _functional("softplus", beta=2.0, threshold=3.0), _unary_samples(),
           gradgrad=True),
    OpInfo("logsigmoid", _functional("logsigmoid"), _unary_samples()),
    OpInfo("softsign", _functional("softsign"), _unary_samples()),
    OpInfo("hardtanh", _functional("hardtanh", min_val=-0.5, max_val=0.7), _unary_samples()),
    OpInfo("hardsigmoid", _functional("hardsigmoid"), _unary_samples(low=-4, high=4),
           gradcheck=False),
    OpInfo("hardswish", _functional("hardswish"), _unary_samples(low=-4, high=4),
           gradcheck=False),
    OpInfo("relu6", _functional("relu6"), _unary_samples(low=-3, high=8)),
    OpInfo("clamp", lambda m, x: m.clamp(x, -0.5, 0.8), _unary_samples(), gradgrad=True),
    OpInfo("clamp_min", lambda m, x: m.clamp(x, min=-0.5), _unary_samples()),
    OpInfo("clamp_tensor", lambda m, x, lo: m.clamp(x, min=lo),
           lambda rng: [SampleInput((make_array(rng, (3, 4)), make_array(rng, (4,))))]),
    OpInfo("where", lambda m, c, a, b: m.where(c, a, b),
           lambda rng: [SampleInput((make_array(rng, (3, 4), bool), make_array(rng, (3, 4)),
                                     make_array(rng, (4,)))),
                        SampleInput((make_array(rng, (3, 1), bool), make_array(rng, (1, 4)),
                                     make_array(rng, ())))], gradgrad=True),
    OpInfo("where_scalar", lambda m, c, a: m.where(c, a, 0.0),
           lambda rng: [SampleInput((make_array(rng, (3, 4), bool), make_array(rng, (3, 4))))]),
    OpInfo("eq", lambda m, a, b: a == b,
           lambda rng: [SampleInput((make_array(rng, (3, 4), np.int64, 0, 2),
                                     make_array(rng, (4,), np.int64, 0, 2)))],
           differentiable=False),
    OpInfo("lt", lambda m, a, b: a < b, _binary_samples(), differentiable=False),
    OpInfo("ge", lambda m, a, b: m.ge(a, b), _binary_samples(), differentiable=False),
    OpInfo("ne_scalar", lambda m, a: a != 1, lambda rng: [SampleInput((make_array(
        rng, (5,), np.int64, 0, 2),))], differentiable=False),
    OpInfo("logical_and", lambda m, a, b: m.logical_and(a, b),
           lambda rng: [SampleInput((make_array(rng, (3, 4), bool), make_array(rng, (4,), bool)))],
           differentiable=False),
    OpInfo("logical_or", lambda m, a, b: m.logical_or(a, b),
           lambda rng: [SampleInput((make_array(rng, (3, 4), bool), make_array(rng, (4,), bool)))],
           differentiable=False),
    OpInfo("logical_not", lambda m, a: m.logical_not(a),
           lambda rng: [SampleInput((make_array(rng, (3, 4), bool),))], differentiable=False),
    OpInfo("invert_bool", lambda m, a: ~a,
           lambda rng: [SampleInput((make_array(rng, (3, 4), bool),))], differentiable=False),
    OpInfo("int_true_divide", lambda m, a, b: a / b,
           lambda rng: [SampleInput((make_array(rng, (4,), np.int64, 1, 9),
                                     make_array(rng, (4,), np.int64, 1, 9)))],
           differentiable=False),
    OpInfo("int_times_float_scalar", lambda m, a: a * 1.5,
           lambda rng: [SampleInput((make_array(rng, (4,), np.int64, 1, 9),))],
           differentiable=False),
    OpInfo("f32_plus_f64_0d", lambda m, a, b: a + b,
           lambda rng: [SampleInput((make_array(rng, (4,)), make_array(rng, (), np.float64)))]),
    OpInfo("isnan", lambda m, a: m.isnan(a / a), lambda rng: [SampleInput((np.array(
        [0.0, 1.0, -2.0], F32),))], differentiable=False),

    # In-place forms, on a non-leaf copy so that autograd follows the write; the other
    # operand broadcasts into the first (an in-place result cannot grow).
    OpInfo("add_", lambda m, a, b: (a * 1).add_(b, alpha=2), _inplace_samples(),
           gradcheck=False),
    OpInfo("sub_", lambda m, a, b: (a * 1).sub_(b), _inplace_samples(),
           gradcheck=False),
    OpInfo("mul_", lambda m, a, b: (a * 1).mul_(b), _inplace_samples()),
    OpInfo("div_", lambda m, a, b: (a * 1).div_(b), _inplace_samples(positive_b=True)),
    OpInfo("iadd_scalar", lambda m, a: _iadd(a * 1, 1.5), _unary_samples()),
    OpInfo("imul_tensor", lambda m, a, b: _imul(a * 1, b), _inplace_samples()),
    OpInfo("clamp_", lambda m, a: (a * 1).clamp_(-0.5, 0.5), _unary_samples()),
    OpInfo("pow_", lambda m, a: (a * 1).pow_(2), _unary_samples()),
    OpInfo("exp_", lambda m, a: (a * 1).exp_(), _unary_samples()),
    OpInfo("contiguous", lambda m, a: a.transpose(0, 1).contiguous() * 2,
           lambda rng: [SampleInput((make_array(rng, (3, 4)),)),
                        SampleInput((make_array(rng, (2, 3, 4)),))]),
    OpInfo("clamp_min_op", lambda m, x, lo: m.clamp_min(x, lo), _clamp_samples),
    OpInfo("clamp_max_op", lambda m, x, hi: m.clamp_max(x, hi), _clamp_samples),
    OpInfo("clamp_min_method", lambda m, x: x.clamp_min(-0.3).clamp_max(0.6), _unary_samples()),
    OpInfo("hypot", lambda m, a, b: m.hypot(a, b), _binary_samples(scalars=False),
           gradgrad=True),
    OpInfo("atan2", lambda m, a, b: m.atan2(a, b), _int_pair_samples(_binary_samples(
        scalars=False)), gradgrad=True),
    OpInfo("atan2_method", lambda m, a, b: a.atan2(b), _binary_samples(scalars=False)),
    OpInfo("logaddexp", lambda m, a, b: m.logaddexp(a, b), _binary_samples(scalars=False),
           gradgrad=True),
    OpInfo("logaddexp_large", lambda m, a, b: a.logaddexp(b), lambda rng: [SampleInput((
        np.array([100.0, -100.0, 0.0], F32), np.array([99.0, 50.0, -80.0], F32)))]),
    OpInfo("xlogy", lambda m, a, b: m.xlogy(a, b), _xlogy_samples, gradgrad=True),
    OpInfo("xlogy_method", lambda m, a, b: a.xlogy(b), _binary_samples(positive_b=True,
                                                                         scalars=False)),
    OpInfo("xlogy_scalar_self", lambda m, b: m.xlogy(2.0, b),
           lambda rng: [SampleInput((make_array(rng, (3, 4), positive=True),))]),
    _unary("sinc"),
    OpInfo("sinc_zero", lambda m, x: x.sinc(), lambda rng: [SampleInput((np.array(
        [0.0, 1.0, -0.5, 2.5], F32),)), SampleInput((make_array(rng, (3,), np.int64, -2, 2),))]),
]


def _iadd(x, y):
    x += y
    return x


def _imul(x, y):
    x *= y
    return x
