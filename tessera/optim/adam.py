"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

from ..backend import get_array_module
from .optimizer import Optimizer, _check_common, _decay_square_, _lerp_

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``.

    ``m = lerp(m, g, 1 - beta1)``, ``v = beta2 * v + (1 - beta2) * g**2``, then
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``; with
    ``amsgrad`` the running maximum of ``v`` replaces ``v`` in the denominator.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        betas: decay rates of the first and second moment (default (0.9, 0.999)).
        eps: added to the denominator for stability (default 1e-8).
        weight_decay: weight decay (default 0): an L2 term added to the gradient, or with
            ``decoupled_weight_decay=True`` a shrink ``p *= 1 - lr * weight_decay`` (AdamW).
        amsgrad: use the AMSGrad variant (default False).
        maximize: maximize the objective instead of minimizing it (default False).
        foreach, capturable, fused: accepted for PyTorch compatibility; tessera always runs
            its in-place update.
        differentiable: must be False.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        _check_common(type(self).__name__, lr, eps, weight_decay, betas, differentiable)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                    "capturable": capturable, "differentiable": differentiable,
                    "fused": fused, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["exp_avg"] = self._zeros_state(p)
        state["exp_avg_sq"] = self._zeros_state(p)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = self._zeros_state(p)

    def _update(self, p, g, state, group):
        xp = get_array_module(p)
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        state["step"] = step = state["step"] + 1
        if weight_decay != 0 and group["decoupled_weight_decay"]:
            xp.multiply(p, 1 - lr * weight_decay, out=p)
            weight_decay = 0
        g = self._grad_for_update(p, g, weight_decay, group["maximize"])
        m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
        tmp = self._scratch(p, 1)
        _lerp_(xp, m, g, 1 - beta1, tmp)
        _decay_square_(xp, v, g, beta2, tmp)
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"]._data, v, out=state["max_exp_avg_sq"]._data)
        step_size = lr / (1 - beta1 ** step)
        if step_size == 0:
            return
        # p -= step_size * m / (sqrt(v) / c + eps) with c = sqrt(1 - beta2**t), the step size
        # folded into the denominator: one pass fewer over the parameter.
        c = (1 - beta2 ** step) ** 0.5
        denom = xp.sqrt(v, out=tmp)
        xp.multiply(denom, 1 / (c * step_size), out=denom)
        xp.add(denom, eps / step_size, out=denom)
        xp.divide(m, denom, out=denom)
        xp.subtract(p, denom, out=p)


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay
    ``p *= 1 - lr * weight_decay`` (default ``weight_decay=1e-2``).

    Args: as :class:`Adam`, without ``decoupled_weight_decay`` (always True).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        # AdamW always decays decoupled, whatever a loaded state says (as PyTorch).
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
