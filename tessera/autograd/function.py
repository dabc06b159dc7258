"""The operator base: forward on backend arrays, backward on Tensors.

Every operator in ``tessera/ops`` is a :class:`Function` subclass that keeps its
forward and its backward side by side. ``forward`` receives backend arrays and
returns an array (or a tuple of arrays); ``backward`` receives the output
gradients as Tensors and returns one gradient Tensor (or None) per input. Because
backward uses tessera's own differentiable operations, running it with the graph
recorded (``create_graph=True``) gives gradients of gradients.

An operator that needs its inputs or outputs in backward says so with the class
attributes ``keeps_inputs`` / ``keeps_outputs``; backward then reads
``self.saved_inputs`` / ``self.saved_outputs``, which check that nothing was
modified in place since the forward (version counters). Constants that backward
needs (masks, indices) may be stored on ``self`` as arrays during forward.

The node object doubles as the graph node (``grad_fn``): ``next_edges`` holds,
per input, ``(node, output_nr)`` of where its gradient flows, or None.
"""

import itertools
import weakref

import ml_dtypes
import numpy as np

from . import grad_mode

__all__ = ["Function", "UpdatesInputs", "AccumulateGrad", "sum_to_shape"]

_state = grad_mode.state
_sequence = itertools.count()
_FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward.")

_BFLOAT16 = np.dtype(ml_dtypes.bfloat16)  # its NumPy kind is "V", not "f"
_FREED = ("freed",)  # what a released node keeps instead of its saved values

# Set by tessera/_tensor.py, which imports this module (avoids an import cycle).
_Tensor = None


def _differentiable(out):
    """Whether any output of a forward (an array or a tuple of arrays) can carry a gradient."""
    for o in (out if type(out) is tuple else (out,)):
        dtype = getattr(o, "dtype", None)
        if dtype is None or dtype.kind in "fc" or dtype == _BFLOAT16:
            return True
    return False


def _make_tensor(data, node=None, output_nr=0):
    if type(data) is not np.ndarray:  # NumPy reductions return scalars; tensors hold arrays
        data = np.asarray(data)
    t = _Tensor.__new__(_Tensor)
    t._data = data
    t._node = node
    t._output_nr = output_nr
    t.requires_grad = node is not None
    t.grad = None
    t._version = [0]
    t._base = None
    t._acc = None
    t._hooks = None
    t._retains_grad = False
    return t


class Function:
    """Base class of tessera's operators (see the module docstring)."""

    keeps_inputs = False
    keeps_outputs = False
    is_view = False          # outputs share storage (and the version counter) with input 0

    # Filled in by apply() when the graph is recorded.
    next_edges = ()
    _saved = None
    _tensor_hooks = None     # {output_nr: [hook, ...]} registered on non-leaf outputs
    _retained = None         # {output_nr: weakref to the tensor that called retain_grad()}
    _node_hooks = None       # [hook(grad_inputs, grad_outputs), ...]
    num_outputs = 1

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the operator on Tensors (None for an absent optional input)."""
        fn = cls.__new__(cls)
        out = fn.forward(*[None if t is None else t._data for t in inputs], **params)
        if _state.enabled:
            for t in inputs:
                if t is not None and t.requires_grad:
                    if (type(out) is not tuple and out.dtype.kind == "f") or \
                            _differentiable(out):
                        return fn._record(inputs, out)
                    break  # integer and boolean results (comparisons, indices) start no graph
        if type(out) is not tuple:
            out = _make_tensor(out)
            if cls.is_view:
                _share_storage(inputs[0], (out,))
            return out
        outs = tuple(_make_tensor(o) for o in out)
        if cls.is_view:
            _share_storage(inputs[0], outs)
        return outs

    def _record(self, inputs, out):
        self.sequence_nr = next(_sequence)
        edges = []
        for t in inputs:
            if t is None or not t.requires_grad:
                edges.append(None)
            elif t._node is not None:
                edges.append((t._node, t._output_nr))
            else:
                edges.append((t._accumulator(), 0))
        self.next_edges = edges
        multi = type(out) is tuple
        outs = out if multi else (out,)
        if multi:
            self.num_outputs = len(outs)
            self.output_meta = [(o.shape, o.dtype) for o in outs]
        tensors = []
        for i, o in enumerate(outs):
            # Integer and boolean outputs (indices, masks) never carry gradients.
            differentiable = o.dtype.kind == "f" or o.dtype == _BFLOAT16
            tensors.append(_make_tensor(o, self if differentiable else None, i))
        if self.is_view:
            _share_storage(inputs[0], tensors)
        if self.keeps_inputs or self.keeps_outputs:
            saved_in = tuple(inputs) if self.keeps_inputs else ()
            self._saved = (
                saved_in,
                tuple(None if t is None else t._version[0] for t in saved_in),
                tuple(t._data for t in tensors) if self.keeps_outputs else (),
                tuple((t._version, t._version[0]) for t in tensors) if self.keeps_outputs else (),
            )
        return tuple(tensors) if multi else tensors[0]

    # -- what backward reads ------------------------------------------------------------

    @property
    def saved_inputs(self):
        saved = self._saved
        if saved is _FREED:
            raise RuntimeError(_FREED_MESSAGE)
        for t, v in zip(saved[0], saved[1]):
            if t is not None and t._version[0] != v:
                raise RuntimeError(_modified_message(self, t.shape, v, t._version[0]))
        return saved[0]

    @property
    def saved_outputs(self):
        saved = self._saved
        if saved is _FREED:
            raise RuntimeError(_FREED_MESSAGE)
        outs = []
        for i, (data, (counter, v)) in enumerate(zip(saved[2], saved[3])):
            if counter[0] != v:
                raise RuntimeError(_modified_message(self, data.shape, v, counter[0]))
            # A fresh Tensor whose grad_fn is this node: no reference cycle, and double
            # backward through the saved output reaches this node's inputs.
            differentiable = data.dtype.kind == "f" or data.dtype == _BFLOAT16
            outs.append(_make_tensor(data, self if differentiable else None, i))
        return tuple(outs)

    def release(self):
        """Free what backward needed (after a backward without retain_graph)."""
        if self._saved is not None:
            self._saved = _FREED

    # -- the operator contract ----------------------------------------------------------

    def forward(self, *arrays, **params):
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def backward(self, *grad_outputs):
        raise RuntimeError(f"{self.name()} is not differentiable")

    def name(self):
        return type(self).__name__ + "Backward0"

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"

    @property
    def next_functions(self):
        """PyTorch's view of the graph: ((node, output_nr) or (None, 0), ...)."""
        return tuple(e if e is not None else (None, 0) for e in self.next_edges)

    def register_hook(self, hook):
        """Hook called as ``hook(grad_inputs, grad_outputs)`` after this node's backward."""
        if self._node_hooks is None:
            self._node_hooks = []
        self._node_hooks.append(hook)
        return _RemovableHandle(self._node_hooks, hook)


