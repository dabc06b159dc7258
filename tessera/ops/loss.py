"""Loss functions, as ``torch.nn.functional``'s.

Cross-entropy and NLL are fused operators (the log-softmax, the class gather and the
reduction in one forward; one backward). The other losses are composed from
differentiable elementwise operators and reductions, so they need no backward of their own.
"""

import math
import warnings

import numpy as np

from ..autograd import grad_mode
from ..autograd.function import Function
from ..backend import dtypes
from ._util import broadcast_shapes, check_tensor, make_tensor, promote_operands, wrap_dim
from .activation import logsigmoid, softplus
from .elementwise import clamp, eq, exp, gt, log, lt, minimum, ne, where, zeros_scalar
from .reduce import norm as vector_norm

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
           "cosine_similarity", "pairwise_distance", "margin_ranking_loss",
           "hinge_embedding_loss", "soft_margin_loss", "cosine_embedding_loss",
           "poisson_nll_loss", "gaussian_nll_loss", "triplet_margin_loss",
           "multilabel_soft_margin_loss", "triplet_margin_with_distance_loss"]

_state = grad_mode.state
_REDUCTIONS = ("none", "mean", "sum")


# == reductions ===================================================================================

def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's deprecated ``size_average``/``reduce`` flags, when given, decide the reduction."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _check_reduction(reduction, op):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: {reduction} is not a valid value for reduction (expected "
                         f"'none', 'mean' or 'sum')")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _float_pair(input, target, op):
    """Input and target as float Tensors of one dtype (PyTorch's promotion)."""
    check_tensor(input, op)
    check_tensor(target, op, "target")
    input, target = promote_operands(op, input, target)
    if not input.is_floating_point():
        input = input.to(dtypes.get_default_dtype())
        target = target.to(dtypes.get_default_dtype())
    return input, target


def _warn_size(input, target, op):
    if input.shape != target.shape:
        warnings.warn(f"{op}: Using a target size ({tuple(target.shape)}) that is different to "
                      f"the input size ({tuple(input.shape)}). This will likely lead to incorrect "
                      "results due to broadcasting. Please ensure they have the same size.",
                      stacklevel=3)
        broadcast_shapes(op, input._data.shape, target._data.shape)


def _weighted(loss, weight, op, input):
    """``loss * weight`` for the optional per-element weight of mse, l1 and huber."""
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{op}: Weights and input must have the same size, got weight of shape "
                         f"{tuple(weight.shape)} and input of shape {tuple(input.shape)}")
    return loss * weight


# == cross-entropy and negative log-likelihood ====================================================

def _class_dim(input, op):
    ndim = input._data.ndim
    if ndim == 0:
        raise ValueError(f"{op}: expected an input of shape (C,), (N, C) or (N, C, d1, ...), got "
                         "a 0-d tensor")
    return 0 if ndim == 1 else 1


def _check_index_target(input, target, cdim, ignore_index, op):
    """Class-index targets: int64 (or uint8) of the input's shape without the class dim;
    every entry in [0, C) or equal to ``ignore_index``. Returns the target array."""
    t = target._data
    if t.dtype not in (np.int64, np.uint8):
        raise RuntimeError(f"{op}: expected target dtype to be int64 (Long) or uint8 (Byte) for "
                           f"class indices, but got {target.dtype} (a float target must have the "
                           f"input's shape {tuple(input.shape)} to be read as class "
                           f"probabilities; got {tuple(target.shape)})")
    shape = input._data.shape
    if cdim == 0:
        if t.ndim > 1 or t.size != 1:
            raise RuntimeError(f"{op}: 0D or 1D target tensor expected, multi-target not "
                               f"supported (input of shape {tuple(shape)}, target of shape "
                               f"{tuple(t.shape)})")
        t = t.reshape(())
    elif len(shape) == 2:
        if t.ndim != 1:
            raise RuntimeError(f"{op}: 0D or 1D target tensor expected, multi-target not "
                               f"supported (input of shape {tuple(shape)}, target of shape "
                               f"{tuple(t.shape)})")
        if t.shape[0] != shape[0]:
            raise ValueError(f"{op}: Expected input batch_size ({shape[0]}) to match target "
                             f"batch_size ({t.shape[0]}).")
    elif t.shape != shape[:1] + shape[2:]:
        raise RuntimeError(f"{op}: Expected target size {list(shape[:1] + shape[2:])}, got "
                           f"{list(t.shape)} (input of shape {tuple(shape)})")
    t = t.astype(np.int64, copy=False)
    classes = shape[cdim]
    bad = ((t < 0) | (t >= classes)) & (t != ignore_index)
    if bad.any():
        raise IndexError(f"{op}: Target {int(t[bad].flat[0])} is out of bounds (expected class "
                         f"indices in [0, {classes}) for an input of shape {tuple(shape)}).")
    return t


