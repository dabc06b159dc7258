"""Pooling: max, average, adaptive and Lp pooling (``interpolate`` is in resample.py).

Every kernel works on (N, C, H, W) arrays; a 1-D operator is its 2-D form with height 1
(a free view), and an unbatched input gets a batch of one. The loops run over kernel
positions (or interpolation taps), never over output pixels: each step is one strided
NumPy operation over the whole batch.

Each forward Function's backward is another Function (a scatter) whose own backward is
the forward again (a gather), so gradients of gradients work everywhere:

- ``MaxPool`` / ``MaxPoolScatter`` / ``MaxPoolGather``: windows and the argmax position;
- ``AvgPool`` / ``AvgPoolScatter``: separable window sums, divided per output pixel;
- ``AxisMap`` / ``AxisMapScatter``: a sparse linear map along one axis (nearest and
  linear interpolation, adaptive average pooling);
- ``PlaneGather`` / ``PlaneScatter``: flat H * W indices (adaptive max pooling).
"""

import math

import numpy as np

from ..autograd import grad_mode
from ..autograd.function import Function
from ..backend import dtypes, jit
from ..backend.parallel import parallel_for, pass_ns
from ._util import check_tensor
from .elementwise import abs as _abs
from .activation import relu
from .elementwise import sign

__all__ = ["max_pool1d", "max_pool2d", "max_pool1d_with_indices", "max_pool2d_with_indices",
           "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool1d_with_indices",
           "adaptive_max_pool2d_with_indices", "lp_pool1d", "lp_pool2d"]

_grad_state = grad_mode.state
# Images per block of the tiled max pooling: its intermediates stay in cache between passes.
_BLOCK_BYTES = 2 << 20


class _Window:
    """Kernel, stride, dilation and padding of a 2-D pooling, with its input and output sizes."""

    __slots__ = ("kernel", "stride", "dilation", "padding", "in_hw", "out_hw")

    def __init__(self, kernel, stride, dilation, padding, in_hw, out_hw):
        self.kernel, self.stride, self.dilation = kernel, stride, dilation
        self.padding, self.in_hw, self.out_hw = padding, in_hw, out_hw

    def pads(self):
        """(top, bottom, left, right) padding so that every window lies inside the array."""
        pads = []
        for n, k, s, d, p, m in zip(self.in_hw, self.kernel, self.stride, self.dilation,
                                    self.padding, self.out_hw):
            pads += [p, max(0, (m - 1) * s + d * (k - 1) + 1 - n - p)]
        return tuple(pads)

    def positions(self):
        """Per kernel position, the (rows, cols) slices of the padded array it reads."""
        (kh, kw), (sh, sw), (dh, dw), (ho, wo) = self.kernel, self.stride, self.dilation, \
            self.out_hw
        return [(slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
                 slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))
                for i in range(kh) for j in range(kw)]

    def disjoint(self):
        """No input element lies in two windows (then scatters can assign instead of add)."""
        return all(s >= d * (k - 1) + 1 for k, s, d in zip(self.kernel, self.stride,
                                                            self.dilation))


def _as_2d(a):
    return a if a.ndim == 4 else a[:, :, None, :]


def _match_rank(y, like):
    return y if like.ndim == 4 else y.reshape(y.shape[:2] + y.shape[3:])


def _padded(x, pads, fill):
    top, bottom, left, right = pads
    if not (top or bottom or left or right):
        return x
    n, c, h, w = x.shape
    xp = np.full((n, c, h + top + bottom, w + left + right), fill, x.dtype)
    xp[:, :, top:top + h, left:left + w] = x
    return xp


def _crop(xp, pads, in_hw):
    """The unpadded interior (a view: copying it out costs more than its strides do later)."""
    top, _, left, _ = pads
    return xp[:, :, top:top + in_hw[0], left:left + in_hw[1]]


def _floating(dtype):
    """Whether ``dtype`` can hold a NaN (bfloat16's NumPy kind is "V", not "f")."""
    return dtype.kind == "f" or dtype == dtypes.bfloat16.np_dtype


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" or dtype == dtypes.bfloat16.np_dtype \
        else np.iinfo(dtype).min


# == max pooling ================================================================================

def _running_argmax(windows, count, floating):
    """Elementwise maximum over ``count`` equally shaped arrays and the index of the first one
    that holds it (a NaN wins, the last NaN, as in PyTorch's kernels).

    ``windows(k)`` returns the k-th array. Selections are arithmetic on a boolean mask:
    NumPy's masked copies (``copyto(where=)``, ``np.where``) are ten times slower.
    """
    out = windows(0).copy()
    pos = np.zeros(out.shape, np.uint8 if count <= 256 else np.int32)
    mask = np.empty(out.shape, bool)
    step = np.empty(out.shape, pos.dtype)
    for exact in (False, True):
        for k in range(1, count):
            window = windows(k)
            np.greater(window, out, out=mask)
            if exact:
                mask |= np.isnan(window)
            np.maximum(out, window, out=out)  # NaN-propagating, so the values are exact
            np.subtract(k, pos, out=step)  # pos = where(mask, k, pos), branch-free
            step *= mask
            pos += step
        # Only a NaN (which np.maximum propagated) can make the fast pass pick a wrong index.
        if exact or not floating or not np.isnan(out).any():
            break
        np.copyto(out, windows(0))
        pos.fill(0)
    return out, pos


