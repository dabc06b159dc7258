"""The backward engine: one pass over the graph in reverse topological order.

The graph is collected with an explicit stack (deep graphs never reach Python's
recursion limit), each node runs once all the gradients flowing into it have
been summed, saved tensors are freed unless ``retain_graph``, and tensor hooks
run on the gradient before it is used or stored.
"""

from . import grad_mode
from .function import AccumulateGrad

__all__ = ["run_backward"]

_state = grad_mode.state


def _collect(roots):
    """Every node reachable from the roots, with its number of incoming edges."""
    dependencies = {}
    stack = list(roots)
    seen = set(roots)
    while stack:
        node = stack.pop()
        for edge in node.next_edges:
            if edge is None:
                continue
            child = edge[0]
            dependencies[child] = dependencies.get(child, 0) + 1
            if child not in seen:
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
        if node in needed:
            continue
        needed.add(node)
        stack.extend(parents.get(node, ()))
    return needed


def _apply_tensor_hooks(hooks, grad):
    for hook in hooks:
        result = hook(grad)
        if result is not None:
            grad = result
    return grad


def run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs=None,
                 accumulate=True, allow_unused=False):
    """Backpropagate ``grad_tensors`` from ``tensors``.

    With ``accumulate`` the gradients of leaves go to their ``.grad``; otherwise
    (``autograd.grad``) the gradients of ``inputs`` are returned in order.
    """
    from .._tensor import Tensor

    roots = []
    root_grads = {}
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a "
                               "grad_fn")
        node = t._node if t._node is not None else t._accumulator()
        if node not in root_grads:
            roots.append(node)
            root_grads[node] = {}
        prev = root_grads[node].get(t._output_nr)
        root_grads[node][t._output_nr] = g if prev is None else prev + g

    nodes, dependencies = _collect(roots)

    # Where the requested gradients are captured: (node, output_nr) -> position.
    capture = {}
    if inputs is not None:
        for i, t in enumerate(inputs):
            if not t.requires_grad:
                raise RuntimeError(f"autograd.grad: input {i} does not require grad")
            node = t._node if t._node is not None else t._accumulator()
            capture.setdefault((node, t._output_nr if t._node is not None else 0), []).append(i)
        needed = _needed(nodes, [k[0] for k in capture])
    else:
        needed = None
    results = [None] * (len(inputs) if inputs is not None else 0)

    # Arrays already handed out as a .grad or a root gradient: a leaf gets its own copy.
    handed_out = {id(_storage(g._data)) for g in grad_tensors}

    buffers = {node: [None] * _num_outputs(node) for node in roots}
    for node in roots:
        for nr, g in root_grads[node].items():
            buffers[node][nr] = g
    ready = [node for node in roots if dependencies.get(node, 0) == 0]
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
                for nr, ref in node._retained.items():
                    t = ref()
                    if t is not None and grads[nr] is not None:
                        g = grads[nr] if create_graph else grads[nr].detach()
                        t.grad = g if t.grad is None else t.grad + g
                        handed_out.add(id(_storage(g._data)))
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
            node._check_not_freed()
            if all(g is None for g in grads):
                in_grads = (None,) * len(node.next_edges)
            else:
                in_grads = _call_backward(node, grads, Tensor)
            if not retain_graph:
                node.release()
            for edge, g in zip(node.next_edges, in_grads):
                if edge is None:
                    continue
                child, nr = edge
                buf = buffers.get(child)
                if buf is None:
                    buf = buffers[child] = [None] * _num_outputs(child)
                if g is not None:
                    buf[nr] = g if buf[nr] is None else buf[nr] + g
                dependencies[child] -= 1
                if dependencies[child] == 0:
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


def _storage(array):
    return array if array.base is None else array.base


def _num_outputs(node):
    return getattr(node, "num_outputs", 1)


def _call_backward(node, grads, Tensor):
    from . import anomaly

    if len(grads) > 1 and any(g is None for g in grads):
        # Unreached outputs of a multi-output operator get zero gradients.
        grads = [g if g is not None else Tensor._zeros(shape, dtype)
                 for g, (shape, dtype) in zip(grads, node.output_meta)]
    in_grads = node.backward(*grads)
    if type(in_grads) is not tuple:
        in_grads = (in_grads,)
    hooks = node.__dict__.get("_node_hooks")
    if hooks:
        for hook in hooks:
            result = hook(in_grads, tuple(grads))
            if result is not None:
                in_grads = tuple(result)
    if len(in_grads) != len(node.next_edges):
        raise RuntimeError(f"{node.name()} returned {len(in_grads)} gradients, expected "
                           f"{len(node.next_edges)}")
    if anomaly.enabled():
        anomaly.check(node, in_grads)
    return in_grads


def _accumulate(node, grad, create_graph, handed_out):
    tensor = node.variable
    if tensor is None or grad is None:
        return
    if tensor._hooks:
        grad = _apply_tensor_hooks(tensor._hooks, grad)
    if grad.shape != tensor.shape:
        raise RuntimeError(f"gradient of shape {tuple(grad.shape)} cannot be accumulated into a "
                           f"leaf of shape {tuple(tensor.shape)}")
    if not create_graph:
        grad = grad.detach()
    if tensor.grad is None:
        storage = id(_storage(grad._data))
        if storage in handed_out and not create_graph:
            grad = grad.clone()
            storage = id(grad._data)
        handed_out.add(storage)
        tensor.grad = grad
    elif create_graph:
        tensor.grad = tensor.grad + grad
    else:
        tensor.grad._data += grad._data
        tensor.grad._version[0] += 1
