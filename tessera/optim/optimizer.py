"""The optimizer base class: parameter groups, per-parameter state, state_dict and hooks.

A subclass states only its update rule, as MLX and Chainer's UpdateRule do:
``_init_state(p, state, group)`` fills a new parameter's state and
``_update(p, g, state, group)`` applies one step. Both receive backend arrays
(``p`` is the parameter's own storage, ``g`` its gradient) and work in place
with ufuncs and ``out=``, so a step allocates nothing the size of a parameter:
the few temporaries an update needs live in scratch buffers shared by all
parameters of a dtype (:meth:`Optimizer._scratch`).

State values are Tensors as in PyTorch, except the scalar counters listed in
``_scalar_state`` (``step``), kept as Python numbers for speed and exposed by
:meth:`Optimizer.state_dict` as 0-d float32 tensors, as PyTorch stores them.
"""

import copy
import threading
import warnings
from collections import OrderedDict, defaultdict
from itertools import chain

import numpy as np

from .._tensor import Tensor
from ..autograd import grad_mode
from ..autograd.function import _make_tensor, _RemovableHandle
from ..backend import get_array_module
from ..backend.parallel import parallel_for, pass_ns, threads_for

__all__ = ["Optimizer"]

_lane = threading.local()  # .index: which lane's scratch buffers the current thread uses

# Updating in lanes on several threads measured as a loss for an MLP's Adam step (0.4 ms of
# work: 1.94 -> 1.82 ms per training step serial; handing work over costs ~0.06 ms here and
# lets the idle BLAS threads fall asleep), even for an LSTM's (1.6 ms), and a gain for a
# Transformer's AdamW (3.2M parameters: 7.4 -> 5.3 ms).
_MIN_LANE_NS = 1_000_000


