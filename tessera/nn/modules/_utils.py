"""Small helpers shared by the layer families."""

import collections.abc
from itertools import repeat

from ... import ops
from ..parameter import Parameter

__all__ = ["_single", "_pair", "_triple", "_ntuple", "empty_parameter", "affine_parameters",
           "reset_affine"]


def _ntuple(n, name="parse"):
    def parse(x):
        if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
            return tuple(x)
        return tuple(repeat(x, n))

    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")


def empty_parameter(*shape, device=None, dtype=None):
    """An uninitialised Parameter (``reset_parameters`` fills it)."""
    return Parameter(ops.empty(*shape, dtype=dtype, device=device))


def affine_parameters(module, shape, affine, bias, device=None, dtype=None):
    """Register the norm layers' ``weight`` and ``bias`` of ``shape`` (None where absent)."""
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    module.register_parameter(
        "weight", empty_parameter(*shape, device=device, dtype=dtype) if affine else None)
    module.register_parameter(
        "bias", empty_parameter(*shape, device=device, dtype=dtype) if affine and bias else None)


def reset_affine(module):
    """Ones for the weight, zeros for the bias: the norm layers' identity transform."""
    from .. import init

    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)
