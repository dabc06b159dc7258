"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""

from ..backend import get_array_module
from .optimizer import Optimizer, _check_common

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``.

    ``s += g**2``, then ``p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)``.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 1e-2).
        lr_decay: learning rate decay (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        initial_accumulator_value: starting value of the sum of squares (default 0).
        eps: added to the denominator for stability (default 1e-10).
        foreach, fused: accepted for PyTorch compatibility.
        maximize: maximize the objective instead of minimizing it (default False).
        differentiable: must be False.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_common("Adagrad", lr, eps, weight_decay, differentiable=differentiable)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Adagrad: invalid lr_decay value: {lr_decay} "
                             "(expected lr_decay >= 0)")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError("Adagrad: invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value} (expected >= 0)")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        # PyTorch creates Adagrad's state up front, so state_dict() has it before any step.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p._data, self.state[p], group)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["sum"] = self._zeros_state(p, group["initial_accumulator_value"])

    def _update(self, p, g, state, group):
        xp = get_array_module(p)
        state["step"] = step = state["step"] + 1
        g = self._grad_for_update(p, g, group["weight_decay"], group["maximize"])
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        state_sum = state["sum"]._data
        tmp = self._scratch(p, 1)
        xp.add(state_sum, xp.multiply(g, g, out=tmp), out=state_sum)
        std = xp.sqrt(state_sum, out=tmp)
        xp.add(std, group["eps"], out=std)
        xp.divide(g, std, out=tmp)
        xp.multiply(tmp, clr, out=tmp)
        xp.subtract(p, tmp, out=p)
