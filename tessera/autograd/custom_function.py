"""User-defined differentiable operations, as ``torch.autograd.Function``.

::

    class Square(ts.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 2 * x * grad

    y = Square.apply(x)
"""

from . import grad_mode
from .function import Function as _Node
from .function import _FREED_MESSAGE, _make_tensor, _modified_message

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """The ``ctx`` handed to a custom Function's forward and backward."""

    def __init__(self, node):
        self._node = node
        self._saved = ()
        self._versions = ()
        self._freed = False
        self.needs_input_grad = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors):
        self._saved = tensors
        self._versions = tuple(None if t is None else t._version[0] for t in tensors)

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(_FREED_MESSAGE)
        for t, v in zip(self._saved, self._versions):
            if t is not None and t._version[0] != v:
                raise RuntimeError(_modified_message(self._node, t.shape, v, t._version[0]))
        return self._saved

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable = {id(t) for t in tensors}

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


class _CustomNode(_Node):
    """The graph node of one call of a custom Function."""

    def __init__(self, fn_cls, ctx):
        self.fn_cls = fn_cls
        self.ctx = ctx

    def backward(self, *grads):
        out = self.fn_cls.backward(self.ctx, *grads)
        if not isinstance(out, tuple):
            out = (out,)
        n = self.n_args
        if len(out) > n and all(g is None for g in out[n:]):
            out = out[:n]
        if len(out) != n:
            raise RuntimeError(f"function {self.fn_cls.__name__}Backward returned an incorrect "
                               f"number of gradients (expected {n}, got {len(out)})")
        # Gradients come per positional argument; the graph's inputs are the Tensor ones.
        return tuple(out[i] for i in self.tensor_positions)

    def release(self):
        self.ctx._saved = ()
        self.ctx._freed = True

    def name(self):
        return f"{self.fn_cls.__name__}Backward"


class Function:
    """Base class for custom differentiable operations (see the module docstring)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a custom Function must implement forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a custom Function must implement backward(ctx, ...) to be "
                                  "differentiated")

    @classmethod
    def apply(cls, *args, **kwargs):
        from .._tensor import Tensor

        node = _CustomNode(cls, None)
        ctx = FunctionCtx(node)
        node.ctx = ctx
        tensor_args = [a for a in args if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with grad_mode.no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        record = grad_mode.state.enabled and any(t.requires_grad for t in tensor_args)
        multi = isinstance(out, tuple)
        outs = out if multi else (out,)
        if not record:
            return out
        node.sequence_nr = 0
        edges = []
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad:
                edges.append((a._node, a._output_nr) if a._node is not None
                             else (a._accumulator(), 0))
            elif isinstance(a, Tensor):
                edges.append(None)
        node.next_edges = edges
        node.tensor_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        node.n_args = len(args)
        node.num_outputs = len(outs)
        node.output_meta = [(o._data.shape, o._data.dtype) if isinstance(o, Tensor) else ((), None)
                            for o in outs]
        non_diff = getattr(ctx, "_non_differentiable", set())
        wrapped = []
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                wrapped.append(o)
                continue
            differentiable = o.is_floating_point() and id(o) not in non_diff
            t = _make_tensor(o._data, node if differentiable else None, i)
            wrapped.append(t)
        return tuple(wrapped) if multi else wrapped[0]