def _select(mask, values):
    """values where mask, else 0 (a branch-free product unless values hold inf or NaN)."""
    if _floating(values.dtype) and not np.isfinite(values).all():
        return np.where(mask, values, 0)
    return values * mask


def _max_pool_forward(x, win):
    """The window maxima and the kernel position (0 .. kH * kW - 1) of each (first) maximum."""
    xp = _padded(x, win.pads(), _lowest(x.dtype))
    positions = win.positions()
    return _running_argmax(lambda k: xp[:, :, positions[k][0], positions[k][1]],
                           len(positions), _floating(x.dtype))


def _flat_indices(pos, win):
    """PyTorch's return_indices: the flat index into the input's H * W of each maximum."""
    (_, kw), (sh, sw), (dh, dw), (ph, pw), (ho, wo) = win.kernel, win.stride, win.dilation, \
        win.padding, win.out_hw
    ki, kj = np.divmod(pos.astype(np.int64), kw)
    rows = (np.arange(ho, dtype=np.int64) * sh - ph)[:, None] + ki * dh
    cols = (np.arange(wo, dtype=np.int64) * sw - pw) + kj * dw
    return rows * win.in_hw[1] + cols


def _tiled_exactly(win, pads):
    """Windows that tile the input exactly: a scatter writes every element once, so its
    output needs no zero fill."""
    return win.disjoint() and not any(pads) and win.kernel == win.stride and \
        all(k * o == s for k, o, s in zip(win.kernel, win.out_hw, win.in_hw))


def _max_pool_scatter(g, pos, win):
    """Each output gradient added onto the input element that was its window's maximum."""
    pads = win.pads()
    n, c = g.shape[:2]
    shape = (n, c, win.in_hw[0] + pads[0] + pads[1], win.in_hw[1] + pads[2] + pads[3])
    dxp = np.empty(shape, g.dtype) if _tiled_exactly(win, pads) else np.zeros(shape, g.dtype)
    disjoint = win.disjoint()
    finite = not _floating(g.dtype) or np.isfinite(g).all()
    positions = win.positions()

    def images(start, stop):
        gs, ps, dst = g[start:stop], pos[start:stop], dxp[start:stop]
        mask = np.empty(gs.shape, bool)
        for k, (rows, cols) in enumerate(positions):
            np.equal(ps, k, out=mask)
            if disjoint and finite:
                np.multiply(gs, mask, out=dst[:, :, rows, cols])
            elif disjoint:
                dst[:, :, rows, cols] = np.where(mask, gs, 0)
            else:
                dst[:, :, rows, cols] += _select(mask, gs)
    parallel_for(n, images, pass_ns(g[:1].size, 2 * len(positions)))
    return _crop(dxp, pads, win.in_hw)


def _max_pool_gather(x, pos, win):
    """The adjoint of ``_max_pool_scatter``: each window's value at the recorded position."""
    xp = _padded(x, win.pads(), 0)
    out = np.zeros(pos.shape, x.dtype)
    mask = np.empty(pos.shape, bool)
    for k, (rows, cols) in enumerate(win.positions()):
        np.equal(pos, k, out=mask)
        out += _select(mask, xp[:, :, rows, cols])
    return out


# -- windows that tile the input (kernel == stride): the common CNN pooling --------------------
#
# NumPy runs elementwise loops over strided views several times slower than over contiguous
# arrays (0.6 ms against 0.05 ms for a comparison of two halves of a (16, 32, 32, 32) block),
# while a strided copy costs little more than a contiguous one. Tiles are therefore reduced
# in two stages, along kernel columns and then along kernel rows, each stage copying its
# strided operands into contiguous buffers before comparing them, a block of images at a
# time so that the buffers stay in cache. Measured on a CNN's (64, 32, 32, 32) activations:
# forward 2.1 -> 1.2 ms with positions, 2.1 -> 0.9 ms without (no_grad). The backward is
# the general scatter (its strided writes measured no slower than copies into place).

def _tiles(win):
    """Windows that tile the input: stride == kernel, no padding or dilation (an input that
    the windows do not cover exactly is cropped)."""
    return (tuple(win.kernel) == tuple(win.stride) and tuple(win.dilation) == (1, 1)
            and not any(win.padding)
            and all(k * o <= n for k, o, n in zip(win.kernel, win.out_hw, win.in_hw)))


