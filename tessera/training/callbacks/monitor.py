"""Callbacks that watch a logged quantity: EarlyStopping and ReduceLROnPlateau, plus the
learning-rate scheduler and the helpers they share (the monitor check, the optimizer's
learning rate, weight snapshots)."""

import math
import sys

import numpy as np

from .base import Callback

__all__ = ["EarlyStopping", "ReduceLROnPlateau", "LearningRateScheduler", "get_learning_rate",
           "set_learning_rate"]

_MAX_HINTS = ("acc", "auc", "precision", "recall", "f1", "iou", "top_k", "r2", "similarity")


def resolve_mode(owner, monitor, mode, model=None):
    """"min" or "max" for ``monitor`` (Keras's ``mode="auto"`` rules)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss" or name.endswith("loss"):
        return "min"
    for m in getattr(model, "metrics", None) or []:
        if getattr(m, "name", None) == name and getattr(m, "direction", None):
            return "max" if m.direction == "up" else "min"
    if any(h in name for h in _MAX_HINTS):
        return "max"
    return "min"


def check_monitor(owner, monitor, params):
    """Fail at the start of fit when the logs will not carry ``monitor``."""
    available = params.get("metrics")
    if available is None or monitor in available:
        return
    if monitor == "learning_rate":
        return  # added to the logs by the learning-rate callbacks themselves
    hint = ""
    if monitor.startswith("val_") and monitor[4:] in available:
        hint = " (pass validation_data or validation_split to fit for val_ quantities)"
    raise ValueError(f"{owner}: monitor '{monitor}' will not be in the logs of fit; the "
                     f"available quantities are {', '.join(available)}{hint}")


def _optimizer(owner, model):
    opt = getattr(model, "optimizer", None)
    if opt is None:
        raise ValueError(f"{owner}: the model has no optimizer (compile it first)")
    return opt


def get_learning_rate(optimizer):
    """The learning rate of a Keras-style or PyTorch-style optimizer (its first group)."""
    if hasattr(optimizer, "learning_rate"):
        return float(optimizer.learning_rate)
    if hasattr(optimizer, "param_groups"):
        return float(optimizer.param_groups[0]["lr"])
    raise TypeError(f"cannot read the learning rate of {type(optimizer).__name__}")


def set_learning_rate(optimizer, lr):
    """Set the learning rate (of every group, for a PyTorch-style optimizer)."""
    lr = float(lr)
    if hasattr(optimizer, "learning_rate"):
        optimizer.learning_rate = lr
    elif hasattr(optimizer, "param_groups"):
        for group in optimizer.param_groups:
            group["lr"] = lr
    else:
        raise TypeError(f"cannot set the learning rate of {type(optimizer).__name__}")


def snapshot_weights(model):
    """A copy of the trained module's state, independent of later updates."""
    module = model._engine_module() if hasattr(model, "_engine_module") else model
    return {k: np.array(v._data, copy=True) for k, v in module.state_dict().items()}


def restore_weights(model, snapshot):
    module = model._engine_module() if hasattr(model, "_engine_module") else model
    for k, v in module.state_dict(keep_vars=True).items():
        v._data[...] = snapshot[k]


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving (Keras semantics).

    Args:
        monitor: the quantity, e.g. "val_loss" (checked when fit starts).
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement after which training stops.
        verbose: 1 prints when it stops or restores.
        mode: "min", "max" or "auto" (from the quantity's name).
        baseline: training stops unless the quantity beats it within ``patience`` epochs.
        restore_best_weights: when training ends (stopped early or not), put back the
            weights of the best epoch.
        start_from_epoch: epochs to wait before watching.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        resolve_mode("EarlyStopping", monitor, mode)  # a bad mode fails here already
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        check_monitor("EarlyStopping", self.monitor, self.params)
        self._mode = resolve_mode("EarlyStopping", self.monitor, self.mode, self.model)
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self._mode == "min" else -math.inf
        self.best_weights = None
        self.best_epoch = 0

    def _improves(self, value, reference):
        if self._mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return
        current = float(current)
        if self.restore_best_weights and self.best_weights is None:
            # Until something improves, the weights at hand are the best seen.
            self.best_weights = snapshot_weights(self.model)
            self.best_epoch = epoch
        self.wait += 1
        if self._improves(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = snapshot_weights(self.model)
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print("Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            restore_weights(self.model, self.best_weights)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    Args:
        monitor: the quantity (checked when fit starts).
        factor: the multiplier, < 1.
        patience: epochs without improvement before the rate is reduced.
        verbose: 1 prints each reduction.
        mode: "min", "max" or "auto".
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the lower bound of the learning rate.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, got "
                             f"{factor}")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected arguments {sorted(kwargs)}")
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        resolve_mode("ReduceLROnPlateau", monitor, mode)
        self.wait = 0
        self.cooldown_counter = 0
        self.best = None

    def on_train_begin(self, logs=None):
        check_monitor("ReduceLROnPlateau", self.monitor, self.params)
        _optimizer("ReduceLROnPlateau", self.model)
        self._mode = resolve_mode("ReduceLROnPlateau", self.monitor, self.mode, self.model)
        self.best = math.inf if self._mode == "min" else -math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def _improves(self, value):
        if self._mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        opt = _optimizer("ReduceLROnPlateau", self.model)
        logs["learning_rate"] = get_learning_rate(opt)
        current = logs.get(self.monitor)
        if current is None:
            return
        current = float(current)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = get_learning_rate(opt)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    set_learning_rate(opt, new_lr)
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning "
                              f"rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule(epoch, lr)``
    (or ``schedule(epoch)``)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable, got "
                            f"{type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = _optimizer("LearningRateScheduler", self.model)
        lr = get_learning_rate(opt)
        try:
            new_lr = self.schedule(epoch, lr)
        except TypeError:  # a one-argument schedule
            new_lr = self.schedule(epoch)
        new_lr = float(new_lr.item() if hasattr(new_lr, "item") else new_lr)
        if not math.isfinite(new_lr):
            raise ValueError(f"LearningRateScheduler: the schedule returned {new_lr} for "
                             f"epoch {epoch}; expected a finite number")
        set_learning_rate(opt, new_lr)
        if self.verbose > 0:
            sys.stdout.write(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning "
                             f"rate to {new_lr}.\n")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = get_learning_rate(self.model.optimizer)
