"""Keras losses: functions giving one value per sample and ``Loss`` classes that weight and
reduce them, written with tessera's differentiable operations.

``loss(y_true, y_pred, sample_weight=None)``; the default reduction
"sum_over_batch_size" is the sum of the weighted per-sample losses divided by their number.
Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` before logarithms, as in Keras.
"""

import numpy as np

from .. import ops
from .._tensor import Tensor
from ..autograd.function import _make_tensor
from ..nn import functional as F
from .backend import epsilon
from .saving.serialization_lib import (deserialize_keras_object, get_registered_object,
                                       serialize_keras_object)

__all__ = ["Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError",
           "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "CosineSimilarity",
           "Huber", "LogCosh", "Hinge", "SquaredHinge", "CategoricalHinge", "KLDivergence",
           "Poisson", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "mean_squared_error", "mean_absolute_error",
           "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
           "cosine_similarity", "huber", "log_cosh", "hinge", "squared_hinge",
           "categorical_hinge", "kl_divergence", "poisson", "binary_crossentropy",
           "categorical_crossentropy", "sparse_categorical_crossentropy", "get", "serialize",
           "deserialize"]

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def _as_tensor(x, like=None):
    if isinstance(x, Tensor):
        return x
    a = np.asarray(x)
    if like is not None and a.dtype.kind == "f":
        a = a.astype(like._data.dtype)
    return _make_tensor(a)


def _float_like(y_true, y_pred):
    y_true = _as_tensor(y_true)
    if y_true.dtype is not y_pred.dtype:
        y_true = y_true.to(y_pred.dtype)
    return y_true


def _same_rank(y_true, y_pred):
    """Keras's squeeze_or_expand_to_same_rank: a trailing axis of size 1 may differ."""
    dt, dp = y_true.ndim, y_pred.ndim
    if dt == dp + 1 and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    elif dp == dt + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred.squeeze(-1)
    return y_true, y_pred


def _prepare(y_true, y_pred):
    y_pred = _as_tensor(y_pred)
    y_true = _float_like(y_true, y_pred)
    return _same_rank(y_true, y_pred)


def _clip_probs(p):
    eps = epsilon()
    return ops.clamp(p, eps, 1.0 - eps)


# -- per-sample loss functions ------------------------------------------------------------