def _copy(dst, src):
    """np.copyto from a view whose rows (last axis) are contiguous into a contiguous array,
    each row copied as one item (measured 2x faster than element by element on 8-16
    element rows)."""
    if src.ndim and src.shape[-1] > 1 and src.strides[-1] == src.itemsize and \
            dst.flags.c_contiguous and dst.dtype == src.dtype and dst.shape == src.shape:
        row = np.dtype((np.void, src.shape[-1] * src.itemsize))
        np.copyto(dst.view(row), src.view(row))
    else:
        np.copyto(dst, src)


def _reduce_into(views, out, pos, buf, mask, step):
    """out = elementwise max of ``views`` and, unless ``pos`` is None, pos = the index of the
    first view that holds it. Each view is copied into the contiguous ``buf`` first."""
    _copy(out, views[0])
    if pos is not None and len(views) == 1:
        pos.fill(0)
    for k in range(1, len(views)):
        _copy(buf, views[k])
        if pos is None:
            pass
        elif k == 1 and pos.itemsize == 1:
            np.greater(buf, out, out=pos.view(bool))  # pos = where(buf > out, 1, 0)
        else:
            if k == 1:
                pos.fill(0)
            np.greater(buf, out, out=mask)
            np.multiply(mask, pos.dtype.type(k), out=step)  # where(mask, k, pos): pos < k
            np.maximum(pos, step, out=pos)
        np.maximum(out, buf, out=out)


def _carve(flat, shape):
    """A contiguous array of ``shape`` at the start of a flat buffer."""
    return flat[:math.prod(shape)].reshape(shape)


def _tile_max(x, win, with_positions):
    """Max pooling of tiles: the maxima, and with ``with_positions`` the kernel position
    i * kW + j of each (first) maximum, as _max_pool_forward gives it (None when a NaN makes
    the comparisons unreliable: the caller then takes the exact path)."""
    n, c = x.shape[:2]
    (kh, kw), (ho, wo) = win.kernel, win.out_hw
    index_dtype = np.uint8 if kh * kw <= 256 else np.int32
    out = np.empty((n, c, ho, wo), x.dtype)
    pos = np.empty((n, c, ho, wo), index_dtype) if with_positions else None

    def images(start, stop):
        _tile_max_into(x[start:stop], win, out[start:stop],
                       None if pos is None else pos[start:stop])
    parallel_for(n, images, pass_ns(c * ho * kh * wo * kw, 4 if with_positions else 2))
    if with_positions and _floating(x.dtype) and np.isnan(out).any():
        return out, None  # a NaN wins in PyTorch; np.greater cannot see it
    return out, pos


