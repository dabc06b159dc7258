"""What the training loop iterates: batches sliced straight from in-memory arrays, or the
batches of a DataLoader (or any iterable of batches).

Arrays are checked and converted once (float64 to float32, Tensors to their arrays), and
each batch is then a slice (or, when shuffling, one gather per array), wrapped in a
Tensor without a copy: no per-sample Dataset machinery.
"""

import math
import numbers

import numpy as np

from .._tensor import Tensor
from ..autograd.function import _make_tensor
from ..backend import default_generator

__all__ = ["flatten", "pack_like", "unpack_batch", "pack_batch", "ArrayData", "IterableData",
           "make_data", "train_validation_split", "is_array_like", "class_weight_to_sample_weight"]


# -- nested structures (an input may be an array, a list/tuple of arrays or a dict) ------

def flatten(struct):
    """The leaves of a nested tuple/list/dict structure, in a fixed order."""
    if isinstance(struct, (list, tuple)):
        return [leaf for s in struct for leaf in flatten(s)]
    if isinstance(struct, dict):
        return [leaf for k in struct for leaf in flatten(struct[k])]
    return [struct]


def pack_like(struct, leaves):
    """``struct`` with its leaves replaced, in order, by ``leaves``."""
    it = iter(leaves)

    def pack(s):
        if isinstance(s, (list, tuple)):
            return type(s)(pack(v) for v in s)
        if isinstance(s, dict):
            return {k: pack(v) for k, v in s.items()}
        return next(it)
    return pack(struct)


def map_structure(fn, struct):
    if isinstance(struct, (list, tuple)):
        return type(struct)(map_structure(fn, v) for v in struct)
    if isinstance(struct, dict):
        return {k: map_structure(fn, v) for k, v in struct.items()}
    return fn(struct)


def unpack_batch(data):
    """``(x, y, sample_weight)`` of a batch given as ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)``."""
    if isinstance(data, (list, tuple)):
        if len(data) == 1:
            return data[0], None, None
        if len(data) == 2:
            return data[0], data[1], None
        if len(data) == 3:
            return data[0], data[1], data[2]
        raise ValueError(f"a batch must be x, (x,), (x, y) or (x, y, sample_weight); got a "
                         f"{type(data).__name__} of {len(data)} elements")
    return data, None, None


def pack_batch(x, y=None, sample_weight=None):
    """The batch as Keras passes it to ``train_step``: ``x`` (or ``(x,)`` when x is a
    tuple), ``(x, y)`` or ``(x, y, sample_weight)``."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def is_array_like(v):
    if isinstance(v, (np.ndarray, Tensor, numbers.Number, np.generic)):
        return True
    if isinstance(v, (list, tuple)):
        return all(is_array_like(e) for e in v)
    if isinstance(v, dict):
        return all(is_array_like(e) for e in v.values())
    return hasattr(v, "__array__")


def _to_array(v, what):
    """A NumPy array for one leaf of the user's data (float64 becomes float32, as Keras
    casts inputs to its float type)."""
    if isinstance(v, Tensor):
        a = v._data
    elif isinstance(v, np.ndarray):
        a = v
    else:
        try:
            a = np.asarray(v)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{what}: expected arrays, tensors or lists of numbers, got "
                            f"{type(v).__name__} ({e})") from None
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    elif a.dtype == object or a.dtype.kind in "USV":
        raise TypeError(f"{what}: expected numeric data, got an array of dtype {a.dtype}")
    if a.ndim == 0:
        raise ValueError(f"{what}: expected an array with a batch dimension, got a scalar")
    return np.ascontiguousarray(a)


def _as_leaf_arrays(struct, what):
    if isinstance(struct, (list, tuple)) and struct and not all(
            isinstance(e, (np.ndarray, Tensor, list, tuple, dict)) for e in struct):
        struct = np.asarray(struct)  # a plain list of numbers is one array
    return map_structure(lambda v: _to_array(v, what), struct)


def class_weight_to_sample_weight(class_weight, y):
    """Per-sample weights from ``{class: weight}`` and the targets (labels or one-hot)."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict of class index to weight, got "
                        f"{type(class_weight).__name__}")
    leaves = flatten(y)
    if len(leaves) != 1:
        raise ValueError("class_weight is only supported for models with a single output")
    y = leaves[0]
    keys = sorted(int(k) for k in class_weight)
    if keys != list(range(len(keys))):
        raise ValueError(f"class_weight: expected keys from 0 to one less than the number of "
                         f"classes, got {sorted(class_weight)}")
    table = np.array([class_weight[k] for k in range(len(keys))], dtype=np.float32)
    if y.ndim >= 2 and y.shape[-1] > 1:
        labels = y.argmax(axis=-1)
    else:
        labels = np.rint(y.reshape(y.shape[0], -1)[:, 0]).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(table)):
        bad = labels[(labels < 0) | (labels >= len(table))][0]
        raise ValueError(f"class_weight has weights for classes 0..{len(table) - 1} but y "
                         f"contains class {int(bad)}")
    return table[labels]


