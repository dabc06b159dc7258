"""Metrics from confusion counts at thresholds: true/false positives/negatives,
Precision, Recall and AUC (ROC or PR), computed as Keras computes them."""

import numpy as np

from ...training.metrics import Metric, to_numpy
from ._util import _same_rank, _scalar, _weights_like

__all__ = ["TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives", "Precision",
           "Recall", "AUC"]


def _thresholds_list(thresholds, default):
    if thresholds is None:
        return [default], True
    if isinstance(thresholds, (list, tuple, np.ndarray)):
        return [float(t) for t in thresholds], False
    return [float(thresholds)], True


def _confusion(y_true, y_pred, thresholds, sample_weight=None, top_k=None, class_id=None,
               multi_label=False):
    """``(tp, fp, tn, fn)`` arrays of shape ``(len(thresholds),)`` (or ``(T, labels)``)."""
    y_true = to_numpy(y_true).astype(np.float64)
    y_pred = to_numpy(y_pred).astype(np.float64)
    y_true, y_pred = _same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        y_true = np.broadcast_to(y_true, y_pred.shape)
    if top_k is not None:
        k = min(top_k, y_pred.shape[-1])
        kth = -np.sort(-y_pred, axis=-1)[..., k - 1:k]
        y_pred = np.where(y_pred >= kth, y_pred, -np.inf)
    if class_id is not None:
        y_true, y_pred = y_true[..., class_id], y_pred[..., class_id]
    w = None
    if sample_weight is not None:
        w = np.broadcast_to(_weights_like(sample_weight, y_pred), y_pred.shape)
    if multi_label:
        y_true = y_true.reshape(-1, y_true.shape[-1])
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
        w = None if w is None else w.reshape(-1, w.shape[-1])
    else:
        y_true, y_pred = y_true.ravel(), y_pred.ravel()
        w = None if w is None else w.ravel()
    t = np.asarray(thresholds, dtype=np.float64).reshape((-1,) + (1,) * y_pred.ndim)
    above = y_pred[None] > t
    pos = (y_true > 0.5)[None]
    ww = 1.0 if w is None else w[None]
    tp = (above & pos) * ww
    fp = (above & ~pos) * ww
    fn = (~above & pos) * ww
    tn = (~above & ~pos) * ww
    return tp.sum(1), fp.sum(1), tn.sum(1), fn.sum(1)


class _ConfusionMetric(Metric):
    direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = -np.inf if top_k is not None and thresholds is None else 0.5
        self.thresholds, self._single = _thresholds_list(thresholds, default)
        self.reset_state()

    def reset_state(self):
        n = len(self.thresholds)
        self.tp, self.fp, self.tn, self.fn = (np.zeros(n) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None):
        tp, fp, tn, fn = _confusion(y_true, y_pred, self.thresholds, sample_weight,
                                    self.top_k, self.class_id)
        self.tp += tp
        self.fp += fp
        self.tn += tn
        self.fn += fn

    def _value(self):
        raise NotImplementedError

    def result(self):
        v = self._value()
        return _scalar(v[0] if self._single else v)

    def result_float(self):
        v = self._value()
        return float(v[0]) if self._single else v

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}


def _div(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


class TruePositives(_ConfusionMetric):
    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds, name=name, dtype=dtype)

    def _value(self):
        return self.tp


class FalsePositives(_ConfusionMetric):
    direction = "down"

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds, name=name, dtype=dtype)

    def _value(self):
        return self.fp


class TrueNegatives(_ConfusionMetric):
    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds, name=name, dtype=dtype)

    def _value(self):
        return self.tn


class FalseNegatives(_ConfusionMetric):
    direction = "down"

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds, name=name, dtype=dtype)

    def _value(self):
        return self.fn


class Precision(_ConfusionMetric):
    """``tp / (tp + fp)`` of predictions above ``thresholds`` (0.5), optionally among the
    ``top_k`` scores or for one ``class_id``."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name=name or "precision", dtype=dtype)

    def _value(self):
        return _div(self.tp, self.tp + self.fp)

    def get_config(self):
        config = super().get_config()
        config.update(top_k=self.top_k, class_id=self.class_id)
        return config


class Recall(_ConfusionMetric):
    """``tp / (tp + fn)`` (arguments as Precision)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name=name or "recall", dtype=dtype)

    def _value(self):
        return _div(self.tp, self.tp + self.fn)

    def get_config(self):
        config = super().get_config()
        config.update(top_k=self.top_k, class_id=self.class_id)
        return config


class AUC(Metric):
    """Area under the ROC (or precision-recall) curve, from confusion counts at
    ``num_thresholds`` thresholds, as Keras computes it.

    Args:
        num_thresholds: thresholds evenly spaced in [0, 1] (200).
        curve: "ROC" or "PR".
        summation_method: "interpolation" (trapezoids; Davis-Goadrich for PR), "minoring"
            or "majoring".
        thresholds: explicit thresholds instead.
        multi_label: one curve per label, averaged.
        from_logits: apply a sigmoid to the predictions first.
    """

    direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        super().__init__(name=name or "auc", dtype=dtype)
        curve = str(curve).upper()
        if curve not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"AUC: invalid summation_method {summation_method!r}")
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            num_thresholds = len(inner) + 2
        else:
            if num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be > 1, got {num_thresholds}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        eps = 1e-7
        self.thresholds = [0.0 - eps] + inner + [1.0 + eps]
        self.num_thresholds = num_thresholds
        self.curve = curve
        self.summation_method = summation_method
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights)
        self.from_logits = from_logits
        self._init_thresholds = thresholds
        self.reset_state()

    def reset_state(self):
        self.tp = self.fp = self.tn = self.fn = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = to_numpy(y_pred).astype(np.float64)
        if self.from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        counts = _confusion(y_true, y_pred, self.thresholds, sample_weight,
                            multi_label=self.multi_label)
        if self.tp is None:
            self.tp, self.fp, self.tn, self.fn = (np.array(c) for c in counts)
        else:
            self.tp += counts[0]
            self.fp += counts[1]
            self.tn += counts[2]
            self.fn += counts[3]

    def _interpolate_pr(self, tp, fp, fn):
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _div(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _div(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increments = _div(slope * (dtp + intercept * np.log(ratio)),
                          np.maximum(tp[1:] + fn[1:], 0))
        return increments.sum(0)

    def _area(self):
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        if tp is None:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            area = self._interpolate_pr(tp, fp, fn)
        else:
            recall = _div(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _div(fp, fp + tn), recall
            else:
                x, y = recall, _div(tp, tp + fp)
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2.0
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:-1], y[1:])
            else:
                heights = np.maximum(y[:-1], y[1:])
            area = ((x[:-1] - x[1:]) * heights).sum(0)
        if self.multi_label:
            if self.label_weights is not None:
                return float((area * self.label_weights).sum() / self.label_weights.sum())
            return float(np.mean(area))
        return float(area)

    def result(self):
        return _scalar(self._area())

    def result_float(self):
        return self._area()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "num_thresholds": self.num_thresholds,
                "curve": self.curve, "summation_method": self.summation_method,
                "thresholds": self._init_thresholds, "multi_label": self.multi_label,
                "num_labels": self.num_labels,
                "label_weights": None if self.label_weights is None
                else self.label_weights.tolist(),
                "from_logits": self.from_logits}
