"""``tessera.compile``: trace a function (or a Module's forward) once, replay it after.

Each call computes a guard key: the nesting of the arguments, each tensor's shape, dtype
and ``requires_grad`` (and which arguments are the same tensor), the other arguments by
value (objects by identity), grad mode, and the training flag of every module involved.
A key seen before replays its graph once the graph's live tensors still have the shapes,
dtypes and ``requires_grad`` of the trace and the modules still hold the same parameters,
buffers and submodules. A new key traces again (the call that traces runs eagerly and
returns the eager result); after ``recompile_limit`` traces (8, as PyTorch) new keys run
eagerly. A function whose trace cannot be replayed (see :mod:`.tracer`) runs eagerly for
that key, with one warning; ``fullgraph=True`` makes that an error instead.
"""

import functools
import warnings

import numpy as np

from .._tensor import Tensor
from ..autograd import grad_mode
from ..nn.modules.module import Module
from . import tracer
from .plan import Plan
from .replay import run
from .structure import flatten, unflatten

__all__ = ["compile", "OptimizedModule"]

_state = grad_mode.state
_EAGER = object()  # the cache's mark for a key whose trace cannot be replayed

# torch.compile's backend and mode names; all of them replay the same way here.
_BACKENDS = ("inductor", "eager", "aot_eager", "aot_eager_decomp_partition",
             "aot_eager_default_partitioner", "cudagraphs", "onnxrt", "openxla",
             "openxla_eval", "tvm", "ts", "aot_ts", "eager_debug", "eager_noexcept",
             "pre_dispatch_eager", "invoke_subgraph")
_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_CONSTANTS = (bool, int, float, complex, str, bytes, type(None), type(Ellipsis), slice)


def compile(model=None, *, fullgraph=False, dynamic=None, backend=None, mode=None,
            options=None, name=None, disable=False, recompile_limit=None,
            isolate_recompiles=False, shapes_spec=None):
    """Compile a function or Module: record its operators once, replay them afterwards.

    The signature is ``torch.compile``'s; it also works as a decorator, with or without
    arguments. Replays run each operator's forward directly on arrays and record one
    autograd node for the whole function, whose backward reuses each operator's backward.
    What a replay does not redo: the function's Python side effects other than tensor
    operations (appending to a list, printing); and what it does not check: non-tensor
    attributes the function reads (``module.p = 0.2`` after the trace needs a new compile).

    Args:
        model: a function or a Module. For a Module the result is an
            :class:`OptimizedModule` sharing its parameters (state_dict keys unchanged).
        fullgraph: raise instead of running eagerly when a trace cannot be replayed.
        dynamic, shapes_spec, isolate_recompiles, options: accepted for PyTorch
            compatibility; graphs are always specialised on shapes.
        backend, mode: PyTorch's names are accepted (all replay the same way here).
        name: a name for warnings (default: the function's).
        disable: return ``model`` unchanged.
        recompile_limit: how many traces before new keys run eagerly (default 8).

    Example::

        >>> import tessera as ts
        >>> @ts.compile
        ... def f(x, y):
        ...     return (x * y + 1.0).tanh()
        >>> f(ts.ones(2), ts.ones(2))  # traced, run eagerly
        tensor([0.9640, 0.9640])
        >>> f(ts.zeros(2), ts.ones(2))  # replayed
        tensor([0.7616, 0.7616])
    """
    _check_options(backend, mode, options, recompile_limit, fullgraph, disable)
    settings = {"fullgraph": fullgraph, "dynamic": dynamic, "backend": backend, "mode": mode,
                "options": options, "name": name, "disable": disable,
                "recompile_limit": recompile_limit, "isolate_recompiles": isolate_recompiles,
                "shapes_spec": shapes_spec}
    if model is None:
        return functools.partial(_compile_one, **settings)
    return _compile_one(model, **settings)


def _compile_one(model, *, fullgraph, name, disable, recompile_limit, **_):
    if disable:
        return model
    limit = 8 if recompile_limit is None else recompile_limit
    if isinstance(model, Module):
        forward = type(model).forward.__get__(model)
        compiled = Compiled(forward, fullgraph, limit, name or f"{type(model).__name__}.forward")
        return OptimizedModule(model, compiled)
    if not callable(model):
        raise TypeError(f"compile: expected a function or an nn.Module, got "
                        f"{type(model).__name__}")
    return functools.update_wrapper(Compiled(model, fullgraph, limit, name), model)


