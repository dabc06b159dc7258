"""The autograd node of one replay: the whole compiled region as one graph node.

Its edges lead to the region's sources that require grad (inputs, parameters). Its
backward walks the nodes the plan kept in reverse and calls each operator's own backward,
with ``_saved`` and ``next_edges`` prepared as ``Function._record`` would have made them,
summing gradients per value; what a node kept is released as soon as its backward ran.

Gradients of gradients (``create_graph=True``), and a second backward after
``retain_graph=True``, differentiate an eager recomputation of the region from its
sources, with the random state its forward had (the same dropout masks) and copies of
the sources its operators update in place as they were before it (so that the live tensors
are not updated twice).
"""

import numpy as np

from .. import backend
from ..autograd import grad_mode
from ..autograd.function import _FREED, _FREED_MESSAGE, Function, _make_tensor, _modified_message
from . import tracer
from .backward import UNCAPTURED, Program, call_backward, capture, merge, run_arrays, same
from .execute import counter
from .plan import NONE, PLAIN, SOURCE, SOURCE_VIEW, WATCHED, resolve_params
from .tracer import Detach

__all__ = ["CompiledFunction"]

_state = grad_mode.state


class CompiledFunction(Function):
    """The graph node of one replay of a compiled region."""

    plan = None
    _state = None

    def name(self):
        return "CompiledFunctionBackward"

    def release(self):
        self._state = None
        self._saved = _FREED

    def backward(self, *grads):
        state = self._state
        if state is None:
            raise RuntimeError(_FREED_MESSAGE)
        if _state.enabled or state.records is None:
            return self._recomputed_backward(grads, create_graph=_state.enabled)
        plan = self.plan
        records, state.records = state.records, None  # released as backward goes
        merged = plan.merged
        if merged is not None and merged is not UNCAPTURED:
            result = _run_merged(plan, state, merged, records, grads, self)
            if result is not None:
                return result
        programs = plan.programs
        capturing = not tracer.is_tracing()
        buf = {}  # slot -> gradient array
        for slot, g in zip(plan.region_outputs, grads):
            if g is not None:
                prev = buf.get(slot)
                buf[slot] = g._data if prev is None else prev + g._data
        pop, get = buf.pop, buf.get
        kept = plan.kept
        for k in range(len(kept) - 1, -1, -1):
            step = kept[k]
            record = records[k]
            records[k] = None
            if step.multi:
                gouts = [pop(s, None) for s in step.outs]
                if all(g is None for g in gouts):
                    continue
                gouts = [g if g is not None else np.zeros(shape, dtype)
                         for g, (shape, dtype) in zip(gouts, step.out_meta)]
            else:
                g = pop(step.outs[0], None)
                if g is None:
                    continue
                gouts = (g,)
            fn = record[0]
            program = programs[k]
            if type(program) is Program and program.verified and program.matches(fn):
                if record[1] is not None or record[2] is not None:
                    check_versions(plan, state, step, record, self)
                in_grads = program.run(fn, gouts, _saved_arrays(plan, state, step, record),
                                       record[2])
            else:
                fn.next_edges = step.edges
                if record[1] is not None or record[2] is not None:
                    fn._saved = saved_for(plan, state, step, record)
                if program is None and capturing:
                    in_grads, programs[k] = capture(fn, gouts)
                else:
                    in_grads = call_backward(fn, gouts)
                    if type(program) is Program and not program.verified \
                            and program.matches(fn):
                        ours = program.run(fn, gouts, _saved_arrays(plan, state, step, record),
                                           record[2])
                        if same(ours, in_grads):
                            program.verified = True
                        else:
                            programs[k] = UNCAPTURED
            for slot, gi, needed in zip(step.ins, in_grads, step.edges):
                if gi is not None and needed:
                    prev = get(slot)
                    buf[slot] = gi if prev is None else prev + gi
        if merged is None:
            plan.merged = merge(plan)
        return tuple(None if (g := get(slot)) is None else _make_tensor(g)
                     for slot in plan.grad_sources)

    def _recomputed_backward(self, grads, create_graph):
        from .. import autograd

        plan, state = self.plan, self._state
        for t, v in zip(state.sources, state.versions):
            if t._version[0] != v:
                raise RuntimeError(_modified_message(self, t.shape, v, t._version[0]))
        with grad_mode.enable_grad():
            tensors = recompute(plan, state)
        outs, gs = [], []
        for slot, g in zip(plan.region_outputs, grads):
            outs.append(tensors[slot])
            gs.append(g if g is not None else _make_tensor(np.zeros_like(tensors[slot]._data)))
        sources = [state.sources[position] for position in plan.grad_positions]
        return tuple(autograd.grad(outs, sources, gs, retain_graph=create_graph,
                                   create_graph=create_graph, allow_unused=True))


