"""Running a plan's nodes on arrays, for a forward replay and for a captured backward.

Each node is ``fn = cls.__new__(cls); fn.forward(*arrays, **params)``: no Tensor per
intermediate, no argument parsing or promotion (the trace did it), no graph recording.
With a :class:`CallState` (when the replay's outputs need gradients) it keeps, per node
that backward needs, the instance and what its backward reads.
"""

import numpy as np

from .. import backend
from .plan import resolve_params

__all__ = ["CallState", "counter", "execute"]


class CallState:
    """What one replay keeps for its backward: per kept node ``(fn, saved input arrays,
    saved output arrays, watched versions)``; the sources and their versions; the random
    state of the forward and a copy of the sources it updates in place (for a
    recomputation); the version counters of its storage."""

    __slots__ = ("records", "sources", "versions", "rng", "originals", "counters")

    def __init__(self, plan, inputs):
        self.sources = sources = list(inputs) + [t for _, t in plan.live]
        self.versions = [t._version[0] for t in sources]
        self.rng = backend.default_generator.get_state() if plan.random else None
        self.originals = {position: sources[position]._data.copy()
                          for position in set(plan.written_sources)}
        self.counters = {}
        self.records = []


def counter(plan, state, root):
    """The version counter of storage ``root``: a source tensor's own, else one list per
    replay, shared by the values (and the returned tensors) on that storage."""
    position = plan.source_position.get(root)
    if position is not None:
        return state.sources[position]._version
    found = state.counters.get(root)
    if found is None:
        found = state.counters[root] = [0]
    return found


def execute(plan, env, state=None):
    """Run the plan's nodes on the arrays of ``env`` (its sources filled in); with a
    ``state``, keep in it what backward needs."""
    records = None if state is None else state.records
    new = object.__new__
    ndarray = np.ndarray
    for cls, params, get, single, out_slot, keep, free, step in plan.table:
        if step is None:  # the common node: one array out, nothing unusual
            fn = new(cls)
            args = (get(env),) if single else get(env)
            out = fn.forward(*args, **params) if params else fn.forward(*args)
            if type(out) is not ndarray:
                out = np.asarray(out)  # NumPy reductions return scalars; slots hold arrays
            env[out_slot] = out
            if keep:
                records.append((fn, args if keep & 2 else None, (out,) if keep & 4 else None,
                                ()))
        else:
            _run_step(plan, step, env, state)
        for s in free:
            env[s] = None


def _run_step(plan, step, env, state):
    """A node with several outputs, parameters that are tensor data, an in-place write to
    an intermediate or watched versions."""
    cls = step.cls
    fn = cls.__new__(cls)
    args = [env[s] for s in step.ins]
    params = resolve_params(step.params, env) if step.resolve else step.params
    out = fn.forward(*args, **params)
    if step.multi:
        out = tuple(o if type(o) is np.ndarray else np.asarray(o) for o in out)
        for s, o in zip(step.outs, out):
            env[s] = o
    else:
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        env[step.outs[0]] = out
    if state is None:
        return
    for root in step.writes:  # before the node's own versions are taken, as in eager
        counter(plan, state, root)[0] += 1
    if step.keep:
        state.records.append((fn, args if step.save_in else None,
                              (out if step.multi else (out,)) if step.save_out else None,
                              tuple([counter(plan, state, r)[0] for r in step.watch])))