def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    return ops.square(y_pred - y_true).mean(dim=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    return ops.abs(y_pred - y_true).mean(dim=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    diff = ops.abs((y_true - y_pred) / ops.clamp(ops.abs(y_true), min=epsilon()))
    return 100.0 * diff.mean(dim=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    a = ops.log(ops.clamp(y_pred, min=epsilon()) + 1.0)
    b = ops.log(ops.clamp(y_true, min=epsilon()) + 1.0)
    return ops.square(a - b).mean(dim=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Minus the cosine similarity (so that minimizing aligns the vectors)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = F.normalize(y_true, dim=axis, eps=1e-12)
    y_pred = F.normalize(y_pred, dim=axis, eps=1e-12)
    return -(y_true * y_pred).sum(dim=axis)


def huber(y_true, y_pred, delta=1.0):
    y_true, y_pred = _prepare(y_true, y_pred)
    err = ops.abs(y_pred - y_true)
    quad = ops.clamp(err, max=delta)
    return (0.5 * ops.square(quad) + delta * (err - quad)).mean(dim=-1)


def log_cosh(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    x = y_pred - y_true
    # log(cosh(x)) = x + softplus(-2x) - log(2), stable for large |x|.
    return (x + F.softplus(-2.0 * x) - float(np.log(2.0))).mean(dim=-1)


def _signed_labels(y_true):
    """Labels in {0, 1} become {-1, 1} (Keras's hinge losses accept either)."""
    data = y_true._data
    if data.size and ((data == 0) | (data == 1)).all():
        return 2.0 * y_true - 1.0
    return y_true


def hinge(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    return F.relu(1.0 - _signed_labels(y_true) * y_pred).mean(dim=-1)


def squared_hinge(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    return ops.square(F.relu(1.0 - _signed_labels(y_true) * y_pred)).mean(dim=-1)


def categorical_hinge(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    pos = (y_true * y_pred).sum(dim=-1)
    neg = ((1.0 - y_true) * y_pred).amax(dim=-1)
    return F.relu(neg - pos + 1.0)


def kl_divergence(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = ops.clamp(y_true, epsilon(), 1.0)
    y_pred = ops.clamp(y_pred, epsilon(), 1.0)
    return (y_true * ops.log(y_true / y_pred)).sum(dim=-1)


def poisson(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    return (y_pred - y_true * ops.log(y_pred + epsilon())).mean(dim=-1)


def _smooth_binary(y_true, label_smoothing):
    return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample binary cross-entropy, averaged over ``axis``."""
    y_true, y_pred = _prepare(y_true, y_pred)
    if label_smoothing:
        y_true = _smooth_binary(y_true, label_smoothing)
    if from_logits:
        # max(x, 0) - x z + log(1 + exp(-|x|)): no overflow for large logits.
        per = F.relu(y_pred) - y_pred * y_true + ops.log1p(ops.exp(-ops.abs(y_pred)))
    else:
        p = _clip_probs(y_pred)
        per = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    return per.mean(dim=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample cross-entropy against one-hot (or soft) targets along ``axis``."""
    y_pred = _as_tensor(y_pred)
    y_true = _float_like(y_true, y_pred)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(f"categorical_crossentropy: targets of shape {tuple(y_true.shape)} do "
                         f"not match predictions of shape {tuple(y_pred.shape)}; integer "
                         "class labels need sparse_categorical_crossentropy")
    if label_smoothing:
        n = y_pred.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / n
    if from_logits:
        log_p = F.log_softmax(y_pred, dim=axis)
    else:
        p = y_pred / y_pred.sum(dim=axis, keepdim=True)
        log_p = ops.log(_clip_probs(p))
    return -(y_true * log_p).sum(dim=axis)


def _labels(y_true, y_pred, owner):
    y_true = _as_tensor(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    if y_true.ndim != y_pred.ndim - 1:
        raise ValueError(f"{owner}: expected integer class labels of shape "
                         f"{tuple(y_pred.shape[:-1])} (or with a trailing 1) for predictions "
                         f"of shape {tuple(y_pred.shape)}, got targets of shape "
                         f"{tuple(y_true.shape)}; one-hot targets need "
                         "categorical_crossentropy")
    if y_true.is_floating_point():
        y_true = y_true.long()
    return y_true


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """Per-sample cross-entropy against integer class labels."""
    y_pred = _as_tensor(y_pred)
    if axis not in (-1, y_pred.ndim - 1):
        y_pred = y_pred.movedim(axis, -1)
    labels = _labels(y_true, y_pred, "sparse_categorical_crossentropy")
    mask = None
    if ignore_class is not None:
        mask = labels != ignore_class
        labels = ops.where(mask, labels, ops.zeros_like(labels))
    if from_logits:
        log_p = F.log_softmax(y_pred, dim=-1)
    else:
        p = y_pred / y_pred.sum(dim=-1, keepdim=True)
        log_p = ops.log(_clip_probs(p))
    per = -ops.gather(log_p, -1, labels.unsqueeze(-1)).squeeze(-1)
    if mask is not None:
        per = per * mask.to(per.dtype)
    return per


# -- Loss classes --------------------------------------------------------------------------

def _reduce(values, sample_weight, reduction):
    if sample_weight is not None:
        w = _as_tensor(sample_weight)
        if w.dtype is not values.dtype:
            w = w.to(values.dtype)
        while w.ndim > values.ndim and w.shape[-1] == 1:
            w = w.squeeze(-1)
        while w.ndim < values.ndim:
            w = w.unsqueeze(-1)
        values = values * w
    if reduction in ("none", None):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return total / ops.clamp(w.expand(values.shape).sum(), min=epsilon())
    n = values.numel()
    return total / max(n, 1)


class Loss:
    """Base class: subclasses implement ``call(y_true, y_pred)`` (per-sample values).

    Args:
        name: the loss's name.
        reduction: "sum_over_batch_size" (default), "sum", "mean",
            "mean_with_sample_weight" or "none".
        dtype: accepted for Keras compatibility.
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: invalid reduction {reduction!r}; "
                             f"expected one of {_REDUCTIONS}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def __call__(self, y_true, y_pred, sample_weight=None):
        return _reduce(self.call(y_true, y_pred), sample_weight, self.reduction)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call")

    def check_targets(self, y_true, y_pred):
        """Check targets (a NumPy array) against predictions once, before training."""

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

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


class LossFunctionWrapper(Loss):
    """A Loss from a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction,
                         dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(self._fn_kwargs)
        return config


def _check_regression(owner, y_true, y_pred):
    t, p = tuple(y_true.shape[1:]), tuple(y_pred.shape[1:])
    if t == p or t + (1,) == p or t == p + (1,):
        return
    try:
        np.broadcast_shapes((2,) + t, (2,) + p)
    except ValueError:
        raise ValueError(f"{owner}: targets of shape (N, {', '.join(map(str, t))}) do not "
                         f"match model outputs of shape (N, {', '.join(map(str, p))})") \
            from None


class _Elementwise(LossFunctionWrapper):
    _fn = None

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(type(self)._fn, reduction=reduction,
                         name=name or type(self)._fn.__name__, dtype=dtype, **kwargs)

    def check_targets(self, y_true, y_pred):
        _check_regression(self.name, y_true, y_pred)


class MeanSquaredError(_Elementwise):
    _fn = staticmethod(mean_squared_error)


class MeanAbsoluteError(_Elementwise):
    _fn = staticmethod(mean_absolute_error)


class MeanAbsolutePercentageError(_Elementwise):
    _fn = staticmethod(mean_absolute_percentage_error)


class MeanSquaredLogarithmicError(_Elementwise):
    _fn = staticmethod(mean_squared_logarithmic_error)


class LogCosh(_Elementwise):
    _fn = staticmethod(log_cosh)


class Hinge(_Elementwise):
    _fn = staticmethod(hinge)


class SquaredHinge(_Elementwise):
    _fn = staticmethod(squared_hinge)


class CategoricalHinge(_Elementwise):
    _fn = staticmethod(categorical_hinge)


class KLDivergence(_Elementwise):
    _fn = staticmethod(kl_divergence)


class Poisson(_Elementwise):
    _fn = staticmethod(poisson)


class CosineSimilarity(_Elementwise):
    _fn = staticmethod(cosine_similarity)

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity",
                 dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, axis=axis)


class Huber(_Elementwise):
    _fn = staticmethod(huber)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss",
                 dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, delta=delta)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy between labels in [0, 1] and probabilities (or logits with
    ``from_logits=True``)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits

    def check_targets(self, y_true, y_pred):
        _check_regression(self.name, y_true, y_pred)


class CategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy between one-hot (or soft) targets and probabilities (or logits)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy",
                 dtype=None):
        super().__init__(categorical_crossentropy, reduction=reduction, name=name,
                         dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits

    def check_targets(self, y_true, y_pred):
        if tuple(y_true.shape[1:]) != tuple(y_pred.shape[1:]):
            hint = ""
            if y_true.ndim == y_pred.ndim - 1 or (y_true.ndim == y_pred.ndim
                                                  and y_true.shape[-1] == 1):
                hint = ("; these look like integer class labels: use "
                        "loss='sparse_categorical_crossentropy' (or one-hot encode y with "
                        "keras.utils.to_categorical)")
            raise ValueError(f"{self.name}: expected one-hot targets of shape "
                             f"(N, {', '.join(map(str, y_pred.shape[1:]))}), got y of shape "
                             f"{tuple(y_true.shape)}{hint}")


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy between integer class labels and probabilities (or logits)."""

    def __init__(self, from_logits=False, ignore_class=None, axis=-1,
                 reduction="sum_over_batch_size", name="sparse_categorical_crossentropy",
                 dtype=None):
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name,
                         dtype=dtype, from_logits=from_logits, ignore_class=ignore_class,
                         axis=axis)
        self.from_logits = from_logits
        self.ignore_class = ignore_class

    def check_targets(self, y_true, y_pred):
        classes = y_pred.shape[-1]
        shape, pred = tuple(y_true.shape), tuple(y_pred.shape)
        ok_rank = (len(shape) == len(pred) - 1
                   or (len(shape) == len(pred) and shape[-1] == 1))
        if not ok_rank:
            hint = ("; these look like one-hot targets: use "
                    "loss='categorical_crossentropy'") if shape[1:] == pred[1:] else ""
            raise ValueError(f"{self.name}: expected integer class labels of shape (N,) for "
                             f"model outputs of shape (N, {', '.join(map(str, pred[1:]))}), "
                             f"got y of shape {shape}{hint}")
        y = np.asarray(y_true)
        if y.dtype.kind == "f" and y.size and not np.array_equal(y, np.round(y)):
            raise ValueError(f"{self.name}: expected integer class labels, got non-integer "
                             f"values such as {y[y != np.round(y)].flat[0]}")
        if y.size:
            valid = y if self.ignore_class is None else y[y != self.ignore_class]
            if valid.size and (valid.min() < 0 or valid.max() >= classes):
                bad = valid[(valid < 0) | (valid >= classes)].flat[0]
                raise ValueError(f"{self.name}: labels must be in [0, {classes}) for a model "
                                 f"with {classes} outputs, got label {bad:g}")


_CLASSES = {cls.__name__: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, CosineSimilarity, Huber, LogCosh, Hinge, SquaredHinge,
    CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy)}
_FUNCTIONS = {fn.__name__: fn for fn in (
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_logarithmic_error, cosine_similarity, huber, log_cosh, hinge, squared_hinge,
    categorical_hinge, kl_divergence, poisson, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy)}
_ALIASES = {"mse": "mean_squared_error", "MSE": "mean_squared_error",
            "mae": "mean_absolute_error", "MAE": "mean_absolute_error",
            "mape": "mean_absolute_percentage_error", "MAPE": "mean_absolute_percentage_error",
            "msle": "mean_squared_logarithmic_error", "MSLE": "mean_squared_logarithmic_error",
            "kld": "kl_divergence", "KLD": "kl_divergence",
            "kullback_leibler_divergence": "kl_divergence", "logcosh": "log_cosh",
            "huber_loss": "huber"}
_FOR_FUNCTION = {
    "mean_squared_error": MeanSquaredError, "mean_absolute_error": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "cosine_similarity": CosineSimilarity, "huber": Huber, "log_cosh": LogCosh,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "kl_divergence": KLDivergence, "poisson": Poisson,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy}
_SERIALIZABLE = dict(_CLASSES)
_SERIALIZABLE.update(_FUNCTIONS)
_SERIALIZABLE.update({k: _FUNCTIONS[v] for k, v in _ALIASES.items()})


def get(identifier):
    """A loss from a name ("mse", "sparse_categorical_crossentropy", "MeanSquaredError"),
    a config dict, a Loss or a callable ``f(y_true, y_pred)``.

    Names give the Loss object of that function, so that ``compile(loss="mse")`` reports
    "loss" values exactly as ``compile(loss=keras.losses.MeanSquaredError())``.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier, identifier)
        if name in _FOR_FUNCTION:
            return _FOR_FUNCTION[name]()
        if name in _CLASSES:
            return _CLASSES[name]()
        custom = get_registered_object(identifier)
        if custom is not None:
            return custom() if isinstance(custom, type) else custom
        known = sorted(set(_FOR_FUNCTION) | set(_ALIASES) | set(_CLASSES))
        raise ValueError(f"Could not interpret loss identifier: {identifier!r}. Expected one "
                         f"of: {', '.join(known)}; or a keras.losses.Loss or a callable")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret loss identifier: {identifier!r} (a "
                    f"{type(identifier).__name__}); expected a name, a Loss or a callable")


def serialize(loss):
    return serialize_keras_object(loss)


def deserialize(config, custom_objects=None):
    return deserialize_keras_object(config, module_objects=_SERIALIZABLE,
                                    custom_objects=custom_objects,
                                    default_module="keras.losses")
