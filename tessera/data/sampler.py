"""Samplers: the order in which a DataLoader visits dataset keys, as in ``torch.utils.data``.

Random samplers draw from a :class:`tessera.Generator` (the default one, seeded by
``tessera.manual_seed``, unless one is passed), once per epoch, in the process that
iterates them, so a loader's order does not depend on its number of workers.
"""

import itertools
import numbers

import numpy as np

from .._tensor import Tensor
from ..backend import Generator, default_generator

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]


class Sampler:
    """Base class: an iterable over dataset keys (or batches of keys)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__}: subclasses of Sampler should "
                                  "implement __iter__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


def _check_generator(generator, name):
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(f"{name}: generator must be a tessera.Generator, got "
                        f"{type(generator).__name__}")
    return generator


def _epoch_rng(generator):
    # PyTorch draws one seed per epoch from the default generator and permutes with a
    # private generator; a generator passed by the user is used directly.
    if generator is not None:
        return generator.numpy
    seed = int(default_generator.numpy.integers(0, 2**63 - 1))
    return np.random.Generator(np.random.PCG64(seed))


class RandomSampler(Sampler):
    """A random permutation of the keys, or ``num_samples`` draws with replacement.

    Args:
        replacement: draw with replacement (default False).
        num_samples: number of keys per epoch (default ``len(data_source)``); without
            replacement, more than ``len`` concatenates several permutations.
        generator: the :class:`tessera.Generator` to draw from.
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _check_generator(generator, "RandomSampler")
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, but got "
                            f"replacement={replacement!r}")
        if num_samples is not None and (not isinstance(num_samples, numbers.Integral)
                                        or isinstance(num_samples, bool) or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples should be a positive integer value, "
                             f"but got num_samples={num_samples!r}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        if n == 0:
            return iter([])
        rng = _epoch_rng(self.generator)
        if self.replacement:
            return iter(rng.integers(0, n, self.num_samples).tolist())
        k = self.num_samples
        parts = [rng.permutation(n) for _ in range(k // n)]
        if k % n:
            parts.append(rng.permutation(n)[:k % n])
        return iter(np.concatenate(parts).tolist() if parts else [])

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = _check_generator(generator, "SubsetRandomSampler")

    def __iter__(self):
        rng = (self.generator or default_generator).numpy
        indices = self.indices
        return (indices[i] for i in rng.permutation(len(indices)).tolist())

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` keys drawn with probabilities proportional to ``weights``.

    Args:
        weights: a 1-d sequence of non-negative weights (need not sum to 1).
        num_samples: number of keys per epoch.
        replacement: draw with replacement (default True); without it a key appears
            at most once per epoch.
    """

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if (not isinstance(num_samples, numbers.Integral) or isinstance(num_samples, bool)
                or num_samples <= 0):
            raise ValueError(f"WeightedRandomSampler: num_samples should be a positive integer "
                             f"value, but got num_samples={num_samples!r}")
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement should be a boolean value, but "
                             f"got replacement={replacement!r}")
        w = np.asarray(weights._data if isinstance(weights, Tensor) else weights,
                       dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1d sequence but given "
                             f"weights have shape {tuple(w.shape)}")
        if np.any(w < 0) or not np.all(np.isfinite(w)) or w.sum() <= 0:
            raise RuntimeError("WeightedRandomSampler: weights must be finite, non-negative and "
                               "not all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise RuntimeError(f"WeightedRandomSampler: cannot draw {num_samples} samples "
                               f"without replacement from {np.count_nonzero(w)} non-zero weights")
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = _check_generator(generator, "WeightedRandomSampler")

    def __iter__(self):
        rng = (self.generator or default_generator).numpy
        p = self.weights / self.weights.sum()
        draws = rng.choice(p.size, size=self.num_samples, replace=self.replacement, p=p)
        return iter(draws.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the keys of ``sampler`` into lists of ``batch_size``.

    Args:
        drop_last: drop the last batch if it is smaller than ``batch_size``.
    """

    def __init__(self, sampler, batch_size, drop_last):
        if (not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool)
                or batch_size <= 0):
            raise ValueError(f"BatchSampler: batch_size should be a positive integer value, but "
                             f"got batch_size={batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a boolean value, but got "
                             f"drop_last={drop_last!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self):
        size = self.batch_size
        it = iter(self.sampler)
        while True:
            batch = list(itertools.islice(it, size))
            if len(batch) == size or (batch and not self.drop_last):
                yield batch
            if len(batch) < size:
                return

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