def _tile_max_into(x, win, out, pos):
    """_tile_max of a chunk of images into ``out`` (and ``pos``), a block at a time."""
    n, c = x.shape[:2]
    (kh, kw), (ho, wo) = win.kernel, win.out_hw
    with_positions = pos is not None
    index_dtype = pos.dtype if with_positions else np.uint8
    m = max(1, min(n, _BLOCK_BYTES // max(c * ho * kh * wo * kw * x.itemsize, 1)))
    size = m * c * ho * kh * wo  # one kernel column of a block
    colmax, buf = np.empty(size, x.dtype), np.empty(size, x.dtype)
    mask, step = np.empty(size, bool), np.empty(size, index_dtype)
    cols = rows = None
    if with_positions:
        cols, rows = np.empty(size, index_dtype), np.empty(size // kh, index_dtype)
    xc = x[:, :, :ho * kh, :wo * kw]
    for n0 in range(0, n, m):
        b = min(m, n - n0)
        half, quarter = (b, c, ho * kh, wo), (b, c, ho, wo)
        # Stage 1, along kernel columns: views whose axes NumPy merges into one strided loop.
        cm, cpos = _carve(colmax, half), None if cols is None else _carve(cols, half)
        _reduce_into([xc[n0:n0 + b, :, :, j::kw] for j in range(kw)], cm, cpos,
                     _carve(buf, half), _carve(mask, half), _carve(step, half))
        # Stage 2, along kernel rows: whole output rows.
        rpos = None if rows is None else _carve(rows, quarter)
        _reduce_into([cm[:, :, i::kh] for i in range(kh)], out[n0:n0 + b], rpos,
                     _carve(buf, quarter), _carve(mask, quarter), _carve(step, quarter))
        if with_positions:
            _combine_positions(pos[n0:n0 + b], rpos, cpos, win, _carve(mask, quarter),
                               _carve(step, quarter))


def _combine_positions(pos, rows, cols, win, mask, step):
    """pos = i * kW + j, i the kernel row of each tile's maximum and j the kernel column of
    that row's maximum (``cols`` holds j for every row of the tile)."""
    kh, kw = win.kernel
    _copy(pos, cols[:, :, 0::kh])
    for i in range(1, kh):
        # pos += (rows == i) * (i * kW + j_i - pos), exact in modular integer arithmetic
        _copy(step, cols[:, :, i::kh])
        np.add(step, pos.dtype.type(i * kw), out=step)
        np.subtract(step, pos, out=step)
        np.equal(rows, i, out=mask)
        np.multiply(step, mask, out=step)
        np.add(pos, step, out=pos)


def _max_pool_values(x, win):
    """The window maxima alone (no positions: nothing will be differentiated)."""
    if _tiles(win):
        return _tile_max(x, win, False)[0]
    xp = _padded(x, win.pads(), _lowest(x.dtype))
    positions = win.positions()
    out = xp[:, :, positions[0][0], positions[0][1]].copy()
    for rows, cols in positions[1:]:
        np.maximum(out, xp[:, :, rows, cols], out=out)  # NaN-propagating, as PyTorch
    return out


# -- compiled 2x2 pooling (_pool_kernels.py), when numba is installed ---------------------------

_COMPILED_DTYPES = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.int8, np.uint8,
                                                   np.int16, np.int32, np.int64))
# Their speed on one thread, for parallel_for: per input element forward, per input-gradient
# element for the scatter (measured on (64, 32, 32, 32) float32: 0.18 and 0.95 ms).
_COMPILED_NS = 0.09
_COMPILED_SCATTER_NS = 0.45


def _pool_kernels(dtype, win):
    """The compiled pooling for 2x2 windows with stride 2 in a supported dtype, else None."""
    if dtype not in _COMPILED_DTYPES or tuple(win.kernel) != (2, 2) or \
            tuple(win.stride) != (2, 2) or tuple(win.dilation) != (1, 1) or any(win.padding):
        return None
    return jit.load("tessera.ops._pool_kernels")


def _compiled_max_pool(kernels, x, win):
    """_max_pool_forward by one compiled loop, the batch split over the threads."""
    x = np.ascontiguousarray(x)
    out = np.empty(x.shape[:2] + tuple(win.out_hw), x.dtype)
    pos = np.empty(out.shape, np.uint8)
    parallel_for(len(x), lambda a, b: kernels.max_pool_2x2(x, out, pos, a, b),
                 _COMPILED_NS * x[:1].size)
    return out, pos


def _compiled_max_pool_scatter(kernels, g, pos, win):
    """_max_pool_scatter by one compiled loop (an input row or column that no window covers
    keeps its zero)."""
    g = np.ascontiguousarray(g)
    shape = g.shape[:2] + tuple(win.in_hw)
    dx = np.empty(shape, g.dtype) if _tiled_exactly(win, win.pads()) else \
        np.zeros(shape, g.dtype)
    parallel_for(len(g), lambda a, b: kernels.max_pool_2x2_scatter(g, pos, dx, a, b),
                 _COMPILED_SCATTER_NS * dx[:1].size)
    return dx


class MaxPool(Function):
    """Window maxima; with ``return_indices`` also their flat H * W indices (int64).

    ``need_positions`` False (no gradient wanted, no indices) skips the argmax bookkeeping.
    """

    def forward(self, x, win, return_indices, need_positions=True):
        x4 = _as_2d(x)
        self.win = win
        pos = None
        kernels = _pool_kernels(x4.dtype, win)
        with np.errstate(invalid="ignore"):  # comparisons with NaN (bfloat16's ufuncs warn)
            if kernels is not None:
                out, pos = _compiled_max_pool(kernels, x4, win)
            elif not (need_positions or return_indices):
                return _match_rank(_max_pool_values(x4, win), x)
            elif _tiles(win):
                out, pos = _tile_max(x4, win, True)
            if pos is None:
                out, pos = _max_pool_forward(x4, win)
        self.pos = pos
        if return_indices:
            return _match_rank(out, x), _match_rank(_flat_indices(pos, win), x)
        return _match_rank(out, x)

    def backward(self, g, *_):
        return MaxPoolScatter.apply(g, pos=self.pos, win=self.win)


class MaxPoolScatter(Function):
    def forward(self, g, pos, win):
        self.pos, self.win = pos, win
        kernels = _pool_kernels(g.dtype, win)
        g4 = _as_2d(g)
        dx = _max_pool_scatter(g4, pos, win) if kernels is None else \
            _compiled_max_pool_scatter(kernels, g4, pos, win)
        return _match_rank(dx, g)

    def backward(self, gg):
        return MaxPoolGather.apply(gg, pos=self.pos, win=self.win)


class MaxPoolGather(Function):
    def forward(self, x, pos, win):
        self.pos, self.win = pos, win
        return _match_rank(_max_pool_gather(_as_2d(x), pos, win), x)

    def backward(self, g):
        return MaxPoolScatter.apply(g, pos=self.pos, win=self.win)


# == average pooling ============================================================================

def _is_global(win):
    """One window covering the whole (unpadded) input."""
    return tuple(win.kernel) == tuple(win.in_hw) and not any(win.padding) and \
        win.out_hw == (1, 1)


def _window_sums(x, win):
    """Sums over each (undilated) window, as a row pass and a column pass."""
    if _is_global(win):
        return x.sum(axis=(2, 3), keepdims=True)
    xp = _padded(x, win.pads(), 0)
    (kh, kw), (sh, sw), (ho, wo) = win.kernel, win.stride, win.out_hw
    rows = xp[:, :, 0:sh * (ho - 1) + 1:sh]
    if kh > 1:
        rows = rows.copy()
        for i in range(1, kh):
            rows += xp[:, :, i:i + sh * (ho - 1) + 1:sh]
    out = rows[:, :, :, 0:sw * (wo - 1) + 1:sw].copy()
    for j in range(1, kw):
        out += rows[:, :, :, j:j + sw * (wo - 1) + 1:sw]
    return out


def _window_sums_adjoint(g, win):
    """Each output value added back onto every element of its window."""
    n, c = g.shape[:2]
    if _is_global(win):
        dx = np.empty((n, c) + tuple(win.in_hw), g.dtype)
        np.copyto(dx, g)
        return dx
    pads = win.pads()
    (kh, kw), (sh, sw), (ho, wo) = win.kernel, win.stride, win.out_hw
    hp, wp = win.in_hw[0] + pads[0] + pads[1], win.in_hw[1] + pads[2] + pads[3]
    rows = np.zeros((n, c, ho, wp), g.dtype)
    for j in range(kw):
        rows[:, :, :, j:j + sw * (wo - 1) + 1:sw] += g
    dxp = np.zeros((n, c, hp, wp), g.dtype)
    for i in range(kh):
        dxp[:, :, i:i + sh * (ho - 1) + 1:sh] += rows
    return _crop(dxp, pads, win.in_hw)


def _window_means(x, win, divisor):
    if x.dtype.kind in "iu":  # summed in int64; PyTorch's integer average truncates to zero
        total = _window_sums(x.astype(np.int64), win)
        return np.trunc(total / divisor).astype(x.dtype)
    total = _window_sums(x, win)
    total /= divisor
    return total


class AvgPool(Function):
    """Window averages; ``divisor`` is a number or an (Ho, Wo) array."""

    def forward(self, x, win, divisor):
        self.win, self.divisor = win, divisor
        return _match_rank(_window_means(_as_2d(x), win, divisor), x)

    def backward(self, g):
        return AvgPoolScatter.apply(g, win=self.win, divisor=self.divisor)


class AvgPoolScatter(Function):
    def forward(self, g, win, divisor):
        self.win, self.divisor = win, divisor
        return _match_rank(_window_sums_adjoint(_as_2d(g) / divisor, win), g)

    def backward(self, gg):
        return AvgPool.apply(gg, win=self.win, divisor=self.divisor)


def _avg_divisor(win, count_include_pad, divisor_override, dtype):
    """PyTorch's divisor per output pixel: padded window size, or its in-bounds part."""
    if divisor_override is not None:
        return divisor_override
    sizes = []
    for n, k, s, p, m in zip(win.in_hw, win.kernel, win.stride, win.padding, win.out_hw):
        start = np.arange(m) * s - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, n) - np.maximum(start, 0))
    divisor = sizes[0][:, None] * sizes[1][None, :]
    if divisor.size and (divisor == divisor.flat[0]).all():
        return int(divisor.flat[0])
    return divisor.astype(np.float64 if dtype.kind in "biu" else dtype)


