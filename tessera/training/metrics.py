"""The stateful-metric protocol the training loop reads, and the running mean that tracks
the loss. Keras's metric classes (``tessera.keras.metrics``) build on this base."""

import numpy as np

from .._tensor import Tensor
from ..autograd.function import _make_tensor

__all__ = ["Metric", "Mean", "to_numpy", "pythonify_logs"]


def to_numpy(v):
    """A NumPy array (without autograd history) for a Tensor, array, list or number."""
    if isinstance(v, Tensor):
        return v._data
    return np.asarray(v)


def pythonify_logs(logs):
    """Logs with 0-d values as Python floats (what History and callbacks keep)."""
    out = {}
    for k, v in logs.items():
        if isinstance(v, Tensor):
            v = v._data
        if isinstance(v, (np.ndarray, np.generic)):
            v = float(v) if v.size == 1 else v
        out[k] = v
    return out


class Metric:
    """A metric that accumulates over batches: ``update_state`` per batch, ``result`` for the
    value so far, ``reset_state`` at the start of each epoch.

    Subclasses keep their state in NumPy arrays or numbers: metrics never need gradients,
    so they stay out of the autograd graph and cost little per batch.
    """

    #: "up" when larger is better, "down" when smaller is better (callbacks in mode "auto")
    direction = "up"

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or "float32"

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self):
        raise NotImplementedError(f"{type(self).__name__} must implement reset_state")

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def _snake(name):
    out = []
    for i, c in enumerate(name):
        if c.isupper() and i and (not name[i - 1].isupper() or
                                  (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(c.lower())
    return "".join(out)


def _scalar(v):
    return _make_tensor(np.asarray(v, dtype=np.float32))


class Mean(Metric):
    """The (weighted) mean of the values given so far."""

    direction = "down"

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        if isinstance(values, Tensor) and values._data.ndim == 0 and sample_weight is None:
            self.total += float(values._data)
            self.count += 1.0
            return
        values = to_numpy(values).astype(np.float64, copy=False)
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += float(values.size)
            return
        w = to_numpy(sample_weight).astype(np.float64, copy=False)
        if w.ndim == 0 and values.ndim == 0:
            # A batch mean weighted by its batch size (how the loss is tracked).
            self.total += float(values) * float(w)
            self.count += float(w)
            return
        w = np.broadcast_to(w.reshape(w.shape + (1,) * (values.ndim - w.ndim)), values.shape)
        self.total += float((values * w).sum())
        self.count += float(w.sum())

    def update_batch_mean(self, value, batch_size):
        """Add one batch's mean ``value`` (a float) weighted by ``batch_size``."""
        self.total += value * batch_size
        self.count += batch_size

    def result(self):
        return _scalar(self.total / self.count if self.count else 0.0)

    def result_float(self):
        return self.total / self.count if self.count else 0.0

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0
