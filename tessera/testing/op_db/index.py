"""OpInfo entries for tessera/ops/index.py."""

import warnings

import numpy as np

from ..opinfo import OpInfo, SampleInput, make_array

I64 = np.int64


def _ints(rng, shape, high):
    return rng.integers(0, high, shape).astype(I64)


def _perm_index(rng, shape, dim, size):
    """Indices along ``dim`` without repeats in any line (scatter's winner is then defined)."""
    n = shape[dim]
    lines = np.moveaxis(np.zeros(shape, I64), dim, -1)
    flat = lines.reshape(-1, n)
    for row in flat:
        row[:] = rng.permutation(size)[:n]
    return np.ascontiguousarray(np.moveaxis(flat.reshape(lines.shape), -1, dim))


# -- getitem / setitem: ``key`` builds the index from the converted array arguments ------------

def _getitem(m, x, *arrays, key):
    return x[key(*arrays)]


def _setitem(m, x, *arrays, key, value=None):
    y = x * 1  # a non-leaf copy, so the write is allowed and x gets a gradient
    if value is None:
        *arrays, value = arrays
    y[key(*arrays)] = value
    return y


def _basic_samples(rng):
    x = make_array(rng, (3, 4, 5))
    keys = [lambda: 1, lambda: (slice(None), slice(1, None, 2)), lambda: (Ellipsis, 0),
            lambda: (None, 1, slice(None), None), lambda: (-1, -2, -3),
            lambda: (slice(2, 2),), lambda: (slice(-2, None), Ellipsis, slice(0, 10))]
    out = [SampleInput((x,), {"key": k}) for k in keys]
    out.append(SampleInput((make_array(rng, ()),), {"key": lambda: (None, Ellipsis)}))
    out.append(SampleInput((make_array(rng, (4, 3), I64, -5, 5),),
                           {"key": lambda: (slice(1, 3), 0)}))
    return out


def _advanced_samples(rng):
    x = make_array(rng, (3, 4, 5))
    i = np.array([[0, 2], [-1, 0]], I64)
    j = np.array([1, 4], I64)
    return [
        SampleInput((x, i), {"key": lambda a: a}),
        SampleInput((x, i), {"key": lambda a: (slice(None), a)}),
        SampleInput((x, i, j), {"key": lambda a, b: (a, slice(None), b)}),
        SampleInput((x, i, j), {"key": lambda a, b: (slice(None), a, b)}),
        SampleInput((x, j), {"key": lambda b: (1, slice(None), b)}),
        SampleInput((x, np.array([0, 2], I64)), {"key": lambda b: (b, None, b)}),
        SampleInput((x,), {"key": lambda: [0, 0, 2]}),
        SampleInput((x,), {"key": lambda: (True, slice(None), [1, 3])}),
        SampleInput((x, np.zeros(0, I64)), {"key": lambda a: (Ellipsis, a)}),
        SampleInput((make_array(rng, (6,)), np.array(3, I64)), {"key": lambda a: a}),
    ]


def _mask_samples(rng):
    x = make_array(rng, (3, 4, 5))
    return [
        SampleInput((x, make_array(rng, (3, 4, 5), bool)), {"key": lambda m: m}),
        SampleInput((x, np.array([True, False, True, True])), {"key": lambda m: (slice(None), m)}),
        SampleInput((x, make_array(rng, (3, 4), bool)), {"key": lambda m: (m, 1)}),
        SampleInput((x, np.zeros((3,), bool)), {"key": lambda m: m}),
        SampleInput((x,), {"key": lambda: (slice(None), [True, False, False, True], 2)}),
    ]


def _setitem_samples(rng):
    x = make_array(rng, (3, 4, 5))
    mask = np.zeros((3, 4), bool)
    mask[0, 1] = mask[2, 3] = mask[1, 0] = True
    return [
        SampleInput((x, make_array(rng, (5,))), {"key": lambda: 1}),
        SampleInput((x, make_array(rng, (3, 4))), {"key": lambda: (Ellipsis, 0)}),
        SampleInput((x,), {"key": lambda: (slice(None), slice(1, 3)), "value": 2.5}),
        SampleInput((x, make_array(rng, (2, 1, 5))), {"key": lambda: [0, 2]}),
        SampleInput((x, mask, make_array(rng, (3, 5))), {"key": lambda m: m}),
        SampleInput((x, np.array([3, 0], I64), make_array(rng, (1, 1, 2))),
                    {"key": lambda i: (slice(None), i, 2)}),
        SampleInput((x, make_array(rng, ())), {"key": lambda: (0, 0, 0)}),
        SampleInput((make_array(rng, (2, 3), I64, 0, 9), make_array(rng, (3,))),
                    {"key": lambda: 0}),
    ]


