"""The training loop that every high-level API runs on.

:class:`Engine` is a mixin: Keras's ``Model`` inherits it directly, a transformers-style
``Trainer`` or a distillation model subclasses it and points it at the module it trains.
One epoch iterator, one callback list and these override points serve them all:

- ``train_step(data)`` / ``test_step(data)`` / ``predict_step(data)``: one batch;
- ``compute_loss(x, y, y_pred, sample_weight, training)``: the scalar loss;
- ``compute_metrics(x, y, y_pred, sample_weight)``: update metrics, return the logs;
- ``backward_and_step(loss)``: gradients and the optimizer update.

A host sets ``self.optimizer`` (anything with ``zero_grad()`` and ``step()``) and either
overrides ``compute_loss`` or sets ``self.loss_fn``; ``self.metrics`` lists objects with
``update_state``/``result``/``reset_state`` (:class:`tessera.training.Metric`).
"""

import inspect

import numpy as np

from .. import autograd
from .._tensor import Tensor
from .callbacks.base import CallbackList
from .checkpoint import load_training_state, save_training_state
from .data import (ArrayData, IterableData, flatten, is_array_like, make_data, pack_like,
                   train_validation_split, unpack_batch)
from .metrics import Mean, pythonify_logs

__all__ = ["Engine", "unpack_batch"]


def _resolve_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) and not isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _batch_size_of(x):
    for leaf in flatten(x):
        if isinstance(leaf, Tensor):
            return leaf._data.shape[0] if leaf._data.ndim else 1
        if hasattr(leaf, "shape"):
            return leaf.shape[0]
    return 1


