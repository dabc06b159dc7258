"""The hooks of a trace: what is swapped in while a trace records, and nothing after.

Like the profiler, a trace replaces ``Function.apply`` for its duration, so that an
operator costs nothing more when no trace runs. It also replaces ``Tensor._data`` (outside
an operator, a TracedArray view: see dataflow.py), the Tensor methods that read values
into Python, NumPy's array factories (dataflow.py), the random generator's draws and
seeding, and the backward engine's entry points, and keeps backward rules on operators
(``autograd.function.unrecorded_backward``).
:class:`Patches` installs them all and restores the originals, in reverse order, on exit.
Traces are not thread-safe: the hooks are process-wide while one runs.
"""

import numpy as np

from .. import backend
from .._tensor import Tensor
from ..autograd import engine
from ..autograd import function
from ..autograd.function import Function
from . import dataflow
from .dataflow import TracedArray, plain

__all__ = ["Patches", "DATA", "active"]

active = None  # the Recorder of the running trace
DATA = Tensor.__dict__["_data"]  # the slot descriptor of Tensor._data


class _DataDescriptor:
    """``Tensor._data`` while a trace records: outside operators, a TracedArray view."""

    def __init__(self, rec):
        self.rec = rec

    def __get__(self, t, owner=None):
        if t is None:
            return self
        raw = DATA.__get__(t, owner)
        rec = self.rec
        if rec.depth or rec.off or type(raw) is not np.ndarray:
            return raw
        rec._note(t, raw)
        view = raw.view(TracedArray)
        view.source = t
        view.kind = dataflow.EXACT
        return view

    def __set__(self, t, value):
        DATA.__set__(t, plain(value))


class Patches:
    """Install the trace's hooks for the duration of a trace, and remove them after."""

    def __init__(self, rec):
        self.rec = rec
        self.saved = []

    def _set(self, owner, name, value):
        self.saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, value)

    def __enter__(self):
        global active
        rec = self.rec
        original_apply = Function.__dict__["apply"].__func__

        def apply(cls, *inputs, **params):
            if rec.depth or rec.off:
                return original_apply(cls, *inputs, **params)
            return rec.apply(original_apply, cls, inputs, params)

        def reads(name, method):
            def read(self, *args, **kwargs):
                if rec.off:
                    return method(self, *args, **kwargs)
                rec.on_read(f"Tensor.{name.strip('_')}()")
                rec.depth += 1  # the caller gets the tensor's own array
                try:
                    return method(self, *args, **kwargs)
                finally:
                    rec.depth -= 1
            return read

        def backward_inside(original):
            def run_backward(*args, **kwargs):
                rec.flag("it runs a backward pass inside the function")
                rec.depth += 1  # the backward's own operators are not the function's
                try:
                    return original(*args, **kwargs)
                finally:
                    rec.depth -= 1
            return run_backward

        draw = backend.Generator.__dict__["numpy"]

        def numpy(gen):
            rec.on_draw()
            return draw.__get__(gen)

        def reseeds(name, method):
            def reseed(gen, *args, **kwargs):
                rec.flag(f"it sets the random generator's state (Generator.{name}); a replay "
                         "would not")
                return method(gen, *args, **kwargs)
            return reseed

        from .. import _tensor, autograd
        try:
            self._set(Function, "apply", classmethod(apply))
            self._set(Tensor, "_data", _DataDescriptor(rec))
            for name in ("numpy", "__array__", "item", "tolist", "__bool__"):
                self._set(Tensor, name, reads(name, Tensor.__dict__[name]))
            for name in dataflow.FACTORIES:
                self._set(np, name, dataflow.factory(getattr(np, name)))
            self._set(backend.Generator, "numpy", property(numpy))
            for name in ("manual_seed", "seed", "set_state"):
                self._set(backend.Generator, name,
                          reseeds(name, backend.Generator.__dict__[name]))
            for module in (engine, _tensor, autograd):
                self._set(module, "run_backward", backward_inside(module.run_backward))
            # Backward rules traced for capture must call operators, not work on arrays.
            self._set(function, "_backward_on_arrays", False)
        except BaseException:
            self._restore()
            raise
        dataflow.recorder = rec
        active = rec
        return self

    def __exit__(self, *exc):
        global active
        active = None
        dataflow.recorder = None
        self._restore()
        return False

    def _restore(self):
        while self.saved:
            owner, name, value = self.saved.pop()
            setattr(owner, name, value)