# == sparse linear maps along one axis (interpolation, adaptive average pooling) ================

class _Taps:
    """y[..., o, ...] = sum_t x[..., index_t[o], ...] * weight_t[o] along one axis.

    A weight of None means 1. Every index array is non-decreasing, which makes the adjoint
    a map of the same kind (``transpose``): sums over runs of equal indices become taps.
    """

    __slots__ = ("axis", "in_size", "out_size", "dtype", "taps", "_transposed")

    def __init__(self, axis, in_size, out_size, taps, dtype):
        self.axis, self.in_size, self.out_size, self.dtype = axis, in_size, out_size, dtype
        self.taps = [(index, _as_slice(index), weight) for index, weight in taps]
        self._transposed = None

    def apply(self, x):
        if not self.taps:
            shape = list(x.shape)
            shape[self.axis] = self.out_size
            return np.zeros(shape, x.dtype)
        lead = (slice(None),) * self.axis
        trailing = (1,) * (x.ndim - 1 - self.axis)
        out = None
        for index, step, weight in self.taps:
            if step is None:
                t = np.take(x, index, axis=self.axis)
                if weight is not None:
                    np.multiply(t, weight.reshape((-1,) + trailing), out=t)
            else:  # a regular index is a strided view: no gather
                t = x[lead + (step,)]
                if weight is not None:
                    t = t * weight.reshape((-1,) + trailing)
                elif out is None:
                    t = t.copy()  # ``out`` is accumulated into: never a view of x
            if out is None:
                out = t
            else:
                out += t
        return out

    def transpose(self):
        """The adjoint map: input index i gathers every output o whose tap read i."""
        if self._transposed is None:
            taps = []
            targets = np.arange(self.in_size)
            for index, _, weight in self.taps:
                first = np.searchsorted(index, targets, "left")
                count = np.searchsorted(index, targets, "right") - first
                for k in range(int(count.max()) if count.size else 0):
                    src = np.minimum(first + k, self.out_size - 1)
                    hit = k < count
                    if weight is not None:
                        taps.append((src, np.where(hit, weight[src], 0).astype(self.dtype)))
                    else:
                        taps.append((src, None if hit.all() else hit.astype(self.dtype)))
            self._transposed = _Taps(self.axis, self.out_size, self.in_size, taps, self.dtype)
        return self._transposed

    def adjoint(self, g):
        return self.transpose().apply(g)


