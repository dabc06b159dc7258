"""The Keras-style progress bar and the callback that drives it during fit/evaluate/predict.

On a terminal (verbose=1) the bar is redrawn in place; when output goes to a file or a
pipe, or with verbose=2, each epoch writes one line when it ends, so logs stay readable.
"""

import math
import sys
import time

from .base import Callback

__all__ = ["Progbar", "ProgbarLogger"]


def _dynamic_display(stream):
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except ValueError:  # a closed stream
        return False
    return "ipykernel" in sys.modules


def _bar_chars(stream):
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "━".encode(encoding)
        return "━", "━"
    except (UnicodeEncodeError, LookupError):
        return "=", "."


def _format_value(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return f" {v}"
    return f" {v:.4f}" if abs(v) > 1e-3 or v == 0 else f" {v:.4e}"


def _format_time_per_unit(t, unit):
    if t >= 1 or t == 0:
        return f"{t:.0f}s/{unit}"
    if t >= 1e-3:
        return f"{t * 1e3:.0f}ms/{unit}"
    return f"{t * 1e6:.0f}us/{unit}"


def _format_eta(eta):
    if eta > 3600:
        return f"{eta // 3600:.0f}:{(eta % 3600) // 60:02.0f}:{eta % 60:02.0f}"
    if eta > 60:
        return f"{eta // 60:.0f}:{eta % 60:02.0f}"
    return f"{eta:.0f}s"


class Progbar:
    """A progress bar in Keras's format.

    Args:
        target: the number of steps expected (None when unknown).
        width: characters of the bar.
        verbose: 1 for the bar (redrawn on a terminal, one final line otherwise),
            2 for one plain line at the end, 0 for silence.
        interval: minimum seconds between two redraws.
        unit_name: what a step is called ("step", "sample").
        stream: where to write (the current ``sys.stdout`` by default).
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 unit_name="step", stream=None):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stream = stream if stream is not None else sys.stdout
        self._dynamic = verbose == 1 and _dynamic_display(self.stream)
        self._done_char, self._todo_char = _bar_chars(self.stream)
        self._values = {}
        self._start = time.perf_counter()
        self._last_update = 0.0
        self._prev_len = 0
        self._seen = 0
        self._finalized = False

    def update(self, current, values=None, finalize=None):
        """Show step ``current`` with ``values`` (a dict or (name, value) pairs)."""
        if values:
            self._values.update(values.items() if isinstance(values, dict) else values)
        self._seen = current
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        if self.verbose == 0 or self._finalized:
            return
        now = time.perf_counter()
        if not finalize and (not self._dynamic or now - self._last_update < self.interval):
            return
        self._last_update = now
        elapsed = now - self._start
        per_unit = elapsed / current if current else 0.0
        if self.verbose == 2:
            line = self._counter(current) + f" - {elapsed:.0f}s - "
            line += _format_time_per_unit(per_unit, self.unit_name) + self._metrics()
        else:
            line = self._counter(current) + " " + self._bar(current)
            if finalize:
                line += f" {elapsed:.0f}s " + _format_time_per_unit(per_unit, self.unit_name)
            elif self.target is not None:
                line += " ETA: " + _format_eta(per_unit * (self.target - current))
            else:
                line += f" {elapsed:.0f}s"
            line += self._metrics()
        self._write(line, finalize)
        if finalize:
            self._finalized = True

    def add(self, n, values=None):
        self.update(self._seen + n, values)

    def _counter(self, current):
        if self.target is None:
            return f"{current}/Unknown"
        digits = int(math.log10(max(self.target, 1))) + 1
        return f"{current:{digits}d}/{self.target}"

    def _bar(self, current):
        if self.target is None or self.target == 0:
            done = self.width if self.target == 0 else 0
        else:
            done = min(self.width, int(self.width * current / self.target))
        if self._dynamic:
            return (f"\x1b[32m{self._done_char * done}\x1b[0m"
                    f"\x1b[37m{self._done_char * (self.width - done)}\x1b[0m")
        return self._done_char * done + self._todo_char * (self.width - done)

    def _metrics(self):
        return "".join(f" - {k}:{_format_value(v)}" for k, v in self._values.items())

    def _write(self, line, finalize):
        stream = self.stream
        if self._dynamic:
            pad = max(0, self._prev_len - len(line))
            stream.write("\r" + line + " " * pad + ("\n" if finalize else ""))
            self._prev_len = len(line)
        else:
            stream.write(line + "\n")
        stream.flush()


class ProgbarLogger(Callback):
    """Prints the epoch header and the progress bar (added by fit/evaluate/predict when
    ``verbose`` is not 0)."""

    def __init__(self):
        super().__init__()
        self.progbar = None
        self._in_fit = False

    def _verbose(self):
        return self.params.get("verbose", 1)

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._verbose():
            epochs = self.params.get("epochs", 1)
            if epochs > 1:
                sys.stdout.write(f"Epoch {epoch + 1}/{epochs}\n")
                sys.stdout.flush()
        self.progbar = Progbar(self.params.get("steps"), verbose=self._verbose())

    def on_train_batch_end(self, batch, logs=None):
        self.progbar.update(batch + 1, logs, finalize=False)

    def on_epoch_end(self, epoch, logs=None):
        self.progbar.update(self.progbar._seen, logs, finalize=True)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self.progbar = Progbar(self.params.get("steps"), verbose=self._verbose())

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self.progbar.update(batch + 1, logs, finalize=False)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self.progbar.update(self.progbar._seen, logs, finalize=True)

    def on_predict_begin(self, logs=None):
        self.progbar = Progbar(self.params.get("steps"), verbose=self._verbose())

    def on_predict_batch_end(self, batch, logs=None):
        self.progbar.update(batch + 1, finalize=False)

    def on_predict_end(self, logs=None):
        self.progbar.update(self.progbar._seen, finalize=True)
