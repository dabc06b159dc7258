"""A replay plan: what to run, keep and free, decided once per graph and guard key.

A :class:`Plan` numbers the graph's values (slots of one array list) and, for the pattern
of ``requires_grad`` of its key, decides which values need a gradient (as
``Function._record`` would), which nodes backward needs (the *kept* ones, with what each
keeps: its ``keeps_inputs`` / ``keeps_outputs``), after which node an intermediate array
is no longer needed (so memory is released as early as in eager mode), and which
version counters must be followed so that an in-place change is caught as in eager mode.
"""

import operator

from ..autograd.function import _BFLOAT16
from .graph import Value
from .tracer import Detach

__all__ = ["Plan", "resolve_params"]

_NEEDED = True  # what next_edges holds for an input whose gradient is needed

# How a saved slot finds its version counter (see region.saved_for).
NONE, SOURCE, SOURCE_VIEW, WATCHED, PLAIN = range(5)


class Step:
    """One node of a plan."""

    __slots__ = ("node", "cls", "params", "resolve", "ins", "outs", "multi", "keep", "save_in",
                 "save_out", "edges", "writes", "free", "out_meta", "watch", "in_recipe",
                 "out_recipe")


class Plan:
    """How to replay ``graph`` when its inputs' ``requires_grad`` are ``input_requires``
    and grad mode is ``grad_enabled`` (live tensors: as they are now; the cache checks them).

    Attributes used by the replay: ``steps``, ``table`` (the loop's view of them), ``kept``
    (the steps backward runs), ``grad_sources`` / ``grad_positions`` (sources whose gradient
    the region returns), ``region_outputs`` (returned values that require grad),
    ``recipe`` (how to make each output leaf), ``roots`` (the storage of each slot),
    ``written_sources`` (the position of the source a node updates in place, per update).
    """

    def __init__(self, graph, input_requires, grad_enabled):
        self.graph = graph
        self.none_slot = len(graph.values)  # an absent optional input: a slot holding None
        sources = graph.inputs + graph.live
        self.inputs = [v.index for v in graph.inputs]
        self.live = [(v.index, v.tensor) for v in graph.live]
        # A call's sources are its input tensors, then the live tensors, in this order.
        self.source_position = {v.index: i for i, v in enumerate(sources)}
        self.input_position = {v.index: i for i, v in enumerate(graph.inputs)}
        self.random = any(node.random for node in graph.nodes)
        self.roots = [v.root.index for v in graph.values]
        self.out_slots = {v.index for v in graph.outputs if type(v) is Value}

        req = [False] * len(graph.values)
        for v, r in zip(graph.inputs, input_requires):
            req[v.index] = bool(r and grad_enabled)
        for v in graph.live:
            req[v.index] = bool(v.tensor.requires_grad and grad_enabled)
        self.steps = [self._step(node, req) for node in graph.nodes]
        self.written_sources = [self.source_position[v.index] for node in graph.nodes
                                for v in node.writes if v.index in self.source_position]
        self.grad_sources = [v.index for v in sources if req[v.index]]
        self.grad_positions = [self.source_position[s] for s in self.grad_sources]
        self.region_outputs = list(dict.fromkeys(
            v.index for v in graph.outputs if type(v) is Value and v.kind == "output"
            and req[v.index]))
        self.region_meta = [(graph.values[s].shape, graph.values[s].dtype.np_dtype)
                            for s in self.region_outputs]
        self.requires_grad = bool(self.grad_sources) and bool(self.region_outputs)
        if not self.requires_grad:  # no gradient leaves the region: nothing to keep
            for step in self.steps:
                step.keep = step.save_in = step.save_out = False
        self.kept = [step for step in self.steps if step.keep]
        # Per kept step, its backward as a program over arrays once captured (backward.py).
        self.programs = [None] * len(self.kept)
        self.merged = None  # all of them as one program (backward.merge), once verified
        self._set_free()
        self._set_versions()
        self._set_table()
        self._set_recipe()

    def _step(self, node, req):
        step = Step()
        step.node = node
        step.cls = node.op
        step.params = node.params
        step.resolve = next(_values(node.params), None) is not None
        step.ins = tuple(self.none_slot if v is None else v.index for v in node.inputs)
        step.outs = tuple(v.index for v in node.outputs)
        step.multi = node.returns_tuple
        needs = node.op is not Detach and any(v is not None and req[v.index]
                                               for v in node.inputs)
        for v in node.outputs:  # as Function._record: float outputs of a recorded node
            np_dtype = v.dtype.np_dtype
            req[v.index] = needs and (np_dtype.kind == "f" or np_dtype == _BFLOAT16)
        step.keep = needs and any(req[s] for s in step.outs)
        step.save_in = step.keep and node.op.keeps_inputs
        step.save_out = step.keep and node.op.keeps_outputs
        step.edges = tuple(_NEEDED if v is not None and req[v.index] else None
                           for v in node.inputs)
        # A source's version counter is moved once per replay, before it (see replay.run).
        step.writes = tuple(v.index for v in node.writes if v.index not in self.source_position)
        step.out_meta = [(v.shape, v.dtype.np_dtype) for v in node.outputs]
        return step

    def _set_free(self):
        """Each intermediate is dropped after its last reader (or its producer, if unread);
        sources and returned values are never dropped."""
        last_use = {}
        for k, step in enumerate(self.steps):
            for s in step.ins:
                last_use[s] = k
            for v in _values(step.params):
                last_use[v.index] = k
        keep = self.out_slots | set(self.source_position) | {self.none_slot}
        for step in self.steps:
            step.free = tuple(s for s in step.outs if s not in last_use and s not in keep)
        for slot, k in last_use.items():
            if slot not in keep:
                self.steps[k].free += (slot,)

    def _set_versions(self):
        """A saved value on storage that a user can write to after the call (a returned
        tensor's) or that the region writes in place is *watched*: its version when saved
        is recorded, to be checked in backward. Other intermediates cannot change."""
        def saved(step):
            updated = getattr(step.cls, "updates_inputs", ())
            ins = [s for i, s in enumerate(step.ins) if i not in updated]
            slots = (ins if step.save_in else []) + list(step.outs if step.save_out else ())
            return [s for s in slots if s != self.none_slot]

        saved_roots = {self.roots[s] for step in self.steps for s in saved(step)}
        returned = {self.roots[s] for s in self.out_slots}
        written = {r for step in self.steps for r in step.writes}
        self.watched = ((returned | written) & saved_roots) - set(self.source_position)
        for step in self.steps:
            step.watch = tuple(self.roots[s] for s in saved(step)
                               if self.roots[s] in self.watched)
            # Inputs the operator updates in place are not saved (as Function._record).
            updated = getattr(step.cls, "updates_inputs", ())
            step.in_recipe = tuple((NONE, None) if i in updated else self._version_recipe(s)
                                   for i, s in enumerate(step.ins))
            step.out_recipe = tuple(self._version_recipe(s) for s in step.outs)

    def _version_recipe(self, slot):
        if slot == self.none_slot:
            return NONE, None
        position = self.source_position.get(slot)
        if position is not None:
            return SOURCE, position
        position = self.source_position.get(self.roots[slot])
        if position is not None:
            return SOURCE_VIEW, position
        if self.roots[slot] in self.watched:
            return WATCHED, self.roots[slot]
        return PLAIN, None

    def _set_table(self):
        """The replay loop's view of each node: ``(cls, params, get, single, out, keep,
        free, step)``: ``get(env)`` gives the input arrays (the array itself when
        ``single``), ``keep`` says what backward keeps (1 the instance, 2 its inputs, 4 its
        outputs), and ``step`` is None for the common node (one array out, constant
        params, no in-place write to an intermediate, nothing watched), run inline."""
        self.table = []
        for step in self.steps:
            unusual = step.multi or step.resolve or step.writes or step.watch
            keep = (1 if step.keep else 0) | (2 if step.save_in else 0) | (
                4 if step.save_out else 0)
            get = operator.itemgetter(*step.ins) if step.ins else _no_inputs
            self.table.append((step.cls, step.params, get, len(step.ins) == 1,
                               step.outs[0] if step.outs else None, keep, step.free,
                               step if unusual else None))

    def _set_recipe(self):
        """How to make each output leaf: ``(kind, item, region output number, root)`` with
        kind 0 a Python object, 1 an input tensor, 2 a live tensor, 3 a node output (whose
        storage ``root`` it shares with others, or None)."""
        region_nr = {slot: i for i, slot in enumerate(self.region_outputs)}
        self.recipe = []
        for v in self.graph.outputs:
            if type(v) is not Value:
                self.recipe.append((0, v, None, None))
            elif v.kind == "input":
                self.recipe.append((1, self.input_position[v.index], None, None))
            elif v.kind != "output":
                self.recipe.append((2, v.tensor, None, None))
            else:
                root = self.roots[v.index]
                shared = root if root != v.index or root in self.watched else None
                self.recipe.append((3, v.index, region_nr.get(v.index), shared))


def _no_inputs(env):
    return ()


def _values(params):
    """Every graph Value inside a node's params."""
    stack = list(params.values())
    while stack:
        p = stack.pop()
        if type(p) is Value:
            yield p
        elif type(p) in (tuple, list):
            stack.extend(p)
        elif type(p) is dict:
            stack.extend(p.values())


def resolve_params(p, env):
    """``p`` with each Value replaced by ``env[value.index]`` (its current array, or the
    Value it maps to when a graph is copied)."""
    t = type(p)
    if t is Value:
        return env[p.index]
    if t is dict:
        return {k: resolve_params(v, env) for k, v in p.items()}
    if t is tuple or t is list:
        return t(resolve_params(v, env) for v in p)
    return p
