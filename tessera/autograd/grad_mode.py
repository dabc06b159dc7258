"""Grad modes: whether operations record the graph for backward.

The flag is thread-local, as in PyTorch, so a serving thread under ``no_grad``
does not switch recording off for a training thread.
"""

import functools
import threading

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled"]


class _GradState(threading.local):
    enabled = True
    inference = False


state = _GradState()


def is_grad_enabled():
    return state.enabled


def is_inference_mode_enabled():
    return state.inference


class _GradModeContext:
    """Base of the grad-mode switches: a context manager and a decorator."""

    _target = True

    def __enter__(self):
        self._prev = state.enabled, state.inference
        state.enabled = self._target
        return self

    def __exit__(self, *exc):
        state.enabled, state.inference = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._init_args()):
                return fn(*args, **kwargs)
        return wrapper

    def _init_args(self):
        return ()


class no_grad(_GradModeContext):
    """Disable graph recording: ``with ts.no_grad():`` or ``@ts.no_grad()``."""

    _target = False


class enable_grad(_GradModeContext):
    """Enable graph recording inside a ``no_grad`` region."""

    _target = True


class set_grad_enabled(_GradModeContext):
    """Set recording on or off; works as a function, context manager or decorator."""

    def __init__(self, mode):
        self._target = bool(mode)
        self._prev = state.enabled, state.inference
        state.enabled = self._target  # takes effect on call, as torch.set_grad_enabled does

    def __enter__(self):
        return self

    def __call__(self, fn):
        state.enabled, state.inference = self._prev  # as a decorator it must not switch now
        return super().__call__(fn)

    def _init_args(self):
        return (self._target,)


class inference_mode(_GradModeContext):
    """Like ``no_grad``, for pure inference; ``inference_mode(False)`` is a no-op."""

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = state.enabled, state.inference
        if self.mode:
            state.enabled = False
            state.inference = True
        return self

    def _init_args(self):
        return (self.mode,)