def _as_slice(index):
    """``index`` as an equivalent slice when it is an arithmetic progression, else None."""
    if index.size == 0:
        return None
    start = int(index[0])
    if index.size == 1:
        return slice(start, start + 1)
    step = int(index[1] - index[0])
    if step < 1 or not np.array_equal(index, start + step * np.arange(index.size)):
        return None
    return slice(start, start + step * (index.size - 1) + 1, step)


class AxisMap(Function):
    def forward(self, x, taps):
        self.taps = taps
        return taps.apply(x)

    def backward(self, g):
        return AxisMapScatter.apply(g, taps=self.taps)


class AxisMapScatter(Function):
    def forward(self, g, taps):
        self.taps = taps
        return taps.adjoint(g)

    def backward(self, gg):
        return AxisMap.apply(gg, taps=self.taps)


def _adaptive_bounds(n, m):
    """PyTorch's adaptive windows: [floor(o * n / m), ceil((o + 1) * n / m))."""
    o = np.arange(m, dtype=np.int64)
    return (o * n) // m, ((o + 1) * n + m - 1) // m


def _adaptive_avg_taps(axis, n, m, dtype):
    start, end = _adaptive_bounds(n, m)
    length = end - start
    taps = []
    for k in range(int(length.max()) if m else 0):
        weight = np.where(k < length, 1.0 / length, 0.0).astype(dtype)
        taps.append((np.minimum(start + k, end - 1), weight))
    return _Taps(axis, n, m, taps, dtype)


# == adaptive max pooling (windows of varying size) =============================================

class PlaneGather(Function):
    """x[n, c].flat[index[n, c]]: picks elements of each H * W plane by flat index."""

    def forward(self, x, index, in_hw):
        self.index, self.in_hw = index, in_hw
        n, c = x.shape[:2]
        flat = x.reshape(n, c, int(np.prod(in_hw)))
        per_plane = int(np.prod(index.shape[2:]))
        picked = np.take_along_axis(flat, index.reshape(n, c, per_plane), axis=2)
        return picked.reshape(index.shape)

    def backward(self, g):
        return PlaneScatter.apply(g, index=self.index, in_hw=self.in_hw)


class PlaneScatter(Function):
    def forward(self, g, index, in_hw):
        self.index, self.in_hw = index, in_hw
        n, c = g.shape[:2]
        plane = int(np.prod(in_hw))
        dx = np.zeros(n * c * plane, g.dtype)
        offsets = (np.arange(n * c, dtype=np.int64) * plane)[:, None]
        per_plane = int(np.prod(index.shape[2:]))
        np.add.at(dx, (index.reshape(n * c, per_plane) + offsets).ravel(), g.ravel())
        return dx.reshape((n, c) + tuple(in_hw))

    def backward(self, gg):
        return PlaneGather.apply(gg, index=self.index, in_hw=self.in_hw)


