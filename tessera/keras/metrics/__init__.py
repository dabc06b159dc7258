"""Keras metrics: stateful objects (``update_state`` per batch, ``result``, ``reset_state``).

They accumulate in NumPy, outside the autograd graph: metrics never need gradients, and
this keeps their per-batch cost small. ``result()`` returns a 0-d Tensor.
"""

import numpy as np

from ... import autograd
from ...training.metrics import Mean as _EngineMean
from ...training.metrics import Metric, to_numpy
from ._util import _same_rank, _scalar, _weights_like
from .confusion import (AUC, FalseNegatives, FalsePositives, Precision, Recall,
                        TrueNegatives, TruePositives)
from .. import losses as losses_module
from ..saving.serialization_lib import (deserialize_keras_object, get_registered_object,
                                       serialize_keras_object)

__all__ = ["Metric", "Mean", "Sum", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy",
           "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError",
           "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "RootMeanSquaredError",
           "CosineSimilarity", "LogCoshError", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "KLDivergence", "Poisson", "Hinge", "SquaredHinge",
           "CategoricalHinge", "TruePositives", "FalsePositives", "TrueNegatives",
           "FalseNegatives", "Precision", "Recall", "AUC", "accuracy", "binary_accuracy",
           "categorical_accuracy", "sparse_categorical_accuracy",
           "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "get",
           "serialize", "deserialize"]


# -- accuracy functions (NumPy, one value per sample) -------------------------------------

def accuracy(y_true, y_pred):
    y_true, y_pred = _same_rank(to_numpy(y_true), to_numpy(y_pred))
    return (y_true == y_pred).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_true, y_pred = _same_rank(to_numpy(y_true), to_numpy(y_pred))
    hit = (y_true == (y_pred > threshold)).astype(np.float32)
    return hit.mean(axis=-1) if hit.ndim > 1 else hit