# -- gather / scatter ---------------------------------------------------------------------------

def _gather_samples(rng):
    x = make_array(rng, (3, 4, 5))
    return [
        SampleInput((x, 0, _ints(rng, (2, 4, 5), 3))),
        SampleInput((x, 1, _ints(rng, (3, 6, 2), 4))),
        SampleInput((x, -1, _ints(rng, (1, 1, 3), 5))),
        SampleInput((make_array(rng, (6,)), 0, _ints(rng, (4,), 6))),
        SampleInput((make_array(rng, (6,)), 0, np.array(2, I64))),
        SampleInput((x, 1, np.zeros((3, 0, 5), I64))),
    ]


def _scatter_samples(rng):
    x = make_array(rng, (3, 4, 5))
    return [
        SampleInput((x, 0, _perm_index(rng, (2, 4, 5), 0, 3), make_array(rng, (2, 4, 5)))),
        SampleInput((x, 1, _perm_index(rng, (3, 3, 5), 1, 4), make_array(rng, (3, 3, 5)))),
        SampleInput((x, -1, _perm_index(rng, (2, 2, 2), 2, 5), make_array(rng, (2, 2, 2)))),
        SampleInput((make_array(rng, (6,)), 0, _perm_index(rng, (3,), 0, 6),
                     make_array(rng, (3,)))),
    ]


def _scatter_with_reduce(reduce):
    def fn(m, x, d, i, s):
        with warnings.catch_warnings():  # PyTorch deprecates reduce= in favour of scatter_reduce
            warnings.simplefilter("ignore", UserWarning)
            return m.scatter(x, d, i, s, reduce=reduce)
    return fn


def _scatter_value_samples(rng):
    x = make_array(rng, (3, 4, 5))
    return [SampleInput((x, 1, _ints(rng, (3, 2, 5), 4), 1.5)),
            SampleInput((x, 0, _ints(rng, (2, 4, 3), 3), -2.0))]


def _scatter_add_samples(rng):
    x = make_array(rng, (3, 4, 5))
    return [
        SampleInput((x, 0, _ints(rng, (4, 4, 5), 3), make_array(rng, (4, 4, 5)))),
        SampleInput((x, 1, _ints(rng, (3, 6, 2), 4), make_array(rng, (3, 6, 2)))),
        SampleInput((x, 2, _ints(rng, (2, 2, 7), 5), make_array(rng, (2, 2, 7)))),
        SampleInput((make_array(rng, (3, 4), I64, 0, 5), 0, _ints(rng, (2, 4), 3),
                     make_array(rng, (2, 4), I64, 0, 5))),
    ]


def _scatter_reduce_samples(reduce):
    def samples(rng):
        x = make_array(rng, (3, 4, 5), positive=reduce == "prod")
        src = make_array(rng, (4, 4, 5), positive=reduce == "prod")
        return [
            SampleInput((x, 0, _ints(rng, (4, 4, 5), 3), src), {"reduce": reduce}),
            SampleInput((x, 1, _ints(rng, (3, 6, 2), 4), make_array(rng, (3, 6, 2))),
                        {"reduce": reduce, "include_self": False}),
            SampleInput((make_array(rng, (5,)), 0, _ints(rng, (8,), 5), make_array(rng, (8,))),
                        {"reduce": reduce, "include_self": False}),
        ]
    return samples


def _scatter_reduce_op(reduce):
    return OpInfo(f"scatter_reduce_{reduce}",
                  lambda m, x, d, i, s, **kw: m.scatter_reduce(x, d, i, s, **kw),
                  _scatter_reduce_samples(reduce), grad_rtol=1e-4, grad_atol=1e-5)


# -- index_select / index_add / index_fill ------------------------------------------------------

def _index_select_samples(rng):
    x = make_array(rng, (3, 4, 5))
    return [SampleInput((x, 0, np.array([2, 0, 2], I64))),
            SampleInput((x, -1, _ints(rng, (7,), 5))),
            SampleInput((x, 1, np.array(3, I64))),
            SampleInput((x, 1, np.zeros(0, I64))),
            SampleInput((make_array(rng, (4, 2), I64, 0, 9), 0, np.array([1, 1], I64)))]


