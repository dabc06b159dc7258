"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

import numpy as np

from ..backend import get_array_module, jit
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
        decay = 1 - lr * weight_decay if weight_decay != 0 and group["decoupled_weight_decay"] \
            else None
        g = self._grad_for_update(p, g, weight_decay if decay is None else 0, group["maximize"])
        m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
        # p -= step_size * m / (sqrt(v) / c + eps) with c = sqrt(1 - beta2**t), the step size
        # folded into the denominator: one pass fewer over the parameter.
        step_size = lr / (1 - beta1 ** step)
        c = (1 - beta2 ** step) ** 0.5
        kernels = None if group["amsgrad"] or step_size == 0 else _kernels_for(p, g, m, v)
        if kernels is not None:
            weight = 1 - beta1                  # as _lerp_: from g's side when weight >= 0.5
            from_g = abs(weight) >= 0.5
            as_dtype = p.dtype.type
            kernels.adam_update(
                p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                as_dtype(1 if decay is None else decay),
                as_dtype(1 - weight if from_g else weight), from_g, as_dtype(beta2),
                as_dtype(1 - beta2), as_dtype(1 / (c * step_size)), as_dtype(eps / step_size))
            return
        if decay is not None:
            xp.multiply(p, decay, out=p)
        tmp = self._scratch(p, 1)
        _lerp_(xp, m, g, 1 - beta1, tmp)
        _decay_square_(xp, v, g, beta2, tmp)
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"]._data, v, out=state["max_exp_avg_sq"]._data)
        if step_size == 0:
            return
        denom = xp.sqrt(v, out=tmp)
        xp.multiply(denom, 1 / (c * step_size), out=denom)
        xp.add(denom, eps / step_size, out=denom)
        xp.divide(m, denom, out=denom)
        xp.subtract(p, denom, out=p)


def _kernels_for(p, *arrays):
    """The compiled updates when they apply to these arrays (one float32 or float64 dtype,
    all C-contiguous: the kernel updates flat views of them), else None: the NumPy path."""
    if p.dtype not in (np.float32, np.float64) or not p.flags.c_contiguous or \
            any(a.dtype != p.dtype or not a.flags.c_contiguous for a in arrays):
        return None
    return jit.load("tessera.optim._kernels")


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
