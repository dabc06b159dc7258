"""RMSprop: gradients scaled by a running root mean square, optionally centered."""

from ..backend import get_array_module
from .optimizer import Optimizer, _check_common, _decay_square_, _lerp_

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    ``v = alpha * v + (1 - alpha) * g**2``; the denominator is ``sqrt(v) + eps`` (centered:
    ``sqrt(v - mean(g)**2) + eps``); then ``p -= lr * g / denom``, or with momentum
    ``b = momentum * b + g / denom`` and ``p -= lr * b``.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the running mean of squares (default 0.99).
        eps: added to the denominator for stability (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        momentum: momentum factor (default 0).
        centered: normalize by an estimate of the gradient's variance (default False).
        capturable, foreach: accepted for PyTorch compatibility.
        maximize: maximize the objective instead of minimizing it (default False).
        differentiable: must be False.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        _check_common("RMSprop", lr, eps, weight_decay, differentiable=differentiable)
        if not 0.0 <= momentum:
            raise ValueError(f"RMSprop: invalid momentum value: {momentum} "
                             "(expected momentum >= 0)")
        if not 0.0 <= alpha:
            raise ValueError(f"RMSprop: invalid alpha value: {alpha} (expected alpha >= 0)")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay,
                    "capturable": capturable, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["square_avg"] = self._zeros_state(p)
        if group["momentum"] > 0:
            state["momentum_buffer"] = self._zeros_state(p)
        if group["centered"]:
            state["grad_avg"] = self._zeros_state(p)

    def _update(self, p, g, state, group):
        xp = get_array_module(p)
        alpha, momentum = group["alpha"], group["momentum"]
        state["step"] += 1
        g = self._grad_for_update(p, g, group["weight_decay"], group["maximize"])
        square_avg = state["square_avg"]._data
        tmp = self._scratch(p, 1)
        _decay_square_(xp, square_avg, g, alpha, tmp)
        if group["centered"]:
            grad_avg = state["grad_avg"]._data
            _lerp_(xp, grad_avg, g, 1 - alpha, tmp)
            xp.multiply(grad_avg, grad_avg, out=tmp)
            avg = xp.sqrt(xp.subtract(square_avg, tmp, out=tmp), out=tmp)
        else:
            avg = xp.sqrt(square_avg, out=tmp)
        xp.add(avg, group["eps"], out=avg)
        xp.divide(g, avg, out=tmp)
        if momentum > 0:
            buf = state["momentum_buffer"]._data
            xp.multiply(buf, momentum, out=buf)
            xp.add(buf, tmp, out=buf)
            xp.multiply(buf, group["lr"], out=tmp)
        else:
            xp.multiply(tmp, group["lr"], out=tmp)
        xp.subtract(p, tmp, out=p)