def _class_weight(weight, input, cdim, op):
    """The per-class weight as an array of the input's dtype, or None."""
    if weight is None:
        return None
    check_tensor(weight, op, "weight")
    classes = input._data.shape[cdim]
    if weight._data.ndim != 1 or weight._data.size != classes:
        raise RuntimeError(f"{op}: weight tensor should be defined either for all {classes} "
                           f"classes or no classes but got weight tensor of shape: "
                           f"{list(weight.shape)}")
    return weight._data.astype(input._data.dtype, copy=False)


def _index_weights(t, weight, ignore_index, dtype):
    """Per-sample weight ``weight[target]`` (1 without weight), 0 where the target is ignored,
    and the targets with ignored entries replaced by class 0 (safe to gather)."""
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    if weight is None:
        return valid.astype(dtype), safe
    return weight[safe] * valid, safe


class CrossEntropy(Function):
    """Log-softmax over the class dim and the (weighted, smoothed) NLL, fused.

    Every variant is ``loss_i = -sum_c a_ic * log_softmax(x)_ic``, reduced: for class-index
    targets ``a`` is the (smoothed) one-hot weight; for probability targets ``a = w_c * t_ic``.
    Its gradient is ``p_ic * sum_c a_ic - a_ic`` per loss element (p the softmax).
    """

    keeps_inputs = True

    def forward(self, x, prob_target, cdim, index_target, weight, ignore_index, reduction,
                smoothing):
        self.cdim, self.index_target, self.weight = cdim, index_target, weight
        self.ignore_index, self.reduction, self.smoothing = ignore_index, reduction, smoothing
        dtype = x.dtype
        if dtype not in (np.float32, np.float64):  # half precision: compute in float32
            x = x.astype(np.float32)
            prob_target = None if prob_target is None else prob_target.astype(np.float32)
        classes = x.shape[cdim]
        peak = x.max(axis=cdim, keepdims=True)
        shifted = x - peak
        p = np.exp(shifted)
        total = p.sum(axis=cdim, keepdims=True)
        p /= total
        log_total = np.log(total)
        self.p, self.peak, self.log_total = p, peak, log_total
        log_total = np.squeeze(log_total, cdim)
        # One-hot targets with no class weight, smoothing or ignored entry: the common case,
        # with fewer array calls forward and backward.
        self.one_hot = index_target is not None and weight is None and not smoothing and \
            not (index_target == ignore_index).any()
        if self.one_hot:
            picked = np.take_along_axis(shifted, np.expand_dims(index_target, cdim), cdim)
            loss = log_total - np.squeeze(picked, cdim)
            self.denominator = loss.size
        elif index_target is not None:
            wt, safe = _index_weights(index_target, weight, ignore_index, x.dtype)
            picked = np.squeeze(np.take_along_axis(shifted, np.expand_dims(safe, cdim), cdim),
                                cdim)
            loss = wt * (log_total - picked)
            if smoothing:
                # -sum_c w_c log p_c = sum_c w_c (log(total) - shifted_c)
                if weight is None:
                    smooth = log_total * classes - shifted.sum(axis=cdim)
                else:
                    smooth = log_total * weight.sum() - (shifted * self._weight_view(
                        x.ndim)).sum(axis=cdim)
                smooth *= index_target != ignore_index
                loss = loss * (1 - smoothing) + smooth * (smoothing / classes)
            self.denominator = wt.sum()
        else:
            coef = self._prob_coefficients(prob_target, x.ndim, classes)
            loss = coef.sum(axis=cdim) * log_total - (coef * shifted).sum(axis=cdim)
            self.denominator = x.size // classes if x.size else np.nan
        loss = np.asarray(loss, dtype=x.dtype)
        if reduction != "none":
            with np.errstate(invalid="ignore", divide="ignore"):
                loss = loss.sum(dtype=x.dtype)
                if reduction == "mean":
                    loss = loss / x.dtype.type(self.denominator)
        return np.asarray(loss, dtype=dtype)

    def _weight_view(self, ndim):
        """The class weight shaped to broadcast along the class dim."""
        return self.weight.reshape((-1,) + (1,) * (ndim - self.cdim - 1))

    def _prob_coefficients(self, target, ndim, classes):
        """``a = w_c * smoothed target`` (arrays or Tensors alike)."""
        if self.smoothing:
            target = target * (1 - self.smoothing) + self.smoothing / classes
        if self.weight is None:
            return target
        w = self._weight_view(ndim)
        return target * (w if isinstance(target, np.ndarray) else make_tensor(w))

    def _index_coefficients(self, shape, dtype):
        """The dense ``a`` of class-index targets (one-hot weights plus smoothing)."""
        cdim, classes = self.cdim, shape[self.cdim]
        wt, safe = _index_weights(self.index_target, self.weight, self.ignore_index, dtype)
        a = np.zeros(shape, dtype)
        np.put_along_axis(a, np.expand_dims(safe, cdim),
                          np.expand_dims(wt * (1 - self.smoothing), cdim), cdim)
        if self.smoothing:
            w = np.ones(classes, dtype) if self.weight is None else self.weight
            valid = np.expand_dims(self.index_target != self.ignore_index, cdim)
            a += w.reshape((-1,) + (1,) * (len(shape) - cdim - 1)) * valid * (
                self.smoothing / classes)
        return a

    def _loss_grad(self, g):
        """The gradient of each unreduced loss element, broadcastable against the input."""
        if self.reduction == "none":
            return g.unsqueeze(self.cdim)
        if self.reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                return g / g._data.dtype.type(self.denominator)
        return g

    def backward(self, g):
        x, prob_target = self.saved_inputs
        scale = self._loss_grad(g)
        cdim = self.cdim
        dtype = x._data.dtype
        if _state.enabled:
            # Recording a graph (double backward): the softmax is recomputed differentiably.
            from .reduce import log_softmax

            logp = log_softmax(x, cdim)
            if prob_target is None:
                a = make_tensor(self._index_coefficients(x._data.shape, dtype))
            else:
                a = self._prob_coefficients(prob_target, x._data.ndim, x._data.shape[cdim])
            gx = (exp(logp) * a.sum(dim=cdim, keepdim=True) - a) * scale
            gt = None
            if prob_target is not None and self.next_edges[1]:
                w = logp if self.weight is None else logp * make_tensor(self._weight_view(
                    x._data.ndim))
                gt = -(w * scale) * (1 - self.smoothing)
            return gx, gt
        s = scale._data
        p = self.p
        if prob_target is None:
            return make_tensor(self._index_grad_arrays(s).astype(dtype, copy=False)), None
        a = self._prob_coefficients(prob_target._data.astype(p.dtype, copy=False), p.ndim,
                                    p.shape[cdim])
        gx = p * a.sum(axis=cdim, keepdims=True)
        gx -= a
        gx *= s
        gt = None
        if prob_target is not None and self.next_edges[1]:
            logp = x._data - self.peak
            logp -= self.log_total
            if self.weight is not None:
                logp *= self._weight_view(p.ndim)
            logp *= s * -(1 - self.smoothing)
            gt = make_tensor(logp.astype(prob_target._data.dtype, copy=False))
        return make_tensor(gx.astype(dtype, copy=False)), gt


    def _index_grad_arrays(self, s):
        """``s * (p * A - a)`` for class-index targets without building the dense ``a``:
        its smoothing part is a per-class row, its one-hot part is scattered at the targets."""
        p, cdim, smoothing = self.p, self.cdim, self.smoothing
        classes, dtype = p.shape[cdim], p.dtype
        if self.one_hot:  # s * (p - onehot)
            gx = p * s
            index = np.expand_dims(self.index_target, cdim)
            picked = np.take_along_axis(gx, index, cdim)
            picked -= s
            np.put_along_axis(gx, index, picked, cdim)
            return gx
        wt, safe = _index_weights(self.index_target, self.weight, self.ignore_index, dtype)
        valid = self.index_target != self.ignore_index
        total = wt * (1 - smoothing)  # A, the sum over classes of a
        if smoothing:
            weight_sum = classes if self.weight is None else self.weight.sum()
            total = total + valid * (smoothing / classes * weight_sum)
        gx = p * np.expand_dims(total.astype(dtype, copy=False), cdim)
        if smoothing:
            w = np.full(classes, dtype.type(smoothing / classes), dtype) if self.weight is None \
                else self.weight * dtype.type(smoothing / classes)
            gx -= w.reshape((-1,) + (1,) * (p.ndim - cdim - 1))
            gx *= np.expand_dims(valid, cdim)  # ignored samples: no smoothing term either
        index = np.expand_dims(safe, cdim)
        picked = np.take_along_axis(gx, index, cdim)
        picked -= np.expand_dims(wt * (1 - smoothing), cdim).astype(dtype, copy=False)
        np.put_along_axis(gx, index, picked, cdim)
        gx *= s
        return gx


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits ``input`` and class indices or class probabilities.

    Shape: input ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``; target of class indices
    (int64) of the input's shape without C, or of class probabilities (float) of the
    input's shape.
    """
    op = "cross_entropy"
    check_tensor(input, op)
    check_tensor(target, op, "target")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    if not input.is_floating_point():
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"{op}: label_smoothing must be between 0.0 and 1.0. Got: "
                           f"{label_smoothing}")
    cdim = _class_dim(input, op)
    if target.shape == input.shape:
        if not target.is_floating_point():
            raise RuntimeError(f"{op}: Expected floating point type for target with class "
                               f"probabilities, got {target.dtype}")
        if ignore_index >= 0:
            raise RuntimeError(f"{op}: ignore_index is not supported for floating point target")
        input, target = promote_operands(op, input, target)
        w = _class_weight(weight, input, cdim, op)
        return CrossEntropy.apply(input, target, cdim=cdim, index_target=None, weight=w,
                                  ignore_index=ignore_index, reduction=reduction,
                                  smoothing=float(label_smoothing))
    t = _check_index_target(input, target, cdim, ignore_index, op)
    w = _class_weight(weight, input, cdim, op)
    return CrossEntropy.apply(input, None, cdim=cdim, index_target=t, weight=w,
                              ignore_index=ignore_index, reduction=reduction,
                              smoothing=float(label_smoothing))


class NLLLoss(Function):
    """``-weight[t] * input[t]`` at the target classes, reduced; linear in the input."""

    def forward(self, x, cdim, index_target, weight, ignore_index, reduction):
        self.cdim, self.shape, self.reduction = cdim, x.shape, reduction
        wt, safe = _index_weights(index_target, weight, ignore_index, x.dtype)
        self.wt, self.safe = wt, safe
        loss = -wt * np.squeeze(np.take_along_axis(x, np.expand_dims(safe, cdim), cdim), cdim)
        loss = np.asarray(loss, dtype=x.dtype)
        self.denominator = wt.sum()
        if reduction == "none":
            return loss
        with np.errstate(invalid="ignore", divide="ignore"):
            total = loss.sum(dtype=x.dtype)
            if reduction == "mean":
                total = total / x.dtype.type(self.denominator)
        return np.asarray(total, dtype=x.dtype)

    def backward(self, g):
        cdim = self.cdim
        coef = np.zeros(self.shape, g._data.dtype)
        np.put_along_axis(coef, np.expand_dims(self.safe, cdim),
                          np.expand_dims(-self.wt, cdim).astype(g._data.dtype), cdim)
        if self.reduction == "none":
            return make_tensor(coef) * g.unsqueeze(cdim)
        if self.reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                g = g / g._data.dtype.type(self.denominator)
        return make_tensor(coef) * g


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of class indices under log-probabilities ``input``.

    Shape: input ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``; target (int64) of the input's
    shape without C.
    """
    op = "nll_loss"
    check_tensor(input, op)
    check_tensor(target, op, "target")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    if not input.is_floating_point():
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")
    cdim = _class_dim(input, op)
    t = _check_index_target(input, target, cdim, ignore_index, op)
    w = _class_weight(weight, input, cdim, op)
    return NLLLoss.apply(input, cdim=cdim, index_target=t, weight=w, ignore_index=ignore_index,
                         reduction=reduction)


