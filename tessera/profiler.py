"""Where a step's time goes: time per operator, forward and backward.

::

    with ts.profiler.profile() as prof:
        loss = model(x).sum()
        loss.backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))

Forward operators are timed around ``Function.apply``; backward nodes around their
``backward`` call in the engine (named ``<Op>Backward0``). Operators that run inside
another (the primitives of a backward rule) are nested: an entry's *self* time excludes
its children, its *total* time includes them. Nothing is measured, and nothing costs,
outside the context.
"""

import collections
import time

from .autograd import engine
from .autograd.function import Function

__all__ = ["profile", "record_function"]

_active = None


class _Stat:
    __slots__ = ("key", "count", "self_cpu_time_total", "cpu_time_total")

    def __init__(self, key):
        self.key = key
        self.count = 0
        self.self_cpu_time_total = 0.0   # microseconds, as PyTorch reports
        self.cpu_time_total = 0.0

    @property
    def self_cpu_time_avg(self):
        return self.self_cpu_time_total / self.count if self.count else 0.0


class _KeyAverages(list):
    def table(self, sort_by="self_cpu_time_total", row_limit=20):
        rows = sorted(self, key=lambda s: getattr(s, sort_by), reverse=True)[:row_limit]
        total_self = sum(s.self_cpu_time_total for s in self) or 1.0
        width = max([len(s.key) for s in rows] + [10])
        lines = [f"{'Name':<{width}}  {'Self CPU %':>10}  {'Self CPU':>11}  {'CPU total':>11}  "
                 f"{'# of Calls':>10}  {'Self avg':>10}"]
        lines.append("-" * len(lines[0]))
        for s in rows:
            lines.append(f"{s.key:<{width}}  {100 * s.self_cpu_time_total / total_self:9.2f}%  "
                         f"{_us(s.self_cpu_time_total):>11}  {_us(s.cpu_time_total):>11}  "
                         f"{s.count:>10}  {_us(s.self_cpu_time_avg):>10}")
        lines.append(f"Self CPU time total: {_us(total_self)}")
        return "\n".join(lines)


def _us(value):
    return f"{value / 1e3:.3f}ms" if value >= 1000 else f"{value:.3f}us"


class profile:
    """Context manager that records the time of every operator run inside it."""

    def __init__(self, enabled=True):
        self.enabled = enabled
        self._stats = collections.OrderedDict()
        self._stack = []
        self._original_apply = None

    def __enter__(self):
        global _active
        if not self.enabled:
            return self
        if _active is not None:
            raise RuntimeError("profiler: a profile is already active")
        _active = self
        self._original_apply = Function.__dict__["apply"]
        original = self._original_apply.__func__
        prof = self

        def apply(cls, *inputs, **params):
            prof._push()
            try:
                return original(cls, *inputs, **params)
            finally:
                prof._pop(cls.__name__)

        Function.apply = classmethod(apply)
        engine.profiler_hook = self
        return self

    def __exit__(self, *exc):
        global _active
        if self.enabled and _active is self:
            Function.apply = self._original_apply
            engine.profiler_hook = None
            _active = None
        return False

    # The engine and record_function call these around each timed region.
    def _push(self):
        self._stack.append([time.perf_counter(), 0.0])

    def _pop(self, key):
        start, children = self._stack.pop()
        total = (time.perf_counter() - start) * 1e6
        stat = self._stats.get(key)
        if stat is None:
            stat = self._stats[key] = _Stat(key)
        stat.count += 1
        stat.cpu_time_total += total
        stat.self_cpu_time_total += total - children
        if self._stack:
            self._stack[-1][1] += total

    def key_averages(self):
        return _KeyAverages(self._stats.values())

    def total_time_us(self):
        return sum(s.self_cpu_time_total for s in self._stats.values())


class record_function:
    """Label a region of user code in the active profile (``with record_function("x"):``)."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        if _active is not None:
            _active._push()
        return self

    def __exit__(self, *exc):
        if _active is not None:
            _active._pop(self.name)
        return False
