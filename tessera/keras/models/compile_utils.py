"""What ``compile`` builds: the loss over (possibly several) outputs and the metrics, with
the names they report in the logs."""

import numpy as np

from ..._tensor import Tensor
from ...training.data import flatten
from ...training.metrics import Mean
from .. import losses as losses_module
from .. import metrics as metrics_module

__all__ = ["CompileLoss", "CompileMetrics", "match_outputs"]


def match_outputs(struct, output_names, what):
    """A list with one entry per output from a single value, a list or a dict keyed by
    output name (missing outputs get None)."""
    n = len(output_names)
    if isinstance(struct, dict):
        unknown = [k for k in struct if k not in output_names]
        if unknown:
            raise ValueError(f"compile: {what} has keys {unknown} that are not outputs of the "
                             f"model; the outputs are {output_names}")
        return [struct.get(name) for name in output_names]
    if isinstance(struct, (list, tuple)) and n > 1:
        if len(struct) != n:
            raise ValueError(f"compile: {what} has {len(struct)} entries but the model has "
                             f"{n} outputs ({output_names})")
        return list(struct)
    return [struct] * n


def _targets(y, output_names, op="fit"):
    """The targets as a list in output order (a dict is keyed by output name)."""
    if isinstance(y, dict):
        missing = [k for k in output_names if k not in y]
        if missing:
            raise ValueError(f"{op}: y is a dict without the outputs {missing}; the model's "
                             f"outputs are {output_names}")
        return [y[k] for k in output_names]
    return flatten(y)


class CompileLoss:
    """The compiled loss: one Keras loss per output, weighted and summed.

    Per-output values are tracked under ``<output>_loss`` when there are several outputs.
    """

    def __init__(self, loss, loss_weights, output_names):
        self.output_names = list(output_names)
        per_output = match_outputs(loss, self.output_names, "loss")
        self.losses = [losses_module.get(spec) for spec in per_output]
        if all(fn is None for fn in self.losses):
            raise ValueError("compile: no loss given for any output")
        weights = match_outputs(loss_weights, self.output_names, "loss_weights") \
            if loss_weights is not None else [1.0] * len(self.output_names)
        for w in weights:
            if w is not None and not isinstance(w, (int, float, np.number)):
                raise TypeError(f"compile: loss_weights must be numbers, got {w!r}; note that "
                                "compile's third argument is loss_weights (Keras 3's order): "
                                "pass metrics=... by keyword")
        self.weights = [1.0 if w is None else float(w) for w in weights]
        self.trackers = ([Mean(name=f"{name}_loss") for name in self.output_names]
                         if len(self.output_names) > 1 else [])

    def __call__(self, y, y_pred, sample_weight=None, track=True):
        preds = flatten(y_pred)
        if len(preds) != len(self.losses):
            raise ValueError(f"the model returned {len(preds)} outputs but the loss was "
                             f"compiled for {len(self.losses)}")
        targets = _targets(y, self.output_names)
        if len(targets) != len(preds):
            raise ValueError(f"the model has {len(preds)} outputs but y has {len(targets)} "
                             "arrays")
        weights = (_targets(sample_weight, self.output_names) if isinstance(sample_weight, dict)
                   else flatten(sample_weight) if isinstance(sample_weight, (list, tuple))
                   else [sample_weight] * len(preds))
        total = None
        batch = preds[0].shape[0] if preds[0].ndim else 1
        for i, (fn, t, p, w) in enumerate(zip(self.losses, targets, preds, weights)):
            if fn is None:
                continue
            value = fn(t, p, sample_weight=w) if isinstance(fn, losses_module.Loss) \
                else _reduce_plain(fn(t, p), w)
            if track and self.trackers:
                self.trackers[i].update_batch_mean(float(value._data), batch)
            term = value if self.weights[i] == 1.0 else value * self.weights[i]
            total = term if total is None else total + term
        return total

    def check_targets(self, y, y_pred_sample, op):
        """Check whole target arrays against the outputs of a sample forward pass."""
        preds = flatten(y_pred_sample)
        targets = _targets(y, self.output_names, op)
        if len(targets) != len(preds):
            raise ValueError(f"{op}: the model has {len(preds)} output(s) "
                             f"({', '.join(self.output_names)}) but y has {len(targets)} "
                             "array(s)")
        for fn, t, p, name in zip(self.losses, targets, preds, self.output_names):
            if isinstance(fn, losses_module.Loss):
                arr = t._data if isinstance(t, Tensor) else np.asarray(t)
                try:
                    fn.check_targets(arr, p._data)
                except ValueError as e:
                    where = f" for output '{name}'" if len(self.output_names) > 1 else ""
                    raise ValueError(f"{op}: bad targets{where}: {e}") from None

    def get_config(self):
        return None


def _reduce_plain(values, sample_weight):
    """A plain callable's per-sample values, reduced like Keras's default reduction."""
    if not isinstance(values, Tensor):
        raise TypeError(f"a loss function must return a Tensor, got {type(values).__name__}")
    if values.ndim == 0:
        return values
    if sample_weight is not None:
        w = sample_weight
        while w.ndim < values.ndim:
            w = w.unsqueeze(-1)
        values = values * w.to(values.dtype)
    return values.sum() / max(values.numel(), 1)


def _clone_metric(m):
    if isinstance(m, metrics_module.Metric):
        try:
            return type(m).from_config(m.get_config())
        except (TypeError, NotImplementedError):
            return m
    return m


class CompileMetrics:
    """The compiled metrics, per output; names are prefixed with the output's name when the
    model has several outputs."""

    def __init__(self, metrics, weighted_metrics, output_names):
        self.output_names = list(output_names)
        multi = len(self.output_names) > 1
        self.entries = []  # (output index, metric, weighted)
        names = set()
        for spec, weighted in ((metrics, False), (weighted_metrics, True)):
            if spec is None:
                continue
            if isinstance(spec, dict) or (multi and isinstance(spec, (list, tuple))
                                          and len(spec) == len(self.output_names)
                                          and all(isinstance(s, (list, tuple)) or s is None
                                                  for s in spec)):
                per_output = match_outputs(spec, self.output_names, "metrics")
            elif isinstance(spec, (list, tuple)):
                per_output = [list(spec)] * len(self.output_names)
            else:
                raise TypeError(f"compile: metrics must be a list or a dict, got "
                                f"{type(spec).__name__}")
            for i, items in enumerate(per_output):
                if items is None:
                    continue
                if not isinstance(items, (list, tuple)):
                    items = [items]
                for item in items:
                    m = metrics_module.get(item)
                    if multi:
                        m = _clone_metric(m) if i else m
                        m.name = f"{self.output_names[i]}_{m.name}"
                    if weighted and m.name in names:
                        m.name = "weighted_" + m.name
                    names.add(m.name)
                    self.entries.append((i, m, weighted))

    @property
    def metrics(self):
        return [m for _, m, _ in self.entries]

    def update_state(self, y, y_pred, sample_weight=None):
        if not self.entries or y is None:
            return
        preds = flatten(y_pred)
        targets = _targets(y, self.output_names)
        weights = (_targets(sample_weight, self.output_names) if isinstance(sample_weight, dict)
                   else flatten(sample_weight) if isinstance(sample_weight, (list, tuple))
                   else [sample_weight] * len(preds))
        for i, m, weighted in self.entries:
            m.update_state(targets[i], preds[i], weights[i] if weighted else None)
