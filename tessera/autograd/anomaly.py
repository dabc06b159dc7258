"""``detect_anomaly``: name the operator whose backward produced NaN or inf."""

import threading

from .grad_mode import _GradModeContext

__all__ = ["detect_anomaly", "set_detect_anomaly", "enabled", "check"]


class _AnomalyState(threading.local):
    enabled = False


_state = _AnomalyState()


def enabled():
    return _state.enabled


def check(node, grads):
    import numpy as np

    for i, g in enumerate(grads):
        if g is not None and g._data.dtype.kind == "f" and not np.isfinite(g._data).all():
            kind = "nan" if np.isnan(g._data).any() else "inf"
            raise RuntimeError(f"Function '{node.name()}' returned {kind} values in its "
                               f"{i}th output.")


class detect_anomaly(_GradModeContext):
    """While active, every backward checks each operator's gradients for NaN and inf."""

    def __init__(self, check_nan=True):
        self.check_nan = bool(check_nan)

    def __enter__(self):
        self._prev_anomaly = _state.enabled
        _state.enabled = self.check_nan
        return self

    def __exit__(self, *exc):
        _state.enabled = self._prev_anomaly
        return False

    def _init_args(self):
        return (self.check_nan,)


class set_detect_anomaly(detect_anomaly):
    """Switch anomaly detection on or off; also a context manager."""

    def __init__(self, mode):
        super().__init__(mode)
        self._prev_anomaly = _state.enabled
        _state.enabled = self.check_nan

    def __enter__(self):
        return self