def _adaptive_max_indices(x, out_hw):
    """Flat H * W index of each adaptive window's first maximum, for an (N, C, H, W) array."""
    n, c, h, w = x.shape
    tables = []
    for size, m in zip((h, w), out_hw):
        start, end = _adaptive_bounds(size, m)
        longest = int((end - start).max())
        # Short windows repeat their last element: a repeat never beats its first copy.
        tables.append(np.minimum(start[:, None] + np.arange(longest), (end - 1)[:, None]))
    rows, cols = tables
    (ho, lh), (wo, lw) = rows.shape, cols.shape
    patches = np.take(x, rows.ravel(), axis=2).reshape(n, c, ho, lh, w)
    patches = np.take(patches, cols.ravel(), axis=4).reshape(n, c, ho, lh, wo, lw)
    _, pos = _running_argmax(lambda k: patches[:, :, :, k // lw, :, k % lw], lh * lw,
                             _floating(x.dtype))
    # flat[k, ho, wo]: the input index that window position k of output pixel (ho, wo) reads.
    flat = (rows.T[:, None, :, None] * w + cols.T[None, :, None, :]).reshape(lh * lw, ho, wo)
    return flat[pos, np.arange(ho)[:, None], np.arange(wo)]


# == argument parsing ============================================================================

def _ints(value, nd, op, name, allow_none=False):
    """An int or a sequence of 1 or nd ints as an nd-tuple (PyTorch broadcasts a 1-tuple)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * nd
    if isinstance(value, (tuple, list)) and len(value) in (1, nd):
        ok = all((v is None and allow_none) or (isinstance(v, (int, np.integer)) and
                                                not isinstance(v, bool)) for v in value)
        if ok:
            values = tuple(None if v is None else int(v) for v in value)
            return values * nd if len(values) == 1 else values
    raise TypeError(f"{op}: {name} must be an int or a tuple of {nd} ints, got {value!r}")


def _pool_input(op, nd, input):
    """Check the input's rank and sizes; returns whether it has a batch dimension."""
    check_tensor(input, op)
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: expected a {nd + 1}D (unbatched) or {nd + 2}D (batched) "
                           f"input, got input of shape {tuple(input.shape)}")
    if 0 in tuple(input.shape)[-nd - 1:]:
        raise RuntimeError(f"{op}: expected an input with non-zero channels and spatial sizes "
                           f"(only the batch may be empty), got input of shape "
                           f"{tuple(input.shape)}")
    return input.ndim == nd + 2


def _pool_out_size(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling output size (a window must start inside the input or left padding)."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _window(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = _ints(kernel_size, nd, op, "kernel_size")
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) \
        else _ints(stride, nd, op, "stride")
    padding = _ints(padding, nd, op, "padding")
    dilation = _ints(dilation, nd, op, "dilation")
    if any(k <= 0 for k in kernel):
        raise ValueError(f"{op}: kernel_size must be positive, got {kernel_size!r}")
    if any(s <= 0 for s in stride):
        raise ValueError(f"{op}: stride must be positive, got {stride!r}")
    if any(d <= 0 for d in dilation):
        raise ValueError(f"{op}: dilation must be positive, got {dilation!r}")
    if any(p < 0 or p > k // 2 for p, k in zip(padding, kernel)):
        raise RuntimeError(f"{op}: padding should be at most half of kernel size, got "
                           f"padding={padding!r} and kernel_size={kernel!r}")
    in_sizes = tuple(input.shape[-nd:])
    out = tuple(_pool_out_size(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(in_sizes, kernel, stride, padding, dilation))
    if any(o <= 0 for o in out):
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} is too small for kernel "
                           f"{kernel} (dilation {dilation}, padding {padding}): the output "
                           f"size would be {out}")
    if nd == 1:
        return _Window((1,) + kernel, (1,) + stride, (1,) + dilation, (0,) + padding,
                       (1,) + in_sizes, (1,) + out)
    return _Window(kernel, stride, dilation, padding, in_sizes, out)


def _batched(input, batched):
    return input if batched else input.unsqueeze(0)


def _unbatched(out, batched):
    return out if batched else out.squeeze(0)


# == public API: max pooling =====================================================================