def categorical_accuracy(y_true, y_pred):
    y_true, y_pred = to_numpy(y_true), to_numpy(y_pred)
    return (y_true.argmax(-1) == y_pred.argmax(-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    y_true, y_pred = to_numpy(y_true), to_numpy(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (y_true.astype(np.int64) == y_pred.argmax(-1)).astype(np.float32)


def _in_top_k(labels, y_pred, k):
    k = min(k, y_pred.shape[-1])
    target = np.take_along_axis(y_pred, labels[..., None].astype(np.int64), -1)
    # Ties count as hits, as in Keras: fewer than k scores strictly above the target's.
    return ((y_pred > target).sum(-1) < k).astype(np.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_true, y_pred = to_numpy(y_true), to_numpy(y_pred)
    return _in_top_k(y_true.argmax(-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_true, y_pred = to_numpy(y_true), to_numpy(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return _in_top_k(y_true, y_pred, k)


# -- base classes -------------------------------------------------------------------------

class Mean(_EngineMean):
    """The (weighted) mean of the values given to ``update_state``."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)


class Sum(Metric):
    """The (weighted) sum of the values given to ``update_state``."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0

    def update_state(self, values, sample_weight=None):
        values = to_numpy(values).astype(np.float64)
        if sample_weight is not None:
            values = values * np.broadcast_to(_weights_like(sample_weight, values),
                                              values.shape)
        self.total += float(values.sum())

    def result(self):
        return _scalar(self.total)

    def reset_state(self):
        self.total = 0.0


class MeanMetricWrapper(Mean):
    """The running mean of ``fn(y_true, y_pred, **kwargs)`` (per-sample values).

    ``fn`` may work on NumPy arrays (the accuracy functions) or be a loss written with
    tessera operations (it then runs without recording gradients).
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "mean_metric_wrapper"),
                         dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        with autograd.no_grad():
            values = self._fn(y_true, y_pred, **self._fn_kwargs)
        values = to_numpy(values)
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += float(values.size)
            return
        w = np.broadcast_to(_weights_like(sample_weight, values), values.shape)
        self.total += float((values * w).sum())
        self.count += float(w.sum())

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype}
        config.update(self._fn_kwargs)
        return config


class _FnMetric(MeanMetricWrapper):
    _fn_default = None
    direction = "up"

    def __init__(self, name=None, dtype=None, **kwargs):
        fn = type(self)._fn_default
        super().__init__(fn, name=name or _snake(type(self).__name__), dtype=dtype, **kwargs)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _snake(name):
    out = []
    for i, c in enumerate(name):
        if c.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(c.lower())
    return "".join(out)


class Accuracy(_FnMetric):
    """How often predictions equal labels exactly."""

    _fn_default = staticmethod(accuracy)

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)


class BinaryAccuracy(_FnMetric):
    """How often ``y_pred > threshold`` equals binary labels."""

    _fn_default = staticmethod(binary_accuracy)

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(name=name, dtype=dtype, threshold=threshold)


class CategoricalAccuracy(_FnMetric):
    """How often the argmax of the predictions equals that of one-hot labels."""

    _fn_default = staticmethod(categorical_accuracy)

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)


class SparseCategoricalAccuracy(_FnMetric):
    """How often the argmax of the predictions equals integer labels."""

    _fn_default = staticmethod(sparse_categorical_accuracy)

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)


class TopKCategoricalAccuracy(_FnMetric):
    _fn_default = staticmethod(top_k_categorical_accuracy)

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype, k=k)


class SparseTopKCategoricalAccuracy(_FnMetric):
    _fn_default = staticmethod(sparse_top_k_categorical_accuracy)

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype, k=k)


class _LossMetric(_FnMetric):
    direction = "down"


def _loss_metric(loss_fn, metric_name, doc):
    class _Metric(_LossMetric):
        _fn_default = staticmethod(loss_fn)

        def __init__(self, name=metric_name, dtype=None, **kwargs):
            super().__init__(name=name, dtype=dtype, **kwargs)
    _Metric.__doc__ = doc
    return _Metric


class MeanSquaredError(_loss_metric(losses_module.mean_squared_error, "mean_squared_error",
                                    "The mean of the squared errors.")):
    pass


class MeanAbsoluteError(_loss_metric(losses_module.mean_absolute_error, "mean_absolute_error",
                                     "The mean of the absolute errors.")):
    pass


class MeanAbsolutePercentageError(_loss_metric(
        losses_module.mean_absolute_percentage_error, "mean_absolute_percentage_error",
        "The mean absolute percentage error.")):
    pass


class MeanSquaredLogarithmicError(_loss_metric(
        losses_module.mean_squared_logarithmic_error, "mean_squared_logarithmic_error",
        "The mean squared logarithmic error.")):
    pass


class LogCoshError(_loss_metric(losses_module.log_cosh, "logcosh",
                                "The mean of log(cosh(error)).")):
    pass


class KLDivergence(_loss_metric(losses_module.kl_divergence, "kl_divergence",
                                "Kullback-Leibler divergence.")):
    pass


class Poisson(_loss_metric(losses_module.poisson, "poisson", "The Poisson loss.")):
    pass


class Hinge(_loss_metric(losses_module.hinge, "hinge", "The hinge loss.")):
    pass


class SquaredHinge(_loss_metric(losses_module.squared_hinge, "squared_hinge",
                                "The squared hinge loss.")):
    pass


class CategoricalHinge(_loss_metric(losses_module.categorical_hinge, "categorical_hinge",
                                    "The categorical hinge loss.")):
    pass


class BinaryCrossentropy(_loss_metric(losses_module.binary_crossentropy, "binary_crossentropy",
                                      "Binary cross-entropy.")):
    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class CategoricalCrossentropy(_loss_metric(losses_module.categorical_crossentropy,
                                           "categorical_crossentropy",
                                           "Categorical cross-entropy.")):
    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0, axis=-1):
        super().__init__(name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(_loss_metric(
        losses_module.sparse_categorical_crossentropy, "sparse_categorical_crossentropy",
        "Sparse categorical cross-entropy.")):
    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 axis=-1):
        super().__init__(name=name, dtype=dtype, from_logits=from_logits, axis=axis)


class CosineSimilarity(_FnMetric):
    """The mean cosine similarity between labels and predictions."""

    direction = "up"

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(name=name, dtype=dtype, axis=axis)

    @staticmethod
    def _fn_default(y_true, y_pred, axis=-1):
        return -to_numpy(losses_module.cosine_similarity(y_true, y_pred, axis=axis))


class RootMeanSquaredError(Mean):
    """The square root of the mean squared error."""

    direction = "down"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _same_rank(to_numpy(y_true), to_numpy(y_pred))
        sq = np.square(y_pred.astype(np.float64) - y_true)
        super().update_state(sq, sample_weight)

    def result(self):
        return _scalar(self.result_float())

    def result_float(self):
        return float(np.sqrt(super().result_float()))


class _AutoAccuracy(MeanMetricWrapper):
    """Keras's "accuracy" string: binary, sparse categorical or categorical accuracy,
    chosen from the shapes of the first batch it sees."""

    direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(None, name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self._fn is None:
            t, p = to_numpy(y_true), to_numpy(y_pred)
            if p.ndim == 0 or p.shape[-1] == 1 or p.ndim == 1:
                self._fn = binary_accuracy
            elif t.ndim == p.ndim - 1 or (t.ndim == p.ndim and t.shape[-1] == 1):
                self._fn = sparse_categorical_accuracy
            else:
                self._fn = categorical_accuracy
        super().update_state(y_true, y_pred, sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


_CLASSES = {cls.__name__: cls for cls in (
    Mean, Sum, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError,
    MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
    RootMeanSquaredError, CosineSimilarity, LogCoshError, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, KLDivergence, Poisson, Hinge,
    SquaredHinge, CategoricalHinge, TruePositives, FalsePositives, TrueNegatives,
    FalseNegatives, Precision, Recall, AUC)}
_BY_NAME = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "rmse": RootMeanSquaredError, "root_mean_squared_error": RootMeanSquaredError,
    "cosine_similarity": CosineSimilarity, "logcosh": LogCoshError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "poisson": Poisson, "hinge": Hinge,
    "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "precision": Precision, "recall": Recall, "auc": AUC,
}
_SERIALIZABLE = dict(_CLASSES)
_SERIALIZABLE["_AutoAccuracy"] = _AutoAccuracy


def get(identifier, name=None):
    """A metric object from a name ("accuracy", "mae", "AUC" ...), a config dict, a Metric,
    a Metric class or a function ``f(y_true, y_pred)`` (wrapped in a running mean).
    ``name`` overrides the name it reports under."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = identifier
        if key in ("accuracy", "acc"):
            return _AutoAccuracy(name=name or identifier)
        cls = _BY_NAME.get(key) or _CLASSES.get(key) or _BY_NAME.get(key.lower())
        if cls is not None:
            return cls(name=name or identifier)
        custom = get_registered_object(identifier)
        if custom is not None:
            return get(custom, name=name or identifier)
        known = sorted({"accuracy", "acc"} | set(_BY_NAME) | set(_CLASSES))
        raise ValueError(f"Could not interpret metric identifier: {identifier!r}. Expected "
                         f"one of: {', '.join(known)}; or a keras.metrics.Metric or a callable")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier() if name is None else identifier(name=name)
    if isinstance(identifier, losses_module.Loss):
        return MeanMetricWrapper(lambda t, p: identifier.call(t, p),
                                 name=name or identifier.name)
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=name or getattr(identifier, "__name__",
                                                                  "metric"))
    raise TypeError(f"Could not interpret metric identifier: {identifier!r} (a "
                    f"{type(identifier).__name__})")


def serialize(metric):
    return serialize_keras_object(metric)


def deserialize(config, custom_objects=None):
    return deserialize_keras_object(config, module_objects=_SERIALIZABLE,
                                    custom_objects=custom_objects,
                                    default_module="keras.metrics")