def _check_options(backend, mode, options, recompile_limit, fullgraph, disable):
    if backend is not None:
        if callable(backend) and not isinstance(backend, str):
            raise ValueError("compile: custom backends (callables) are not supported; pass "
                             f"one of PyTorch's backend names: {', '.join(_BACKENDS)}")
        if not isinstance(backend, str):
            raise TypeError(f"compile: backend must be a string, got {type(backend).__name__}")
        if backend not in _BACKENDS:
            raise ValueError(f"compile: unknown backend {backend!r}; expected one of "
                             f"{', '.join(_BACKENDS)}")
    if mode is not None and mode not in _MODES:
        raise ValueError(f"compile: unknown mode {mode!r}; expected None or one of "
                         f"{', '.join(_MODES)}")
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be "
                           "specified at the same time.")
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"compile: options must be a dict, got {type(options).__name__}")
    if recompile_limit is not None and (not isinstance(recompile_limit, int)
                                        or isinstance(recompile_limit, bool)
                                        or recompile_limit < 0):
        raise ValueError(f"compile: recompile_limit must be a non-negative int, got "
                         f"{recompile_limit!r}")
    for flag, value in (("fullgraph", fullgraph), ("disable", disable)):
        if not isinstance(value, bool):
            raise TypeError(f"compile: {flag} must be a bool, got {type(value).__name__}")


class _Entry:
    """One cached graph and the checks that it still describes the function."""

    __slots__ = ("graph", "plan", "input_leaves", "live", "structure", "objects")

    def valid(self):
        for t, shape, dtype, requires_grad in self.live:
            data = t._data
            if data.shape != shape or data.dtype != dtype or t.requires_grad != requires_grad:
                return False
        for d, items in self.structure:
            if len(d) != len(items):
                return False
            for key, obj in items:
                if d.get(key) is not obj:
                    return False
        return True


class Compiled:
    """What :func:`compile` returns for a function: call it like the function."""

    def __init__(self, fn, fullgraph, recompile_limit, name):
        self._fn = fn
        self._fullgraph = fullgraph
        self._limit = recompile_limit
        self._name = name or getattr(fn, "__qualname__", None) or type(fn).__name__
        self._cache = {}
        self._traces = 0
        self._warned = set()
        self._modules = {}  # id(module) -> (module, [its modules])
        owner = getattr(fn, "__self__", None)
        self._owner = owner if isinstance(owner, Module) else None

    def __get__(self, obj, objtype=None):
        # A compiled function in a class body is a method: bind it like one.
        return self if obj is None else functools.partial(self, obj)

    def __repr__(self):
        return f"<compiled {self._name}>"

    def __call__(self, *args, **kwargs):
        if tracer.is_tracing():  # inside another trace: inline into it
            return self._fn(*args, **kwargs)
        leaves, key, modules = self._key(args, kwargs)
        if key is None:
            return self._eager(args, kwargs, "an argument is a NumPy array (pass a tensor)")
        entry = self._cache.get(key)
        if entry is _EAGER:
            return self._fn(*args, **kwargs)
        if entry is not None:
            if entry.valid():
                outputs = run(entry.plan, [leaves[i] for i in entry.input_leaves])
                return unflatten(entry.graph.output_spec, outputs)
            # The modules or live tensors changed: trace again, with fresh module lists.
            del self._cache[key]
            self._modules.clear()
            leaves, key, modules = self._key(args, kwargs)
        return self._trace(key, leaves, modules, args, kwargs)

    def _eager(self, args, kwargs, reason):
        self._warn(reason)
        return self._fn(*args, **kwargs)

    def _warn(self, reason):
        if reason not in self._warned:
            self._warned.add(reason)
            warnings.warn(f"tessera.compile: {self._name} runs eagerly: {reason}",
                          stacklevel=3)

    def _key(self, args, kwargs):
        """(argument leaves, guard key or None if an argument cannot be guarded, modules)."""
        if not kwargs and all(type(a) is Tensor for a in args):
            leaves, spec = args, len(args)  # the common call: tensors only
        else:
            leaves, spec = flatten((args, kwargs))
        parts = [spec]
        ids = []
        modules = [] if self._owner is None else [self._owner]
        for x in leaves:
            if isinstance(x, Tensor):
                data = x._data
                parts.append((data.shape, data.dtype, x.requires_grad))
                ids.append(id(x))
            elif type(x) in _CONSTANTS or isinstance(x, np.generic):
                parts.append((type(x), x))
            elif isinstance(x, np.ndarray):
                return leaves, None, modules
            else:  # by identity: the cache entry keeps the object, so its id stays its own
                parts.append((type(x), id(x)))
                if isinstance(x, Module):
                    modules.append(x)
        if len(set(ids)) != len(ids):  # the same tensor passed twice
            parts.append(tuple(ids.index(i) for i in ids))
        parts.append(_state.enabled)
        for module in modules:
            parts.append(tuple(m.training for m in self._module_list(module)))
        return leaves, tuple(parts), modules

    def _module_list(self, module):
        found = self._modules.get(id(module))
        if found is None:
            found = self._modules[id(module)] = (module, list(module.modules()))
        return found[1]

    def _trace(self, key, leaves, modules, args, kwargs):
        if self._traces >= self._limit:
            return self._eager(args, kwargs, f"recompile_limit ({self._limit}) reached; the "
                                             "new arguments or states run eagerly")
        self._traces += 1
        result = tracer.record(self._fn, args, kwargs, modules=tuple(modules))
        if result.problem is not None:
            if self._fullgraph:
                raise RuntimeError(f"compile(fullgraph=True): {self._name} cannot be compiled "
                                   f"as one graph: {result.problem}")
            self._warn(result.problem)
            self._cache[key] = _EAGER
            return result.output
        graph = result.graph
        entry = _Entry()
        entry.graph = graph
        entry.input_leaves = result.input_leaves
        entry.plan = Plan(graph, [leaves[i].requires_grad for i in result.input_leaves],
                          _state.enabled)
        entry.live = [(v.tensor, v.tensor._data.shape, v.tensor._data.dtype,
                       v.tensor.requires_grad) for v in graph.live]
        # Arguments keyed by identity stay alive with the entry (their ids stay theirs).
        entry.objects = [x for x in leaves if not isinstance(x, Tensor)
                         and type(x) not in _CONSTANTS and not isinstance(x, np.generic)]
        entry.structure = []
        for module in modules:
            for m in self._module_list(module):
                for d in (m._modules, m._parameters, m._buffers):
                    entry.structure.append((d, tuple(d.items())))
        self._cache[key] = entry
        return result.output

    def graphs(self):
        """The graphs traced so far (one per guard key that replays)."""
        return [e.graph for e in self._cache.values() if e is not _EAGER]