def _index_add_samples(rng):
    x = make_array(rng, (3, 4, 5))
    return [SampleInput((x, 0, np.array([2, 0, 2, 2], I64), make_array(rng, (4, 4, 5)))),
            SampleInput((x, 2, np.array([4, 1], I64), make_array(rng, (3, 4, 2))),
                        {"alpha": -1.5}),
            SampleInput((x, 1, _ints(rng, (6,), 4), make_array(rng, (3, 6, 5)))),
            SampleInput((make_array(rng, (5,)), 0, _ints(rng, (3,), 5), make_array(rng, (3,))))]


def _index_fill_samples(rng):
    x = make_array(rng, (3, 4, 5))
    return [SampleInput((x, 1, np.array([0, 3, 3], I64), 2.5)),
            SampleInput((x, -1, np.array([4], I64), make_array(rng, ()))),
            SampleInput((make_array(rng, (4, 2), I64, 0, 9), 0, np.array([1], I64), 7))]


# -- masks --------------------------------------------------------------------------------------

def _masked_fill_samples(rng):
    return [
        SampleInput((make_array(rng, (3, 4)), make_array(rng, (3, 4), bool), 0.5)),
        SampleInput((make_array(rng, (3, 4)), make_array(rng, (4,), bool), -1.0)),
        SampleInput((make_array(rng, (4,)), make_array(rng, (2, 4), bool), 2.0)),
        SampleInput((make_array(rng, (3, 4)), make_array(rng, (3, 1), bool), make_array(rng, ()))),
        SampleInput((make_array(rng, ()), np.array(True), 3.0)),
        SampleInput((make_array(rng, (3,), I64, 0, 9), np.array([True, False, True]), 2.7)),
    ]


def _masked_select_samples(rng):
    return [SampleInput((make_array(rng, (3, 4)), make_array(rng, (3, 4), bool))),
            SampleInput((make_array(rng, (3, 4)), make_array(rng, (4,), bool))),
            SampleInput((make_array(rng, (4,)), make_array(rng, (2, 4), bool))),
            SampleInput((make_array(rng, ()), np.array(True)))]


# -- take, take_along_dim -----------------------------------------------------------------------

def _take_samples(rng):
    return [SampleInput((make_array(rng, (3, 4)), np.array([[0, -1], [5, 5]], I64))),
            SampleInput((make_array(rng, (3, 4)), np.array(7, I64))),
            SampleInput((make_array(rng, (6,)), _ints(rng, (2, 3, 2), 6)))]


def _take_along_dim_samples(rng):
    x = make_array(rng, (3, 4, 5))
    return [SampleInput((x, _ints(rng, (3, 4, 2), 5)), {"dim": 2}),
            SampleInput((x, _ints(rng, (1, 4, 5), 3)), {"dim": 0}),
            SampleInput((x, _ints(rng, (3, 1, 2), 5)), {"dim": -1}),
            SampleInput((x, _ints(rng, (7,), 60)), {})]


# -- sorting ------------------------------------------------------------------------------------

def _sort_samples(rng):
    x = make_array(rng, (3, 4, 5))
    return [SampleInput((x,), {}),
            SampleInput((x,), {"dim": 0, "descending": True}),
            SampleInput((x,), {"dim": 1, "stable": True}),
            SampleInput((make_array(rng, (7,)),), {"descending": True}),
            SampleInput((make_array(rng, ()),), {}),
            SampleInput((make_array(rng, (0, 3)),), {"dim": 0})]


def _sort_int_samples(rng):
    x = make_array(rng, (4, 9), I64, 0, 3)  # many ties: the stable order must match
    return [SampleInput((x,), {"stable": True}),
            SampleInput((x,), {"dim": 0, "descending": True, "stable": True}),
            SampleInput((np.array([3.0, np.nan, 1.0, np.inf, -np.inf], np.float32),),
                        {"descending": True}),
            SampleInput((np.array([3.0, np.nan, 1.0, np.inf, -np.inf], np.float32),), {})]


def _topk_samples(rng):
    x = make_array(rng, (3, 4, 20))
    return [SampleInput((x, 3), {}),
            SampleInput((x, 2), {"dim": 1, "largest": False}),
            SampleInput((x, 20), {"dim": -1}),
            SampleInput((x, 0), {}),
            SampleInput((x, 5), {"largest": False}),
            SampleInput((make_array(rng, ()), 1), {}),
            SampleInput((np.array([[1.0, np.nan, -np.inf, 3.0, np.inf]], np.float32), 2), {})]


# -- embedding, one_hot, nonzero ----------------------------------------------------------------

