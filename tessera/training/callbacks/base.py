"""The callback protocol of the training engine: hooks named as in Keras, the list that
dispatches them, History, and the small callbacks that need nothing else."""

import math

import numpy as np

__all__ = ["Callback", "CallbackList", "History", "LambdaCallback", "TerminateOnNaN"]

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
          "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class of callbacks: override the hooks you need.

    ``self.model`` is the model (or trainer) being run; ``self.params`` holds ``verbose``,
    ``epochs``, ``steps`` and ``metrics`` (the names that epoch logs will carry, checked
    by callbacks that monitor one of them).
    """

    def __init__(self):
        self.params = {}
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def on_batch_begin(self, batch, logs=None):
        """Alias of :meth:`on_train_batch_begin` kept for Keras 2 code."""

    def on_batch_end(self, batch, logs=None):
        """Alias of :meth:`on_train_batch_end` kept for Keras 2 code."""

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass


def _overrides(cb, name):
    """Whether ``cb`` does something in hook ``name`` (batch hooks are skipped otherwise)."""
    if name in cb.__dict__ or getattr(type(cb), name) is not getattr(Callback, name):
        return True
    alias = {"on_train_batch_begin": "on_batch_begin",
             "on_train_batch_end": "on_batch_end"}.get(name)
    return alias is not None and (alias in cb.__dict__ or
                                  getattr(type(cb), alias) is not getattr(Callback, alias))


class CallbackList:
    """Dispatches each hook to every callback, in order.

    Args:
        callbacks: the user's callbacks.
        add_history: append a :class:`History` (unless one is given).
        add_progbar: append a progress-bar logger (unless one is given).
        model: the model or trainer the callbacks act on.
        **params: ``verbose``, ``epochs``, ``steps``, ``metrics`` ...
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected keras-style Callback objects, got "
                                f"{type(cb).__name__}")
        self.callbacks = callbacks
        from .progbar import ProgbarLogger
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in callbacks):
            self.callbacks.append(ProgbarLogger())
        self.history = next((cb for cb in callbacks if isinstance(cb, History)), None)
        if add_history and self.history is None:
            self.history = History()
            self.callbacks.append(self.history)
        self.model = model
        self.params = params
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self._refresh_batch_hooks()

    def _refresh_batch_hooks(self):
        # Batch hooks run once per step: keep only the callbacks that define them.
        self._batch = {name: [cb for cb in self.callbacks if _overrides(cb, name)]
                       for name in _HOOKS if "batch" in name}

    def append(self, callback):
        callback.set_model(self.model)
        callback.set_params(self.params)
        self.callbacks.append(callback)
        self._refresh_batch_hooks()

    def set_params(self, params):
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model):
        self.model = model
        for cb in self.callbacks:
            cb.set_model(model)

    def needs_batch_logs(self, mode="train"):
        """Whether any callback reads the logs of each batch end in ``mode``."""
        return bool(self._batch[f"on_{mode}_batch_end"])

    def __iter__(self):
        return iter(self.callbacks)

    def _call(self, name, *args):
        for cb in self.callbacks:
            getattr(cb, name)(*args)

    def _call_batch(self, name, batch, logs):
        for cb in self._batch[name]:
            getattr(cb, name)(batch, logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call_batch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call_batch("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call_batch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call_batch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call_batch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call_batch("on_predict_batch_end", batch, logs)


class History(Callback):
    """Records the logs of every epoch: ``history.history["loss"]`` is a list per epoch,
    ``history.epoch`` the epoch numbers. ``fit`` returns it."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            # Keras keeps the latest History on the model.
            try:
                self.model.history = self
            except AttributeError:
                pass

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


class LambdaCallback(Callback):
    """A callback from plain functions, as in Keras.

    Args:
        on_epoch_begin, on_epoch_end: ``f(epoch, logs)``.
        on_train_batch_begin, on_train_batch_end: ``f(batch, logs)`` (also accepted as
            ``on_batch_begin`` / ``on_batch_end``).
        on_train_begin, on_train_end: ``f(logs)``.
        Any other hook name: the function for that hook.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        aliases = {"on_batch_begin": "on_train_batch_begin",
                   "on_batch_end": "on_train_batch_end"}
        for name, fn in kwargs.items():
            name = aliases.get(name, name)
            if name not in _HOOKS:
                raise TypeError(f"LambdaCallback: unknown hook '{name}'; expected one of "
                                f"{', '.join(_HOOKS)}")
            given[name] = fn
        for name, fn in given.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback: {name} must be callable, got "
                                    f"{type(fn).__name__}")
                # Instance attributes shadow the no-op hooks of the class.
                setattr(self, name, _adapt(name, fn))


def _adapt(name, fn):
    if name.endswith(("_begin", "_end")) and ("epoch" in name or "batch" in name):
        return lambda i, logs=None: fn(i, logs)
    return lambda logs=None: fn(logs)


class TerminateOnNaN(Callback):
    """Stops training when a batch loss becomes NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(np.asarray(loss))):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