class Engine:
    """Mixin providing ``fit``, ``evaluate``, ``predict`` and the ``*_on_batch`` methods
    (see the module docstring for what a host provides)."""

    # No class-level defaults for optimizer/loss_fn: on an nn.Module a class attribute
    # would shadow a submodule registered under the same name (a loss module).
    stop_training = False

    # -- what a host may override ----------------------------------------------------------

    def _engine_module(self):
        """The module whose parameters are trained (the model itself by default)."""
        return self

    def _engine_forward(self, x, training):
        """Run the model on the inputs of one batch."""
        module = self._engine_module()
        if isinstance(x, dict):
            return module(**x)
        if isinstance(x, (tuple, list)):
            return module(*x)
        return module(x)

    @property
    def _engine_loss_tracker(self):
        tracker = self.__dict__.get("_loss_tracker_obj")
        if tracker is None:
            tracker = Mean(name="loss")
            object.__setattr__(self, "_loss_tracker_obj", tracker)
        return tracker

    @property
    def metrics(self):
        """The metrics reset every epoch and reported in the logs (the loss first)."""
        return [self._engine_loss_tracker]

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def _expected_log_keys(self):
        """The keys that the logs of an epoch will carry (callbacks check their monitor)."""
        return self.metrics_names

    def _check_ready(self, op):
        """Raise when the host is not set up for ``op`` (e.g. not compiled)."""
        if op == "fit" and getattr(self, "optimizer", None) is None:
            raise RuntimeError(f"{type(self).__name__}: set an optimizer before calling fit")

    def _validate_data(self, data, op):
        """Check the data against the model once, before any step runs.

        ``data`` is the :class:`ArrayData` (whole arrays) or the first batch of an
        iterable. Hosts check ranks, shapes and target ranges here.
        """

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The scalar loss of a batch (``self.loss_fn(y_pred, y)`` by default)."""
        loss_fn = getattr(self, "loss_fn", None)
        if loss_fn is None:
            raise RuntimeError(f"{type(self).__name__}: no loss; set loss_fn or override "
                               "compute_loss")
        return loss_fn(y_pred, y)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the metrics with a batch and return the current logs."""
        return self.get_metrics_result()

    def get_metrics_result(self):
        logs = {}
        for m in self.metrics:
            value = m.result_float() if hasattr(m, "result_float") else m.result()
            logs[m.name] = value
        return pythonify_logs(logs)

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def backward_and_step(self, loss):
        """Gradients of ``loss`` and one optimizer update."""
        optimizer = self.optimizer
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def _compute_loss(self, x, y, y_pred, sample_weight, training):
        # Keras's own compute_loss overrides often omit ``training``: pass it when accepted.
        cls = type(self)
        takes = cls.__dict__.get("_compute_loss_takes_training")
        if takes is None:
            params = inspect.signature(self.compute_loss).parameters
            takes = "training" in params or any(p.kind is p.VAR_KEYWORD
                                                for p in params.values())
            cls._compute_loss_takes_training = takes
        if takes:
            return self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                     training=training)
        return self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)

    def train_step(self, data):
        """One training step on a batch; returns the logs."""
        x, y, sample_weight = unpack_batch(data)
        y_pred = self._engine_forward(x, training=True)
        loss = self._compute_loss(x, y, y_pred, sample_weight, True)
        self._track_loss(loss, x)
        self.backward_and_step(loss)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data):
        """One evaluation step on a batch (no gradients); returns the logs."""
        x, y, sample_weight = unpack_batch(data)
        y_pred = self._engine_forward(x, training=False)
        loss = self._compute_loss(x, y, y_pred, sample_weight, False)
        self._track_loss(loss, x)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        """The model's outputs for a batch."""
        x, _, _ = unpack_batch(data)
        return self._engine_forward(x, training=False)

    def _track_loss(self, loss, x):
        value = loss._data if isinstance(loss, Tensor) else np.asarray(loss)
        self._engine_loss_tracker.update_batch_mean(float(value), _batch_size_of(x))

    def _set_mode(self, training):
        self._engine_module().train(training)

    # -- fit --------------------------------------------------------------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns the :class:`History` of the epoch logs.

        Args:
            x, y: inputs and targets as arrays or tensors (or lists/dicts of them), or x a
                DataLoader (or any iterable) yielding ``(x, y)`` or ``(x, y, weights)``.
            batch_size: samples per step for array inputs (default 32).
            epochs: the index of the last epoch (training runs from ``initial_epoch``).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch, "auto" = 1.
            callbacks: Callback objects.
            validation_split: the fraction of the arrays (taken from the end, before
                shuffling) held out for validation.
            validation_data: ``(x_val, y_val)``, ``(x_val, y_val, weights)`` or an iterable.
            shuffle: reshuffle array inputs every epoch.
            class_weight: ``{class: weight}`` scaling the loss of each sample.
            sample_weight: per-sample weights of the loss.
            initial_epoch: the epoch to start from (to resume a run).
            steps_per_epoch, validation_steps: batches per epoch / per validation.
            validation_batch_size: batch size of validation arrays.
            validation_freq: validate every this many epochs.
        """
        verbose = _resolve_verbose(verbose)
        self._check_ready("fit")
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        if validation_split and validation_data is not None:
            validation_split = 0.0  # Keras: validation_data takes precedence
        train = make_data(x, y, sample_weight, batch_size=batch_size, shuffle=shuffle,
                          steps=steps_per_epoch, class_weight=class_weight, op="fit")
        val = None
        if validation_split:
            train, val = train_validation_split(train, validation_split)
            if steps_per_epoch is not None:
                train.steps = int(steps_per_epoch)
        elif validation_data is not None:
            val = self._make_validation_data(validation_data,
                                             validation_batch_size or batch_size,
                                             validation_steps)
        if val is not None and validation_steps is not None and isinstance(val, ArrayData):
            val.steps = int(validation_steps)
        self._prepare_data(train, "fit")
        if val is not None:
            self._prepare_data(val, "fit (validation data)")

        keys = list(self._expected_log_keys())
        if val is not None:
            keys += ["val_" + k for k in keys]
        callbacks = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                 model=self, verbose=verbose, epochs=epochs,
                                 steps=train.steps, metrics=keys)
        self.stop_training = False
        self._initial_epoch = None
        callbacks.on_train_begin()
        if self._initial_epoch is not None:  # set by BackupAndRestore when it resumes
            initial_epoch = self._initial_epoch
        epoch_logs = {}
        train_step = self.train_step
        on_batch_begin = callbacks.on_train_batch_begin
        on_batch_end = callbacks.on_train_batch_end
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            self._set_mode(True)
            logs = {}
            for step, batch in enumerate(train):
                on_batch_begin(step)
                logs = train_step(batch)
                on_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = self._epoch_logs(logs)
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_loop(val, callbacks)
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
            callbacks.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        self._set_mode(False)
        callbacks.on_train_end(epoch_logs)
        return callbacks.history

    def _epoch_logs(self, last_logs):
        names = self.metrics_names
        if not last_logs or set(last_logs) == set(names):
            return self.get_metrics_result()
        return pythonify_logs(last_logs)

    def _make_validation_data(self, validation_data, batch_size, steps):
        if isinstance(validation_data, (tuple, list)) and 2 <= len(validation_data) <= 3 \
                and all(v is None or is_array_like(v) for v in validation_data):
            vx, vy, vsw = (tuple(validation_data) + (None,))[:3]
            return ArrayData(vx, vy, vsw, batch_size=batch_size or 32, steps=steps,
                             op="fit (validation_data)")
        if isinstance(validation_data, (tuple, list)) and is_array_like(validation_data):
            raise ValueError("fit: validation_data must be (x_val, y_val) or "
                             f"(x_val, y_val, sample_weight), got {len(validation_data)} items")
        return make_data(validation_data, steps=steps, op="fit (validation_data)")

    def _prepare_data(self, data, op):
        """Check the data once and build the model and optimizer before the first step."""
        if isinstance(data, IterableData):
            first = data.peek()
            if first is None:
                raise ValueError(f"{op}: the data yielded no batch")
            self._validate_data(first, op)
        else:
            if data.num_samples == 0:
                raise ValueError(f"{op}: the data has no samples")
            self._validate_data(data, op)

    # -- evaluate ---------------------------------------------------------------------------

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """The loss and metrics on the data: a scalar when there is only the loss, a list in
        ``metrics_names`` order otherwise, or a dict with ``return_dict=True``."""
        verbose = _resolve_verbose(verbose)
        self._check_ready("evaluate")
        data = make_data(x, y, sample_weight, batch_size=batch_size, steps=steps,
                         op="evaluate")
        self._prepare_data(data, "evaluate")
        callbacks = CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                 verbose=verbose, epochs=1, steps=data.steps,
                                 metrics=list(self._expected_log_keys()))
        logs = self._evaluate_loop(data, callbacks)
        if return_dict:
            return logs
        values = [logs[k] for k in self.metrics_names if k in logs] or list(logs.values())
        return values[0] if len(values) == 1 else values

    def _evaluate_loop(self, data, callbacks):
        self.reset_metrics()
        self._set_mode(False)
        callbacks.on_test_begin()
        logs = {}
        test_step = self.test_step
        with autograd.no_grad():
            for step, batch in enumerate(data):
                callbacks.on_test_batch_begin(step)
                logs = test_step(batch)
                callbacks.on_test_batch_end(step, logs)
        logs = self._epoch_logs(logs)
        callbacks.on_test_end(logs)
        return logs

    # -- predict ----------------------------------------------------------------------------

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for ``x`` as NumPy arrays (concatenated over batches)."""
        verbose = _resolve_verbose(verbose)
        data = make_data(x, batch_size=batch_size, steps=steps, op="predict")
        self._prepare_data(data, "predict")
        self._set_mode(False)
        predict_step = self.predict_step
        outputs = []
        if isinstance(data, ArrayData) and not callbacks and verbose == 0:
            # The fast path: slices of the arrays straight into the model.
            with autograd.inference_mode():
                for batch in data:
                    outputs.append(_detach(predict_step(batch)))
            return _concat(outputs)
        callbacks = CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                 verbose=verbose, epochs=1, steps=data.steps)
        callbacks.on_predict_begin()
        with autograd.inference_mode():
            for step, batch in enumerate(data):
                callbacks.on_predict_batch_begin(step)
                out = _detach(predict_step(batch))
                outputs.append(out)
                callbacks.on_predict_batch_end(step, {"outputs": out})
        callbacks.on_predict_end()
        return _concat(outputs)

    # -- single batches ---------------------------------------------------------------------

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One training step on one batch; returns the logs like :meth:`evaluate`."""
        self._check_ready("fit")
        data = ArrayData(x, y, sample_weight, batch_size=None, class_weight=class_weight,
                         op="train_on_batch")
        data.batch_size = max(data.num_samples, 1)
        data.steps = 1
        self._prepare_data(data, "train_on_batch")
        self.reset_metrics()
        self._set_mode(True)
        logs = {}
        for batch in data:
            logs = self.train_step(batch)
        return self._batch_result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss and metrics on one batch."""
        self._check_ready("evaluate")
        data = ArrayData(x, y, sample_weight, batch_size=None, op="test_on_batch")
        data.batch_size = max(data.num_samples, 1)
        data.steps = 1
        self._prepare_data(data, "test_on_batch")
        self.reset_metrics()
        self._set_mode(False)
        logs = {}
        with autograd.no_grad():
            for batch in data:
                logs = self.test_step(batch)
        return self._batch_result(logs, return_dict)

    def predict_on_batch(self, x):
        """The outputs for one batch, as NumPy arrays."""
        data = ArrayData(x, batch_size=None, op="predict_on_batch")
        data.batch_size = max(data.num_samples, 1)
        data.steps = 1
        self._prepare_data(data, "predict_on_batch")
        self._set_mode(False)
        with autograd.inference_mode():
            return _concat([_detach(self.predict_step(b)) for b in data])

    def _batch_result(self, logs, return_dict):
        logs = self._epoch_logs(logs)
        if return_dict:
            return logs
        values = [logs[k] for k in self.metrics_names if k in logs] or list(logs.values())
        return values[0] if len(values) == 1 else values

    # -- checkpoint and resume --------------------------------------------------------------

    def get_training_state(self):
        """Everything needed to resume: weights, optimizer state (when it has one)."""
        state = {"model": self._engine_module().state_dict()}
        opt = getattr(self, "optimizer", None)
        if opt is not None and hasattr(opt, "state_dict"):
            state["optimizer"] = opt.state_dict()
        return state

    def set_training_state(self, state):
        self._engine_module().load_state_dict(state["model"])
        opt = getattr(self, "optimizer", None)
        if "optimizer" in state and opt is not None and hasattr(opt, "load_state_dict"):
            opt.load_state_dict(state["optimizer"])

    def save_training_checkpoint(self, folder, epoch, **extra):
        """Write weights, optimizer state and ``epoch`` (the last completed one) to
        ``folder``, atomically."""
        state = self.get_training_state()
        state["loop"] = {"epoch": int(epoch), **extra}
        save_training_state(folder, state)

    def load_training_checkpoint(self, folder):
        """Restore what :meth:`save_training_checkpoint` wrote; returns its loop counters
        (``{"epoch": ...}``)."""
        state = load_training_state(folder)
        self.set_training_state(state)
        return state.get("loop", {})


def _detach(out):
    if isinstance(out, Tensor):
        return out._data
    if isinstance(out, (tuple, list)):
        return type(out)(_detach(o) for o in out)
    if isinstance(out, dict):
        return {k: _detach(v) for k, v in out.items()}
    return np.asarray(out)


def _concat(outputs):
    if not outputs:
        return np.zeros((0,), dtype=np.float32)
    first = outputs[0]
    if isinstance(first, np.ndarray):
        return first if len(outputs) == 1 else np.concatenate(outputs, axis=0)
    leaves = [flatten(o) for o in outputs]
    joined = [np.concatenate([lv[i] for lv in leaves], axis=0) if len(leaves) > 1 else
              leaves[0][i] for i in range(len(leaves[0]))]
    return pack_like(first, joined)
