"""The Tensor: one backend array, its autograd state, and thin methods over ``tessera.ops``.

Every method here calls the operator function of the same name, so each operator
exists once (in ``tessera/ops``); this file holds only what is about the tensor
itself: its metadata, conversion, printing, autograd bookkeeping and in-place
semantics.
"""

import numbers
import weakref

import numpy as np

from . import backend
from ._tensor_str import tensor_repr
from .autograd import function as _function
from .autograd import grad_mode
from .autograd.engine import run_backward
from .backend import dtypes

__all__ = ["Tensor", "Size"]

_state = grad_mode.state
_BY_NUMPY = dtypes._BY_NUMPY


class Size(tuple):
    """A tensor's shape: a tuple, printed as ``tessera.Size([2, 3])``."""

    def __repr__(self):
        return f"tessera.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


class Tensor:
    """An n-dimensional array with automatic differentiation.

    Create tensors with :func:`tessera.tensor` and the other factory functions;
    ``Tensor(data)`` converts data to the default float dtype, as ``torch.Tensor`` does.
    """

    __slots__ = ("_data", "requires_grad", "grad", "_node", "_output_nr", "_version", "_base",
                 "_acc", "_hooks", "_retains_grad", "__weakref__")

    __array_priority__ = 1000  # numpy defers to our reflected operators

    def __init__(self, *args, dtype=None, requires_grad=False):
        if len(args) == 1 and not isinstance(args[0], numbers.Integral):
            data = _to_array(args[0], dtypes.as_dtype(dtype) or dtypes.get_default_dtype())
        else:
            shape = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
            dt = dtypes.as_dtype(dtype) or dtypes.get_default_dtype()
            data = np.empty(tuple(int(s) for s in shape), dtype=dt.np_dtype)
        self._data = data
        self._node = None
        self._output_nr = 0
        self.grad = None
        self._version = [0]
        self._base = None
        self._acc = None
        self._hooks = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # -- metadata ------------------------------------------------------------------------

    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim, "size")]

    @property
    def dtype(self):
        return _BY_NUMPY[self._data.dtype]

    @property
    def device(self):
        return backend.cpu

    @property
    def is_cuda(self):
        return False

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def numel(self):
        return self._data.size

    nelement = numel

    def element_size(self):
        return self._data.itemsize

    @property
    def itemsize(self):
        return self._data.itemsize

    @property
    def nbytes(self):
        return self._data.nbytes

    def is_floating_point(self):
        return self._data.dtype.kind == "f" or self._data.dtype == dtypes.bfloat16.np_dtype

    def is_contiguous(self):
        return self._data.flags.c_contiguous

    def stride(self, dim=None):
        strides = tuple(s // self._data.itemsize for s in self._data.strides)
        return strides if dim is None else strides[_wrap_dim(dim, self._data.ndim, "stride")]

    def data_ptr(self):
        return self._data.__array_interface__["data"][0]

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    @property
    def data(self):
        return self.detach()

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data must be a Tensor, got {type(value).__name__}")
        self._data = value._data

    @property
    def T(self):
        return self.permute(*range(self.ndim - 1, -1, -1))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    # -- conversion ----------------------------------------------------------------------

    def numpy(self, *, force=False):
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != self._data.dtype:
            return self._data.astype(dtype)
        return self._data.copy() if copy else self._data

    def __dlpack__(self, *args, **kwargs):
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted "
                               "to Scalar")
        return self._data.reshape(()).item() if self._data.dtype.kind in "biuf" \
            else float(self._data.reshape(()))

    def tolist(self):
        if self._data.dtype.kind in "biuf":
            return self._data.tolist()
        return self._data.astype(np.float32).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "biu":
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self._data.size} elements is "
                               "ambiguous")
        return bool(self._data.reshape(()))

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self):
        return id(self)

    def __repr__(self):
        return tensor_repr(self)

    def __reduce_ex__(self, protocol):
        # Pickled as data only (worker processes, deepcopy); the graph is not carried.
        return (_rebuild_tensor, (self._data, self.requires_grad))

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol")
        t = type(self).__new__(type(self))
        _init_plain(t, self._data.copy())
        t.requires_grad = self.requires_grad
        if self.grad is not None:
            t.grad = self.grad.__deepcopy__(memo)
        memo[id(self)] = t
        return t

    # -- dtype and device ----------------------------------------------------------------

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (dtypes.dtype, type, np.dtype)):
                dtype = a
            elif isinstance(a, (str, backend.device)) and not (isinstance(a, str) and
                                                                a in dtypes._BY_NAME):
                device = a
            else:
                dtype = a
        if device is not None:
            backend.as_device(device)
        if dtype is None:
            return self.clone() if copy else self
        return _ops.cast(self, dtypes.as_dtype(dtype), copy=copy)

    def type(self, dtype=None):
        if dtype is None:
            return f"tessera.{self.dtype.name}"
        return self.to(dtype)

    def cpu(self):
        return self

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def bfloat16(self):
        return self.to(dtypes.bfloat16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def short(self):
        return self.to(dtypes.int16)

    def byte(self):
        return self.to(dtypes.uint8)

    def char(self):
        return self.to(dtypes.int8)

    def bool(self):
        return self.to(dtypes.bool)

    def type_as(self, other):
        return self.to(other.dtype)

    # -- autograd ------------------------------------------------------------------------

    def requires_grad_(self, requires_grad=True):
        if self._node is not None and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If "
                               "you want to use a computed variable in a subgraph that doesn't "
                               "require differentiation use var_no_grad = var.detach().")
        if requires_grad and not self.is_floating_point():
            raise RuntimeError("only Tensors of floating point dtype can require gradients, "
                               f"got {self.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        # Shares storage and the version counter, but is not an autograd view of self.
        t = _function._make_tensor(self._data)
        t._version = self._version
        return t

    def detach_(self):
        if self._base is not None and self._base.requires_grad:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._node = None
        self.requires_grad = False
        return self

    def _accumulator(self):
        acc = self._acc
        if acc is None:
            acc = self._acc = _function.AccumulateGrad(self)
        return acc

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate the gradient of this tensor into the ``.grad`` of the graph's leaves."""
        if gradient is None and inputs is None and self._data.size == 1 and self.requires_grad:
            # The common `loss.backward()`: no argument checking needed.
            seed = _function._make_tensor(np.ones_like(self._data))
            run_backward((self,), (seed,), bool(retain_graph or create_graph), create_graph)
            return
        from .autograd import backward
        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def retain_grad(self):
        if self._node is None:
            if not self.requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        if self._retains_grad:
            return
        node = self._node
        if node._retained is None:
            node._retained = {}
        node._retained[self._output_nr] = weakref.ref(self)
        self._retains_grad = True

    @property
    def retains_grad(self):
        return self._retains_grad

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new one."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._node is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            node = self._node
            if node._tensor_hooks is None:
                node._tensor_hooks = {}
            hooks = node._tensor_hooks.setdefault(self._output_nr, [])
        hooks.append(hook)
        return _function._RemovableHandle(hooks, hook)

    def new_tensor(self, data, dtype=None, requires_grad=False):
        return _ops.tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, requires_grad=False):
        return _ops.zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, requires_grad=False):
        return _ops.ones(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, requires_grad=False):
        return _ops.empty(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, requires_grad=False):
        return _ops.full(size, fill_value, dtype=dtype or self.dtype,
                         requires_grad=requires_grad)

    def pin_memory(self):
        return self  # host memory is already what a CPU backend uses

    def share_memory_(self):
        return self  # worker processes receive copies through pickling

    def cuda(self, device=None, non_blocking=False):
        return self.to("cuda")

    def clone(self, *, memory_format=None):
        return _ops.clone(self)

    def contiguous(self, memory_format=None):
        return self if self._data.flags.c_contiguous else _ops.clone(self)

    # -- in-place semantics --------------------------------------------------------------

    def _check_inplace(self, through_view=False):
        """Refuse in-place writes that would corrupt the graph (PyTorch's rules).

        ``through_view``: the caller can record a write through a view (``_apply_inplace``).
        """
        if _state.enabled:
            if self.requires_grad and self._node is None:
                raise RuntimeError("a leaf Variable that requires grad is being used in an "
                                   "in-place operation.")
            base = self._base
            if base is not None and base.requires_grad:
                if base._node is None:
                    raise RuntimeError("a view of a leaf Variable that requires grad is being "
                                       "used in an in-place operation.")
                if not through_view:
                    raise RuntimeError("this in-place operation cannot be recorded on a view "
                                       "of a tensor that requires grad; use the out-of-place "
                                       "operation")

    def _apply_inplace(self, op, *args, **kwargs):
        """Run ``op(self, *args)`` and write the result into this tensor's storage."""
        self._check_inplace(through_view=True)
        recording = _state.enabled and (self.requires_grad or any(
            isinstance(a, Tensor) and a.requires_grad for a in args))
        if not recording:
            self._write(op(self, *args, **kwargs)._data, op)
            return self
        # The operator sees a snapshot of the old value, so its saved inputs stay valid.
        snapshot = _function._make_tensor(self._data.copy(), self._node, self._output_nr)
        snapshot.requires_grad = self.requires_grad
        result = op(snapshot, *args, **kwargs)
        if self._base is not None:  # the base changes too, and must know it
            from .ops.views import write_through_view
            self._check_result(result._data, op)
            if write_through_view(self, result):
                return self
            raise RuntimeError("in-place operation on a view of a tensor that requires grad: "
                               "the base is not contiguous in memory; use the out-of-place "
                               "operation")
        self._write(result._data, op)
        self._node = result._node
        self._output_nr = result._output_nr
        self.requires_grad = result.requires_grad
        return self

    def _check_result(self, array, op=None):
        """An in-place result must keep this tensor's dtype category and shape."""
        if array.dtype != self._data.dtype:
            if dtypes.from_numpy_dtype(array.dtype)._category > self.dtype._category:
                name = getattr(op, "__name__", "in-place operation")
                raise RuntimeError(f"{name}_: result type {dtypes.from_numpy_dtype(array.dtype)}"
                                   f" can't be cast to the desired output type {self.dtype}")
        if array.shape != self._data.shape:
            try:
                np.broadcast_to(array, self._data.shape)
            except ValueError:
                raise RuntimeError(f"output with shape {list(self._data.shape)} doesn't match the "
                                   f"broadcast shape {list(array.shape)}") from None

    def _write(self, array, op=None):
        self._check_result(array, op)
        if not self._data.flags.writeable:
            name = getattr(op, "__name__", "in-place operation")
            raise RuntimeError(f"{name}_: the tensor is a read-only view (several of its "
                               "elements may share one memory location, as after expand); "
                               "clone() it before writing to it")
        self._data[...] = array
        self._version[0] += 1

    def add_(self, other, *, alpha=1):
        return self._apply_inplace(_ops.add, other, alpha=alpha)

    def sub_(self, other, *, alpha=1):
        return self._apply_inplace(_ops.sub, other, alpha=alpha)

    def mul_(self, other):
        return self._apply_inplace(_ops.mul, other)

    def div_(self, other, *, rounding_mode=None):
        return self._apply_inplace(_ops.div, other, rounding_mode=rounding_mode)

    def pow_(self, exponent):
        return self._apply_inplace(_ops.pow, exponent)

    def neg_(self):
        return self._apply_inplace(_ops.neg)

    def abs_(self):
        return self._apply_inplace(_ops.abs)

    def exp_(self):
        return self._apply_inplace(_ops.exp)

    def log_(self):
        return self._apply_inplace(_ops.log)

    def sqrt_(self):
        return self._apply_inplace(_ops.sqrt)

    def sigmoid_(self):
        return self._apply_inplace(_ops.sigmoid)

    def tanh_(self):
        return self._apply_inplace(_ops.tanh)

    def relu_(self):
        return self._apply_inplace(_ops.relu)

    def clamp_(self, min=None, max=None):
        return self._apply_inplace(_ops.clamp, min, max)

    clip_ = clamp_

    def clamp_min_(self, min):
        return self._apply_inplace(_ops.clamp, min, None)

    def clamp_max_(self, max):
        return self._apply_inplace(_ops.clamp, None, max)

    def lerp_(self, end, weight):
        return self._apply_inplace(_ops.lerp, end, weight)

    def addcmul_(self, tensor1, tensor2, *, value=1):
        return self._apply_inplace(_ops.addcmul, tensor1, tensor2, value=value)

    def addcdiv_(self, tensor1, tensor2, *, value=1):
        return self._apply_inplace(_ops.addcdiv, tensor1, tensor2, value=value)

    def masked_fill_(self, mask, value):
        return self._apply_inplace(_ops.masked_fill, mask, value)

    def index_add_(self, dim, index, source, *, alpha=1):
        return self._apply_inplace(_ops.index_add, dim, index, source, alpha=alpha)

    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        return self._apply_inplace(_ops.scatter, dim, index, src, value=value, reduce=reduce)

    def index_fill_(self, dim, index, value):
        return self._apply_inplace(_ops.index_fill, dim, index, value)

    def scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
        return self._apply_inplace(_ops.scatter_reduce, dim, index, src, reduce,
                                   include_self=include_self)

    def scatter_add_(self, dim, index, src):
        return self._apply_inplace(_ops.scatter_add, dim, index, src)

    def copy_(self, src, non_blocking=False):
        if not isinstance(src, Tensor):
            src = _ops.tensor(src)
        return self._apply_inplace(_ops.copy_from, src)

    def fill_(self, value):
        if _state.enabled and (self.requires_grad or (self._base is not None and
                                                      self._base.requires_grad)):
            # Recorded as "zero times the old value, plus the fill": no gradient to the old.
            return self._apply_inplace(lambda t, v: _ops.add(_ops.mul(t, 0), v), value)
        self._check_inplace()
        self._write(np.asarray(value.item() if isinstance(value, Tensor) else value,
                               dtype=self._data.dtype))
        return self

    def zero_(self):
        return self.fill_(0)

    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        self._check_inplace()
        gen = (generator or backend.default_generator).numpy
        self._write((gen.random(self._data.shape) * (b - a) + a).astype(self._data.dtype))
        return self

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        self._check_inplace()
        gen = (generator or backend.default_generator).numpy
        self._write(gen.normal(mean, std, self._data.shape).astype(self._data.dtype))
        return self

    def bernoulli_(self, p=0.5, *, generator=None):
        self._check_inplace()
        gen = (generator or backend.default_generator).numpy
        self._write((gen.random(self._data.shape) < p).astype(self._data.dtype))
        return self

    def exponential_(self, lambd=1.0, *, generator=None):
        self._check_inplace()
        gen = (generator or backend.default_generator).numpy
        self._write(gen.exponential(1.0 / lambd, self._data.shape).astype(self._data.dtype))
        return self

    def random_(self, low=0, high=None, *, generator=None):
        self._check_inplace()
        if high is None:
            low, high = 0, low if low else 2 ** 24
        gen = (generator or backend.default_generator).numpy
        self._write(gen.integers(low, high, self._data.shape).astype(self._data.dtype))
        return self

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __ipow__(self, other):
        return self.pow_(other)

    def where(self, condition, other):
        """``tessera.where(condition, self, other)``."""
        return _ops.where(condition, self, other)

    def unfold(self, dimension, size, step):
        """Every slice of ``size`` elements along ``dimension``, ``step`` apart, as a view
        with a new last dim of ``size``."""
        return _ops._shape._tensor_unfold(self, dimension, size, step)

    def __setitem__(self, index, value):
        _ops.setitem(self, index, value)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    # -- operators -----------------------------------------------------------------------

    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __floordiv__(self, other):
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    def __mod__(self, other):
        return _ops.remainder(self, other)

    def __rmod__(self, other):
        return _ops.remainder(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __invert__(self):
        return _ops.bitwise_not(self)

    def __and__(self, other):
        return _ops.bitwise_and(self, other)

    __rand__ = __and__

    def __or__(self, other):
        return _ops.bitwise_or(self, other)

    __ror__ = __or__

    def __xor__(self, other):
        return _ops.bitwise_xor(self, other)

    __rxor__ = __xor__

    def __eq__(self, other):
        return _ops.eq(self, other)

    def __ne__(self, other):
        return _ops.ne(self, other)

    def __lt__(self, other):
        return _ops.lt(self, other)

    def __le__(self, other):
        return _ops.le(self, other)

    def __gt__(self, other):
        return _ops.gt(self, other)

    def __ge__(self, other):
        return _ops.ge(self, other)


def _init_plain(t, data):
    t._data = data
    t._node = None
    t._output_nr = 0
    t.requires_grad = False
    t.grad = None
    t._version = [0]
    t._base = None
    t._acc = None
    t._hooks = None
    t._retains_grad = False


def _rebuild_tensor(data, requires_grad):
    t = Tensor.__new__(Tensor)
    _init_plain(t, data)
    t.requires_grad = requires_grad
    return t


def _to_array(data, dtype):
    if isinstance(data, Tensor):
        return data._data.astype(dtype.np_dtype)
    return np.array(data, dtype=dtype.np_dtype)


def _wrap_dim(dim, ndim, name):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{name}: dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    return dim % n


# Methods that are one call into the operator of the same name, with the tensor first.
_FORWARDED = """
abs sign exp exp2 log log2 log10 log1p expm1 sqrt rsqrt sin cos tan asin acos atan sinh cosh
tanh sigmoid relu erf erfinv reciprocal square floor ceil round trunc frac neg negative
isnan isinf isfinite logical_not logical_and logical_or logical_xor bitwise_not
add sub subtract mul multiply div divide true_divide floor_divide remainder fmod pow
maximum minimum fmax fmin clamp clip lerp addcmul addcdiv eq ne lt le gt ge equal allclose isclose
masked_fill masked_select nan_to_num softmax log_softmax
sum mean var std prod logsumexp cumsum cumprod norm max min amax amin argmax argmin all any
var_mean std_mean median count_nonzero
reshape view view_as transpose swapaxes permute squeeze unsqueeze flatten unflatten expand
expand_as broadcast_to split chunk repeat tile flip roll movedim unbind narrow t
gather scatter scatter_add index_select index_add take_along_dim nonzero sort argsort topk
matmul mm bmm outer dot mv inner addmm baddbmm triu tril diagonal trace take index_fill
scatter_reduce repeat_interleave diff kron rot90 unique det inverse slogdet matrix_power cholesky
clamp_min clamp_max hypot atan2 logaddexp xlogy sinc cross
""".split()


_function._Tensor = Tensor


def _bind_operator_methods(ops):
    """Called by tessera.ops once every family is imported: the operator functions take
    the tensor first, so they serve as methods unchanged (no per-call indirection)."""
    for name in _FORWARDED:
        if hasattr(ops, name):  # tests/core/test_tensor.py checks that none is missing
            setattr(Tensor, name, getattr(ops, name))


from . import ops as _ops  # noqa: E402 - the operators import Tensor from this module