# == regression losses ============================================================================

class MSELoss(Function):
    """``(input - target)^2`` reduced, for an input and target of one shape: the difference is
    kept for backward and the sum is one dot product (the composite form is six operators,
    and as many passes over the data forward and backward)."""

    keeps_inputs = True

    def forward(self, x, t, reduction):
        self.reduction = reduction
        self.diff = diff = np.subtract(x, t)
        if reduction == "none":
            return diff * diff
        flat = diff.reshape(-1)
        total = np.asarray(np.dot(flat, flat), dtype=x.dtype)
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):  # empty: NaN, as PyTorch
                total = total / x.dtype.type(flat.size)
        return np.asarray(total, dtype=x.dtype)

    def release(self):
        super().release()
        self.diff = None

    def backward(self, g):
        x, t = self.saved_inputs
        n = max(self.diff.size, 1) if self.reduction == "mean" else 1
        if _state.enabled:  # recorded for double backward: the same formula in operators
            gx = (x - t) * (g * (2 / n))
        else:
            gx = self.diff * (g._data * g._data.dtype.type(2 / n))
            gx = make_tensor(gx.astype(x._data.dtype, copy=False))
        return gx, (-gx if self.next_edges[1] is not None else None)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error ``(input - target)^2``, reduced; ``weight`` scales each element."""
    op = "mse_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    input, target = _float_pair(input, target, op)
    _warn_size(input, target, op)
    if weight is None and input.shape == target.shape:
        return MSELoss.apply(input, target, reduction=reduction)
    diff = input - target
    loss = diff * diff
    if weight is None:
        return _reduce(loss, reduction)
    loss = _weighted(loss, weight, op, input)
    return loss.sum() / weight.sum() if reduction == "mean" else _reduce(loss, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error ``|input - target|``, reduced; ``weight`` scales each element."""
    op = "l1_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    input, target = _float_pair(input, target, op)
    _warn_size(input, target, op)
    loss = (input - target).abs()
    if weight is None:
        return _reduce(loss, reduction)
    loss = _weighted(loss, weight, op, input)
    return loss.sum() / weight.sum() if reduction == "mean" else _reduce(loss, reduction)


