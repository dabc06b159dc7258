"""The backward engine: one pass over the graph in reverse topological order.

The graph is collected with an explicit stack (deep graphs never reach Python's
recursion limit), each node runs once all the gradients flowing into it have
been summed, saved tensors are freed unless ``retain_graph``, and tensor hooks
run on the gradient before it is used or stored.
"""

import numpy as np

from . import anomaly, grad_mode
from .function import AccumulateGrad, _make_tensor

__all__ = ["run_backward"]

_state = grad_mode.state
_anomaly = anomaly._state
profiler_hook = None  # set by tessera.profiler.profile while it records


def _collect(roots):
    """Every node reachable from the roots, with its number of incoming edges."""
    dependencies = {}
    stack = list(roots)
    seen = set(roots)
    while stack:
        for edge in stack.pop().next_edges:
            if edge is None:
                continue
            child = edge[0]
            if child in seen:  # a root can be a child too: it starts outside `dependencies`
                dependencies[child] = dependencies.get(child, 0) + 1
            else:
                dependencies[child] = 1
                seen.add(child)
                stack.append(child)
    return seen, dependencies


def _needed(nodes, targets):
    """The nodes from which some target can be reached (the rest need not run)."""
    parents = {}
    for node in nodes:
        for edge in node.next_edges:
            if edge is not None:
                parents.setdefault(edge[0], []).append(node)
    needed = set()
    stack = [t for t in targets if t in nodes]
    while stack:
        node = stack.pop()
        if node not in needed:
            needed.add(node)
            stack.extend(parents.get(node, ()))
    return needed


def _apply_tensor_hooks(hooks, grad):
    for hook in hooks:
        result = hook(grad)
        if result is not None:
            grad = result
    return grad


def _storage(array):
    return array if array.base is None else array.base


def run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs=None,
                 accumulate=True, allow_unused=False):
    """Backpropagate ``grad_tensors`` from ``tensors``.

    With ``accumulate`` the gradients of leaves go to their ``.grad``; otherwise
    (``autograd.grad``) the gradients of ``inputs`` are returned in order.
    """
    buffers = {}
    roots = []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a "
                               "grad_fn")
        node = t._node if t._node is not None else t._accumulator()
        buf = buffers.get(node)
        if buf is None:
            roots.append(node)
            buf = buffers[node] = [None] * node.num_outputs
        nr = t._output_nr
        buf[nr] = g if buf[nr] is None else buf[nr] + g

    nodes, dependencies = _collect(roots)

    # Where requested gradients are captured: (node, output_nr) -> positions in `inputs`.
    capture = None
    needed = None
    results = []
    if inputs is not None:
        capture = {}
        for i, t in enumerate(inputs):
            if not t.requires_grad:
                raise RuntimeError(f"autograd.grad: input {i} does not require grad")
            if t._node is not None:
                capture.setdefault((t._node, t._output_nr), []).append(i)
            else:
                capture.setdefault((t._accumulator(), 0), []).append(i)
        needed = _needed(nodes, [key[0] for key in capture])
        results = [None] * len(inputs)

    # Arrays already handed out as a .grad or a root gradient: a leaf gets its own copy.
    handed_out = {id(_storage(g._data)) for g in grad_tensors}

    ready = [node for node in roots if node not in dependencies]
    prev_enabled = _state.enabled
    _state.enabled = create_graph
    try:
        while ready:
            node = ready.pop()
            grads = buffers.pop(node)
            if node._tensor_hooks:
                for nr, hooks in node._tensor_hooks.items():
                    if grads[nr] is not None:
                        grads[nr] = _apply_tensor_hooks(hooks, grads[nr])
            if node._retained:
                _retain(node, grads, create_graph, handed_out)
            if capture:
                for nr, g in enumerate(grads):
                    for i in capture.get((node, nr), ()):
                        results[i] = g if results[i] is None else results[i] + g
            if type(node) is AccumulateGrad:
                if accumulate and (needed is None or node in needed):
                    _accumulate(node, grads[0], create_graph, handed_out)
                continue
            if needed is not None and node not in needed:
                continue
            if profiler_hook is not None:
                profiler_hook._push()
            if grads[0] is not None and len(grads) == 1:
                in_grads = node.backward(grads[0])
            elif any(g is not None for g in grads):
                in_grads = node.backward(*_materialize(node, grads))
            else:
                in_grads = (None,) * len(node.next_edges)
            if profiler_hook is not None:
                profiler_hook._pop(node.name())
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if node._node_hooks:
                in_grads = _run_node_hooks(node, in_grads, grads)
            if len(in_grads) != len(node.next_edges):
                raise RuntimeError(f"{node.name()} returned {len(in_grads)} gradients, expected "
                                   f"{len(node.next_edges)}")
            if _anomaly.enabled:
                anomaly.check(node, in_grads)
            if not retain_graph:
                node.release()
            for edge, g in zip(node.next_edges, in_grads):
                if edge is None:
                    continue
                child, nr = edge
                buf = buffers.get(child)
                if buf is None:
                    buf = buffers[child] = [None] * child.num_outputs
                if g is not None:
                    buf[nr] = g if buf[nr] is None else buf[nr] + g
                remaining = dependencies[child] - 1
                dependencies[child] = remaining
                if remaining == 0:
                    ready.append(child)
    finally:
        _state.enabled = prev_enabled

    if inputs is not None:
        for i, g in enumerate(results):
            if g is None and not allow_unused:
                raise RuntimeError(f"One of the differentiated Tensors (input {i}) appears to "
                                   "not have been used in the graph. Set allow_unused=True if "
                                   "this is the desired behavior.")
            if g is not None and not create_graph:
                results[i] = g.detach()
    return results


def _materialize(node, grads):
    """Unreached outputs of a multi-output operator get zero gradients."""
    return [g if g is not None else _make_tensor(np.zeros(shape, dtype))
            for g, (shape, dtype) in zip(grads, node.output_meta)]


def _run_node_hooks(node, in_grads, grads):
    for hook in node._node_hooks:
        result = hook(in_grads, tuple(grads))
        if result is not None:
            in_grads = tuple(result)
    return in_grads


def _retain(node, grads, create_graph, handed_out):
    for nr, ref in node._retained.items():
        t = ref()
        if t is not None and grads[nr] is not None:
            g = grads[nr] if create_graph else grads[nr].detach()
            t.grad = g if t.grad is None else t.grad + g
            handed_out.add(id(_storage(g._data)))


def _accumulate(node, grad, create_graph, handed_out):
    tensor = node.variable_ref()
    if tensor is None or grad is None:
        return
    if tensor._hooks:
        grad = _apply_tensor_hooks(tensor._hooks, grad)
    if grad._data.shape != tensor._data.shape:
        raise RuntimeError(f"gradient of shape {tuple(grad.shape)} cannot be accumulated into a "
                           f"leaf of shape {tuple(tensor.shape)}")
    if not create_graph and grad._node is not None:
        grad = grad.detach()
    if tensor.grad is None:
        storage = id(_storage(grad._data))
        if not create_graph and (storage in handed_out or not grad._data.flags.writeable):
            # .grad must own writable memory: optimizers and clipping update it in place.
            grad = _make_tensor(grad._data.copy())
            storage = id(grad._data)
        handed_out.add(storage)
        tensor.grad = grad
    elif create_graph:
        tensor.grad = tensor.grad + grad
    else:
        tensor.grad._data += grad._data
        tensor.grad._version[0] += 1
