"""NAdam: Adam with Nesterov momentum and a momentum warm-up schedule."""

import numpy as np

from ..backend import get_array_module
from .optimizer import Optimizer, _check_common, _decay_square_, _lerp_

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """NAdam, as ``torch.optim.NAdam``.

    With ``mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))`` and ``P_t`` the product of
    the ``mu``s: ``p -= lr * ((1 - mu_t) / (1 - P_t) * g + mu_{t+1} / (1 - P_{t+1}) * m)
    / (sqrt(v / (1 - beta2**t)) + eps)``.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 2e-3).
        betas: decay rates of the first and second moment (default (0.9, 0.999)).
        eps: added to the denominator for stability (default 1e-8).
        weight_decay: weight decay (default 0), added to the gradient, or applied as
            ``p *= 1 - lr * weight_decay`` with ``decoupled_weight_decay=True``.
        momentum_decay: the momentum warm-up rate (default 4e-3).
        decoupled_weight_decay: decay the weights as AdamW does (default False).
        foreach, capturable: accepted for PyTorch compatibility.
        maximize: maximize the objective instead of minimizing it (default False).
        differentiable: must be False.
    """

    # PyTorch keeps mu_product as a float32 tensor; it is a float32-rounded float here.
    _scalar_state = {"step": int, "mu_product": float}

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        _check_common("NAdam", lr, eps, weight_decay, betas, differentiable)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"NAdam: invalid momentum_decay value: {momentum_decay} "
                             "(expected momentum_decay >= 0)")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize,
                    "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["mu_product"] = 1.0
        state["exp_avg"] = self._zeros_state(p)
        state["exp_avg_sq"] = self._zeros_state(p)

    def _update(self, p, g, state, group):
        xp = get_array_module(p)
        lr, weight_decay, momentum_decay = group["lr"], group["weight_decay"], \
            group["momentum_decay"]
        beta1, beta2 = group["betas"]
        state["step"] = step = state["step"] + 1
        if weight_decay != 0 and group["decoupled_weight_decay"]:
            xp.multiply(p, 1 - lr * weight_decay, out=p)
            weight_decay = 0
        g = self._grad_for_update(p, g, weight_decay, group["maximize"])
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        # The product is rounded to float32 each step, as PyTorch's float32 state tensor is.
        mu_product = float(np.float32(state["mu_product"]) * np.float32(mu))
        state["mu_product"] = mu_product
        exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
        tmp = self._scratch(p, 1)
        _lerp_(xp, exp_avg, g, 1 - beta1, tmp)
        _decay_square_(xp, exp_avg_sq, g, beta2, tmp)
        denom = xp.divide(exp_avg_sq, 1 - beta2 ** step, out=tmp)
        xp.sqrt(denom, out=denom)
        xp.add(denom, group["eps"], out=denom)
        # Scratch slot 0 holds g or nothing: the update may overwrite it.
        update = xp.multiply(g, lr * (1.0 - mu) / (1.0 - mu_product), out=self._scratch(p, 0))
        xp.divide(update, denom, out=update)
        xp.subtract(p, update, out=p)
        xp.multiply(exp_avg, lr * mu_next / (1.0 - mu_product * mu_next), out=update)
        xp.divide(update, denom, out=update)
        xp.subtract(p, update, out=p)