def _huber(diff, delta):
    """``0.5 d^2`` inside ``|d| < delta``, ``delta * (|d| - 0.5 delta)`` outside."""
    a = diff.abs()
    inside = lt(a, delta)
    return where(inside, diff * diff * 0.5, (a - 0.5 * delta) * delta)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Squared error below ``beta`` (divided by ``beta``), absolute error above."""
    op = "smooth_l1_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    if beta < 0:
        raise RuntimeError(f"{op}: smooth_l1_loss does not support negative values for beta, "
                           f"got {beta}")
    input, target = _float_pair(input, target, op)
    _warn_size(input, target, op)
    diff = input - target
    if beta == 0:
        return _reduce(diff.abs(), reduction)
    return _reduce(_huber(diff, beta) * (1.0 / beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """Squared error below ``delta``, ``delta``-scaled absolute error above."""
    op = "huber_loss"
    _check_reduction(reduction, op)
    if delta <= 0:
        raise RuntimeError(f"{op}: huber_loss does not support non-positive values for delta, "
                           f"got {delta}")
    input, target = _float_pair(input, target, op)
    _warn_size(input, target, op)
    loss = _huber(input - target, delta)
    if weight is not None:
        loss = _weighted(loss, weight, op, input)
    return _reduce(loss, reduction)


# == binary classification ========================================================================

def _check_same_size(input, target, op):
    if input.shape != target.shape:
        raise ValueError(f"{op}: Using a target size ({tuple(target.shape)}) that is different to "
                         f"the input size ({tuple(input.shape)}) is deprecated. Please ensure "
                         "they have the same size.")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """``-w * (t log x + (1 - t) log(1 - x))`` for probabilities ``x``; each log is clamped
    at -100 so that certain wrong answers give a finite loss, as in PyTorch."""
    op = "binary_cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    check_tensor(input, op)
    check_tensor(target, op, "target")
    _check_same_size(input, target, op)
    input, target = _float_pair(input, target, op)
    data = input._data
    if data.size and (data.min() < 0 or data.max() > 1):
        raise RuntimeError(f"{op}: all elements of input should be between 0 and 1")
    loss = -(target * clamp(log(input), min=-100) + (1 - target) * clamp(log(1 - input),
                                                                          min=-100))
    if weight is not None:
        broadcast_shapes(op, weight._data.shape, target._data.shape)
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Binary cross-entropy on logits, stable for any magnitude:
    ``(1 - t) x + (1 + (pos_weight - 1) t) * softplus(-x)``, times ``weight``."""
    op = "binary_cross_entropy_with_logits"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    check_tensor(input, op)
    check_tensor(target, op, "target")
    if input.shape != target.shape:
        raise ValueError(f"{op}: Target size ({tuple(target.shape)}) must be the same as input "
                         f"size ({tuple(input.shape)})")
    input, target = _float_pair(input, target, op)
    neg_log_sigmoid = softplus(-input)
    if pos_weight is None:
        loss = (1 - target) * input + neg_log_sigmoid
    else:
        loss = (1 - target) * input + ((pos_weight - 1) * target + 1) * neg_log_sigmoid
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Kullback-Leibler divergence ``target * (log(target) - input)`` for log-probabilities
    ``input``; ``reduction="batchmean"`` divides the sum by the batch size."""
    op = "kl_div"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"{op}: {reduction} is not a valid value for reduction (expected "
                         "'none', 'batchmean', 'mean' or 'sum')")
    if reduction == "mean" and size_average is None and reduce is None:
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", stacklevel=2)
    input, target = _float_pair(input, target, op)
    if log_target:
        loss = exp(target) * (target - input)
    else:
        # xlogy(t, t): 0 where t == 0 (log is taken of 1 there, so no NaN reaches the gradient)
        zero = eq(target, 0)
        loss = target * log(where(zero, 1.0, target)) - target * input
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.ndim else total
    return _reduce(loss, reduction)


# == similarity and distance ======================================================================

def _clamped_value(norm, eps):
    """``norm`` with its value clamped at ``eps`` but its gradient unclamped, which is what
    PyTorch's in-place clamp under no_grad in cosine_similarity amounts to."""
    value = norm.detach()
    return norm + (clamp(value, min=eps) - value)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps))`` along ``dim`` (PyTorch 2.x formula:
    each input is divided by its own norm first); inputs broadcast."""
    op = "cosine_similarity"
    x1, x2 = _float_pair(x1, x2, op)
    shape = broadcast_shapes(op, x1._data.shape, x2._data.shape)
    x1, x2 = x1.expand(*shape), x2.expand(*shape)
    dim = wrap_dim(dim, len(shape), op)
    n1 = _clamped_value(vector_norm(x1, 2, dim, keepdim=True), eps)
    n2 = _clamped_value(vector_norm(x2, 2, dim, keepdim=True), eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``||x1 - x2 + eps||_p`` along the last dim."""
    op = "pairwise_distance"
    x1, x2 = _float_pair(x1, x2, op)
    ndim = max(x1._data.ndim, x2._data.ndim)
    diff = x1 - x2 + eps
    if ndim == 0:
        return diff.abs()
    return vector_norm(diff, p, -1, keepdim=keepdim)