class OptimizedModule(Module):
    """What :func:`compile` returns for a Module: the same module, forward compiled.

    It shares the original's parameters, buffers, submodules and hooks (``_orig_mod`` is
    the original), so ``state_dict`` keys are the original's, ``train()``/``eval()`` switch
    both, and calling it runs the original's hooks around the compiled forward.
    """

    def __init__(self, mod, compiled_forward):
        # No Module.__init__: the bookkeeping (parameters, buffers, hooks) is the original's.
        object.__setattr__(self, "_orig_mod", mod)
        object.__setattr__(self, "_compiled_forward", compiled_forward)
        for key, value in mod.__dict__.items():
            if key.startswith("_") and isinstance(value, (dict, set)):
                object.__setattr__(self, key, value)

    @property
    def training(self):
        return self._orig_mod.training

    @training.setter
    def training(self, mode):
        self._orig_mod.training = mode

    def forward(self, *args, **kwargs):
        return self._compiled_forward(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        mod = self._orig_mod
        if not (mod._forward_hooks or mod._forward_pre_hooks or mod._backward_hooks
                or mod._backward_pre_hooks or _global_hooks()):
            return self._compiled_forward(*args, **kwargs)
        # The original's own __call__ runs its hooks; its forward is the compiled one meanwhile.
        had = "forward" in mod.__dict__
        previous = mod.__dict__.get("forward")
        mod.__dict__["forward"] = self._compiled_forward
        try:
            return Module.__call__(mod, *args, **kwargs)
        finally:
            if had:
                mod.__dict__["forward"] = previous
            else:
                del mod.__dict__["forward"]

    def __getattr__(self, name):
        try:
            return Module.__getattr__(self, name)
        except AttributeError:
            return getattr(self._orig_mod, name)

    def state_dict(self, *args, **kwargs):
        return self._orig_mod.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        return self._orig_mod.load_state_dict(state_dict, strict, assign)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        self._orig_mod._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, *args, **kwargs):
        self._orig_mod._load_from_state_dict(*args, **kwargs)

    def __repr__(self):
        inner = repr(self._orig_mod).replace("\n", "\n  ")
        return f"OptimizedModule(\n  (_orig_mod): {inner}\n)"


def _global_hooks():
    from ..nn.modules import _hooks
    return _hooks._global_forward_hooks or _hooks._global_forward_pre_hooks
