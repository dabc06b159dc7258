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
from ..autograd.function import Function, sum_to_shape
from ..backend import dtypes
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


def _sum_to(array, shape):
    """Sum an array down to ``shape`` (undo broadcasting), as ``sum_to_shape`` on arrays."""
    shape = tuple(shape)
    if array.shape == shape:
        return array
    lead = array.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and array.shape[i + lead] != 1)
    return array.sum(axis=axes, keepdims=True).reshape(shape)


def _reduce_heads(array, repeats, shape):
    """``_sum_heads`` on arrays."""
    if repeats != 1:
        array = array.reshape(array.shape[:-3] + (array.shape[-3] // repeats, repeats)
                              + array.shape[-2:]).sum(axis=-3)
    return _sum_to(array, shape)


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
        scores = np.matmul(q * work(scale), np.swapaxes(k, -1, -2))
        for mask in (float_mask, neg_mask):
            if mask is not None:
                # In place unless the mask broadcasts the scores to more batch dims.
                if np.broadcast_shapes(scores.shape, mask.shape) == scores.shape:
                    scores += mask
                else:
                    scores = scores + mask
        peak = scores.max(axis=-1, keepdims=True)
        # Rows where every key is masked attend to nothing (weights 0, output 0) as in
        # PyTorch's safe softmax, instead of the NaN of 0 / 0.
        dead = ~np.isfinite(peak)
        self.dead = dead if dead.any() else None
        if self.dead is not None:
            peak[dead] = 0
        scores -= peak
        probs = np.exp(scores, out=scores)
        total = probs.sum(axis=-1, keepdims=True)
        if self.dead is not None:
            total[dead] = 1
        probs /= total
        self.probs = probs
        self.drop = None
        if dropout_p > 0:
            if dropout_p >= 1:
                self.drop = np.zeros(probs.shape, probs.dtype)
            else:
                keep = backend.default_generator.numpy.random(probs.shape, dtype=probs.dtype) \
                    >= dropout_p
                self.drop = np.multiply(keep, work(1 / (1 - dropout_p)), dtype=probs.dtype)
            probs = probs * self.drop
        return np.matmul(probs, v).astype(dtype, copy=False)

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
        on the few temporaries the size of the attention weights."""
        dtype = q._data.dtype
        probs = self.probs
        work = probs.dtype
        g = g.astype(work, copy=False)
        qd, kd, vd = (t._data.astype(work, copy=False) for t in (q, k, v))
        if self.repeats != 1:
            kd, vd = np.repeat(kd, self.repeats, axis=-3), np.repeat(vd, self.repeats, axis=-3)
        gq = gk = gv = gmask = None
        if self.next_edges[2]:
            kept = probs if self.drop is None else probs * self.drop
            gv = _reduce_heads(np.matmul(np.swapaxes(kept, -1, -2), g), self.repeats, v.shape)
        if self.next_edges[0] or self.next_edges[1] or self.next_edges[3]:
            g_scores = np.matmul(g, np.swapaxes(vd, -1, -2))
            if self.drop is not None:
                g_scores *= self.drop
            # softmax backward: probs * (g - sum(g * probs)), the row sums without a temporary
            row = np.einsum("...ls,...ls->...l", g_scores, probs)
            g_scores -= row[..., None]
            g_scores *= probs
            if self.next_edges[0]:
                gq = _sum_to(np.matmul(g_scores, kd) * work.type(self.scale), q.shape)
            if self.next_edges[1]:
                gk = _reduce_heads(np.matmul(np.swapaxes(g_scores, -1, -2), qd)
                                   * work.type(self.scale), self.repeats, k.shape)
            if float_mask is not None and self.next_edges[3]:
                gmask = _sum_to(g_scores, float_mask.shape)
        return tuple(None if a is None else make_tensor(a.astype(dtype, copy=False))
                     for a in (gq, gk, gv, gmask))

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