# == margin and ranking losses ====================================================================

def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    """``max(0, -target * (input1 - input2) + margin)``, target of +1 or -1."""
    op = "margin_ranking_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError(f"{op} : All input tensors should have same dimension but got sizes: "
                           f"input1: {tuple(input1.shape)}, input2: {tuple(input2.shape)}, "
                           f"target: {tuple(target.shape)} ")
    return _reduce(clamp(-target * (input1 - input2) + margin, min=0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """``x`` where target is 1, ``max(0, margin - x)`` where target is -1 (summed where a
    target is neither, as PyTorch)."""
    op = "hinge_embedding_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    input, target = _float_pair(input, target, op)
    zero = zeros_scalar(input)
    margin_part = where(ne(target, 1), clamp(margin - input, min=0), zero)
    self_part = where(ne(target, -1), input, zero)
    return _reduce(margin_part + self_part, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """``log(1 + exp(-target * input))``, target of +1 or -1."""
    op = "soft_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    input, target = _float_pair(input, target, op)
    return _reduce(softplus(-(input * target)), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    """``1 - cos(x1, x2)`` where target is 1, ``max(0, cos(x1, x2) - margin)`` where it is -1.

    Shape: inputs ``(N, D)`` with target ``(N,)``, or ``(D,)`` with a 0-d target.
    """
    op = "cosine_embedding_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    input1, input2 = _float_pair(input1, input2, op)
    ndim = input1._data.ndim
    if ndim not in (1, 2) or target._data.ndim != ndim - 1:
        raise RuntimeError(f"{op}: expected inputs of shape (N, D) with a target of shape (N,), "
                           f"or (D,) with a 0-d target; got {tuple(input1.shape)}, "
                           f"{tuple(input2.shape)} and target {tuple(target.shape)}")
    dim = ndim - 1
    prod = (input1 * input2).sum(dim)
    mag1 = (input1 * input1).sum(dim) + 1e-12
    mag2 = (input2 * input2).sum(dim) + 1e-12
    cos = prod / (mag1 * mag2).sqrt()
    zero = zeros_scalar(cos)
    pos = where(eq(target, 1), 1 - cos, zero)
    neg = where(eq(target, -1), clamp(cos - margin, min=0), zero)
    return _reduce(pos + neg, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with pairwise_distance;
    ``swap`` uses the smaller of d(anchor, negative) and d(positive, negative)."""
    op = "triplet_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    ndims = {anchor.ndim, positive.ndim, negative.ndim}
    if len(ndims) != 1:
        raise RuntimeError(f"{op}: The anchor, positive, and negative tensors are expected to "
                           f"have the same number of dimensions, but got: anchor "
                           f"{anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(clamp(d_pos - d_neg + margin, min=0), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """Per-class binary cross-entropy on logits, averaged over the classes (last dim)."""
    op = "multilabel_soft_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    input, target = _float_pair(input, target, op)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.ndim - 1
    loss = loss.sum(class_dim) / input.shape[class_dim]
    return _reduce(loss, reduction)


# == likelihood losses ============================================================================

def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Negative log-likelihood of ``target`` under a Poisson of rate ``exp(input)`` (or
    ``input`` when ``log_input=False``); ``full`` adds Stirling's term for targets > 1."""
    op = "poisson_nll_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    input, target = _float_pair(input, target, op)
    if log_input:
        loss = exp(input) - target * input
    else:
        loss = input - target * log(input + eps)
    if full:
        t = target.detach()
        big = gt(t, 1)
        safe = where(big, t, 1)
        stirling = safe * log(safe) - safe + log(safe * (2 * math.pi)) * 0.5
        loss = loss + where(big, stirling, zeros_scalar(stirling))
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Negative log-likelihood of ``target`` under a Gaussian of mean ``input`` and variance
    ``var`` (clamped at ``eps``): ``0.5 * (log(var) + (input - target)^2 / var)``."""
    op = "gaussian_nll_loss"
    input, target = _float_pair(input, target, op)
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError(f"{op}: var has negative entry/entries")
        var = make_tensor(np.full(input._data.shape, var, dtype=input._data.dtype))
    else:
        check_tensor(var, op, "var")
        if var._data.size and var._data.min() < 0:
            raise ValueError(f"{op}: var has negative entry/entries")
    if var.shape != input.shape:
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and sum(
                y for x, y in zip(input.shape, var.shape) if x != y) == 1):
            raise ValueError(f"{op}: var is of incorrect size: got var of shape "
                             f"{tuple(var.shape)} for input of shape {tuple(input.shape)}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: {reduction} is not valid")
    # PyTorch clamps var in place under no_grad: the value is clamped, the gradient is not.
    var = _clamped_value(var, eps) if var._data.size else var
    diff = input - target
    loss = (log(var) + diff * diff / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """Triplet loss with any distance function (pairwise_distance by default)."""
    distance = distance_function if distance_function is not None else pairwise_distance
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = minimum(d_neg, distance(positive, negative))
    loss = clamp(margin + d_pos - d_neg, min=0.0)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")
