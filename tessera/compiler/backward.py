"""Each operator's backward, captured once and replayed on arrays.

The region's backward (:mod:`.region`) calls the backward of every node backward needs,
and a backward builds its gradients with tessera operations: a ``Function.apply`` and a
few Tensors per operation, which is most of the time of a small training step. So the
first backward of a plan traces each node's backward like a forward (:mod:`.tracer`),
with its gradient outputs, saved tensors and array attributes as the graph's inputs. A
node whose trace is clean gets a :class:`Program` that later backwards run on arrays:
the operator's own backward, replayed, nothing re-derived. A node whose backward works on
arrays itself, reads values into Python or draws random numbers keeps being called.

The trace is strict: a branch on data (``if (x == 0).any()``) refuses the capture, and
so does a constant array of one element or more, since data copied into a new array by
item assignment looks like a constant to a trace. A program holds for the node
instance's non-array attributes (shapes, dims, flags its backward may branch on) and its
array attributes' shapes and dtypes as traced; a call where they differ runs the node's
backward. A program is also checked once against the backward it replays (the second
backward of the plan runs both) before it runs alone.
"""

import importlib

import numpy as np

from .._tensor import Tensor
from ..autograd.function import _make_tensor
from . import dataflow
from .dataflow import TracedArray
from .execute import execute
from .graph import Graph, Value
from .plan import Plan, resolve_params
from .hooks import Patches
from .tracer import Recorder

__all__ = ["Program", "Merged", "capture", "merge", "UNCAPTURED"]

# The operator that sums gradients, as the engine does with ``+``.
_Add = importlib.import_module("tessera.ops.elementwise").Add

UNCAPTURED = "uncaptured"  # the mark of a node whose backward cannot be captured
_NOT_GUARDED = {"next_edges", "_saved"}  # set by the region before each backward


class Program:
    """A node's backward as a plan over arrays: inputs are the gradient outputs, then the
    saved inputs (``saved_in`` says which), the saved outputs, the array attributes."""

    __slots__ = ("plan", "n_grads", "saved_in", "n_saved_out", "arrays", "guard", "keys",
                 "verified")

    def matches(self, fn):
        """Whether ``fn``'s attributes are those the program was traced with."""
        d = fn.__dict__
        keys = d.keys()
        if "next_edges" in d or "_saved" in d:
            keys = keys - _NOT_GUARDED
        if keys != self.keys:
            return False
        for name, shape, dtype in self.arrays:
            a = d[name]
            if type(a) is not np.ndarray or a.shape != shape or a.dtype != dtype:
                return False
        try:
            for name, value in self.guard:
                if not bool(d[name] == value):
                    return False
        except (TypeError, ValueError):  # an attribute that no longer compares as a value
            return False
        return True

    def state_arrays(self, fn, saved_in, saved_out):
        """The program's inputs after the gradients: what the node kept, its attributes."""
        arrays = [saved_in[i] for i in self.saved_in]
        if self.n_saved_out:
            arrays += saved_out
        d = fn.__dict__
        arrays += [d[name] for name, _, _ in self.arrays]
        return arrays

    def run(self, fn, grads, saved_in, saved_out):
        """The gradient arrays (None where the backward gives None) for ``grads``."""
        return run_arrays(self.plan, list(grads) + self.state_arrays(fn, saved_in, saved_out))


class Merged:
    """The backward of a whole region as one plan over arrays (see :func:`merge`): its
    inputs are the region's output gradients, then each program's state arrays."""

    __slots__ = ("plan", "steps")


def run_arrays(plan, arrays):
    """Run a plan without gradients on the arrays of its inputs; its output arrays."""
    env = [None] * (plan.none_slot + 1)
    for slot, a in zip(plan.inputs, arrays):
        env[slot] = a
    for slot, t in plan.live:
        env[slot] = t._data
    execute(plan, env)
    out = []
    for kind, item, _, _ in plan.recipe:
        if kind == 3:
            out.append(env[item])
        elif kind == 1:
            out.append(arrays[item])
        elif kind == 2:
            out.append(item._data)
        else:
            out.append(item)
    return out