def _max_pool(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    batched = _pool_input(op, nd, input)
    win = _window(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode)
    x = _batched(input, batched)
    if return_indices:
        out, indices = MaxPool.apply(x, win=win, return_indices=True)
        return _unbatched(out, batched), _unbatched(indices, batched)
    need_positions = _grad_state.enabled and input.requires_grad
    out = MaxPool.apply(x, win=win, return_indices=False, need_positions=need_positions)
    return _unbatched(out, batched)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling over (N, C, L) or (C, L); stride defaults to kernel_size.

    With ``return_indices`` also returns the int64 index into L of each maximum.
    """
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling over (N, C, H, W) or (C, H, W).

    Args:
        kernel_size, stride, padding, dilation: an int or a pair; stride defaults to
            kernel_size; padding (implicit -inf) is at most half the kernel.
        ceil_mode: round the output size up (a window must still start inside the input).
        return_indices: also return the int64 flat index into H * W of each maximum.
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """:func:`max_pool1d` that always returns ``(output, indices)``."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """:func:`max_pool2d` that always returns ``(output, indices)``."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     True)


# == public API: average pooling =================================================================

def _avg_pool(op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    batched = _pool_input(op, nd, input)
    win = _window(op, nd, input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override,
                                                                (int, np.integer)):
            raise TypeError(f"{op}: divisor_override must be an int, got {divisor_override!r}")
        if divisor_override == 0:
            raise RuntimeError(f"{op}: divisor_override must not be zero")
    if input.dtype is dtypes.bool:
        raise RuntimeError(f"{op}: not implemented for bool input")
    divisor = _avg_divisor(win, count_include_pad, divisor_override, input._data.dtype)
    return _unbatched(AvgPool.apply(_batched(input, batched), win=win, divisor=divisor), batched)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """1-D average pooling over (N, C, L) or (C, L); stride defaults to kernel_size."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling over (N, C, H, W) or (C, H, W).

    Args:
        count_include_pad: count the zero padding in the divisor.
        divisor_override: divide every window sum by this number instead.
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling: (sum of x ** p over each window) ** (1 / p)."""
    out = avg_pool1d(input ** norm_type, kernel_size, stride, 0, ceil_mode)
    k = _ints(kernel_size, 1, "lp_pool1d", "kernel_size")[0]
    return ((sign(out) * relu(_abs(out))) * k) ** (1.0 / norm_type)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling: (sum of x ** p over each window) ** (1 / p)."""
    kh, kw = _ints(kernel_size, 2, "lp_pool2d", "kernel_size")
    out = avg_pool2d(input ** norm_type, kernel_size, stride, 0, ceil_mode)
    return ((sign(out) * relu(_abs(out))) * (kh * kw)) ** (1.0 / norm_type)


# == public API: adaptive pooling ================================================================

def _adaptive_sizes(op, nd, input, output_size):
    sizes = _ints(output_size, nd, op, "output_size", allow_none=True)
    in_sizes = tuple(input.shape[-nd:])
    sizes = tuple(n if s is None else s for s, n in zip(sizes, in_sizes))
    if any(s < 0 for s in sizes):
        raise ValueError(f"{op}: output_size must be non-negative, got {output_size!r}")
    return in_sizes, sizes


def _float_input(op, input):
    if not input.is_floating_point():
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")


def _adaptive_avg(op, nd, input, output_size):
    batched = _pool_input(op, nd, input)
    _float_input(op, input)
    in_sizes, sizes = _adaptive_sizes(op, nd, input, output_size)
    x = _batched(input, batched)
    if all(s and n % s == 0 for n, s in zip(in_sizes, sizes)):
        # Equal windows: a plain average pooling, with its faster separable sums.
        kernel = tuple(n // s for n, s in zip(in_sizes, sizes))
        if nd == 1:
            win = _Window((1,) + kernel, (1,) + kernel, (1, 1), (0, 0), (1,) + in_sizes,
                          (1,) + sizes)
        else:
            win = _Window(kernel, kernel, (1, 1), (0, 0), in_sizes, sizes)
        out = AvgPool.apply(x, win=win, divisor=int(np.prod(kernel)))
        return _unbatched(out, batched)
    np_dtype = x._data.dtype
    for axis in range(x.ndim - 1, 1, -1):
        n, m = in_sizes[axis - 2], sizes[axis - 2]
        if n != m:
            x = AxisMap.apply(x, taps=_adaptive_avg_taps(axis, n, m, np_dtype))
    return _unbatched(x, batched)


def adaptive_avg_pool1d(input, output_size):
    """Average pooling of (N, C, L) or (C, L) onto ``output_size`` windows."""
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling of (N, C, H, W) or (C, H, W) onto an output_size grid of windows.

    ``output_size`` is an int or a pair whose entries may be None (keep that size).
    Window o spans [floor(o * H / Ho), ceil((o + 1) * H / Ho)).
    """
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


class AdaptiveMaxIndex(Function):
    """The int64 flat index into the plane of each adaptive window's maximum; no gradient."""

    def forward(self, x, sizes):
        if 0 in sizes:
            return np.zeros(tuple(x.shape[:2]) + sizes, np.int64)
        out_hw = ((1,) if len(sizes) == 1 else ()) + sizes
        index = _adaptive_max_indices(_as_2d(x), out_hw)
        return index.reshape(tuple(x.shape[:2]) + sizes)


def _adaptive_max(op, nd, input, output_size, return_indices):
    batched = _pool_input(op, nd, input)
    _float_input(op, input)
    in_sizes, sizes = _adaptive_sizes(op, nd, input, output_size)
    x = _batched(input, batched)
    if all(s and n % s == 0 for n, s in zip(in_sizes, sizes)):
        kernel = tuple(n // s for n, s in zip(in_sizes, sizes))
        result = _max_pool(op, nd, x, kernel, kernel, 0, 1, False, return_indices)
    else:
        index = AdaptiveMaxIndex.apply(x, sizes=sizes)
        out = PlaneGather.apply(x, index=index._data, in_hw=in_sizes)
        result = (out, index) if return_indices else out
    if return_indices:
        return _unbatched(result[0], batched), _unbatched(result[1], batched)
    return _unbatched(result, batched)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pooling of (N, C, L) or (C, L) onto ``output_size`` windows."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling of (N, C, H, W) or (C, H, W) onto an output_size grid of windows.

    With ``return_indices`` also returns the int64 flat index into H * W of each maximum.
    """
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    """:func:`adaptive_max_pool1d` that always returns ``(output, indices)``."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    """:func:`adaptive_max_pool2d` that always returns ``(output, indices)``."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, True)
