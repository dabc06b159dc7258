"""``default_collate`` and ``default_convert``: samples to batches, with PyTorch's rules.

Tensors and arrays are stacked along a new first dimension, Python floats become a
float64 tensor and ints an int64 one (bools a bool one), strings are kept as a list,
and containers (dicts, namedtuples, lists, tuples) are collated element by element.
"""

import collections.abc
import copy
import numbers

import numpy as np

from .. import ops
from .._tensor import Tensor
from ..autograd.function import _make_tensor
from ..backend import dtypes

__all__ = ["default_collate", "default_convert"]

_COLLATE_ERROR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
                  "lists; found {}")
_CONVERT_KINDS = "biuf"  # array kinds with a tessera dtype; strings and objects are not data


def _array_for_tensor(arr):
    """The array itself if tessera has its dtype; unsigned widths tessera lacks go to int64."""
    if arr.dtype in dtypes._BY_NUMPY:
        return arr
    return arr.astype(dtypes.from_numpy_dtype(arr.dtype).np_dtype)


def _stack_tensors(batch):
    first = batch[0]
    if any(t.requires_grad for t in batch):
        return ops.stack(batch, 0)  # keeps the graph when samples carry one
    shape = first._data.shape
    for i, t in enumerate(batch):
        if t._data.shape != shape:
            raise RuntimeError(f"default_collate: stack expects each tensor to be equal size, "
                               f"but got {list(shape)} at entry 0 and {list(t._data.shape)} at "
                               f"entry {i}")
    dt = first._data.dtype
    if any(t._data.dtype != dt for t in batch):
        target = first.dtype
        for t in batch:
            target = dtypes.promote_types(target, t.dtype)
        dt = target.np_dtype
    out = np.empty((len(batch),) + shape, dtype=dt)
    for i, t in enumerate(batch):
        out[i] = t._data
    return _make_tensor(out)


def _stack_arrays(batch):
    first = batch[0]
    if first.dtype.kind not in _CONVERT_KINDS:
        raise TypeError(_COLLATE_ERROR.format(f"numpy array of dtype {first.dtype}"))
    try:
        out = np.stack(batch)
    except ValueError:
        shapes = sorted({a.shape for a in batch})
        raise RuntimeError(f"default_collate: stack expects each array to be equal size, but got "
                           f"shapes {shapes}") from None
    return _make_tensor(_array_for_tensor(out))


def default_collate(batch):
    """Merge a list of samples into a batch (see the module docstring for the rules)."""
    elem = batch[0]
    elem_type = type(elem)
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray):
        return _stack_arrays(batch)
    if isinstance(elem, np.generic):
        if elem.dtype.kind not in _CONVERT_KINDS:
            raise TypeError(_COLLATE_ERROR.format(f"numpy scalar of dtype {elem.dtype}"))
        return _make_tensor(_array_for_tensor(np.array(batch)))
    if isinstance(elem, float):
        return _make_tensor(np.array(batch, dtype=np.float64))
    if isinstance(elem, numbers.Integral):
        return ops.tensor(batch)  # PyTorch's inference: bools, int64, or floats among them
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)  # keeps the mapping type (defaultdict, OrderedDict, ...)
            clone.update(collated)
            return clone
        try:
            return elem_type(collated)
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of "
                               f"equal size, got sizes {[len(b) for b in batch]}")
        transposed = [default_collate(s) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return transposed  # PyTorch returns a list for tuples
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, value in enumerate(transposed):
                clone[i] = value
            return clone
        try:
            return elem_type(transposed)
        except TypeError:
            return transposed
    raise TypeError(_COLLATE_ERROR.format(elem_type))


def default_convert(data):
    """Convert NumPy arrays in a sample to tensors, leaving everything else as it is
    (what a DataLoader does with ``batch_size=None``)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        if data.dtype.kind not in _CONVERT_KINDS:
            return data
        return _make_tensor(_array_for_tensor(data))
    if isinstance(data, np.generic):
        if data.dtype.kind not in _CONVERT_KINDS:
            return data
        return _make_tensor(_array_for_tensor(np.asarray(data)))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(data[key]) for key in data}
        if isinstance(data, collections.abc.MutableMapping):
            clone = copy.copy(data)
            clone.update(converted)
            return clone
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        converted = [default_convert(d) for d in data]
        if isinstance(data, collections.abc.MutableSequence):
            clone = copy.copy(data)
            for i, value in enumerate(converted):
                clone[i] = value
            return clone
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    return data