def merge(plan):
    """The region's whole backward as one graph, once each node its gradients reach has a
    verified program: the programs' nodes in the order the region would run them, and the
    gradients of a value summed by ``Add`` nodes as the engine sums them. None while a
    program is not verified yet; UNCAPTURED when a node's backward cannot be captured or a
    gradient sum would need a dtype promotion (the programs then run one by one)."""
    reached = set(plan.region_outputs)
    for k in range(len(plan.kept) - 1, -1, -1):
        step, program = plan.kept[k], plan.programs[k]
        if not reached.intersection(step.outs):
            continue
        if program is UNCAPTURED:
            return UNCAPTURED
        if program is None or not program.verified:
            return None
        reached.update(slot for slot, needed in zip(step.ins, step.edges) if needed)
    graph = Graph()
    grad = {}
    for slot in plan.region_outputs:
        v = plan.graph.values[slot]
        grad[slot] = graph.add_input(f"grad_{v.name}", v.shape, v.dtype)
    steps = []
    for k in range(len(plan.kept) - 1, -1, -1):
        step, program = plan.kept[k], plan.programs[k]
        gouts = [grad.pop(s, None) for s in step.outs]
        if all(g is None for g in gouts):
            continue
        for i, (g, (shape, _)) in enumerate(zip(gouts, step.out_meta)):
            if g is None:  # an unreached output of a multi-output node: zeros, as the engine
                v = step.node.outputs[i]
                gouts[i] = graph.add_live("constant", None, _make_tensor(
                    np.zeros(shape, v.dtype.np_dtype)))
        steps.append((k, program))
        mapping = {}
        inputs = program.plan.graph.inputs
        for v, g in zip(inputs, gouts):
            mapping[v.index] = g
        for v in inputs[len(gouts):]:
            mapping[v.index] = graph.add_input(f"{step.node.name}{k}.{v.name}", v.shape,
                                               v.dtype)
        _copy_nodes(program.plan.graph, graph, mapping)
        outs = [mapping[v.index] if type(v) is Value else v
                for v in program.plan.graph.outputs]
        for slot, gi, needed in zip(step.ins, outs, step.edges):
            if gi is None or not needed:
                continue
            prev = grad.get(slot)
            if prev is None:
                grad[slot] = gi
                continue
            if prev.dtype is not gi.dtype:
                return UNCAPTURED
            node = graph.add_node(_Add, {}, [prev, gi])
            grad[slot] = graph.add_output(node, np.broadcast_shapes(prev.shape, gi.shape),
                                          gi.dtype)
    graph.outputs = [grad.get(slot) for slot in plan.grad_sources]
    merged = Merged()
    merged.plan = Plan(graph, [False] * len(graph.inputs), False)
    merged.steps = steps
    return merged


def _copy_nodes(source, graph, mapping):
    """Copy ``source``'s live tensors and nodes into ``graph``, values mapped by index."""
    for v in source.live:
        mapping[v.index] = graph.add_live(v.kind, v.name, v.tensor)
    for node in source.nodes:
        copy = graph.add_node(node.op, resolve_params(node.params, mapping),
                              [None if v is None else mapping[v.index] for v in node.inputs])
        copy.returns_tuple = node.returns_tuple
        for v in node.outputs:
            out = mapping[v.index] = graph.add_output(copy, v.shape, v.dtype)
            if v.root is not v:
                out.root = mapping[v.root.index].root
        copy.writes = [mapping[v.index].root for v in node.writes]


