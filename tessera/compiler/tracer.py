"""Recording a forward pass: every ``Function.apply`` call made while a function runs.

:func:`trace` runs the function once, eagerly, and records a :class:`~.graph.Graph`. The
hooks exist only while a trace runs (like the profiler, it swaps ``Function.apply`` for
the time of the trace), so operators cost nothing more when no trace is active.

What becomes what:

- tensors passed to the function are graph inputs; tensors produced by operators are node
  outputs;
- any other tensor the function reads (parameters, buffers, tensors from a closure, and
  tensors made inside it by factories such as ``ts.zeros``) is a *live* value: a replay
  reads its current ``_data``, so in-place optimizer updates and rebinding are both seen;
- an operator parameter that is the data of a tensor (the class indices of
  ``cross_entropy``) refers to that tensor's value.

The trace refuses to be replayed (``TraceResult.problem`` says why, and
:func:`tessera.compile` runs the function eagerly) when the result would be specialised on
data or would skip an effect: tensor values read into Python (``.item()``, ``bool(t)``,
``.tolist()``, ``.numpy()``), arrays computed from tensor data outside an operator
(``dataflow.py``), random numbers drawn outside an operator (``ts.rand`` inside the
function), in-place writes to a tensor from outside the function or writes that no
operator recorded, a backward pass inside the function, hooks on intermediate tensors,
forward hooks on submodules, and custom ``autograd.Function`` outputs. In-place operators
on the function's own intermediates (``x += y``, ``relu(inplace=True)``,
``x[:, 0] = v`` while recording gradients) are recorded: later uses see the new value.

An operator whose class declares ``updates_inputs`` (positions of inputs its forward
updates in place, as batch norm's running statistics) may write into any tensor, a live
one or an argument included: the node lists their storage in ``writes``, and each replay
runs the same forward on the same arrays, so it makes the same update, and moves their
version counters as eager mode does.

Randomness drawn inside an operator's forward (dropout's mask, attention dropout) is
redrawn by each replay.

The hooks that report to the :class:`Recorder` are installed for the time of a trace
only (``hooks.py``).
"""

import inspect

import numpy as np

from .._tensor import Tensor
from ..autograd.function import Function
from ..backend import dtypes
from . import dataflow, hooks
from .dataflow import TracedArray, plain
from .graph import Graph
from .structure import flatten, leaf_paths

__all__ = ["trace", "record", "TraceResult", "Detach", "is_tracing"]

_DATA = hooks.DATA


class Detach(Function):
    """``x.detach()`` inside a traced function: the same array, no gradient."""

    is_view = True

    def forward(self, x):
        return x

    def backward(self, g):
        return None


def is_tracing():
    """Whether a trace is recording (a compiled function called inside runs inline)."""
    return hooks.active is not None


class TraceResult:
    """What :func:`record` returns: the graph, the function's (eager) result, and the first
    reason the graph cannot be replayed (None when it can)."""

    def __init__(self, graph, output, problem, input_leaves):
        self.graph = graph
        self.output = output
        self.problem = problem
        self.input_leaves = input_leaves  # which flattened argument each graph input is


def trace(fn, *example_inputs, **example_kwargs):
    """Run ``fn(*example_inputs)`` once and return the :class:`Graph` of its operators.

    ``fn`` may be a function or a Module (its ``forward`` is traced; its parameters and
    buffers appear under their state_dict names). Raises RuntimeError when the result
    depends on tensor data in a way a graph cannot replay; the message says how.

    Example::

        >>> import tessera as ts
        >>> g = ts.compiler.trace(lambda x: (x * 2).relu(), ts.ones(2, 3))
        >>> g.op_names()
        ['Mul', 'Relu']
    """
    result = record(fn, example_inputs, example_kwargs)
    if result.problem is not None:
        raise RuntimeError(f"trace: {_name(fn)} cannot be recorded as a graph: "
                           f"{result.problem}")
    return result.graph


def record(fn, args, kwargs, modules=()):
    """Trace ``fn(*args, **kwargs)``; ``modules`` name their parameters and buffers."""
    from ..nn.modules.module import Module

    if hooks.active is not None:
        raise RuntimeError("trace: a trace is already recording")
    if isinstance(fn, Module):
        modules = (fn,) + tuple(modules)
        fn = fn.forward
    elif inspect.ismethod(fn) and isinstance(fn.__self__, Module):
        modules = (fn.__self__,) + tuple(modules)
    rec = Recorder(modules)
    rec.add_inputs(fn, args, kwargs)
    with hooks.Patches(rec):
        output = fn(*args, **kwargs)
        if not rec.off:
            rec.add_outputs(output)
    if not rec.off:
        rec.finish()
    return TraceResult(rec.graph, output, rec.problem, rec.input_leaves)


