"""Writing through views: what makes ``x[:, 0] += 1`` or ``x[2].mul_(w)`` differentiable
when ``x`` carries history.

A view shares its base's memory, so an in-place change of the view changes the base. While
autograd records, the change is expressed out of place on the base: ``ViewScatter`` gives the
base with the new values written at the view's position (its backward splits the gradient
between the old base and the written values), and the view becomes ``StridedView`` of that
new base. The position is the view's place in the base's memory (an offset and strides in
elements), so every kind of view (indexing, transpose, narrow, reshape ...) is handled alike.
"""

import numpy as np

from ..autograd.function import Function

__all__ = []


def view_geometry(view, base):
    """``(shape, strides, offset)`` of ``view`` inside ``base``'s memory, in elements; None
    when the base is not C-contiguous (then the geometry would not apply to a gradient)."""
    if not base.flags.c_contiguous:
        return None
    item = base.itemsize
    offset = (view.__array_interface__["data"][0] - base.__array_interface__["data"][0])
    if offset % item or any(s % item for s in view.strides):
        return None
    return view.shape, tuple(s // item for s in view.strides), offset // item


def _at(array, geometry):
    """The strided view of a C-contiguous ``array`` at ``geometry``."""
    shape, strides, offset = geometry
    flat = array.reshape(-1)[offset:]
    return np.lib.stride_tricks.as_strided(flat, shape, [s * array.itemsize for s in strides])


class ViewScatter(Function):
    """``base`` with ``value`` written at ``geometry`` (a new array)."""

    def forward(self, base, value, geometry):
        self.geometry = geometry
        out = np.array(base, order="C", copy=True)
        _at(out, geometry)[...] = value
        return out

    def backward(self, g):
        zeros = g.new_zeros(*self.geometry[0])
        grad_base = ViewScatter.apply(g, zeros, geometry=self.geometry)
        return grad_base, StridedView.apply(g, geometry=self.geometry)


class StridedView(Function):
    """The values of ``x`` at ``geometry`` (a copy); its backward scatters into zeros."""

    def forward(self, x, geometry):
        self.geometry = geometry
        self.in_shape = x.shape
        return np.array(_at(np.ascontiguousarray(x), geometry))

    def backward(self, g):
        zeros = g.new_zeros(*self.in_shape)
        return ViewScatter.apply(zeros, g, geometry=self.geometry)


def write_through_view(view, result):
    """Record that ``view`` (a view of a tensor in the graph) now holds ``result``: the base
    gets ``ViewScatter`` history and its memory the new values; the view becomes a
    ``StridedView`` of the new base. False when the geometry cannot be expressed."""
    base = view._base
    geometry = view_geometry(view._data, base._data)
    if geometry is None:
        return False
    if result._data.shape != view._data.shape or result._data.dtype != view._data.dtype:
        result = result.to(view.dtype).expand(*view._data.shape)
    new_base = ViewScatter.apply(base, result, geometry=geometry)
    base._write(new_base._data)
    base._node, base._output_nr, base.requires_grad = new_base._node, 0, True
    new_view = StridedView.apply(base, geometry=geometry)
    view._node, view._output_nr, view.requires_grad = new_view._node, 0, True
    return True