def _balanced_lanes(work, lanes):
    """``work`` ((param, group) pairs) dealt into ``lanes`` lists of about equal total size:
    largest first, each to the lightest lane. Parameters are independent, so lanes can
    update at the same time; the order within a lane keeps the parameter order."""
    if len(work) <= 1:
        return [work]
    loads, assigned = [0] * lanes, [[] for _ in range(lanes)]
    for i in sorted(range(len(work)), key=lambda i: -work[i][0]._data.size):
        lightest = loads.index(min(loads))
        assigned[lightest].append(i)
        loads[lightest] += work[i][0]._data.size
    return [[work[i] for i in sorted(ids)] for ids in assigned if ids]


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts
            that define parameter groups (each with a ``"params"`` entry and
            options overriding ``defaults``).
        defaults: the default value of every option of a parameter group.
    """

    # Per-parameter scalars kept as Python numbers; state_dict shows them as float32 tensors.
    _scalar_state = {"step": int}

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._init_hooks()
        self._scratch_buffers = {}
        self._opt_called = False
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or "
                            "dicts, but got a Tensor")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def _init_hooks(self):
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        self._optimizer_state_dict_pre_hooks = OrderedDict()
        self._optimizer_state_dict_post_hooks = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks = OrderedDict()
        self._optimizer_load_state_dict_post_hooks = OrderedDict()

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        # Also the last step of load_state_dict, so subclasses can fix loaded groups here.
        self.__dict__.update(state)
        if "_optimizer_step_pre_hooks" not in self.__dict__:
            self._init_hooks()
        self.__dict__.setdefault("_scratch_buffers", {})
        self.__dict__.setdefault("_opt_called", False)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines) + "\n)"

    # -- parameter groups -----------------------------------------------------------------

    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with ``"params"`` and optional options)."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: param_group must be a dict, but got "
                            f"{type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}: optimizer parameters need to be organized in ordered "
                            "collections, but the ordering of tensors in sets will change "
                            "between runs. Please use a list instead.")
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(tensors):
                raise ValueError(f"{name}: all optimizer params should be with/without names. "
                                 "Some param names are missing")
            param_group["param_names"] = names
        param_group["params"] = tensors
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not (p.is_leaf or p.retains_grad):
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor")
        for key, default in self.defaults.items():
            param_group.setdefault(key, default)
        if len(tensors) != len({id(p) for p in tensors}):
            warnings.warn(f"{name}: optimizer contains a parameter group with duplicate "
                          "parameters; in future, this will cause an error", stacklevel=3)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in tensors):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        for group in self.param_groups:
            if ("param_names" in group) != ("param_names" in param_group):
                raise ValueError(f"{name}: all optimizer param groups should be with/without "
                                 "names.")
        self.param_groups.append(param_group)

    # -- the step ---------------------------------------------------------------------------

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all parameters: to None (default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if grad._node is not None:
                        grad.detach_()
                    else:
                        grad.requires_grad = False
                    if grad._data.flags.writeable:
                        grad._data[...] = 0
                    else:  # a NumPy scalar (0-d results may be one) cannot be written
                        grad._data = get_array_module(grad._data).zeros_like(grad._data)
                    grad._version[0] += 1

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given.

        Args:
            closure: an optional callable that re-evaluates the model and returns the loss;
                it runs with gradient recording enabled.
        """
        if self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks:
            return self._step_with_hooks(closure)
        return self._step(closure)

    def _step(self, closure):
        loss = None
        if closure is not None:
            with grad_mode.enable_grad():
                loss = closure()
        self._opt_called = True
        work, size = [], 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                data, g = p._data, p.grad._data
                if g.shape != data.shape:
                    raise RuntimeError(f"{type(self).__name__}.step: a parameter of shape "
                                       f"{data.shape} has a gradient of shape {g.shape}")
                work.append((p, group))
                size += data.size
        # Adam's 12 NumPy calls over a parameter held in cache run at about 1.5 ns per element
        # in all (MLP, 270k parameters: 0.4 ms); lanes pay only above _MIN_LANE_NS each.
        cost = pass_ns(size, 3)
        lanes = min(threads_for(cost), int(cost // _MIN_LANE_NS)) or 1
        if lanes == 1:
            self._update_lane(work, 0)
        else:
            lanes = _balanced_lanes(work, lanes)
            parallel_for(len(lanes), lambda a, b: [self._update_lane(lanes[i], i)
                                                   for i in range(a, b)], cost / len(lanes))
        for p, _ in work:
            # The rules wrote the arrays directly, so nothing was recorded by autograd; the
            # version bump lets saved-tensor checks see the write.
            p._version[0] += 1
        return loss

    def _update_lane(self, work, lane):
        """Update the parameters of one lane (a thread's share), with that lane's scratch."""
        _lane.index = lane
        init_state, update, states = self._init_state, self._update, self.state
        for p, group in work:
            state = states[p]
            data = p._data
            if not state:
                if isinstance(data, np.generic):
                    # A 0-d parameter stored as a NumPy scalar has no memory to update in
                    # place: give it a 0-d array (nothing else can share a scalar).
                    data = p._data = np.array(data)
                init_state(data, state, group)
            update(data, p.grad._data, state, group)

    def _step_with_hooks(self, closure):
        args, kwargs = ((closure,) if closure is not None else ()), {}
        for hook in list(self._optimizer_step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{type(self).__name__}: a step pre-hook must return None "
                                       f"or a tuple (new_args, new_kwargs), but got {result!r}")
                args, kwargs = result
        loss = self._step(args[0] if args else kwargs.get("closure"))
        for hook in list(self._optimizer_step_post_hooks.values()):
            hook(self, args, kwargs)
        return loss

    def _init_state(self, p, state, group):
        """Fill the empty ``state`` of parameter array ``p`` (called before its first update)."""

    def _update(self, p, g, state, group):
        """Update parameter array ``p`` in place from its gradient ``g``."""
        raise NotImplementedError(f"{type(self).__name__} does not define an update rule "
                                  "(_update)")

    # -- helpers for the update rules -------------------------------------------------------

    def _scratch(self, p, slot=0):
        """A temporary array shaped like ``p``, reused by every step and parameter.

        One flat buffer per (dtype, slot, lane) of the largest parameter's size serves all
        parameters that lane updates (one at a time), so small models keep it in cache.
        """
        key = (p.dtype, slot, getattr(_lane, "index", 0))
        buf = self._scratch_buffers.get(key)
        n = p.size
        if buf is None or buf.size < n:
            buf = self._scratch_buffers[key] = get_array_module(p).empty(n, dtype=p.dtype)
        return buf[:n].reshape(p.shape)

    def _grad_for_update(self, p, g, weight_decay, maximize):
        """The gradient the rule sees: ``-g`` when maximizing, plus ``weight_decay * p``.

        Written into scratch slot 0 when it differs from ``g``; ``g`` itself is never
        modified (it is the user's ``.grad``).
        """
        if weight_decay == 0:
            if not maximize:
                return g
            out = self._scratch(p, 0)
            return get_array_module(p).negative(g, out=out)
        xp = get_array_module(p)
        out = self._scratch(p, 0)
        xp.multiply(p, weight_decay, out=out)
        return (xp.subtract if maximize else xp.add)(out, g, out=out)

    @staticmethod
    def _zeros_state(p, fill=0):
        """A state Tensor shaped like ``p`` holding ``fill``."""
        xp = get_array_module(p)
        return _make_tensor(xp.zeros_like(p) if fill == 0 else xp.full_like(p, fill))

    # -- state_dict -------------------------------------------------------------------------

    def state_dict(self):
        """The optimizer's state in PyTorch's layout.

        ``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``:
        parameters are numbered in group order; state tensors are returned by reference,
        as PyTorch does (deep-copy the result to keep a snapshot while training goes on).
        """
        for hook in list(self._optimizer_state_dict_pre_hooks.values()):
            hook(self)
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        scalars = self._scalar_state
        state = {}
        for p, values in self.state.items():
            if not values:
                continue
            key = index[id(p)] if isinstance(p, Tensor) else p
            state[key] = {k: (_make_tensor(np.array(v, dtype=np.float32)) if k in scalars else v)
                          for k, v in values.items()}
        state_dict = {"state": state, "param_groups": groups}
        for hook in list(self._optimizer_state_dict_post_hooks.values()):
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict):
        """Load a state from :meth:`state_dict`, or from a PyTorch optimizer's state_dict.

        Array-like values (tessera Tensors, NumPy arrays, anything with ``__array__``) are
        copied and cast to their parameter's dtype; ``step`` counters may be numbers or
        0-d tensors.
        """
        name = type(self).__name__
        state_dict = dict(state_dict)
        for hook in list(self._optimizer_load_state_dict_pre_hooks.values()):
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has "
                             f"{len(saved_groups)} parameter groups, the optimizer has "
                             f"{len(groups)}")
        for i, (g, s) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"{name}.load_state_dict: loaded state dict contains a "
                                 f"parameter group {i} of {len(s['params'])} parameters that "
                                 f"doesn't match the size of optimizer's group "
                                 f"({len(g['params'])} parameters)")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state = defaultdict(dict)
        for key, values in state_dict["state"].items():
            if key in id_map:
                p = id_map[key]
                state[p] = {k: self._load_value(p, k, v) for k, v in values.items()}
            else:
                state[key] = values
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            for key, default in self.defaults.items():
                saved.setdefault(key, default)
        self.__setstate__({"state": state, "param_groups": saved_groups})
        for hook in list(self._optimizer_load_state_dict_post_hooks.values()):
            hook(self)

    def _load_value(self, p, key, value):
        convert = self._scalar_state.get(key)
        if convert is not None:
            return convert(float(value.item() if hasattr(value, "item") else value))
        if isinstance(value, Tensor):
            value = value._data
        elif not hasattr(value, "__array__"):
            return copy.deepcopy(value)
        data = p._data
        xp = get_array_module(data)
        array = xp.asarray(value)
        # As in PyTorch, floating state follows the parameter's dtype; other state keeps its own.
        is_float = data.dtype.kind == "f" or data.dtype.name == "bfloat16"
        return _make_tensor(xp.array(array, dtype=data.dtype if is_float else None, copy=True))

    # -- hooks ------------------------------------------------------------------------------

    @staticmethod
    def _register(hooks, hook, prepend):
        key = object()
        hooks[key] = hook
        if prepend:
            hooks.move_to_end(key, last=False)
        return _RemovableHandle(hooks, key)

    def register_step_pre_hook(self, hook):
        """``hook(optimizer, args, kwargs)`` runs before each step; it may return new
        ``(args, kwargs)``."""
        return self._register(self._optimizer_step_pre_hooks, hook, False)

    def register_step_post_hook(self, hook):
        """``hook(optimizer, args, kwargs)`` runs after each step."""
        return self._register(self._optimizer_step_post_hooks, hook, False)

    def register_state_dict_pre_hook(self, hook, prepend=False):
        """``hook(optimizer)`` runs before :meth:`state_dict` builds its result."""
        return self._register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend=False):
        """``hook(optimizer, state_dict)`` may edit or replace the result of :meth:`state_dict`."""
        return self._register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend=False):
        """``hook(optimizer, state_dict)`` may edit or replace the state_dict being loaded."""
        return self._register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend=False):
        """``hook(optimizer)`` runs after :meth:`load_state_dict`."""
        return self._register(self._optimizer_load_state_dict_post_hooks, hook, prepend)


