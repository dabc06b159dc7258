"""Replaying a plan: its nodes on arrays (execute.py), its outputs as Tensors.

When the outputs need gradients, their ``grad_fn`` is one
:class:`~.region.CompiledFunction` node for the whole region.
"""


from ..autograd.function import _make_tensor
from .execute import CallState, counter, execute
from .region import CompiledFunction

__all__ = ["run"]


def run(plan, inputs):
    """Replay ``plan`` on the input tensors; returns the output leaves (Tensors and the
    function's other results) in the graph's order."""
    env = [None] * (plan.none_slot + 1)
    for slot, t in zip(plan.inputs, inputs):
        env[slot] = t._data
    for slot, t in plan.live:
        env[slot] = t._data
    if plan.written_sources:
        _count_writes(plan, inputs)
    state = CallState(plan, inputs) if plan.requires_grad else None
    execute(plan, env, state)
    region = None
    if state is not None:
        region = CompiledFunction.__new__(CompiledFunction)
        region.plan = plan
        region._state = state
        region._saved = ()  # not None, so that release() marks it freed
        region.num_outputs = len(plan.region_outputs)
        region.output_meta = plan.region_meta
        edges = []
        for position in plan.grad_positions:
            t = state.sources[position]
            edges.append((t._node, t._output_nr) if t._node is not None
                         else (t._accumulator(), 0))
        region.next_edges = edges
    return _outputs(plan, env, inputs, region, state)


def _count_writes(plan, inputs):
    """Move the version counter of each source that an operator updates in place, once per
    update, as eager mode does (before the nodes run: the versions a backward checks are
    those after the call's own writes)."""
    n = len(inputs)
    for position in plan.written_sources:
        t = inputs[position] if position < n else plan.live[position - n][1]
        t._version[0] += 1


def _outputs(plan, env, inputs, region, state):
    """The output leaves: the function's Python results, its input and live tensors as
    they are, and one new tensor per returned node output (the region's when it has one)."""
    made = {}
    leaves = []
    for kind, item, nr, root in plan.recipe:
        if kind == 3:
            t = made.get(item)
            if t is None:
                t = made[item] = _make_tensor(env[item], None if nr is None else region,
                                              nr or 0)
                if root is not None:
                    _share_storage(plan, t, item, root, made, inputs, state)
            leaves.append(t)
        elif kind == 1:
            leaves.append(inputs[item])
        else:
            leaves.append(item)
    return leaves


def _share_storage(plan, t, slot, root, made, inputs, state):
    """A returned tensor on the storage of another (a view of an input, of a live tensor or
    of another output) shares its version counter and has it as ``_base``."""
    position = plan.source_position.get(root)
    if position is not None:
        base = inputs[position] if position < len(inputs) else \
            plan.live[position - len(inputs)][1]
        t._version = base._version
        t._base = base
        return
    if state is not None:
        t._version = counter(plan, state, root)
    base = made.get(root)
    if base is not None and root != slot:
        t._version = base._version
        t._base = base
