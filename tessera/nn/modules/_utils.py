"""Small helpers shared by the layer families."""

import collections.abc
from itertools import repeat

from ... import ops
from ..parameter import Parameter

__all__ = ["_single", "_pair", "_triple", "_ntuple", "empty_parameter"]


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
