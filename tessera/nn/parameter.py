"""``Parameter`` and ``Buffer``: tensors that a Module registers when they are assigned."""

import numpy as np

from .._tensor import Tensor
from ..backend import dtypes

__all__ = ["Parameter", "Buffer"]


def _init_from(t, data, requires_grad):
    """Fill the Tensor fields of ``t`` so that it shares ``data``'s array and version."""
    if data is None:
        data = np.empty((0,), dtype=dtypes.get_default_dtype().np_dtype)
    if isinstance(data, Tensor):
        t._data = data._data
        t._version = data._version
    elif isinstance(data, np.ndarray):
        t._data = data
        t._version = [0]
    else:
        raise TypeError(f"{type(t).__name__}(): data must be a Tensor, got {type(data).__name__}")
    t._node = None
    t._output_nr = 0
    t.grad = None
    t._base = None
    t._acc = None
    t._hooks = None
    t._retains_grad = False
    t.requires_grad = False
    if requires_grad:
        t.requires_grad_(True)


class Parameter(Tensor):
    """A Tensor that a :class:`Module` registers as a parameter when assigned to it.

    It shares its data with ``data`` and requires gradients by default (also under
    ``no_grad``, as in PyTorch).

    Args:
        data (Tensor): the parameter's value; an empty float tensor when None.
        requires_grad (bool): whether the parameter requires gradient. Default: True.
    """

    def __init__(self, data=None, requires_grad=True):
        _init_from(self, data, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self).__new__(type(self))
        _init_from(result, self._data.copy(), self.requires_grad)
        if self.grad is not None:
            result.grad = self.grad.__deepcopy__(memo)
        result.__dict__.update(self.__dict__)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self._data, self.requires_grad, self.__dict__))


def _rebuild_parameter(data, requires_grad, state=None):
    p = Parameter.__new__(Parameter)
    _init_from(p, data, requires_grad)
    if state:
        p.__dict__.update(state)
    return p


class Buffer(Tensor):
    """A Tensor that a :class:`Module` registers as a buffer when assigned to it.

    The module stores a plain Tensor sharing this one's data.

    Args:
        data (Tensor): the buffer's value; an empty float tensor when None.
        persistent (bool): whether the buffer is part of the module's ``state_dict``.
    """

    def __init__(self, data=None, *, persistent=True):
        _init_from(self, data, False)
        if isinstance(data, Tensor) and data.requires_grad:
            self.requires_grad = True
        self.persistent = persistent
