"""Convolutions: conv1d, conv2d and their transposes, routed through GEMM.

Three Functions carry every convolution, and each one's backward is written with
the other two, so gradients of gradients come for free:

- ``Conv(x, w, b)``: the forward convolution;
- ``ConvTranspose(g, w, b)``: its adjoint in ``x`` (the input gradient of ``Conv``
  and the forward of ``conv_transpose``);
- ``ConvWeight(x, g)``: its adjoint in ``w`` (the weight gradient).

A 1-D convolution is a 2-D one with a kernel of height 1 (a free view). The images are
taken in blocks whose im2col matrix stays in the L2 cache (``_CHUNK_BYTES``); per block
one (batched) GEMM gives the output, one the weight gradient (reading the output gradient
where it lies) and one the input gradient's patches, which col2im adds back with one add
per kernel position. The layout of the im2col block (``_Plan``) follows the shape: few
channels go channel-major, one GEMM per image written straight into the NCHW output;
many channels on small images go pixel-major. A 1x1 convolution needs no im2col at all,
a depthwise one no GEMM.

``unfold`` and ``fold`` (im2col and col2im as operators) are two more Functions, each the
other's adjoint.
"""

import functools

import numpy as np

from ..autograd import grad_mode
from ..autograd.function import Function
from ..backend import dtypes
from ..backend.parallel import gemm_ns, parallel_for
from ._util import check_tensor, make_tensor
from .elementwise import cast

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]

_as_strided = np.lib.stride_tricks.as_strided
_grad_state = grad_mode.state
# im2col block per GEMM: large enough for an efficient (and threaded) GEMM, small enough to
# stay in cache between its copy and its GEMM. Measured on (64, 32, 16, 16) -> 64: 1-4 MiB
# are alike, whole-batch blocks 30-50% slower.
_CHUNK_BYTES = 2 << 20


