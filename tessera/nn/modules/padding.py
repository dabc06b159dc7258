"""Padding layers: constant, zero, reflection, replication and circular."""

from .. import functional as F
from .module import Module
from ._utils import _ntuple

__all__ = ["ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d",
           "ZeroPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
           "CircularPad2d", "CircularPad3d"]


class _PadNd(Module):
    _mode = "constant"
    _n = 1

    def __init__(self, padding):
        super().__init__()
        self.padding = _ntuple(2 * self._n)(padding)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


def _constant(n, doc):
    return type(f"ConstantPad{n}d", (_ConstantPadNd,), {"_n": n, "__doc__": doc})


ConstantPad1d = _constant(1, "Pad the last dim with a constant value.")
ConstantPad2d = _constant(2, "Pad the last 2 dims with a constant value.")
ConstantPad3d = _constant(3, "Pad the last 3 dims with a constant value.")


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


ZeroPad1d = type("ZeroPad1d", (_ZeroPadNd,), {"_n": 1, "__doc__": "Pad the last dim with 0."})
ZeroPad2d = type("ZeroPad2d", (_ZeroPadNd,), {"_n": 2,
                                              "__doc__": "Pad the last 2 dims with 0."})
ZeroPad3d = type("ZeroPad3d", (_ZeroPadNd,), {"_n": 3,
                                              "__doc__": "Pad the last 3 dims with 0."})


def _mode(prefix, mode, n):
    return type(f"{prefix}{n}d", (_PadNd,), {
        "_n": n, "_mode": mode,
        "__doc__": f"Pad the last {n} dim(s) with the {mode} of the input."})


ReflectionPad1d = _mode("ReflectionPad", "reflect", 1)
ReflectionPad2d = _mode("ReflectionPad", "reflect", 2)
ReflectionPad3d = _mode("ReflectionPad", "reflect", 3)
ReplicationPad1d = _mode("ReplicationPad", "replicate", 1)
ReplicationPad2d = _mode("ReplicationPad", "replicate", 2)
ReplicationPad3d = _mode("ReplicationPad", "replicate", 3)
CircularPad1d = _mode("CircularPad", "circular", 1)
CircularPad2d = _mode("CircularPad", "circular", 2)
CircularPad3d = _mode("CircularPad", "circular", 3)