def _check_common(name, lr, eps=None, weight_decay=None, betas=None, differentiable=False):
    """Validate the options most optimizers share, with PyTorch's rules."""
    if isinstance(lr, Tensor):
        raise TypeError(f"{name}: lr must be a Python float; a Tensor learning rate is not "
                        "supported by tessera")
    if not 0.0 <= lr:
        raise ValueError(f"{name}: invalid learning rate: {lr} (expected lr >= 0)")
    if eps is not None and not 0.0 <= eps:
        raise ValueError(f"{name}: invalid epsilon value: {eps} (expected eps >= 0)")
    if weight_decay is not None and not 0.0 <= weight_decay:
        raise ValueError(f"{name}: invalid weight_decay value: {weight_decay} "
                         "(expected weight_decay >= 0)")
    if betas is not None:
        for i, beta in enumerate(betas):
            if isinstance(beta, Tensor):
                raise TypeError(f"{name}: betas must be Python floats; Tensor betas are not "
                                "supported by tessera")
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: invalid beta parameter at index {i}: {beta} "
                                 "(expected 0 <= beta < 1)")
    if differentiable:
        raise ValueError(f"{name}: differentiable=True is not supported by tessera (the update "
                         "is applied in place, outside the autograd graph)")


def _lerp_(xp, a, b, weight, tmp):
    """``a.lerp_(b, weight)`` with PyTorch's two-sided formula (exact at both ends)."""
    xp.subtract(b, a, out=tmp)
    if abs(weight) < 0.5:
        xp.multiply(tmp, weight, out=tmp)
        xp.add(a, tmp, out=a)
    else:
        xp.multiply(tmp, 1 - weight, out=tmp)
        xp.subtract(b, tmp, out=a)


def _decay_square_(xp, v, g, beta, tmp):
    """``v.mul_(beta).addcmul_(g, g, value=1 - beta)``: the running mean of squares."""
    xp.multiply(v, beta, out=v)
    xp.multiply(g, g, out=tmp)
    xp.multiply(tmp, 1 - beta, out=tmp)
    xp.add(v, tmp, out=v)