def capture(fn, grads):
    """Run ``fn.backward`` on the gradient arrays ``grads``, tracing it; returns the
    gradients (arrays, or None) and the :class:`Program`, or UNCAPTURED."""
    saved = fn._saved
    guard, arrays = [], []
    for name, a in fn.__dict__.items():
        if name in _NOT_GUARDED:
            continue
        if type(a) is np.ndarray:
            arrays.append((name, a))
        elif isinstance(a, Tensor) or _holds_array(a):
            return _plain_backward(fn, grads), UNCAPTURED
        else:
            guard.append((name, a))
    rec = Recorder(strict=True)
    tensors = [_make_tensor(g) for g in grads]
    for i, t in enumerate(tensors):
        rec.add_source(t, f"grad{i}")
    saved_in = []
    if saved is not None and saved[0]:
        for i, t in enumerate(saved[0]):
            if t is not None and id(t) not in rec._entries:
                rec.add_source(t, f"saved{i}")
                saved_in.append(i)
    n_saved_out = len(saved[2]) if saved is not None else 0
    for i in range(n_saved_out):
        rec.add_node_output(fn, i, rec.add_source(_make_tensor(saved[2][i]), f"out{i}"))
    originals = {}
    for name, a in arrays:
        source = _make_tensor(a)
        rec.add_source(source, f"self.{name}")
        view = a.view(TracedArray)  # reads and derived arrays are seen, as for tensor data
        view.source = source
        view.kind = dataflow.EXACT
        originals[name] = a
        fn.__dict__[name] = view
    try:
        with Patches(rec):
            out = fn.backward(*tensors)
            if rec.problem is None:
                rec.add_outputs(out if type(out) is tuple else (out,))
    finally:
        fn.__dict__.update(originals)
    if rec.problem is None:
        rec.finish()
    out = [None if g is None else g._data for g in (out if type(out) is tuple else (out,))]
    if rec.problem is not None or _array_constants(rec.graph):
        return out, UNCAPTURED
    program = Program()
    program.plan = Plan(rec.graph, [False] * len(rec.graph.inputs), False)
    program.n_grads = len(grads)
    program.saved_in = saved_in
    program.n_saved_out = n_saved_out
    program.arrays = [(name, a.shape, a.dtype) for name, a in arrays]
    program.guard = guard
    program.keys = frozenset(fn.__dict__.keys() - _NOT_GUARDED)
    program.verified = False
    return out, program


def _plain_backward(fn, grads):
    out = fn.backward(*[_make_tensor(g) for g in grads])
    return [None if g is None else g._data for g in (out if type(out) is tuple else (out,))]


def call_backward(fn, grads):
    """``fn.backward`` on gradient arrays, returning arrays (None where it gives None)."""
    return _plain_backward(fn, grads)


def same(ours, theirs):
    """Whether a program's gradients are those of the backward it replays."""
    if len(ours) != len(theirs):
        return False
    for a, b in zip(ours, theirs):
        if (a is None) != (b is None):
            return False
        if a is not None and (a.shape != b.shape or a.dtype != b.dtype
                              or not np.allclose(a, b, rtol=1e-6, atol=0, equal_nan=True)):
            return False
    return True


def _array_constants(graph):
    """Whether a backward's graph holds constant arrays of one element or more: unlike a
    Python number, such an array may be data copied by item assignment, which a trace
    cannot tell from a constant (``zeros[...] = self.mask``)."""
    if any(v.shape for v in graph.live):
        return True
    return any(_holds_array(p) and _nonscalar(p) for node in graph.nodes
               for p in node.params.values())


def _nonscalar(p):
    if isinstance(p, np.ndarray):
        return p.ndim > 0
    if type(p) in (tuple, list):
        return any(_nonscalar(v) for v in p)
    if type(p) is dict:
        return any(_nonscalar(v) for v in p.values())
    return False


def _holds_array(value):
    if type(value) in (tuple, list):
        return any(_holds_array(v) for v in value)
    if type(value) is dict:
        return any(_holds_array(v) for v in value.values())
    return isinstance(value, np.ndarray)
