"""Hook machinery of modules: removable handles, global forward hooks, and the identity
operators that deliver full backward hooks their gradients."""

import itertools
import weakref
from collections import OrderedDict

from ..._tensor import Tensor
from ...autograd import grad_mode
from ...autograd.function import Function

__all__ = ["RemovableHandle", "register_module_forward_pre_hook",
           "register_module_forward_hook"]

_global_forward_pre_hooks = OrderedDict()
_global_forward_hooks = OrderedDict()


class RemovableHandle:
    """What registering a hook returns: ``handle.remove()`` unregisters it."""

    _next_id = itertools.count()

    def __init__(self, hooks_dict, *, extra_dict=None):
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = next(RemovableHandle._next_id)
        if extra_dict is None:
            extra_dict = []
        elif not isinstance(extra_dict, list):
            extra_dict = [extra_dict]
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extra_dict)

    def remove(self):
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            d = ref()
            if d is not None:
                d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def register_module_forward_pre_hook(hook):
    """A forward pre-hook run before every module's forward (before its own hooks)."""
    handle = RemovableHandle(_global_forward_pre_hooks)
    _global_forward_pre_hooks[handle.id] = hook
    return handle


def register_module_forward_hook(hook):
    """A forward hook run after every module's forward (before its own hooks)."""
    handle = RemovableHandle(_global_forward_hooks)
    _global_forward_hooks[handle.id] = hook
    return handle


class _HookIdentity(Function):
    """Passes tensors through unchanged; its backward hands their gradients to a callback."""

    def forward(self, *arrays, callback):
        self.callback = callback
        return arrays if len(arrays) > 1 else arrays[0]

    def backward(self, *grads):
        return self.callback(grads)


class _BackwardHook:
    """Wires a module's full backward (pre-)hooks around one call, as PyTorch's BackwardHook:
    an identity on the Tensor inputs and one on the Tensor outputs."""

    def __init__(self, module):
        self.module = module
        self.grad_outputs = None
        self.n_inputs = 0
        self.input_positions = ()
        self.inputs_recorded = False

    def setup_input_hook(self, args):
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_inputs = len(args)
        self.input_positions = positions
        if not positions or not grad_mode.is_grad_enabled() or not any(
                args[i].requires_grad for i in positions):
            return args
        self.inputs_recorded = True
        outs = _HookIdentity.apply(*[args[i] for i in positions], callback=self._input_grads)
        outs = outs if isinstance(outs, tuple) else (outs,)
        args = list(args)
        for i, t in zip(positions, outs):
            args[i] = t
        return tuple(args)

    def setup_output_hook(self, result):
        single = isinstance(result, Tensor)
        outputs = (result,) if single else result
        if not isinstance(outputs, tuple):
            return result
        positions = [i for i, o in enumerate(outputs) if isinstance(o, Tensor)
                     and o.requires_grad]
        if not positions or not grad_mode.is_grad_enabled():
            return result
        self.n_outputs = len(outputs)
        self.output_positions = positions
        outs = _HookIdentity.apply(*[outputs[i] for i in positions],
                                   callback=self._output_grads)
        outs = outs if isinstance(outs, tuple) else (outs,)
        outputs = list(outputs)
        for i, t in zip(positions, outs):
            outputs[i] = t
        return outputs[0] if single else tuple(outputs)

    def _spread(self, grads, positions, n):
        full = [None] * n
        for i, g in zip(positions, grads):
            full[i] = g
        return tuple(full)

    def _output_grads(self, grads):
        grad_outputs = self._spread(grads, self.output_positions, self.n_outputs)
        for hook in self.module._backward_pre_hooks.values():
            out = hook(self.module, grad_outputs)
            if out is not None:
                grad_outputs = tuple(out)
        self.grad_outputs = grad_outputs
        if not self.inputs_recorded:  # no input needs a gradient: hooks fire here (PyTorch)
            grad_inputs = (None,) * self.n_inputs
            for hook in self.module._backward_hooks.values():
                hook(self.module, grad_inputs, grad_outputs)
        new = tuple(grad_outputs[i] for i in self.output_positions)
        return new if len(new) > 1 else new[0]

    def _input_grads(self, grads):
        grad_inputs = self._spread(grads, self.input_positions, self.n_inputs)
        for hook in self.module._backward_hooks.values():
            out = hook(self.module, grad_inputs, self.grad_outputs)
            if out is not None:
                out = tuple(out)
                if len(out) != len(grad_inputs):
                    raise RuntimeError(f"Backward hook returned an invalid number of grad_input, "
                                       f"got {len(out)}, but expected {len(grad_inputs)}")
                grad_inputs = out
        new = tuple(grad_inputs[i] for i in self.input_positions)
        return new if len(new) > 1 else new[0]
