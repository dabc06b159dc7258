"""Tensor factories: from data, filled, ranges, and random draws."""

import numbers

import numpy as np

from .._tensor import Tensor
from ..autograd.function import _make_tensor
from ..backend import as_device, default_generator, dtypes

__all__ = ["tensor", "as_tensor", "from_numpy", "from_dlpack", "zeros", "ones", "full", "empty",
           "zeros_like", "ones_like", "full_like", "empty_like", "arange", "linspace", "logspace",
           "eye", "rand", "randn", "randint", "randperm", "normal", "bernoulli", "multinomial",
           "rand_like", "randn_like", "randint_like", "scalar_tensor"]


def _infer_array(data, dtype):
    """The backend array for ``data``, with PyTorch's dtype inference."""
    if isinstance(data, Tensor):
        arr = data._data
        return arr if dtype is None else arr.astype(dtype.np_dtype)
    if dtype is not None:
        return np.array(data, dtype=dtype.np_dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data)
        dtypes.from_numpy_dtype(arr.dtype)  # rejects dtypes tessera lacks
        return arr
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flatten(data)):
        data = _to_nested(data)
    arr = np.array(data)
    if arr.dtype.kind == "f":
        return arr.astype(dtypes.get_default_dtype().np_dtype)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind == "c":
        complex_unsupported("tensor")
    raise TypeError(f"tensor(): could not infer a dtype for data of type {type(data).__name__} "
                    f"(numpy gave {arr.dtype})")


def complex_unsupported(op):
    raise TypeError(f"{op}(): complex numbers are not supported by tessera")