def _run_merged(plan, state, merged, records, grads, node):
    """The region's backward as one program, when every kept node's attributes match;
    None (nothing run) when one does not."""
    arrays = [g._data for g in grads]
    kept = plan.kept
    for k, program in merged.steps:
        record = records[k]
        fn = record[0]
        if not program.matches(fn):
            return None
        if record[1] is not None or record[2] is not None:
            check_versions(plan, state, kept[k], record, node)
        arrays += program.state_arrays(fn, _saved_arrays(plan, state, kept[k], record),
                                       record[2])
    records.clear()
    return tuple(None if g is None else _make_tensor(g)
                 for g in run_arrays(merged.plan, arrays))


def _saved_arrays(plan, state, step, record):
    """The saved input arrays of a kept node, a source's as its tensor holds it now."""
    saved_in = record[1]
    if saved_in is None:
        return None
    return [state.sources[item]._data if kind == SOURCE else array
            for (kind, item), array in zip(step.in_recipe, saved_in)]


def check_versions(plan, state, step, record, node):
    """Raise as ``saved_inputs`` / ``saved_outputs`` would if a saved value was modified
    in place since the forward."""
    watched = record[3]
    w = 0
    slots = (step.ins if record[1] is not None else ()) + (
        step.outs if record[2] is not None else ())
    recipes = (step.in_recipe if record[1] is not None else ()) + (
        step.out_recipe if record[2] is not None else ())
    for slot, (kind, item) in zip(slots, recipes):
        if kind == SOURCE or kind == SOURCE_VIEW:
            found, expected = state.sources[item]._version[0], state.versions[item]
        elif kind == WATCHED:
            found, expected = counter(plan, state, item)[0], watched[w]
            w += 1
        else:
            continue
        if found != expected:
            shape = plan.graph.values[slot].shape
            raise RuntimeError(_modified_message(record[0], shape, expected, found))


def saved_for(plan, state, step, record):
    """``fn._saved`` as Function._record would have made it: the saved inputs as Tensors
    and the saved outputs' arrays, each with its version counter and its version when
    saved (watched storage had its versions recorded by the forward, in ``step.watch``)."""
    _, saved_in, saved_out, watched = record
    w = 0
    ins, in_versions, out_versions = [], [], []
    if saved_in is not None:
        for (kind, item), array in zip(step.in_recipe, saved_in):
            if kind == PLAIN:
                ins.append(_make_tensor(array))
                in_versions.append(0)
            elif kind == NONE:
                ins.append(None)
                in_versions.append(None)
            elif kind == SOURCE:
                ins.append(state.sources[item])
                in_versions.append(state.versions[item])
            else:
                t = _make_tensor(array)
                if kind == SOURCE_VIEW:
                    t._version = state.sources[item]._version
                    in_versions.append(state.versions[item])
                else:
                    t._version = counter(plan, state, item)
                    in_versions.append(watched[w])
                    w += 1
                ins.append(t)
    if saved_out is not None:
        for kind, item in step.out_recipe:
            if kind == PLAIN:
                out_versions.append(([0], 0))
            elif kind == WATCHED:
                out_versions.append((counter(plan, state, item), watched[w]))
                w += 1
            else:
                out_versions.append((state.sources[item]._version, state.versions[item]))
    return tuple(ins), tuple(in_versions), saved_out or (), tuple(out_versions)


def recompute(plan, state):
    """Run the region again eagerly from its sources (recording the graph), with the
    random state its forward had; returns the tensor of each slot."""
    tensors = {slot: state.sources[position]
               for slot, position in plan.source_position.items()}
    for slot, position in plan.source_position.items():
        original = state.originals.get(position)
        if original is not None:
            tensors[slot] = _make_tensor(original.copy())
    gen = backend.default_generator
    current = gen.get_state() if state.rng is not None else None
    if current is not None:
        gen.set_state(state.rng)
    try:
        for step in plan.steps:
            ins = [None if s == plan.none_slot else tensors[s] for s in step.ins]
            if step.cls is Detach:
                out = ins[0].detach()
            else:
                params = step.params
                if step.resolve:
                    params = resolve_params(params, {s: t._data for s, t in tensors.items()})
                out = step.cls.apply(*ins, **params)
            for s, t in zip(step.outs, out if step.multi else (out,)):
                tensors[s] = t
    finally:
        if current is not None:
            gen.set_state(current)
    return tensors