class ArrayData:
    """Batches of in-memory arrays.

    Args:
        x, y, sample_weight: arrays, Tensors, or (nested) lists/dicts of them with one
            first dimension.
        batch_size: samples per batch (the last batch may be smaller).
        shuffle: reshuffle the samples every epoch.
        steps: batches per epoch (default: all the samples once).
        class_weight: ``{class: weight}`` turned into sample weights.
        op: the name used in error messages (``fit``, ``evaluate`` ...).
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, steps=None,
                 class_weight=None, op="fit"):
        if batch_size is not None and (not isinstance(batch_size, numbers.Integral)
                                       or batch_size <= 0):
            raise ValueError(f"{op}: batch_size must be a positive integer, got {batch_size!r}")
        self.x = _as_leaf_arrays(x, f"{op}: x")
        self.y = None if y is None else _as_leaf_arrays(y, f"{op}: y")
        if class_weight is not None:
            if self.y is None:
                raise ValueError(f"{op}: class_weight needs targets y")
            cw = class_weight_to_sample_weight(class_weight, self.y)
            if sample_weight is not None:
                cw = cw * _to_array(sample_weight, f"{op}: sample_weight").reshape(cw.shape[0])
            sample_weight = cw
        self.sample_weight = (None if sample_weight is None
                              else _as_leaf_arrays(sample_weight, f"{op}: sample_weight"))
        self._leaves = flatten(self.x)
        self._n_x = len(self._leaves)
        sizes = {}
        for name, struct in (("x", self.x), ("y", self.y), ("sample_weight", self.sample_weight)):
            if struct is not None:
                for leaf in flatten(struct):
                    sizes.setdefault(name, []).append(leaf.shape[0])
        all_sizes = {s for v in sizes.values() for s in v}
        if len(all_sizes) > 1:
            detail = ", ".join(f"{k} has {v[0] if len(set(v)) == 1 else v}"
                               for k, v in sizes.items())
            raise ValueError(f"{op}: x, y and sample_weight must have the same number of "
                             f"samples (first dimension); {detail}")
        self.num_samples = all_sizes.pop()
        if self.y is not None:
            self._leaves = self._leaves + flatten(self.y)
        self._n_y = len(self._leaves) - self._n_x
        if self.sample_weight is not None:
            self._leaves = self._leaves + flatten(self.sample_weight)
        self.batch_size = batch_size or 32
        self.shuffle = shuffle
        full_steps = math.ceil(self.num_samples / self.batch_size)
        self.steps = full_steps if steps is None else int(steps)
        self._full_steps = full_steps
        self._perm = None
        self._perm_pending = True
        self._epoch_pos = 0

    def _pack(self, arrays):
        n_x, n_y = self._n_x, self._n_y
        tensors = [_make_tensor(a) for a in arrays]
        x = pack_like(self.x, tensors[:n_x])
        y = None if self.y is None else pack_like(self.y, tensors[n_x:n_x + n_y])
        sw = (None if self.sample_weight is None
              else pack_like(self.sample_weight, tensors[n_x + n_y:]))
        return pack_batch(x, y, sw)

    def _batch(self, start, stop):
        if self._perm is None:
            return self._pack([leaf[start:stop] for leaf in self._leaves])
        idx = self._perm[start:stop]
        return self._pack([leaf.take(idx, axis=0) for leaf in self._leaves])

    def __iter__(self):
        """One epoch of ``(x, y, sample_weight)`` batches (``steps`` of them); with a
        ``steps`` shorter than the data, the next epoch goes on where this one stopped."""
        bs, n = self.batch_size, self.num_samples
        if self._perm_pending or self.steps >= self._full_steps:
            self._new_pass()
        for _ in range(self.steps):
            if self._epoch_pos >= self._full_steps:
                self._new_pass()
            start = self._epoch_pos * bs
            self._epoch_pos += 1
            yield self._batch(start, min(start + bs, n))

    def _new_pass(self):
        self._perm_pending = False
        self._epoch_pos = 0
        self._perm = _permutation(self.num_samples) if self.shuffle else None


def _permutation(n):
    # The framework's seeded generator, so ts.manual_seed makes shuffling reproducible.
    return default_generator.numpy.permutation(n)


def _tensorize(v):
    if isinstance(v, Tensor) or v is None:
        return v
    if isinstance(v, np.ndarray):
        if v.dtype == np.float64:
            v = v.astype(np.float32)
        return _make_tensor(v)
    if isinstance(v, (numbers.Number, np.generic)):
        return _make_tensor(np.asarray(v))
    return v


class IterableData:
    """Batches from a DataLoader or any iterable of batches (``x``, ``(x, y)`` or
    ``(x, y, sample_weight)``); NumPy arrays in them become Tensors.

    A re-iterable object (a DataLoader, a list) starts over every epoch; a one-shot
    iterator (a generator) is read on across epochs, so give ``steps``.
    """

    def __init__(self, data, steps=None, op="fit"):
        self.data = data
        self.one_shot = iter(data) is data
        if steps is None:
            try:
                steps = len(data)
            except TypeError:
                steps = None
        self.steps = steps
        self.op = op
        self._it = None
        self._peeked = None

    def _next(self):
        batch = next(self._it)
        x, y, sw = unpack_batch(batch)
        return pack_batch(map_structure(_tensorize, x), map_structure(_tensorize, y),
                          map_structure(_tensorize, sw))

    def peek(self):
        """The first batch, kept to be yielded first (None when there is none)."""
        if self._peeked is None:
            if self._it is None:
                self._it = iter(self.data)
            try:
                self._peeked = self._next()
            except StopIteration:
                self._it = None
                return None
        return self._peeked

    def __iter__(self):
        count = 0
        if self._peeked is not None:
            batch, self._peeked = self._peeked, None
            count = 1
            yield batch
        elif self._it is None or not self.one_shot:
            self._it = iter(self.data)
        while self.steps is None or count < self.steps:
            try:
                batch = self._next()
            except StopIteration:
                self._it = None
                return
            count += 1
            yield batch
        if not self.one_shot:
            self._it = None


def _is_map_dataset(x):
    try:
        from ..data import Dataset, IterableDataset
    except ImportError:
        return False
    return isinstance(x, Dataset) and not isinstance(x, IterableDataset)


def make_data(x, y=None, sample_weight=None, batch_size=None, shuffle=False, steps=None,
              class_weight=None, op="fit"):
    """The batch source for ``x``: :class:`ArrayData` for arrays and tensors,
    :class:`IterableData` for DataLoaders, generators and other iterables."""
    if x is None:
        raise ValueError(f"{op}: x is required (arrays, tensors or a DataLoader)")
    if is_array_like(x):
        return ArrayData(x, y, sample_weight, batch_size=batch_size, shuffle=shuffle,
                         steps=steps, class_weight=class_weight, op=op)
    for name, v in (("y", y), ("sample_weight", sample_weight)):
        if v is not None:
            raise ValueError(f"{op}: {name} must not be given when x is a "
                             f"{type(x).__name__}; its batches carry the targets")
    if class_weight is not None:
        raise ValueError(f"{op}: class_weight is supported for array inputs only; put weights "
                         f"in the batches of the {type(x).__name__} instead")
    if _is_map_dataset(x):
        from ..data import DataLoader
        x = DataLoader(x, batch_size=batch_size or 32, shuffle=shuffle)
    elif batch_size is not None and op in ("fit", "evaluate", "predict"):
        raise ValueError(f"{op}: do not give batch_size when x is a {type(x).__name__}; it "
                         "batches the data itself")
    if not hasattr(x, "__iter__"):
        raise TypeError(f"{op}: x must be arrays, tensors, a DataLoader or an iterable of "
                        f"batches, got {type(x).__name__}")
    return IterableData(x, steps=steps, op=op)


def train_validation_split(data, validation_split):
    """Keras's ``validation_split``: the last fraction of the samples, before shuffling."""
    if not isinstance(data, ArrayData):
        raise ValueError("fit: validation_split is only supported for array or tensor "
                         "inputs; pass validation_data instead")
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
    n = data.num_samples
    split_at = int(n * (1.0 - validation_split))
    if split_at == 0 or split_at == n:
        raise ValueError(f"fit: validation_split={validation_split} of {n} samples leaves "
                         "one of the two parts empty")

    def part(struct, sl):
        return None if struct is None else map_structure(lambda a: a[sl], struct)

    train = ArrayData(part(data.x, slice(0, split_at)), part(data.y, slice(0, split_at)),
                      part(data.sample_weight, slice(0, split_at)), batch_size=data.batch_size,
                      shuffle=data.shuffle)
    val = ArrayData(part(data.x, slice(split_at, n)), part(data.y, slice(split_at, n)),
                    part(data.sample_weight, slice(split_at, n)), batch_size=data.batch_size)
    return train, val