def _flatten(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flatten(x)
        else:
            yield x


def _to_nested(data):
    return [_to_nested(x) if isinstance(x, (list, tuple)) else
            (x.item() if isinstance(x, Tensor) else x) for x in data]


def _finish(arr, requires_grad, device=None):
    as_device(device)
    t = _make_tensor(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (numbers, nested lists, arrays)."""
    return _finish(_infer_array(data, dtypes.as_dtype(dtype)), requires_grad, device)


def scalar_tensor(value, *, dtype=None, device=None, requires_grad=False):
    dt = dtypes.as_dtype(dtype) or dtypes.get_default_dtype()
    return _finish(np.asarray(value, dtype=dt.np_dtype), requires_grad, device)


def as_tensor(data, dtype=None, device=None):
    """Like :func:`tensor`, but shares memory with ``data`` when it can."""
    dtype = dtypes.as_dtype(dtype)
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype is dtype else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtype.np_dtype):
        dtypes.from_numpy_dtype(data.dtype)
        return _finish(data, False, device)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor sharing memory with a NumPy array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy(): expected np.ndarray (got {type(array).__name__})")
    dtypes.from_numpy_dtype(array.dtype)
    return _make_tensor(array)


def from_dlpack(ext_tensor):
    """A tensor sharing memory with any object that implements the DLPack protocol."""
    return _make_tensor(np.from_dlpack(ext_tensor))


def _shape(size, op):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, (numbers.Integral, np.integer)):
            raise TypeError(f"{op}(): size must be a sequence of ints, got {size!r}")
        if s < 0:
            raise RuntimeError(f"{op}(): negative dimension {s} in size {tuple(size)}")
        out.append(int(s))
    return tuple(out)


def _float_dtype(dtype):
    return (dtypes.as_dtype(dtype) or dtypes.get_default_dtype()).np_dtype


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _finish(np.zeros(_shape(size, "zeros"), _float_dtype(dtype)), requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _finish(np.ones(_shape(size, "ones"), _float_dtype(dtype)), requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _finish(np.empty(_shape(size, "empty"), _float_dtype(dtype)), requires_grad, device)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = dtypes.result_type(fill_value.item() if isinstance(fill_value, Tensor)
                                   else fill_value)
    arr = np.full(_shape((size,), "full"), fill_value, dtypes.as_dtype(dtype).np_dtype)
    return _finish(arr, requires_grad, device)


def _like_dtype(x, dtype):
    return (dtypes.as_dtype(dtype) or x.dtype).np_dtype


def zeros_like(x, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _finish(np.zeros(x._data.shape, _like_dtype(x, dtype)), requires_grad, device)


def ones_like(x, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _finish(np.ones(x._data.shape, _like_dtype(x, dtype)), requires_grad, device)


def empty_like(x, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _finish(np.empty(x._data.shape, _like_dtype(x, dtype)), requires_grad, device)


def full_like(x, fill_value, *, dtype=None, device=None, requires_grad=False,
              memory_format=None):
    return _finish(np.full(x._data.shape, fill_value, _like_dtype(x, dtype)), requires_grad,
                   device)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("arange(): step must be nonzero")
    if dtype is None:
        dtype = dtypes.int64 if all(isinstance(v, numbers.Integral) for v in values) \
            else dtypes.get_default_dtype()
    dtype = dtypes.as_dtype(dtype)
    # Computed in float64 then cast, so float32 ranges match PyTorch's element count.
    n = int(np.ceil((values[1] - values[0]) / values[2]))
    arr = (values[0] + np.arange(max(n, 0), dtype=np.float64) * values[2]) \
        if dtype.is_floating_point else np.arange(*values, dtype=np.int64)
    return _finish(arr.astype(dtype.np_dtype), requires_grad, device)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    arr = np.linspace(float(start), float(end), int(steps), dtype=np.float64)
    return _finish(arr.astype(_float_dtype(dtype)), requires_grad, device)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    arr = np.logspace(float(start), float(end), int(steps), base=base)
    return _finish(arr.astype(_float_dtype(dtype)), requires_grad, device)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    return _finish(np.eye(int(n), None if m is None else int(m), dtype=_float_dtype(dtype)),
                   requires_grad, device)


# -- random draws: all from the seeded default generator (or the one passed) ---------------

def _gen(generator):
    return (generator or default_generator).numpy


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    dt = _float_dtype(dtype)
    arr = _gen(generator).random(_shape(size, "rand"), dtype=np.float32 if dt == np.float32
                                 else np.float64)
    return _finish(arr.astype(dt, copy=False), requires_grad, device)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    dt = _float_dtype(dtype)
    arr = _gen(generator).standard_normal(_shape(size, "randn"),
                                          dtype=np.float32 if dt == np.float32 else np.float64)
    return _finish(arr.astype(dt, copy=False), requires_grad, device)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad=False):
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"randint(): expected low < high, got low={low}, high={high}")
    dt = (dtypes.as_dtype(dtype) or dtypes.int64).np_dtype
    arr = _gen(generator).integers(low, high, _shape((size,), "randint"))
    return _finish(arr.astype(dt), requires_grad, device)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    dt = (dtypes.as_dtype(dtype) or dtypes.int64).np_dtype
    return _finish(_gen(generator).permutation(int(n)).astype(dt), requires_grad, device)


def rand_like(x, *, dtype=None, generator=None):
    return rand(*x.shape, dtype=dtype or x.dtype, generator=generator)


def randn_like(x, *, dtype=None, generator=None):
    return randn(*x.shape, dtype=dtype or x.dtype, generator=generator)


def randint_like(x, low, high=None, *, dtype=None, generator=None):
    return randint(low, high, tuple(x.shape), dtype=dtype or x.dtype, generator=generator)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, requires_grad=False):
    """Normal draws; ``mean`` and ``std`` may be tensors (broadcast) or numbers."""
    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    if np.any(np.asarray(s) < 0):
        raise RuntimeError("normal(): std must be >= 0")
    shape = np.broadcast_shapes(np.shape(m), np.shape(s)) if size is None else \
        _shape((size,), "normal")
    like = mean if isinstance(mean, Tensor) else std if isinstance(std, Tensor) else None
    dt = like._data.dtype if like is not None and dtype is None else _float_dtype(dtype)
    arr = _gen(generator).standard_normal(shape) * s + m
    return _finish(np.asarray(arr, dtype=dt), requires_grad)


def bernoulli(input, p=None, *, generator=None):
    """Draws 1 with probability ``input`` (or ``p``), elementwise."""
    probs = input._data if p is None else np.full(input._data.shape, p)
    if np.any((probs < 0) | (probs > 1)):
        raise RuntimeError("bernoulli(): all probabilities must be in [0, 1]")
    draws = _gen(generator).random(input._data.shape) < probs
    return _make_tensor(draws.astype(input._data.dtype))


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Indices drawn from the (unnormalised) rows of ``input``."""
    probs = np.asarray(input._data, dtype=np.float64)
    if probs.ndim not in (1, 2):
        raise RuntimeError(f"multinomial(): prob_dist must be 1 or 2 dim, got {probs.ndim}")
    if np.any(probs < 0) or not np.all(np.isfinite(probs)):
        raise RuntimeError("multinomial(): probability tensor contains either inf, nan or "
                           "element < 0")
    rows = probs.reshape(-1, probs.shape[-1])
    if not replacement and num_samples > rows.shape[-1]:
        raise RuntimeError("multinomial(): cannot sample n_sample > prob_dist.size(-1) samples "
                           "without replacement")
    gen = _gen(generator)
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for i, row in enumerate(rows):
        total = row.sum()
        if total <= 0:
            raise RuntimeError("multinomial(): invalid distribution (sum of probabilities <= 0)")
        out[i] = gen.choice(row.size, size=num_samples, replace=replacement, p=row / total)
    return _make_tensor(out.reshape(probs.shape[:-1] + (num_samples,)))
