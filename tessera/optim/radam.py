"""RAdam: Adam with a rectified adaptive learning rate."""

from ..backend import get_array_module
from .optimizer import Optimizer, _check_common, _decay_square_, _lerp_

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """RAdam, as ``torch.optim.RAdam``.

    While the length of the approximated simple moving average ``rho_t`` is at most 5 the
    step is plain momentum SGD, ``p -= lr * m / (1 - beta1**t)``; after that it is Adam's,
    scaled by the variance rectification term.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        betas: decay rates of the first and second moment (default (0.9, 0.999)).
        eps: added to the denominator for stability (default 1e-8).
        weight_decay: weight decay (default 0), added to the gradient, or applied as
            ``p *= 1 - lr * weight_decay`` with ``decoupled_weight_decay=True``.
        decoupled_weight_decay: decay the weights as AdamW does (default False).
        foreach, capturable: accepted for PyTorch compatibility.
        maximize: maximize the objective instead of minimizing it (default False).
        differentiable: must be False.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        _check_common("RAdam", lr, eps, weight_decay, betas, differentiable)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "decoupled_weight_decay": decoupled_weight_decay,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["exp_avg"] = self._zeros_state(p)
        state["exp_avg_sq"] = self._zeros_state(p)

    def _update(self, p, g, state, group):
        xp = get_array_module(p)
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        state["step"] = step = state["step"] + 1
        if weight_decay != 0 and group["decoupled_weight_decay"]:
            xp.multiply(p, 1 - lr * weight_decay, out=p)
            weight_decay = 0
        g = self._grad_for_update(p, g, weight_decay, group["maximize"])
        exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
        tmp = self._scratch(p, 1)
        _lerp_(xp, exp_avg, g, 1 - beta1, tmp)
        _decay_square_(xp, exp_avg_sq, g, beta2, tmp)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
        # g is no longer needed, so scratch slot 0 is free for the update.
        update = xp.divide(exp_avg, bias_correction1, out=self._scratch(p, 0))
        xp.multiply(update, lr, out=update)
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive = xp.sqrt(exp_avg_sq, out=tmp)
            xp.add(adaptive, group["eps"], out=adaptive)
            xp.divide(bias_correction2 ** 0.5, adaptive, out=adaptive)
            xp.multiply(update, adaptive, out=update)
            xp.multiply(update, rect, out=update)
        xp.subtract(p, update, out=p)
