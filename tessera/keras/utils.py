"""Keras utilities: one-hot labels, seeding, the progress bar, and training-curve plots."""

import os
import random

import numpy as np

from .. import backend as ts_backend
from ..training.callbacks.base import History
from ..training.callbacks.progbar import Progbar
from .saving.serialization_lib import (custom_object_scope, get_custom_objects,
                                       get_registered_name, get_registered_object,
                                       register_keras_serializable)

__all__ = ["to_categorical", "normalize", "set_random_seed", "plot_history", "Progbar",
           "custom_object_scope", "get_custom_objects", "get_registered_name",
           "get_registered_object", "register_keras_serializable"]


def to_categorical(x, num_classes=None):
    """One-hot encode integer class labels: ``(N,)`` -> ``(N, num_classes)`` float32."""
    x = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if x.size and not np.array_equal(x, np.round(x)):
        raise ValueError("to_categorical: expected integer class labels")
    x = x.astype(np.int64)
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x[..., 0]
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}), got values "
                         f"from {x.min()} to {x.max()}")
    out = np.zeros(x.shape + (num_classes,), dtype=np.float32)
    np.put_along_axis(out, x[..., None], 1.0, axis=-1)
    return out


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (zero vectors stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(norm == 0, 1, norm)


def set_random_seed(seed):
    """Seed Python's, NumPy's and tessera's random generators."""
    if not isinstance(seed, int):
        raise ValueError(f"set_random_seed: expected an int seed, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    ts_backend.manual_seed(seed)


def plot_history(history, filename="history.png", metrics=None, title=None, dpi=100):
    """Save a PNG of the training curves in ``history`` (a History or its dict): one panel
    per quantity, with the ``val_`` curve beside the training one. Returns the path.

    Args:
        history: what ``fit`` returned (or ``history.history``).
        filename: the PNG to write.
        metrics: the quantities to plot (all by default).
        title: a title above the panels.
    """
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("plot_history needs matplotlib: pip install matplotlib") from e
    logs = history.history if isinstance(history, History) else dict(history)
    if not logs:
        raise ValueError("plot_history: the history is empty (was fit run for 0 epochs?)")
    names = metrics or [k for k in logs if not k.startswith("val_")]
    unknown = [n for n in names if n not in logs]
    if unknown:
        raise ValueError(f"plot_history: {unknown} not in the history; it has {sorted(logs)}")
    epochs = getattr(history, "epoch", None) or list(range(len(logs[names[0]])))
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.plot([e + 1 for e in epochs][:len(logs[name])], logs[name], marker="o",
                label=name)
        if "val_" + name in logs:
            val = logs["val_" + name]
            ax.plot([e + 1 for e in epochs][:len(val)], val, marker="o", label="val_" + name)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(filename))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(filename, dpi=dpi)
    plt.close(fig)
    return filename
