"""OpInfo entries for tessera/ops/reduce.py."""

import math

import numpy as np

from ..opinfo import OpInfo, SampleInput, make_array

F32 = np.float32


def _samples(*cases, low=-2.0, high=2.0, positive=False):
    """``cases``: (shape, kwargs) pairs; the first two feed gradcheck, the first gradgradcheck."""
    def samples(rng):
        return [SampleInput((make_array(rng, shape, low=low, high=high, positive=positive),),
                            dict(kwargs)) for shape, kwargs in cases]
    return samples


def _none(rng):
    return []


def _with(samples, *extra):
    """More samples after the generated ones (``extra``: functions of rng)."""
    def all_samples(rng):
        return samples(rng) + [make(rng) for make in extra]
    return all_samples


def _int(shape, dtype=np.int64, **kwargs):
    return lambda rng: SampleInput((make_array(rng, shape, dtype, -3, 3),), kwargs)


def _fixed(values, dtype=F32, **kwargs):
    return lambda rng: SampleInput((np.array(values, dtype),), kwargs)


_TIES = [[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 2.0, 0.5], [0.0, -4.0, 1.0, 1.0]]

_REDUCE_CASES = [((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": (0, 2), "keepdim": True}),
                 ((3, 4), {}), ((), {}), ((5,), {"dim": -1}), ((0, 3), {"dim": 1}),
                 ((0, 3), {}), ((2, 3), {"dim": []})]

_VAR_CASES = [((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": (0, 2), "keepdim": True}),
              ((3, 4), {}), ((3, 4), {"dim": 0, "correction": 0}),
              ((4, 5), {"dim": 1, "unbiased": False}), ((4, 5), {"correction": 2}),
              ((2, 3), {"dim": -1, "keepdim": True})]

_EXTREME_DIM_CASES = [((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": 0, "keepdim": True}),
                      ((5,), {"dim": -1}), ((), {"dim": 0}), ((0, 3), {"dim": 1})]

_SOFTMAX_CASES = [((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": 0}), ((5,), {"dim": -1}),
                  ((), {"dim": 0}), ((0, 3), {"dim": 1}), ((2, 3), {"dim": 1, "dtype": None})]


def _method(name):
    return lambda m, x, **kw: getattr(x, name)(**kw)


def _function(name):
    return lambda m, x, **kw: getattr(m, name)(x, **kw)


def _softmax_dtype(fn_name):
    return lambda m, x: getattr(m, fn_name)(x, 1, dtype=m.float64)


OP_INFOS = [
    OpInfo("sum", _function("sum"), _with(
        _samples(*_REDUCE_CASES), _int((3, 4), dim=1), _int((3,), np.int32),
        _int((2, 3), bool, dim=0), _int((3, 4), dtype=np.int32, dim=0)),
        gradgrad=True, rtol=1e-4),
    OpInfo("sum_dtype", lambda m, x: m.sum(x, 0, dtype=m.float64), _samples(((3, 4), {}))),
    OpInfo("sum_int_to_float", lambda m, x: x.sum(dtype=m.float32), _with(
        _none, _int((3, 4), np.int32))),
    OpInfo("sum_method", lambda m, x: x.sum(0, True), _samples(((3, 4), {}))),
    OpInfo("mean", _function("mean"), _samples(*_REDUCE_CASES), gradgrad=True, rtol=1e-4),
    OpInfo("mean_dtype", lambda m, x: m.mean(x, 1, dtype=m.float64), _samples(((3, 4), {}))),
    OpInfo("var", _function("var"), _samples(*_VAR_CASES), gradgrad=True, rtol=1e-4),
    OpInfo("var_unbiased_positional", lambda m, x: m.var(x, 1, False, True),
           _samples(((3, 4), {}))),
    OpInfo("var_bool_positional", lambda m, x: x.var(False), _samples(((3, 4), {}))),
    OpInfo("std", _function("std"), _samples(*_VAR_CASES), gradgrad=True, rtol=1e-4),
    OpInfo("var_mean", _function("var_mean"), _samples(*_VAR_CASES), rtol=1e-4),
    OpInfo("std_mean", _function("std_mean"), _samples(*_VAR_CASES), rtol=1e-4),
    OpInfo("max", _function("max"), _with(
        _samples(((3, 4), {}), ((2, 3, 4), {}), ((), {})),
        _fixed(_TIES), _int((3, 4)), _int((2, 3), bool)), gradgrad=True),
    OpInfo("max_dim", _function("max"), _with(
        _samples(*_EXTREME_DIM_CASES), _fixed(_TIES, dim=1), _int((3, 4), dim=0)),
        gradgrad=True),
    OpInfo("max_binary", lambda m, a, b: m.max(a, b),
           lambda rng: [SampleInput((make_array(rng, (3, 4)), make_array(rng, (4,))))]),
    OpInfo("min", _function("min"), _with(
        _samples(((3, 4), {}), ((2, 3, 4), {}), ((), {})), _fixed(_TIES), _int((3, 4)))),
    OpInfo("min_dim", _function("min"), _with(
        _samples(*_EXTREME_DIM_CASES), _fixed(_TIES, dim=1), _int((3, 4), dim=0))),
    OpInfo("min_binary", lambda m, a, b: m.min(a, b),
           lambda rng: [SampleInput((make_array(rng, (3, 4)), make_array(rng, (3, 1))))]),
    OpInfo("amax", _function("amax"), _with(
        _samples(((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": (0, 2), "keepdim": True}),
                 ((3, 4), {}), ((), {}), ((0, 3), {"dim": 1})),
        _fixed(_TIES, dim=1), _fixed(_TIES), _fixed(_TIES, dim=(0, 1), keepdim=True),
        _int((3, 4), np.int32, dim=0)), gradgrad=True),
    OpInfo("amin", _function("amin"), _with(
        _samples(((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": (0, 2), "keepdim": True}),
                 ((3, 4), {}), ((), {})),
        _fixed(_TIES, dim=1), _fixed(_TIES), _int((3, 4), dim=0))),
    OpInfo("argmax", _function("argmax"), _with(
        _samples(((3, 4), {}), ((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": 0, "keepdim": True}),
                 ((3, 4), {"keepdim": True}), ((), {}), ((), {"dim": 0}), ((0, 3), {"dim": 1})),
        _fixed(_TIES, dim=1), _int((3, 4), dim=0)), differentiable=False),
    OpInfo("argmin", _function("argmin"), _with(
        _samples(((3, 4), {}), ((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": -1, "keepdim": True})),
        _fixed(_TIES, dim=1), _int((3, 4))), differentiable=False),
    OpInfo("prod", _function("prod"), _with(
        _samples(((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": 0, "keepdim": True}), ((3, 4), {}),
                 ((), {}), ((5,), {"dim": -1}), ((0, 3), {"dim": 0}), ((0, 3), {}),
                 positive=True),
        _fixed([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, -2.0, 0.5]], dim=1),
        _fixed([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, -2.0, 0.5]], dim=0, keepdim=True),
        _fixed([[1.5, 0.0, 2.0], [2.0, 1.0, 3.0]]), _fixed([[1.5, 0.0, 2.0], [0.0, 1.0, 3.0]]),
        _int((3, 4), np.int32, dim=1), _int((3,), bool)), gradgrad=True),
    OpInfo("prod_with_zeros", _function("prod"), _with(
        _none,
        _fixed([[1.5, 0.0, 2.0, 0.0], [0.5, 3.0, 0.0, 2.0], [1.0, -2.0, 0.5, 3.0]], dim=1),
        _fixed([[1.5, 0.0, 2.0], [2.0, 1.0, 3.0]])), gradgrad=True),
    OpInfo("prod_dtype", lambda m, x: m.prod(x, 1, dtype=m.float64), _samples(((3, 4), {}))),
    OpInfo("logsumexp", _function("logsumexp"), _with(
        _samples(((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": (0, 2), "keepdim": True}),
                 ((5,), {"dim": 0}), ((), {"dim": 0}), ((0, 3), {"dim": 0}),
                 ((3, 4), {"dim": (0, 1)})),
        _fixed([[1000.0, 1000.0, -1000.0], [-np.inf, -np.inf, -np.inf]], dim=1),
        _int((3, 4), dim=1)), gradgrad=True),
    OpInfo("cumsum", _function("cumsum"), _with(
        _samples(((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": 0}), ((5,), {"dim": -1}),
                 ((), {"dim": 0}), ((0, 3), {"dim": 1})),
        _int((3, 4), np.int32, dim=1), _int((4,), bool, dim=0)),
        gradgrad=True),
    OpInfo("cumsum_dtype", lambda m, x: m.cumsum(x, 0, dtype=m.float64), _samples(((3, 4), {}))),
    OpInfo("cumprod", _function("cumprod"), _with(
        _samples(((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": 0}), ((5,), {"dim": -1}),
                 ((), {"dim": 0}), ((0, 3), {"dim": 1}), positive=True),
        _fixed([[1.5, 0.0, 2.0, 3.0], [0.0, 2.0, 0.0, 3.0], [1.0, -2.0, 0.5, 0.0],
                [2.0, 0.5, 1.5, -1.0]], dim=1),
        _fixed([[1.5, 0.0, 2.0, 3.0], [0.0, 2.0, 0.0, 3.0]], dim=0),
        _int((3, 4), np.int32, dim=1))),
    OpInfo("cumprod_with_zeros", _function("cumprod"), _with(
        _none, _fixed([[1.5, 0.0, 2.0, 3.0], [0.0, 2.0, 0.0, 3.0], [1.0, -2.0, 0.5, 0.0]], dim=1),
        _fixed([[1.5, 0.0, 2.0], [0.0, 2.0, 0.0], [1.0, -2.0, 0.5]], dim=0)), gradgrad=True),
    OpInfo("norm", lambda m, x, **kw: m.norm(x, **kw), _with(
        _samples(((3, 4), {}), ((3, 4), {"p": 1, "dim": 1}), ((2, 3, 4), {"dim": (0, 2)}),
                 ((3, 4), {"p": 3, "dim": 0, "keepdim": True}), ((3, 4), {"p": math.inf}),
                 ((3, 4), {"p": -math.inf, "dim": 1}), ((3, 4), {"p": 0.5, "dim": 1}),
                 ((3, 4), {"p": 1.5}), ((3, 4), {"p": "fro", "dim": (0, 1)}), ((), {}),
                 ((0, 3), {"dim": 0}), ((3, 4), {"p": 0, "dim": 1}), ((3, 4), {"p": None})),
        _fixed([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0]], dim=1),
        _fixed([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0]], p=3, dim=1),
        _fixed([[0.0, 0.0, 0.0], [1.0, 0.0, 2.0]], p=1.5, dim=1)), gradgrad=True, rtol=1e-4),
    OpInfo("norm_p3", lambda m, x, **kw: m.norm(x, **kw), _samples(
        ((3, 4), {"p": 3, "dim": 1}), ((2, 3), {"p": 1.5, "keepdim": True})), gradgrad=True,
        rtol=1e-4),
    OpInfo("norm_method", lambda m, x: m.norm(x, 2, 1, True), _samples(((3, 4), {}))),
    OpInfo("all", _function("all"), _with(
        _none, _int((3, 4), bool), _int((3, 4), bool, dim=1), _int((2, 3, 4), bool, dim=(0, 2)),
        _int((3, 4), dim=0, keepdim=True), _int((3, 4), np.uint8, dim=1), _int((), bool),
        _int((3, 4), bool, dim=[]), _int((0, 3), bool, dim=0),
        lambda rng: SampleInput((make_array(rng, (3, 4)),))), differentiable=False),
    OpInfo("any", _function("any"), _with(
        _none, _int((3, 4), bool), _int((3, 4), bool, dim=1), _int((2, 3, 4), bool, dim=(0, 2)),
        _int((3, 4), dim=0, keepdim=True), _int((3, 4), np.uint8), _int((0, 3), bool, dim=0)),
        differentiable=False),
    OpInfo("median", _function("median"), _with(
        _samples(((3, 4), {}), ((2, 3, 5), {}), ((), {}), ((0,), {})),
        _fixed([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), _fixed([1.0, np.nan, 2.0]),
        _int((3, 5)))),
    OpInfo("median_dim", _function("median"), _with(
        _samples(((3, 4), {"dim": 1}), ((2, 3, 5), {"dim": 0, "keepdim": True}),
                 ((5,), {"dim": -1}), ((), {"dim": 0}), ((0, 3), {"dim": 1})),
        _fixed([[1.0, np.nan, 2.0], [3.0, 1.0, 2.0]], dim=1),
        _fixed([[4, 1, 3, 0], [2, 7, 5, 6]], np.int64, dim=1))),
    OpInfo("count_nonzero", _function("count_nonzero"), _with(
        _none, _int((3, 4)), _int((3, 4), dim=1), _int((2, 3, 4), bool, dim=(0, 2)),
        _fixed([[0.0, 1.0], [0.0, 0.0]], dim=0), _int((), dim=0)), differentiable=False),
    OpInfo("softmax", _function("softmax"), _samples(*_SOFTMAX_CASES), gradgrad=True),
    OpInfo("softmax_functional", lambda m, x, **kw: m.nn.functional.softmax(x, **kw),
           _with(_samples(((3, 4), {"dim": -1})),
                 _fixed([[1000.0, 0.0, -1000.0], [-np.inf, 0.0, 1.0]], dim=1))),
    OpInfo("softmax_dtype", _softmax_dtype("softmax"), _samples(((3, 4), {}))),
    OpInfo("log_softmax", _function("log_softmax"), _samples(*_SOFTMAX_CASES), gradgrad=True),
    OpInfo("log_softmax_functional", lambda m, x, **kw: m.nn.functional.log_softmax(x, **kw),
           _with(_samples(((3, 4), {"dim": 0})),
                 _fixed([[1000.0, 0.0, -1000.0], [-50.0, 0.0, 1.0]], dim=1))),
    OpInfo("log_softmax_dtype", _softmax_dtype("log_softmax"), _samples(((3, 4), {}))),
]