def _embedding_samples(rng):
    w = make_array(rng, (7, 3))
    # padding_idx and scale_grad_by_freq change the gradient on purpose (PyTorch's rule), so
    # they come after the samples that finite differences check.
    return [SampleInput((_ints(rng, (2, 5), 7), w), {}),
            SampleInput((np.array(4, I64), w), {}),
            SampleInput((_ints(rng, (9,), 7), w), {"padding_idx": 2}),
            SampleInput((_ints(rng, (4, 3), 7), w),
                        {"scale_grad_by_freq": True, "padding_idx": -1}),
            SampleInput((np.zeros((0, 2), I64), w), {})]


def _one_hot_samples(rng):
    return [SampleInput((_ints(rng, (2, 3), 5),), {}),
            SampleInput((_ints(rng, (4,), 3),), {"num_classes": 6}),
            SampleInput((np.array(2, I64),), {"num_classes": 3}),
            SampleInput((np.zeros((0,), I64),), {"num_classes": 4})]


def _nonzero_samples(rng):
    x = make_array(rng, (3, 4), I64, 0, 1).astype(np.float32)
    return [SampleInput((x,), {}), SampleInput((x,), {"as_tuple": True}),
            SampleInput((np.array(5.0, np.float32),), {}),
            SampleInput((np.array(0.0, np.float32),), {"as_tuple": True}),
            SampleInput((make_array(rng, (2, 3, 2), bool),), {})]


_F = lambda m: m.nn.functional

OP_INFOS = [
    OpInfo("getitem_basic", _getitem, _basic_samples, gradgrad=True),
    OpInfo("getitem_advanced", _getitem, _advanced_samples, gradgrad=True),
    OpInfo("getitem_mask", _getitem, _mask_samples, gradgrad=True),
    OpInfo("setitem", _setitem, _setitem_samples, gradgrad=True),
    OpInfo("gather", lambda m, x, d, i: m.gather(x, d, i), _gather_samples, gradgrad=True),
    OpInfo("gather_method", lambda m, x, d, i: x.gather(d, i), _gather_samples),
    OpInfo("scatter", lambda m, x, d, i, s: m.scatter(x, d, i, s), _scatter_samples,
           gradgrad=True),
    OpInfo("scatter_value", lambda m, x, d, i, v: x.scatter(d, i, v), _scatter_value_samples),
    OpInfo("scatter_reduce_add", _scatter_with_reduce("add"), _scatter_add_samples,
           differentiable=False),
    OpInfo("scatter_reduce_multiply", _scatter_with_reduce("multiply"), _scatter_add_samples,
           differentiable=False),
    OpInfo("scatter_add", lambda m, x, d, i, s: m.scatter_add(x, d, i, s), _scatter_add_samples,
           gradgrad=True),
    _scatter_reduce_op("sum"), _scatter_reduce_op("prod"), _scatter_reduce_op("mean"),
    _scatter_reduce_op("amax"), _scatter_reduce_op("amin"),
    OpInfo("index_select", lambda m, x, d, i: m.index_select(x, d, i), _index_select_samples,
           gradgrad=True),
    OpInfo("index_add", lambda m, x, d, i, s, **kw: m.index_add(x, d, i, s, **kw),
           _index_add_samples, gradgrad=True),
    OpInfo("index_fill", lambda m, x, d, i, v: m.index_fill(x, d, i, v), _index_fill_samples),
    OpInfo("masked_fill", lambda m, x, mask, v: m.masked_fill(x, mask, v), _masked_fill_samples,
           gradgrad=True),
    OpInfo("masked_select", lambda m, x, mask: m.masked_select(x, mask), _masked_select_samples),
    OpInfo("take", lambda m, x, i: m.take(x, i), _take_samples),
    OpInfo("take_along_dim", lambda m, x, i, **kw: m.take_along_dim(x, i, **kw),
           _take_along_dim_samples),
    OpInfo("nonzero", lambda m, x, **kw: m.nonzero(x, **kw), _nonzero_samples,
           differentiable=False),
    OpInfo("one_hot", lambda m, x, **kw: _F(m).one_hot(x, **kw), _one_hot_samples,
           differentiable=False),
    OpInfo("sort", lambda m, x, **kw: m.sort(x, **kw), _sort_samples, gradgrad=True),
    OpInfo("sort_ties", lambda m, x, **kw: m.sort(x, **kw), _sort_int_samples,
           differentiable=False),
    OpInfo("argsort", lambda m, x, **kw: m.argsort(x, **kw), _sort_int_samples,
           differentiable=False),
    OpInfo("topk", lambda m, x, k, **kw: m.topk(x, k, **kw), _topk_samples),
    OpInfo("embedding", lambda m, i, w, **kw: _F(m).embedding(i, w, **kw), _embedding_samples,
           gradgrad=True),
]