class _Geometry:
    """Stride, dilation, padding (top, bottom, left, right) and groups of a 2-D convolution."""

    __slots__ = ("stride", "dilation", "padding", "groups")

    def __init__(self, stride, dilation, padding, groups):
        self.stride = stride
        self.dilation = dilation
        self.padding = padding
        self.groups = groups

    def out_size(self, in_hw, kernel_hw):
        (sh, sw), (dh, dw), (top, bottom, left, right) = self.stride, self.dilation, self.padding
        return ((in_hw[0] + top + bottom - dh * (kernel_hw[0] - 1) - 1) // sh + 1,
                (in_hw[1] + left + right - dw * (kernel_hw[1] - 1) - 1) // sw + 1)

    def is_pointwise(self, kernel_hw):
        """A 1x1 kernel, unit stride, no padding: the convolution is a plain matmul."""
        return kernel_hw == (1, 1) and self.stride == (1, 1) and not any(self.padding)


# == array kernels (NCHW arrays in, NCHW arrays out) ============================================

class _Plan:
    """The sizes of one convolution and the layout and blocking of its GEMMs.

    Few channels and wide images (a network's first layers) go channel-major: per image,
    ``(Og, Kg) @ (Kg, P)`` with im2col rows (c, i, j) writes straight into the NCHW output,
    its copy running along output rows. Many channels and small images (deep layers) go
    pixel-major: per block of images, ``(m * P, Kg) @ (Kg, Og)`` with columns (i, j, c), the
    copy running along kernel rows of channels, the result transposed into place.
    """

    def __init__(self, x_shape, w_shape, geom, out_hw, itemsize):
        n, c, h, w = x_shape
        o, cg, kh, kw = w_shape
        self.n, self.c, self.in_hw, self.o, self.cg = n, c, (h, w), o, cg
        self.kernel, self.geom, self.groups = (kh, kw), geom, geom.groups
        self.og, self.kg = o // geom.groups, cg * kh * kw
        self.out_hw = tuple(out_hw) if out_hw is not None else geom.out_size((h, w), (kh, kw))
        self.p = self.out_hw[0] * self.out_hw[1]
        self.pixel_major = cg >= self.out_hw[1]
        per_image = max(c * kh * kw * self.p * itemsize, 1)
        self.chunk = max(1, min(n, _CHUNK_BYTES // per_image))
        # The input gradient's per-position patches (as large as an im2col block) are added
        # back in place: measured fastest in half-size blocks.
        self.dx_chunk = max(1, min(n, _CHUNK_BYTES // 2 // per_image))

    def multiply_adds_per_image(self):
        """Of one image's GEMM (its copies take a fraction of the GEMM's time)."""
        return self.p * self.kg * self.o

    def block_size(self):
        """Elements of the largest pixel-major im2col block."""
        return self.chunk * self.c * self.kernel[0] * self.kernel[1] * self.p

    def padded_hw(self):
        top, bottom, left, right = self.geom.padding
        return self.in_hw[0] + top + bottom, self.in_hw[1] + left + right


def _pad_input(x, plan):
    """x zero-padded, as (N, C, Hp, Wp), or as (N, Hp, Wp, C) for a pixel-major plan."""
    n, c, h, w = x.shape
    top, bottom, left, right = plan.geom.padding
    hp, wp = plan.padded_hw()
    if plan.pixel_major:
        xp = (np.zeros if any(plan.geom.padding) else np.empty)((n, hp, wp, c), x.dtype)
        xp[:, top:top + h, left:left + w] = x.transpose(0, 2, 3, 1)
        return xp
    if not any(plan.geom.padding):
        return x
    xp = np.zeros((n, c, hp, wp), x.dtype)
    xp[:, :, top:top + h, left:left + w] = x
    return xp


def _windows(xp, plan, n0, m):
    """The im2col windows of images n0 .. n0 + m as a strided view of the padded input:
    (G, m, Ho, Wo, kH, kW, Cg) pixel-major, (m, G, Cg, kH, kW, Ho, Wo) channel-major."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = plan.kernel, plan.geom.stride, \
        plan.geom.dilation, plan.out_hw
    s0, s1, s2, s3 = xp.strides
    if plan.pixel_major:  # xp is (N, Hp, Wp, C)
        shape = (plan.groups, m, ho, wo, kh, kw, plan.cg)
        strides = (plan.cg * s3, s0, sh * s1, sw * s2, dh * s1, dw * s2, s3)
    else:  # xp is (N, C, Hp, Wp)
        shape = (m, plan.groups, plan.cg, kh, kw, ho, wo)
        strides = (s0, plan.cg * s1, s1, dh * s2, dw * s3, sh * s2, sw * s3)
    return _as_strided(xp[n0:], shape, strides, writeable=False)


def _im2col_block(xp, plan, n0, m, buf):
    """The pixel-major im2col matrix (G, m * P, Kg) of images n0 .. n0 + m, copied into
    ``buf`` (one strided copy)."""
    windows = _windows(xp, plan, n0, m)
    cols = buf[:windows.size].reshape(windows.shape)
    np.copyto(cols, windows)
    return cols.reshape(plan.groups, m * plan.p, plan.kg)


def _weight_matrix(w, plan):
    """The weight as (G, Og, Kg), its K in the order of the im2col block."""
    if not plan.pixel_major:
        return w.reshape(plan.groups, plan.og, plan.kg)
    kh, kw = plan.kernel
    w5 = w.reshape(plan.groups, plan.og, plan.cg, kh, kw)
    return np.ascontiguousarray(w5.transpose(0, 1, 3, 4, 2)).reshape(plan.groups, plan.og,
                                                                      plan.kg)


def _weight_from_matrix(wm, plan):
    if not plan.pixel_major:
        return wm.reshape((plan.o, plan.cg) + plan.kernel)
    kh, kw = plan.kernel
    w5 = wm.reshape(plan.groups, plan.og, kh, kw, plan.cg).transpose(0, 1, 4, 2, 3)
    return np.ascontiguousarray(w5).reshape((plan.o, plan.cg) + plan.kernel)


def _store_output(y, block, plan, n0, m, b):
    """Write one pixel-major block's GEMM result (plus bias) into the (N, O, Ho, Wo) output."""
    dst = y[n0:n0 + m].reshape(m, plan.groups, plan.og, plan.p)
    src = block.reshape(plan.groups, m, plan.p, plan.og).transpose(1, 0, 3, 2)
    if b is None:
        np.copyto(dst, src)
    else:
        np.add(src, b.reshape(plan.groups, plan.og, 1), out=dst)


def _positions(plan):
    """Per kernel position (i, j), the rows and columns of the padded input it reads."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = plan.kernel, plan.geom.stride, \
        plan.geom.dilation, plan.out_hw
    return [(i, j, slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
             slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)) for i in range(kh) for j in range(kw)]


def _forward_pixel_major(x, w, b, plan, y):
    xp = _pad_input(x, plan)
    wmt = _weight_matrix(w, plan).transpose(0, 2, 1)
    buf = np.empty(plan.block_size(), x.dtype)
    for n0 in range(0, plan.n, plan.chunk):
        m = min(plan.chunk, plan.n - n0)
        _store_output(y, np.matmul(_im2col_block(xp, plan, n0, m, buf), wmt), plan, n0, m, b)


def _forward_channel_major(x, w, b, plan, y):
    """One GEMM per image straight into the output; with a bias, a row of ones appended to
    each im2col block adds it inside the GEMM (measured 20% faster than a separate add)."""
    g, og, kg, m_max = plan.groups, plan.og, plan.kg, plan.chunk
    wm = w.reshape(g, og, kg)
    rows = kg
    if b is not None:
        wm = np.concatenate((wm, b.reshape(g, og, 1)), axis=2)
        rows += 1
    buf = np.empty((m_max, g, rows, plan.p), x.dtype)
    if b is not None:
        buf[:, :, kg] = 1
    xp = _pad_input(x, plan)
    y4 = y.reshape(plan.n, g, og, plan.p)
    for n0 in range(0, plan.n, m_max):
        m = min(m_max, plan.n - n0)
        windows = _windows(xp, plan, n0, m)
        np.copyto(buf[:m, :, :kg].reshape(windows.shape), windows)
        np.matmul(wm, buf[:m], out=y4[n0:n0 + m])


def _weight_grad(x, g, plan):
    """Sum over images of g_n (Og, P) @ cols_n (P, Kg): per block one batched GEMM that reads
    the output gradient in place (no transposed copy of it)."""
    n, p, groups, og, kg = plan.n, plan.p, plan.groups, plan.og, plan.kg
    xp = _pad_input(x, plan)
    g4 = g.reshape(n, groups, og, p)
    dwm = np.zeros((groups, og, kg), g.dtype)
    if plan.pixel_major:
        g4 = g4.transpose(1, 0, 2, 3)  # (G, N, Og, P)
        buf = np.empty(plan.block_size(), g.dtype)
        for n0 in range(0, n, plan.chunk):
            m = min(plan.chunk, n - n0)
            cols = _im2col_block(xp, plan, n0, m, buf).reshape(groups, m, p, kg)
            dwm += np.matmul(g4[:, n0:n0 + m], cols).sum(axis=1)
    else:
        buf = np.empty((plan.chunk, groups, kg, p), g.dtype)
        for n0 in range(0, n, plan.chunk):
            m = min(plan.chunk, n - n0)
            windows = _windows(xp, plan, n0, m)
            cols = buf[:m]
            np.copyto(cols.reshape(windows.shape), windows)
            dwm += np.matmul(g4[n0:n0 + m], cols.transpose(0, 1, 3, 2)).sum(axis=0)
    return _weight_from_matrix(dwm, plan)


def _input_grad(w, g, plan, bias, dx):
    """The adjoint of the forward in its input (plus ``bias``), written into ``dx``: per
    block, the patch gradients from a GEMM, added back onto a zeroed padded block, one add
    per kernel position, and the block's interior copied out."""
    n, c, (h, wd), (hp, wp) = plan.n, plan.c, plan.in_hw, plan.padded_hw()
    top, _, left, _ = plan.geom.padding
    groups, og, cg, (ho, wo) = plan.groups, plan.og, plan.cg, plan.out_hw
    (kh, kw), m_max = plan.kernel, plan.dx_chunk
    acc = np.empty(m_max * c * hp * wp, g.dtype)
    if plan.pixel_major:
        # One GEMM per kernel position, so that each position's patches are contiguous and
        # their adds run along whole rows of the NHWC block.
        wpos = np.ascontiguousarray(w.reshape(groups, og, cg, kh * kw).transpose(0, 3, 1, 2))
        gt = np.empty((groups, m_max, ho, wo, og), g.dtype)
        g5 = g.reshape(n, groups, og, ho, wo).transpose(1, 0, 3, 4, 2)
    else:
        wmt = w.reshape(groups, og, plan.kg).transpose(0, 2, 1)
        g4 = g.reshape(n, groups, og, plan.p)
    for n0 in range(0, n, m_max):
        m = min(m_max, n - n0)
        block = acc[:m * c * hp * wp]
        block.fill(0)
        if plan.pixel_major:
            gb = gt[:, :m]
            np.copyto(gb, g5[:, n0:n0 + m])
            patches = np.matmul(gb.reshape(groups, 1, m * plan.p, og), wpos)
            patches = patches.reshape(groups, kh * kw, m, ho, wo, cg).transpose(1, 2, 3, 4, 0, 5)
            block = block.reshape(m, hp, wp, groups, cg)
            for k, (_, _, rows, cols) in enumerate(_positions(plan)):
                block[:, rows, cols] += patches[k]
            interior = block.reshape(m, hp, wp, c)[:, top:top + h, left:left + wd]
            interior = interior.transpose(0, 3, 1, 2)
        else:
            patches = np.matmul(wmt, g4[n0:n0 + m]).reshape(m, c, kh, kw, ho, wo)
            block = block.reshape(m, c, hp, wp)
            for i, j, rows, cols in _positions(plan):
                block[:, :, rows, cols] += patches[:, :, i, j]
            interior = block[:, :, top:top + h, left:left + wd]
        if bias is None:
            np.copyto(dx[n0:n0 + m], interior)
        else:
            np.add(interior, bias[:, None, None], out=dx[n0:n0 + m])
    return dx


def _is_depthwise(w_shape, geom):
    """One input channel per group: cheaper as one multiply-add per kernel position."""
    return w_shape[1] == 1 and geom.groups > 1


def _depthwise_plan(x_shape, w_shape, geom, out_hw, itemsize):
    plan = _Plan(x_shape, w_shape, geom, out_hw, itemsize)
    plan.pixel_major = False  # the kernels below read the padded input channel-major
    return plan


def _depthwise_forward(x, w, b, geom, out_hw):
    n, c = x.shape[:2]
    o, _, kh, kw = w.shape
    plan = _depthwise_plan(x.shape, w.shape, geom, out_hw, x.itemsize)
    xp = _pad_input(x, plan)
    taps = w.reshape(c, o // c, kh * kw, 1, 1)
    y = np.zeros((n, c, o // c) + plan.out_hw, x.dtype)
    product = np.empty_like(y)
    for k, (_, _, rows, cols) in enumerate(_positions(plan)):
        y += np.multiply(xp[:, :, None, rows, cols], taps[:, :, k], out=product)
    y = y.reshape((n, o) + plan.out_hw)
    if b is not None:
        y += b[:, None, None]
    return y


def _depthwise_backward(x, w, g, geom, w_shape, in_hw, need_dx, need_dw, bias):
    n = g.shape[0]
    o, _, kh, kw = w_shape
    c = geom.groups
    plan = _depthwise_plan((n, c) + tuple(in_hw), w_shape, geom, g.shape[2:], g.itemsize)
    g5 = g.reshape((n, c, o // c) + plan.out_hw)
    product = np.empty(g5.shape, g.dtype)
    dx = dw = None
    if need_dx:
        taps = w.reshape(c, o // c, kh * kw, 1, 1)
        top, _, left, _ = geom.padding
        dxp = np.zeros((n, c) + plan.padded_hw(), g.dtype)
        for k, (_, _, rows, cols) in enumerate(_positions(plan)):
            np.multiply(g5, taps[:, :, k], out=product)
            dxp[:, :, rows, cols] += product.sum(axis=2) if o > c else product[:, :, 0]
        interior = dxp[:, :, top:top + in_hw[0], left:left + in_hw[1]]
        dx = np.empty((n, c) + tuple(in_hw), g.dtype)
        if bias is None:
            np.copyto(dx, interior)
        else:
            np.add(interior, bias[:, None, None], out=dx)
    if need_dw:
        xp = _pad_input(x, plan)
        dw = np.empty((c, o // c, kh * kw), g.dtype)
        for k, (_, _, rows, cols) in enumerate(_positions(plan)):
            np.multiply(g5, xp[:, :, None, rows, cols], out=product)
            dw[:, :, k] = product.sum(axis=(0, 3, 4))
        dw = dw.reshape(w_shape)
    return dx, dw


def _conv_forward(x, w, b, geom, out_hw=None):
    """conv2d on arrays: the (N, O, Ho, Wo) output.

    ``out_hw`` keeps only the first rows/columns of the output (the adjoint of a transposed
    convolution whose output_padding added rows that no input pixel reaches).
    """
    o, cg, kh, kw = w.shape
    groups = geom.groups
    if geom.is_pointwise((kh, kw)):
        if out_hw is not None:
            x = x[:, :, :out_hw[0], :out_hw[1]]
        n, _, h, wd = x.shape
        y = np.matmul(w.reshape(groups, o // groups, cg), x.reshape(n, groups, cg, h * wd))
        y = y.reshape(n, o, h, wd)
        if b is not None:
            y += b[:, None, None]
        return y
    if _is_depthwise(w.shape, geom):
        return _depthwise_forward(x, w, b, geom, out_hw)
    plan = _Plan(x.shape, w.shape, geom, out_hw, x.itemsize)
    y = np.empty((plan.n, o) + plan.out_hw, x.dtype)
    kernel = _forward_pixel_major if plan.pixel_major else _forward_channel_major

    def images(start, stop):
        xs = x[start:stop]
        kernel(xs, w, b, _Plan(xs.shape, w.shape, geom, out_hw, x.itemsize), y[start:stop])
    parallel_for(plan.n, images, gemm_ns(plan.multiply_adds_per_image()))
    return y


def _pointwise_backward(x, w, g, groups, in_hw, need_dx, need_dw, bias):
    n, o = g.shape[:2]
    og, cg = o // groups, w.shape[1] if w is not None else x.shape[1] // groups
    ho, wo = g.shape[2:]
    gb = g.reshape(n, groups, og, ho * wo)
    dx = dw = None
    if need_dx:
        dx = np.matmul(w.reshape(groups, og, cg).transpose(0, 2, 1), gb)
        dx = dx.reshape(n, groups * cg, ho, wo)
        if (ho, wo) != tuple(in_hw):  # output_padding rows/columns that no window reaches
            full = np.zeros((n, groups * cg) + tuple(in_hw), dx.dtype)
            full[:, :, :ho, :wo] = dx
            dx = full
        if bias is not None:
            dx += bias[:, None, None]
    if need_dw:
        xg = x[:, :, :ho, :wo].reshape(n, groups, cg, ho * wo).transpose(0, 1, 3, 2)
        dw = np.matmul(gb, xg).sum(axis=0).reshape(o, cg, 1, 1)
    return dx, dw


def _conv_backward(x, w, g, geom, w_shape, in_hw, need_dx, need_dw, bias=None):
    """The adjoints of conv2d: the input gradient (conv_transpose2d's forward, plus ``bias``)
    from ``w`` and ``g``, and/or the weight gradient from ``x`` and ``g``."""
    if geom.is_pointwise(tuple(w_shape[2:])):
        return _pointwise_backward(x, w, g, geom.groups, in_hw, need_dx, need_dw, bias)
    if _is_depthwise(w_shape, geom):
        return _depthwise_backward(x, w, g, geom, w_shape, in_hw, need_dx, need_dw, bias)
    n, c = g.shape[0], w_shape[1] * geom.groups
    plan = _Plan((n, c) + tuple(in_hw), w_shape, geom, g.shape[2:], g.itemsize)
    dx = np.empty((n, c) + tuple(in_hw), g.dtype) if need_dx else None

    def images(start, stop):
        sub = _Plan((stop - start, c) + tuple(in_hw), w_shape, geom, g.shape[2:], g.itemsize)
        if need_dx:
            _input_grad(w, g[start:stop], sub, bias, dx[start:stop])
        return _weight_grad(x[start:stop], g[start:stop], sub) if need_dw else None
    dws = parallel_for(n, images, gemm_ns(plan.multiply_adds_per_image() * (need_dx + need_dw)))
    dw = functools.reduce(np.add, dws) if need_dw else None
    return dx, dw


def _bias_grad(g):
    """g summed over batch and pixels: a GEMV against ones (measured 3x faster than NumPy's
    sum over axes (0, 2, 3) of a (64, 32, 32, 32) gradient)."""
    n, o = g.shape[:2]
    g3 = g.reshape(n, o, g.size // max(n * o, 1))
    return np.matmul(g3, np.ones(g3.shape[2], g.dtype)).sum(axis=0)


def _as_2d(a):
    """A 1-D convolution's (N, C, W) array as (N, C, 1, W), a view."""
    return a if a.ndim == 4 else a[:, :, None, :]


def _match_rank(y, like):
    """Drop the height-1 axis again for a 1-D convolution."""
    return y if like.ndim == 4 else y.reshape(y.shape[:2] + y.shape[3:])


def _spatial_dims(ndim):
    return (0, 2, 3) if ndim == 4 else (0, 2)


def _kernel_hw(w):
    shape = w._data.shape
    return (shape[2], shape[3]) if len(shape) == 4 else (1, shape[2])


# == the three Functions ========================================================================

class Conv(Function):
    """y = conv(x, w) + b."""

    keeps_inputs = True

    def forward(self, x, w, b, geom, out_hw=None):
        x4 = _as_2d(x)
        self.geom = geom
        self.in_hw = x4.shape[2:]
        return _match_rank(_conv_forward(x4, _as_2d(w), b, geom, out_hw), x)

    def backward(self, g):
        x, w, b = self.saved_inputs
        edges = self.next_edges
        gx = gw = gb = None
        if not _grad_state.enabled:
            # No graph to record: the array kernels directly.
            w4, g4 = _as_2d(w._data), _as_2d(g._data)
            dx, dw = _conv_backward(_as_2d(x._data), w4, g4, self.geom, w4.shape, self.in_hw,
                                    edges[0] is not None, edges[1] is not None)
            gx = None if dx is None else make_tensor(_match_rank(dx, x._data))
            gw = None if dw is None else make_tensor(dw if w.ndim == 4 else dw[:, :, 0])
            gb = None if edges[2] is None else make_tensor(_bias_grad(g4))
            return gx, gw, gb
        if edges[2]:
            gb = g.sum(dim=_spatial_dims(g.ndim))
        if edges[0]:
            gx = ConvTranspose.apply(g, w, None, geom=self.geom, out_hw=self.in_hw)
        if edges[1]:
            gw = ConvWeight.apply(x, g, geom=self.geom, kernel_hw=_kernel_hw(w))
        return gx, gw, gb


class ConvTranspose(Function):
    """The adjoint of ``Conv`` in its input: maps (N, O, Ho, Wo) to (N, C, *out_hw)."""

    keeps_inputs = True

    def forward(self, g, w, b, geom, out_hw):
        w4 = _as_2d(w)
        self.geom = geom
        dx, _ = _conv_backward(None, w4, _as_2d(g), geom, w4.shape, out_hw, True, False, b)
        return _match_rank(dx, g)

    def backward(self, gy):
        g, w, b = self.saved_inputs
        edges = self.next_edges
        out_hw = _as_2d(g._data).shape[2:]
        gg = gw = gb = None
        if edges[0]:
            gg = Conv.apply(gy, w, None, geom=self.geom, out_hw=out_hw)
        if edges[1]:
            gw = ConvWeight.apply(gy, g, geom=self.geom, kernel_hw=_kernel_hw(w))
        if edges[2]:
            gb = gy.sum(dim=_spatial_dims(gy.ndim))
        return gg, gw, gb


class ConvWeight(Function):
    """The adjoint of ``Conv`` in its weight: (x, g) to an (O, C / groups, kH, kW) array."""

    keeps_inputs = True

    def forward(self, x, g, geom, kernel_hw):
        x4, g4 = _as_2d(x), _as_2d(g)
        self.geom = geom
        w_shape = (g4.shape[1], x4.shape[1] // geom.groups) + tuple(kernel_hw)
        _, dw = _conv_backward(x4, None, g4, geom, w_shape, x4.shape[2:], False, True)
        return dw if x.ndim == 4 else dw[:, :, 0]

    def backward(self, gw):
        x, g = self.saved_inputs
        edges = self.next_edges
        gx = gg = None
        if edges[0]:
            gx = ConvTranspose.apply(g, gw, None, geom=self.geom, out_hw=_as_2d(x._data).shape[2:])
        if edges[1]:
            gg = Conv.apply(x, gw, None, geom=self.geom, out_hw=_as_2d(g._data).shape[2:])
        return gx, gg


# == argument checking ==========================================================================

def _tuple(value, n, op, name, minimum, one_for_all=True):
    """An int or a sequence of n ints (or of one, with ``one_for_all``) as an n-tuple, each at
    least ``minimum``."""
    lengths = (1, n) if one_for_all else (n,)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) in lengths and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        out = tuple(int(v) for v in value) * (n if len(value) == 1 else 1)
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in out):
        kind = "positive" if minimum > 0 else "non-negative"
        raise ValueError(f"{op}: {name} must be {kind}, got {value!r}")
    return out


def _to_2d(values, fill):
    """A 1-D convolution's per-dim parameters with a leading height entry ``fill``."""
    return values if len(values) == 2 else (fill,) + values


def _check_operands(op, nd, input, weight, bias):
    """The (possibly batched) input, weight and bias, checked; returns whether it was batched."""
    check_tensor(input, op, "input")
    check_tensor(weight, op, "weight")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input, "
                           f"got input of shape {tuple(input.shape)}")
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{op}: expected a {nd + 2}D weight, got weight of shape "
                           f"{tuple(weight.shape)}")
    if not input.is_floating_point():
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")
    if weight.dtype is not input.dtype:
        raise RuntimeError(f"{op}: input ({input.dtype}) and weight ({weight.dtype}) must have "
                           "the same dtype")
    if bias is not None:
        check_tensor(bias, op, "bias")
        if bias.dtype is not input.dtype:
            raise RuntimeError(f"{op}: input ({input.dtype}) and bias ({bias.dtype}) must have "
                               "the same dtype")
    return input.ndim == nd + 2


def _check_groups(op, groups):
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    return int(groups)


def _check_bias(op, bias, channels):
    if bias is not None and tuple(bias.shape) != (channels,):
        raise RuntimeError(f"{op}: expected bias of shape ({channels},), got bias of shape "
                           f"{tuple(bias.shape)}")


def _same_padding(kernel, dilation):
    # PyTorch's "same": any odd total padding puts the extra row/column at the end.
    pads = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pads.append((total // 2, total - total // 2))
    return pads


def _low_precision(input):
    """float16/bfloat16 are computed in float32 (NumPy has no fast GEMM for them)."""
    return input.dtype in (dtypes.float16, dtypes.bfloat16)


# == public API ==================================================================================

def _conv(op, nd, input, weight, bias, stride, padding, dilation, groups):
    batched = _check_operands(op, nd, input, weight, bias)
    groups = _check_groups(op, groups)
    stride = _tuple(stride, nd, op, "stride", 1)
    dilation = _tuple(dilation, nd, op, "dilation", 1)
    kernel = tuple(weight.shape[2:])
    out_channels, in_per_group = weight.shape[:2]
    channels = input.shape[1 if batched else 0]
    if out_channels % groups:
        raise RuntimeError(f"{op}: out_channels ({out_channels}, weight.shape[0]) must be "
                           f"divisible by groups={groups}")
    if channels != in_per_group * groups:
        raise RuntimeError(f"{op}: expected input with {in_per_group * groups} channels (weight "
                           f"of shape {tuple(weight.shape)}, groups={groups}), got input of "
                           f"shape {tuple(input.shape)}")
    _check_bias(op, bias, out_channels)
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0)] * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride})")
            pads = _same_padding(kernel, dilation)
        else:
            raise ValueError(f"{op}: invalid padding string {padding!r}, expected 'valid' or "
                             "'same'")
    else:
        pads = [(p, p) for p in _tuple(padding, nd, op, "padding", 0)]
    spatial = tuple(input.shape[-nd:])
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, pads))
    effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(p < e for p, e in zip(padded, effective)):
        raise RuntimeError(f"{op}: kernel size {kernel} (dilated to {effective}) is larger than "
                           f"the padded input size {padded} (input of shape "
                           f"{tuple(input.shape)}, padding {tuple(pads)})")
    pads2 = _to_2d(tuple(pads), (0, 0))
    geom = _Geometry(_to_2d(stride, 1), _to_2d(dilation, 1), pads2[0] + pads2[1], groups)
    if not batched:
        input = input.unsqueeze(0)
    low = _low_precision(input)
    if low:
        dtype = input.dtype
        input, weight = cast(input, dtypes.float32), cast(weight, dtypes.float32)
        bias = None if bias is None else cast(bias, dtypes.float32)
    out = Conv.apply(input, weight, bias, geom=geom)
    if low:
        out = cast(out, dtype)
    return out if batched else out.squeeze(0)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over an input of shape (N, C_in, L) or (C_in, L).

    Args:
        weight: (C_out, C_in / groups, kW).
        padding: an int, a 1-tuple, ``"valid"`` or ``"same"``.

    Shape: output (N, C_out, L_out), L_out = (L + 2 * padding - dilation * (kW - 1) - 1)
    // stride + 1.
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution over an input of shape (N, C_in, H, W) or (C_in, H, W).

    Args:
        weight: (C_out, C_in / groups, kH, kW).
        bias: (C_out,) or None.
        stride, dilation: an int or a pair.
        padding: an int, a pair, ``"valid"`` or ``"same"`` (odd total padding puts the extra
            row/column at the bottom/right, as PyTorch does).
        groups: split the channels into this many independent convolutions.

    Shape: output (N, C_out, H_out, W_out), H_out = (H + 2 * padding[0] - dilation[0] *
    (kH - 1) - 1) // stride[0] + 1.
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op, nd, input, weight, bias, stride, padding, output_padding, groups,
                    dilation):
    batched = _check_operands(op, nd, input, weight, bias)
    groups = _check_groups(op, groups)
    stride = _tuple(stride, nd, op, "stride", 1)
    dilation = _tuple(dilation, nd, op, "dilation", 1)
    if isinstance(padding, str):
        raise TypeError(f"{op}: padding must be an int or a tuple of {nd} ints, got {padding!r}")
    padding = _tuple(padding, nd, op, "padding", 0)
    output_padding = _tuple(output_padding, nd, op, "output_padding", 0)
    kernel = tuple(weight.shape[2:])
    in_channels, out_per_group = weight.shape[:2]
    channels = input.shape[1 if batched else 0]
    if in_channels % groups:
        raise RuntimeError(f"{op}: in_channels ({in_channels}, weight.shape[0]) must be "
                           f"divisible by groups={groups}")
    if channels != in_channels:
        raise RuntimeError(f"{op}: expected input with {in_channels} channels (weight of shape "
                           f"{tuple(weight.shape)}, groups={groups}), got input of shape "
                           f"{tuple(input.shape)}")
    _check_bias(op, bias, out_per_group * groups)
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ >= max(s, d):
            raise ValueError(f"{op}: output_padding must be smaller than either stride or "
                             f"dilation, got output_padding={output_padding}, stride={stride}, "
                             f"dilation={dilation}")
    spatial = tuple(input.shape[-nd:])
    out = tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1 for i, s, p, d, k, o in
                zip(spatial, stride, padding, dilation, kernel, output_padding))
    if any(s <= 0 for s in out):
        raise RuntimeError(f"{op}: the computed output size {out} is not positive (input of "
                           f"shape {tuple(input.shape)}, kernel {kernel}, stride {stride}, "
                           f"padding {padding}, dilation {dilation})")
    pads2 = _to_2d(tuple((p, p) for p in padding), (0, 0))
    geom = _Geometry(_to_2d(stride, 1), _to_2d(dilation, 1), pads2[0] + pads2[1], groups)
    if not batched:
        input = input.unsqueeze(0)
    low = _low_precision(input)
    if low:
        dtype = input.dtype
        input, weight = cast(input, dtypes.float32), cast(weight, dtypes.float32)
        bias = None if bias is None else cast(bias, dtypes.float32)
    result = ConvTranspose.apply(input, weight, bias, geom=geom, out_hw=_to_2d(out, 1))
    if low:
        result = cast(result, dtype)
    return result if batched else result.squeeze(0)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-D transposed convolution (the gradient of conv1d in its input).

    Args:
        weight: (C_in, C_out / groups, kW).

    Shape: output (N, C_out, L_out), L_out = (L - 1) * stride - 2 * padding + dilation *
    (kW - 1) + output_padding + 1.
    """
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution (the gradient of conv2d in its input).

    Args:
        weight: (C_in, C_out / groups, kH, kW).
        output_padding: extra rows/columns added at the bottom/right of the output, smaller
            than the stride or the dilation.

    Shape: output (N, C_out, H_out, W_out), H_out = (H - 1) * stride[0] - 2 * padding[0] +
    dilation[0] * (kH - 1) + output_padding[0] + 1.
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


# == unfold and fold (im2col and col2im) ========================================================

def _fold_geometry(in_hw, kernel, dilation, padding, stride):
    """The padded size and the (Ho, Wo) grid of sliding blocks over an input of ``in_hw``."""
    hp, wp = in_hw[0] + 2 * padding[0], in_hw[1] + 2 * padding[1]
    blocks = ((hp - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1,
              (wp - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1)
    return (hp, wp), blocks


class Unfold(Function):
    """im2col: (N, C, H, W) to (N, C * kH * kW, L), one strided copy of the padded input.
    Its adjoint is ``Fold``."""

    def forward(self, x, kernel, dilation, padding, stride):
        self.params = (kernel, dilation, padding, stride)
        self.in_hw = x.shape[-2:]
        batched = x.ndim == 4
        x4 = x if batched else x[None]
        n, c, h, w = x4.shape
        (hp, wp), (ho, wo) = _fold_geometry((h, w), kernel, dilation, padding, stride)
        (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel, dilation, padding, stride
        if ph or pw:
            xp = np.zeros((n, c, hp, wp), x.dtype)
            xp[:, :, ph:ph + h, pw:pw + w] = x4
        else:
            xp = x4
        s0, s1, s2, s3 = xp.strides
        windows = _as_strided(xp, (n, c, kh, kw, ho, wo),
                              (s0, s1, dh * s2, dw * s3, sh * s2, sw * s3), writeable=False)
        cols = np.empty((n, c * kh * kw, ho * wo), x.dtype)
        np.copyto(cols.reshape(windows.shape), windows)
        return cols if batched else cols[0]

    def backward(self, g):
        return Fold.apply(g, in_hw=self.in_hw, params=self.params)


class Fold(Function):
    """col2im: (N, C * kH * kW, L) to (N, C, *in_hw), overlapping blocks summed, one add per
    kernel position. Its adjoint is ``Unfold``."""

    def forward(self, cols, in_hw, params):
        self.in_hw, self.params = in_hw, params
        kernel, dilation, padding, stride = params
        (kh, kw), (dh, dw), (ph, pw), (sh, sw) = params
        (hp, wp), (ho, wo) = _fold_geometry(in_hw, kernel, dilation, padding, stride)
        batched = cols.ndim == 3
        cols3 = cols if batched else cols[None]
        n, c = cols3.shape[0], cols3.shape[1] // (kh * kw)
        patches = cols3.reshape(n, c, kh, kw, ho, wo)
        out = np.zeros((n, c, hp, wp), cols.dtype)
        for i in range(kh):
            rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
            for j in range(kw):
                out[:, :, rows, j * dw:j * dw + sw * (wo - 1) + 1:sw] += patches[:, :, i, j]
        if ph or pw:
            out = np.ascontiguousarray(out[:, :, ph:ph + in_hw[0], pw:pw + in_hw[1]])
        return out if batched else out[0]

    def backward(self, g):
        kernel, dilation, padding, stride = self.params
        return Unfold.apply(g, kernel=kernel, dilation=dilation, padding=padding, stride=stride)


def _pair(value, op, name, minimum):
    """An int or a sequence of exactly two ints (fold and unfold, as PyTorch's)."""
    return _tuple(value, 2, op, name, minimum, one_for_all=False)


def _fold_params(op, kernel_size, dilation, padding, stride):
    return (_pair(kernel_size, op, "kernel_size", 1), _pair(dilation, op, "dilation", 1),
            _pair(padding, op, "padding", 0), _pair(stride, op, "stride", 1))


def _check_fold_input(op, input, ndims, what):
    check_tensor(input, op)
    shape = tuple(input.shape)
    if len(shape) not in ndims or 0 in shape[len(shape) - ndims[0]:]:
        raise RuntimeError(f"{op}: expected a {ndims[0]}D {what} or a {ndims[1]}D batch of "
                           f"them (a batch may be empty, other sizes non-zero), got input of "
                           f"shape {shape}")
    if not input.is_floating_point():
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")
    return shape


def _check_blocks(op, spatial, blocks, params):
    if blocks[0] < 1 or blocks[1] < 1:
        kernel, dilation, padding, stride = params
        raise RuntimeError(f"{op}: the sliding blocks do not fit: spatial size {spatial}, "
                           f"kernel_size={kernel}, dilation={dilation}, padding={padding}, "
                           f"stride={stride} give a grid of {blocks} blocks, expected at least "
                           f"one in each dim")


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding local blocks (im2col): each block of ``kernel_size`` over the padded
    input becomes one column.

    Args:
        kernel_size, dilation, padding, stride: an int or a pair.

    Shape: input (N, C, H, W) or (C, H, W); output (N, C * kH * kW, L) or (C * kH * kW, L),
    L = Ho * Wo, Ho = (H + 2 * padding[0] - dilation[0] * (kH - 1) - 1) // stride[0] + 1.
    """
    shape = _check_fold_input("unfold", input, (3, 4), "(C, H, W) image")
    params = _fold_params("unfold", kernel_size, dilation, padding, stride)
    _, blocks = _fold_geometry(shape[-2:], *params)
    _check_blocks("unfold", shape[-2:], blocks, params)
    kernel, dilation, padding, stride = params
    return Unfold.apply(input, kernel=kernel, dilation=dilation, padding=padding, stride=stride)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Combine sliding local blocks into an image (col2im), summing where blocks overlap: the
    adjoint of :func:`unfold`.

    Args:
        output_size: the (H, W) of the output, an int or a pair.
        kernel_size, dilation, padding, stride: an int or a pair, as given to ``unfold``.

    Shape: input (N, C * kH * kW, L) or (C * kH * kW, L), L the number of blocks that fit in
    ``output_size``; output (N, C, H, W) or (C, H, W).
    """
    shape = _check_fold_input("fold", input, (2, 3), "(C * kH * kW, L) matrix of blocks")
    out_hw = _pair(output_size, "fold", "output_size", 1)
    params = _fold_params("fold", kernel_size, dilation, padding, stride)
    (kh, kw), blocks = params[0], _fold_geometry(out_hw, *params)[1]
    _check_blocks("fold", out_hw, blocks, params)
    if shape[-2] % (kh * kw):
        raise RuntimeError(f"fold: expected input.size({len(shape) - 2}) to be divisible by the "
                           f"product of kernel_size {params[0]} ({kh * kw}), got input of "
                           f"shape {shape}")
    if shape[-1] != blocks[0] * blocks[1]:
        raise RuntimeError(f"fold: expected input.size({len(shape) - 1}) to match the number of "
                           f"sliding blocks {blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]} "
                           f"(output_size={out_hw}, kernel_size={params[0]}, dilation="
                           f"{params[1]}, padding={params[2]}, stride={params[3]}), got input "
                           f"of shape {shape}")
    return Fold.apply(input, in_hw=out_hw, params=params)
