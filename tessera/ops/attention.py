"""Scaled dot-product attention as one fused operator.

The forward runs two batched float32 GEMMs around an in-place softmax and keeps the
attention weights for backward. The first-order backward reuses them in four GEMMs and
in-place array passes; when a graph is being recorded (``create_graph=True``) the same
backward runs in tessera operations with the weights recomputed from query and key, so
gradients of gradients work.
"""

import math

import numpy as np

from .. import backend
from ..autograd import grad_mode
from ..autograd.function import Function, sum_array_to_shape, sum_to_shape
from ..backend import dtypes
from ..backend.parallel import gemm_ns, parallel_for, pass_ns
from ._util import broadcast_shapes, check_tensor, make_tensor
from .elementwise import where

__all__ = ["scaled_dot_product_attention"]

_state = grad_mode.state


def _repeat_heads(x, repeats):
    """Repeat each head (dim -3) ``repeats`` times, as ``repeat_interleave`` (GQA)."""
    if repeats == 1:
        return x
    shape = tuple(x.shape)
    expanded = x.unsqueeze(-3).expand(*shape[:-2], repeats, *shape[-2:])
    return expanded.reshape(*shape[:-3], shape[-3] * repeats, *shape[-2:])


def _sum_heads(g, repeats, shape):
    """The gradient of ``_repeat_heads``: sum each group of repeated heads, then undo
    broadcasting of the batch dims."""
    if repeats != 1:
        gs = tuple(g.shape)
        g = g.reshape(*gs[:-3], gs[-3] // repeats, repeats, *gs[-2:]).sum(-3)
    return sum_to_shape(g, shape)


def _reduce_heads(array, repeats, shape):
    """``_sum_heads`` on arrays."""
    if repeats != 1:
        array = array.reshape(array.shape[:-3] + (array.shape[-3] // repeats, repeats)
                              + array.shape[-2:]).sum(axis=-3)
    return sum_array_to_shape(array, shape)


def _dropout_scale(shape, dropout_p, dtype):
    """Dropout on the attention weights as a constant array of kept-and-rescaled entries
    (0 or 1 / (1 - p)), or None without dropout."""
    if dropout_p <= 0:
        return None
    if dropout_p >= 1:
        return np.zeros(shape, dtype)
    keep = backend.default_generator.numpy.random(shape, dtype=dtype) >= dropout_p
    return np.multiply(keep, dtype.type(1 / (1 - dropout_p)), dtype=dtype)


def _gemm_and_softmax_ns(shape, e, ev, backward=False):
    """About how long one batch entry (first dim) of attention at ``shape`` takes: two
    GEMMs (four backward) and a few passes over the weights."""
    per_entry = math.prod(shape[1:])
    gemms = per_entry * (e + ev) * (2 if backward else 1)
    return gemm_ns(gemms) + pass_ns(per_entry, 6)


class _BatchRows:
    """Attention split over the first batch dim of its broadcast ``shape``: ``parallel_for(n,
    body, ...)`` runs ``body(lo, hi)`` on chunks of it (as conv does over images), and
    ``rows(a, lo, hi)`` is the part of an array a chunk reads or writes, the whole array where
    it broadcasts along that dim. Without batch dims there is one chunk (``n`` is 1)."""

    def __init__(self, shape):
        self.ndim = len(shape)
        self.n = shape[0] if self.ndim > 2 else 1

    def __call__(self, a, lo, hi):
        if self.ndim > 2 and a.ndim == self.ndim and a.shape[0] == self.n:
            return a[lo:hi]
        return a



class Attention(Function):
    """``softmax(q k^T * scale + mask) v``, with dropout on the attention weights.

    Inputs are query, key, value and an optional float additive mask (which may require
    grad); ``neg_mask`` is a constant additive array (0 or -inf) from a bool or causal
    mask; ``drop`` a constant array of kept-and-rescaled weights, or None.
    """

    keeps_inputs = True

    def forward(self, q, k, v, float_mask, neg_mask, scale, repeats, dropout_p):
        self.scale, self.repeats, self.neg_mask = scale, repeats, neg_mask
        dtype = q.dtype
        if dtype not in (np.float32, np.float64):  # half precision: GEMMs in float32
            q, k, v = q.astype(np.float32), k.astype(np.float32), v.astype(np.float32)
            float_mask = None if float_mask is None else float_mask.astype(np.float32)
        if repeats != 1:
            k, v = np.repeat(k, repeats, axis=-3), np.repeat(v, repeats, axis=-3)
        work = q.dtype.type
        masks = [m for m in (float_mask, neg_mask) if m is not None]
        shape = np.broadcast_shapes(np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
                                    + (q.shape[-2], k.shape[-2]), *(m.shape for m in masks))
        probs = np.empty(shape, q.dtype)
        # Laid out like q (NumPy's empty_like keeps its dim order): multi-head attention passes
        # heads as permuted views of (L, N, heads, head_dim), and results laid out the same
        # way permute back without a copy.
        out = np.empty_like(q, shape=shape[:-1] + v.shape[-1:])
        dead = np.empty(shape[:-1] + (1,), bool)
        self.drop = _dropout_scale(shape, dropout_p, q.dtype)
        rows = _BatchRows(shape)

        def chunk(lo, hi):
            p = rows(probs, lo, hi)
            qs, ks = rows(q, lo, hi), np.swapaxes(rows(k, lo, hi), -1, -2)
            if np.broadcast_shapes(qs.shape[:-2], ks.shape[:-2]) == p.shape[:-2]:
                np.matmul(qs * work(scale), ks, out=p)
            else:  # the masks broadcast the scores to more batch dims
                p[...] = np.matmul(qs * work(scale), ks)
            for mask in masks:
                p += rows(mask, lo, hi)
            peak = p.max(axis=-1, keepdims=True)
            # Rows where every key is masked attend to nothing (weights 0, output 0) as in
            # PyTorch's safe softmax, instead of the NaN of 0 / 0.
            d = rows(dead, lo, hi)
            np.isfinite(peak, out=d)
            np.logical_not(d, out=d)
            some_dead = d.any()
            if some_dead:
                peak[d] = 0
            p -= peak
            np.exp(p, out=p)
            total = p.sum(axis=-1, keepdims=True)
            if some_dead:
                total[d] = 1
            p /= total
            kept = p if self.drop is None else p * rows(self.drop, lo, hi)
            np.matmul(kept, rows(v, lo, hi), out=rows(out, lo, hi))

        parallel_for(rows.n, chunk, _gemm_and_softmax_ns(shape, q.shape[-1], v.shape[-1]))
        self.probs = probs
        self.dead = dead if dead.any() else None
        return out.astype(dtype, copy=False)

    def _weights(self, q, k, float_mask):
        """The attention weights recomputed differentiably from query and key."""
        from .linalg import matmul
        from .reduce import softmax

        scores = matmul(q * self.scale, _repeat_heads(k, self.repeats).transpose(-1, -2))
        if float_mask is not None:
            scores = scores + float_mask
        if self.neg_mask is not None:
            scores = scores + make_tensor(self.neg_mask.astype(q._data.dtype, copy=False))
        if self.dead is None:
            return softmax(scores, -1)
        dead = make_tensor(self.dead)
        zero = make_tensor(np.zeros((), q._data.dtype))
        return where(dead, zero, softmax(where(dead, zero, scores), -1))

    def backward(self, g):
        q, k, v, float_mask = self.saved_inputs
        if not _state.enabled:
            return self._backward_arrays(g._data, q, k, v, float_mask)
        return self._backward_graph(g, q, k, v, float_mask)

    def _backward_arrays(self, g, q, k, v, float_mask):
        """First-order backward (no graph recorded): the same formulas on arrays, in place
        on the few temporaries the size of the attention weights, split over the batch like
        the forward. Gradients are computed at the broadcast batch shape and summed down to
        each input's shape at the end."""
        dtype = q._data.dtype
        probs, drop = self.probs, self.drop
        shape = probs.shape
        work = probs.dtype
        g = g.astype(work, copy=False)
        qd, kd, vd = (t._data.astype(work, copy=False) for t in (q, k, v))
        if self.repeats != 1:
            kd, vd = np.repeat(kd, self.repeats, axis=-3), np.repeat(vd, self.repeats, axis=-3)
        need_q, need_k, need_v = (e is not None for e in self.next_edges[:3])
        need_mask = float_mask is not None and self.next_edges[3] is not None
        need_scores = need_q or need_k or need_mask
        batch = shape[:-2]
        # Each gradient laid out like its input (see the forward's output).
        gq = np.empty_like(qd, shape=shape[:-1] + qd.shape[-1:]) if need_q else None
        gk = np.empty_like(kd, shape=batch + kd.shape[-2:]) if need_k else None
        gv = np.empty_like(vd, shape=batch + vd.shape[-2:]) if need_v else None
        g_scores = np.empty(shape, work) if need_scores else None
        rows = _BatchRows(shape)
        scale = work.type(self.scale)

        def chunk(lo, hi):
            p, gc = rows(probs, lo, hi), rows(g, lo, hi)
            if need_v:
                kept = p if drop is None else p * rows(drop, lo, hi)
                np.matmul(np.swapaxes(kept, -1, -2), gc, out=rows(gv, lo, hi))
            if not need_scores:
                return
            gs = rows(g_scores, lo, hi)
            np.matmul(gc, np.swapaxes(rows(vd, lo, hi), -1, -2), out=gs)
            if drop is not None:
                gs *= rows(drop, lo, hi)
            # softmax backward: probs * (g - sum(g * probs)), the row sums without a temporary
            row = np.einsum("...ls,...ls->...l", gs, p)
            gs -= row[..., None]
            gs *= p
            if need_q:
                out = rows(gq, lo, hi)
                np.matmul(gs, rows(kd, lo, hi), out=out)
                out *= scale
            if need_k:
                out = rows(gk, lo, hi)
                np.matmul(np.swapaxes(gs, -1, -2), rows(qd, lo, hi), out=out)
                out *= scale

        parallel_for(rows.n, chunk,
                     _gemm_and_softmax_ns(shape, qd.shape[-1], vd.shape[-1], backward=True))
        grads = (None if gq is None else sum_array_to_shape(gq, q.shape),
                 None if gk is None else _reduce_heads(gk, self.repeats, k.shape),
                 None if gv is None else _reduce_heads(gv, self.repeats, v.shape),
                 sum_array_to_shape(g_scores, float_mask.shape) if need_mask else None)
        return tuple(None if a is None else make_tensor(a.astype(dtype, copy=False))
                     for a in grads)

    def _backward_graph(self, g, q, k, v, float_mask):
        """The backward in tessera operations, with the weights recomputed from query and key,
        so that the graph it records gives gradients of gradients."""
        from .linalg import matmul

        probs = self._weights(q, k, float_mask)
        drop = None if self.drop is None else make_tensor(self.drop.astype(g._data.dtype,
                                                                         copy=False))
        kept = probs if drop is None else probs * drop
        v_rep = _repeat_heads(v, self.repeats)
        gq = gk = gv = gmask = None
        if self.next_edges[2]:
            gv = _sum_heads(matmul(kept.transpose(-1, -2), g), self.repeats, v.shape)
        if self.next_edges[0] or self.next_edges[1] or self.next_edges[3]:
            g_probs = matmul(g, v_rep.transpose(-1, -2))
            if drop is not None:
                g_probs = g_probs * drop
            g_scores = probs * (g_probs - (g_probs * probs).sum(-1, keepdim=True))
            if self.next_edges[0]:
                k_rep = _repeat_heads(k, self.repeats)
                gq = sum_to_shape(matmul(g_scores, k_rep) * self.scale, q.shape)
            if self.next_edges[1]:
                gk = _sum_heads(matmul(g_scores.transpose(-1, -2), q) * self.scale,
                                self.repeats, k.shape)
            if float_mask is not None and self.next_edges[3]:
                gmask = sum_to_shape(g_scores, float_mask.shape)
        return gq, gk, gv, gmask


def _is_float(x):
    return x._data.dtype.kind == "f" or x._data.dtype == dtypes.bfloat16.np_dtype


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """``softmax(query @ key^T * scale + mask) @ value``, as PyTorch's.

    Args:
        attn_mask: bool (True = attend) or float (added to the scores), broadcastable to
            ``(..., L, S)``.
        dropout_p: dropout on the attention weights (tessera's default generator).
        is_causal: query i attends to keys j <= i (top-left aligned when L != S).
        scale: defaults to ``1 / sqrt(E)``.
        enable_gqa: key and value may have fewer heads (dim -3) than query, each shared
            by ``Hq / Hkv`` query heads.

    Shape: query ``(..., Hq, L, E)``, key ``(..., H, S, E)``, value ``(..., H, S, Ev)``;
    the result is ``(..., Hq, L, Ev)``.
    """
    op = "scaled_dot_product_attention"
    for t, name in ((query, "query"), (key, "key"), (value, "value")):
        check_tensor(t, op, name)
    q, k, v = query._data, key._data, value._data
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise RuntimeError(f"{op}: Expected query, key, and value to all be at least 2 "
                           f"dimensional, but got query.dim: {q.ndim} key.dim: {k.ndim} and "
                           f"value.dim: {v.ndim} instead.")
    if not (q.dtype == k.dtype == v.dtype) or not _is_float(query):
        raise RuntimeError(f"{op}: Expected query, key, and value to have the same floating "
                           f"point dtype, but got query.dtype: {query.dtype} key.dtype: "
                           f"{key.dtype} and value.dtype: {value.dtype} instead.")
    if k.shape[-1] != q.shape[-1]:
        raise RuntimeError(f"{op}: query and key must have the same embedding size (last dim), "
                           f"got query of shape {tuple(q.shape)} and key of shape "
                           f"{tuple(k.shape)}")
    if v.shape[-2] != k.shape[-2]:
        raise RuntimeError(f"{op}: key and value must have the same sequence length (dim -2), "
                           f"got key of shape {tuple(k.shape)} and value of shape "
                           f"{tuple(v.shape)}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got "
                         f"{dropout_p}")
    repeats = 1
    if enable_gqa and q.ndim >= 3 and k.ndim >= 3 and q.shape[-3] != k.shape[-3]:
        hq, hk, hv = q.shape[-3], k.shape[-3], v.shape[-3]
        if hk != hv or hq % hk:
            raise RuntimeError(f"{op}: Number of heads in key and value must divide the number "
                               f"of heads in query (enable_gqa=True), got query heads {hq}, key "
                               f"heads {hk} and value heads {hv}")
        repeats = hq // hk
    batch_k = k.shape[:-3] + ((k.shape[-3] * repeats,) if k.ndim >= 3 else ())
    batch_v = v.shape[:-3] + ((v.shape[-3] * repeats,) if v.ndim >= 3 else ())
    try:
        batch = np.broadcast_shapes(q.shape[:-2], batch_k, batch_v)
    except ValueError:
        raise RuntimeError(f"{op}: the batch dims of query {tuple(q.shape)}, key "
                           f"{tuple(k.shape)} and value {tuple(v.shape)} (all but the last two, "
                           f"heads repeated {repeats}x for GQA) cannot be broadcast together"
                           ) from None
    L, S = q.shape[-2], k.shape[-2]
    scores_shape = tuple(batch) + (L, S)
    float_mask = neg_mask = None
    if attn_mask is not None:
        if is_causal:
            raise RuntimeError(f"{op}: Explicit attn_mask should not be set when is_causal=True")
        check_tensor(attn_mask, op, "attn_mask")
        mask = attn_mask._data
        broadcast_shapes(op, mask.shape, scores_shape)
        if mask.dtype == np.bool_:
            neg_mask = np.where(mask, q.dtype.type(0), q.dtype.type(-np.inf))
        elif mask.dtype == q.dtype:
            float_mask = attn_mask
        else:
            raise RuntimeError(f"{op}: Expected attn_mask dtype to be bool or to match query "
                               f"dtype, but got attn_mask.dtype: {attn_mask.dtype} and "
                               f"query.dtype: {query.dtype} instead.")
    elif is_causal:
        allowed = np.tri(L, S, dtype=bool)
        neg_mask = np.where(allowed, q.dtype.type(0), q.dtype.type(-np.inf))
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else 1.0
    return Attention.apply(query, key, value, float_mask, neg_mask=neg_mask, scale=float(scale),
                           repeats=repeats, dropout_p=float(dropout_p))
