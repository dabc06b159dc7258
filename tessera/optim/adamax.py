"""Adamax: Adam with the infinity norm in place of the second moment."""

from ..backend import get_array_module
from .optimizer import Optimizer, _check_common, _lerp_

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adamax, as ``torch.optim.Adamax``.

    ``m = lerp(m, g, 1 - beta1)``, ``u = max(beta2 * u, |g| + eps)``, then
    ``p -= lr / (1 - beta1**t) * m / u``.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 2e-3).
        betas: decay rates of the first moment and of the infinity norm (default (0.9, 0.999)).
        eps: added to the norm for stability (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        foreach, capturable: accepted for PyTorch compatibility.
        maximize: maximize the objective instead of minimizing it (default False).
        differentiable: must be False.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        _check_common("Adamax", lr, eps, weight_decay, betas, differentiable)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "capturable": capturable}
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["exp_avg"] = self._zeros_state(p)
        state["exp_inf"] = self._zeros_state(p)

    def _update(self, p, g, state, group):
        xp = get_array_module(p)
        beta1, beta2 = group["betas"]
        state["step"] = step = state["step"] + 1
        g = self._grad_for_update(p, g, group["weight_decay"], group["maximize"])
        exp_avg, exp_inf = state["exp_avg"]._data, state["exp_inf"]._data
        tmp = self._scratch(p, 1)
        _lerp_(xp, exp_avg, g, 1 - beta1, tmp)
        xp.multiply(exp_inf, beta2, out=exp_inf)
        xp.add(xp.abs(g, out=tmp), group["eps"], out=tmp)
        xp.maximum(exp_inf, tmp, out=exp_inf)
        clr = group["lr"] / (1 - beta1 ** step)
        xp.divide(exp_avg, exp_inf, out=tmp)
        xp.multiply(tmp, clr, out=tmp)
        xp.subtract(p, tmp, out=p)