def _name(fn):
    return getattr(fn, "__qualname__", None) or type(fn).__name__


class _Entry:
    """What the recorder knows about one tensor: its value and version when last seen."""

    __slots__ = ("tensor", "value", "counter", "version", "hooks")

    def __init__(self, tensor, value):
        self.tensor = tensor
        self.value = value
        self.counter = tensor._version
        self.version = tensor._version[0]
        self.hooks = len(tensor._hooks) if tensor._hooks else 0


class Recorder:
    """The state of one trace (see the module docstring for the rules it enforces)."""

    def __init__(self, modules=(), strict=False):
        self.graph = Graph()
        self.problem = None
        self.strict = strict    # branches on data are refused too (see dataflow.py)
        self.off = False        # set once a problem is found: nothing more is recorded
        self.depth = 0          # > 0 inside Function.apply: the operator's own array work
        self.drew = False       # whether the operator being applied drew random numbers
        self._entries = {}      # id(tensor) -> _Entry (tensors are kept alive by entries)
        self._by_node = {}      # (id(grad_fn), output_nr) -> value
        self._nodes = []        # the grad_fns seen (kept alive: their ids are keys)
        self._pending = {}      # id(tensor) -> tensor whose data was written over it
        self._geometry = {}     # memory geometry of tensor data -> the tensor
        self._memory = []       # raw arrays of the tensors seen, for overlap checks
        self._requires = {}     # value index -> whether its tensor required grad
        self._names = {}
        self._modules = modules
        for module in modules:
            for name, p in module.named_parameters():
                self._names.setdefault(id(p), ("parameter", name))
            for name, b in module.named_buffers():
                self._names.setdefault(id(b), ("buffer", name))

    # -- problems ----------------------------------------------------------------------

    def flag(self, message):
        if self.problem is None:
            self.problem = message
            # The trace cannot be replayed: the function just finishes eagerly, untracked.
            self.off = True
            dataflow.recorder = None

    def on_read(self, what):
        self.flag(f"it reads tensor values into Python ({what}), so the graph would be "
                  "specialised on this data")

    def on_compute(self):
        # Only a strict recorder calls this: a backward that computes on arrays itself
        # is not captured, and need not be followed further.
        self.flag("it computes on tensor data outside an operator")

    def on_branch(self):
        if self.strict:
            self.flag("it branches on tensor data")

    def on_write(self, array, data, how, key, value):
        """NumPy writes into ``array`` outside an operator (``data``: tensor data)."""
        if type(array) is TracedArray and array.kind == dataflow.EXACT:
            if (key is Ellipsis and type(value) is TracedArray
                    and value.kind == dataflow.EXACT and value.shape == array.shape
                    and value.dtype == array.dtype):
                # Tensor._write of an in-place operator: the tensor now holds that value.
                self._pending[id(array.source)] = value.source
                return
            self.flag(f"it writes into tensor data outside an operator ({how})")
        elif any(np.may_share_memory(array, m) for _, m in self._memory):
            self.flag(f"it writes into tensor data outside an operator ({how})")
        elif data:
            if type(array) is TracedArray:
                dataflow.mark_derived(array)  # a scratch array now holds tensor data
            else:
                self.flag(f"it computes on tensor data into a NumPy buffer outside an "
                          f"operator ({how})")

    def on_draw(self):
        if self.off:
            return
        if self.depth:
            self.drew = True
        else:
            self.flag("it draws random numbers outside an operator (a random factory such "
                      "as ts.rand or Tensor.uniform_ inside the function); a replay would "
                      "reuse the numbers of the trace")

    # -- sources and outputs -------------------------------------------------------------

    def add_inputs(self, fn, args, kwargs):
        names = _argument_names(fn, args, kwargs)
        leaves, _ = flatten((args, kwargs))
        self.input_leaves = []
        for i, x in enumerate(leaves):
            if isinstance(x, Tensor):
                if id(x) in self._entries:
                    continue  # the same tensor twice: one input (the guard keys aliasing)
                self.input_leaves.append(i)
                raw = _DATA.__get__(x)
                value = self.graph.add_input(names[i], raw.shape,
                                             dtypes.from_numpy_dtype(raw.dtype))
                self._bind(x, value, raw)

    def add_source(self, t, name):
        """Make tensor ``t`` a graph input called ``name`` (a replay passes its array)."""
        raw = _DATA.__get__(t)
        value = self.graph.add_input(name, raw.shape, dtypes.from_numpy_dtype(raw.dtype))
        self._bind(t, value, raw)
        return value

    def add_node_output(self, node, output_nr, value):
        """Tensors whose grad_fn is ``node`` (at ``output_nr``) hold ``value``."""
        self._by_node[(id(node), output_nr)] = value
        self._nodes.append(node)

    def add_outputs(self, output):
        leaves, spec = flatten(output)
        outs = []
        for x in leaves:
            outs.append(self.value_of(x) if isinstance(x, Tensor) else x)
        self.graph.outputs = outs
        self.graph.output_spec = spec

    def finish(self):
        for entry in self._entries.values():
            t, value = entry.tensor, entry.value
            if value.root.is_source and (t._version is not entry.counter
                                         or t._version[0] != entry.version):
                self.flag(f"it modifies {value.root.name} in place, a tensor from outside the "
                          "function")
            if value.is_source and (len(t._hooks) if t._hooks else 0) != entry.hooks:
                self.flag(f"it registers a hook on {value.name}")
        for node in self._nodes:
            if node._tensor_hooks or node._retained or node._node_hooks:
                self.flag("it registers a hook on (or retains the gradient of) an "
                          "intermediate tensor; a replay has no such tensor")
        from ..nn.modules import _hooks
        if _hooks._global_forward_hooks or _hooks._global_forward_pre_hooks:
            self.flag("global module forward hooks are registered; a replay would not run "
                      "them")
        for top in self._modules:
            for name, m in top.named_modules():
                if m is not top and (m._forward_hooks or m._forward_pre_hooks
                                     or m._backward_hooks or m._backward_pre_hooks):
                    self.flag(f"submodule {name!r} has hooks; a replay would not run them")

    # -- tensors to values ---------------------------------------------------------------

    def _bind(self, t, value, raw):
        self._entries[id(t)] = _Entry(t, value)
        self._note(t, raw, bound=True)
        self._requires.setdefault(value.index, t.requires_grad)

    def _note(self, t, raw, bound=False):
        """Remember which tensor holds the memory ``raw``: the latest one given a value, or
        else the first one whose data was read (a detached copy is not its own origin)."""
        key = _geometry(raw)
        if key not in self._geometry:
            self._memory.append((t, raw))
            self._geometry[key] = t
        elif bound:
            self._geometry[key] = t

    def value_of(self, t):
        """The graph value that tensor ``t`` holds now."""
        entry = self._entries.get(id(t))
        if entry is None:
            return self._unknown(t)
        if t._version is entry.counter and t._version[0] == entry.version:
            return entry.value
        return self._rebind(t, entry)

    def _rebind(self, t, entry):
        """``t`` changed since it was last seen: an in-place operator gave it a new value."""
        new = None
        if t._node is not None:
            new = self._by_node.get((id(t._node), t._output_nr))
        source = self._pending.pop(id(t), None)
        if new is None and source is not None and source is not t:
            new = self.value_of(source)
        old = entry.value
        if new is None or new is old:
            self.flag(f"{old.name} was modified in place by something other than an operator")
        elif old.root.is_source:
            self.flag(f"it modifies {old.root.name} in place, a tensor from outside the "
                      "function")
        elif new.shape != old.shape or new.dtype != old.dtype:
            self.flag(f"an in-place operation changed the shape or dtype of {old.name}")
        else:
            new.root = old.root
            if new.node is not None:
                new.node.writes.append(old.root)
        if new is not None:
            entry.value = new
        entry.counter, entry.version = t._version, t._version[0]
        return entry.value

    def _unknown(self, t):
        """A tensor seen for the first time: a node output under another Tensor object, an
        alias of traced data, data derived outside the operators, or a live tensor."""
        raw = _DATA.__get__(t)
        if t._node is not None:
            value = self._by_node.get((id(t._node), t._output_nr))
            if value is not None:
                self._bind(t, value, raw)
                return value
        origin = self.origin_of(raw, t)
        if origin is _DERIVED:
            self.flag("it uses a tensor computed from tensor data outside the operators "
                      "(NumPy work on a tensor's data, such as index arrays); a replay "
                      "would reuse the values of the trace")
        elif origin is not None and origin is not t:
            value = self.value_of(origin)
            if t._node is not None:
                self.flag("it uses the output of an operation the trace cannot see (a custom "
                          "autograd.Function?)")
            elif t.requires_grad:
                self.flag(f"it makes a new leaf tensor that shares memory with {value.name}")
            elif self._requires.get(value.index):
                value = self.detach(value)
            self._bind(t, value, raw)
            return value
        kind, name = self._names.get(id(t), ("constant", None))
        value = self.graph.add_live(kind, name, t)
        self._bind(t, value, raw)
        return value

    def detach(self, value):
        node = self.graph.add_node(Detach, {}, [value])
        out = self.graph.add_output(node, value.shape, value.dtype)
        out.root = value.root
        self._requires[out.index] = False
        return out

    def origin_of(self, array, holder=None):
        """The tensor whose data ``array`` exactly is, ``_DERIVED`` for data computed from
        tensors outside an operator, or None for an array unrelated to tensor data.
        ``holder`` is the tensor that holds ``array``, when one is being classified: its
        own data, read before, says nothing about where the array came from."""
        a = array
        while isinstance(a, np.ndarray):
            if type(a) is TracedArray:
                if a.kind == dataflow.EXACT:
                    return a.source if _same(array, a) else _DERIVED
                if a.kind == dataflow.DERIVED:
                    return _DERIVED
            a = a.base
        t = self._geometry.get(_geometry(array))
        if t is not None and t is not holder:
            return t
        if any(u is not holder and np.may_share_memory(array, m) for u, m in self._memory):
            return _DERIVED
        return None

    # -- operators -----------------------------------------------------------------------

    def apply(self, original, cls, inputs, params):
        """Run one operator eagerly and record it as a node."""
        in_values = [None if t is None else self.value_of(t) for t in inputs]
        graph_params, call_params = {}, {}
        for key, p in params.items():
            graph_params[key], call_params[key] = self._param(cls, key, p)
        self.depth += 1
        self.drew = False
        try:
            out = original(cls, *inputs, **call_params)
        finally:
            self.depth -= 1
        node = self.graph.add_node(cls, graph_params, in_values)
        node.random = self.drew
        node.returns_tuple = type(out) is tuple
        for i in getattr(cls, "updates_inputs", ()):
            if i < len(inputs) and inputs[i] is not None:
                self._updated(node, inputs[i], in_values[i])
        view_of = in_values[0] if cls.is_view and in_values else None
        for t in (out if node.returns_tuple else (out,)):
            raw = _DATA.__get__(t)
            value = self.graph.add_output(node, raw.shape, dtypes.from_numpy_dtype(raw.dtype))
            if view_of is not None:
                value.root = view_of.root
            self._bind(t, value, raw)
            if t._node is not None:
                self._by_node[(id(t._node), t._output_nr)] = value
                self._nodes.append(t._node)
        return out

    def _param(self, cls, key, p):
        """(what the graph keeps, what the operator is called with) for one parameter."""
        if isinstance(p, np.ndarray):
            origin = self.origin_of(p)
            if origin is None:
                if type(p) is TracedArray:  # a constant made outside the operators
                    p = np.array(plain(p))
                return p, p
            if origin is _DERIVED:
                self.flag(f"{cls.__name__}: its parameter {key!r} is computed from tensor data "
                          "outside the operator")
                return p, plain(p)
            return self.value_of(origin), plain(p)
        t = type(p)
        if t is tuple or t is list:
            pairs = [self._param(cls, key, x) for x in p]
            return t(a for a, _ in pairs), t(b for _, b in pairs)
        if t is dict:
            pairs = {k: self._param(cls, key, x) for k, x in p.items()}
            return {k: a for k, (a, _) in pairs.items()}, {k: b for k, (_, b) in pairs.items()}
        return p, p

    def _updated(self, node, t, value):
        """``node``'s operator updated tensor ``t`` (holding ``value``) in place, as its class
        declares (``updates_inputs``): a replay runs the same forward on the same storage, so
        the value keeps its name and the node records the write."""
        name = node.op.__name__
        if t.requires_grad:
            self.flag(f"{name} updates {value.name} in place, a tensor that requires grad")
            return
        root = value.root
        if root.is_source:
            # A source's version is the same for the whole replay: an earlier operator that
            # saved it for backward would not see the write (eager mode raises there).
            for earlier in self.graph.nodes[:-1]:
                if earlier.op.keeps_inputs and any(
                        v is not None and v.root is root
                        and i not in getattr(earlier.op, "updates_inputs", ())
                        for i, v in enumerate(earlier.inputs)):
                    self.flag(f"{name} updates {root.name} in place after {earlier.name} "
                              "saved it for backward")
                    return
        node.writes.append(root)
        # The operator's apply moves the version counter when it returns, as in-place writes
        # do: the entries of the tensors on this storage expect that version.
        version = t._version[0]
        for entry in self._entries.values():
            if entry.counter is t._version and entry.version == version:
                entry.version = version + 1


_DERIVED = object()


def _geometry(array):
    return (array.__array_interface__["data"][0], array.shape, array.strides, array.dtype)


def _same(a, b):
    return _geometry(a) == _geometry(b)


def _argument_names(fn, args, kwargs):
    """A readable name per flattened argument leaf (``x``, ``batch[0]``, ``mask``)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    names, star = [], "args"
    for p in params:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            star = p.name
            break
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                      inspect.Parameter.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    paths = []
    for i, a in enumerate(args):
        paths += leaf_paths(a, names[i] if i < len(names) else f"{star}[{i - len(names)}]")
    for k, v in kwargs.items():
        paths += leaf_paths(v, k)
    return paths