class UpdatesInputs(Function):
    """Base of an operator whose forward updates some of its input arrays in place.

    ``updates_inputs`` lists the positions of those inputs (an absent one, None, is
    skipped). As for any in-place write, each such tensor's version counter moves by one
    per call; the operator does not save them for backward (its backward must not read
    them: the next call updates them again, which must not invalidate this graph). The
    compiler's tracer reads the same attribute, so that a replay makes the same update.
    """

    updates_inputs = ()

    @classmethod
    def apply(cls, *inputs, **params):
        out = super().apply(*inputs, **params)
        for i in cls.updates_inputs:
            if inputs[i] is not None:
                inputs[i]._version[0] += 1
        return out

    def _record(self, inputs, out):
        result = super()._record(inputs, out)
        if self._saved is not None and self.keeps_inputs:
            saved, versions, outs, out_versions = self._saved
            updated = self.updates_inputs
            self._saved = (tuple(None if i in updated else t for i, t in enumerate(saved)),
                           tuple(None if i in updated else v for i, v in enumerate(versions)),
                           outs, out_versions)
        return result


class AccumulateGrad(Function):
    """The graph's sink for a leaf tensor: adds the incoming gradient to ``.grad``."""

    def __init__(self, tensor):
        self.variable_ref = weakref.ref(tensor)
        self.sequence_nr = -1

    @property
    def variable(self):
        return self.variable_ref()

    def name(self):
        return "AccumulateGrad"


def _share_storage(source, views):
    """Views share their source's version counter, so an in-place write to either is seen."""
    base = source._base if source._base is not None else source
    for t in views:
        t._version = source._version
        t._base = base


def _modified_message(node, shape, expected, found):
    return (f"one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: [tensor of shape {list(shape)}], which is output 0 of "
            f"{node.name()}, is at version {found}; expected version {expected} instead.")


class _RemovableHandle:
    def __init__(self, container, item):
        self._container = container
        self._item = item

    def remove(self):
        try:
            if isinstance(self._container, dict):
                del self._container[self._item]
            else:
                self._container.remove(self._item)
        except (ValueError, KeyError):
            pass


_backward_on_arrays = True   # see unrecorded_backward(); a trace turns it off meanwhile


def unrecorded_backward():
    """Whether a backward rule may work on arrays directly instead of through operators: the
    backward is not itself recorded (grad mode off, no ``create_graph``), and no trace of it
    runs (``tessera.compiler`` captures backward rules from the operators they call). The
    hottest rules (this module's ``sum_to_shape``, ``Mul``'s, the reductions' broadcast)
    check it: a Function's dispatch costs more than their arithmetic on small tensors."""
    return _backward_on_arrays and not _state.enabled


def sum_to_shape(grad, shape):
    """Undo broadcasting: sum ``grad`` (a Tensor) down to ``shape``.

    The one place where every operator's broadcasting is reversed.
    """
    gshape = grad._data.shape
    if gshape == shape:
        return grad
    if unrecorded_backward():
        return _make_tensor(sum_array_to_shape(grad._data, shape))
    lead = len(gshape) - len(shape)
    ones = tuple(i + lead for i, s in enumerate(shape) if s == 1 and gshape[i + lead] != 1)
    if not ones:  # only leading dims to remove: one reduction, no reshape
        return grad.sum(dim=tuple(range(lead)))
    grad = grad.sum(dim=tuple(range(lead)) + ones, keepdim=True)
    return grad.reshape(shape) if lead else grad


def sum_array_to_shape(a, shape):
    """:func:`sum_to_shape` for an array (the gradient of a broadcast, not recorded)."""
    shape = tuple(shape)
    if a.shape == shape:
        return a
    lead = a.ndim - len(shape)
    ones = tuple(i + lead for i, s in enumerate(shape) if s == 1 and a.shape[i + lead] != 1)
    summed = a.sum(axis=tuple(range(lead)) + ones, keepdims=bool(ones))
    return summed.reshape(shape) if ones and lead else summed
