"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay."""

from ..autograd.function import _make_tensor
from ..backend import get_array_module
from .optimizer import Optimizer, _check_common

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    With momentum ``mu`` and dampening ``tau``: ``b = mu * b + (1 - tau) * g`` (``b = g`` on
    the first step), then ``p -= lr * b`` (or ``p -= lr * (g + mu * b)`` with Nesterov).

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening of the momentum (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        nesterov: use Nesterov momentum (default False).
        maximize: maximize the objective instead of minimizing it (default False).
        foreach, fused: accepted for PyTorch compatibility; tessera always runs its
            in-place update.
        differentiable: must be False.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False, foreach=None, differentiable=False, fused=None):
        _check_common("SGD", lr, weight_decay=weight_decay, differentiable=differentiable)
        if momentum < 0.0:
            raise ValueError(f"SGD: invalid momentum value: {momentum} (expected momentum >= 0)")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening, got "
                             f"momentum={momentum}, dampening={dampening}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                    "foreach": foreach, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)

    def _update(self, p, g, state, group):
        xp = get_array_module(p)
        g = self._grad_for_update(p, g, group["weight_decay"], group["maximize"])
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # The buffer starts as the first gradient itself, undamped, as in PyTorch.
                buf = xp.empty_like(p)
                buf[...] = g
                state["momentum_buffer"] = _make_tensor(buf)
            else:
                buf = buf._data
                xp.multiply(buf, momentum, out=buf)
                dampening = group["dampening"]
                if dampening == 0:
                    xp.add(buf, g, out=buf)
                else:
                    tmp = self._scratch(p, 1)
                    xp.multiply(g, 1 - dampening, out=tmp)
                    xp.add(buf, tmp, out=buf)
            if group["nesterov"]:
                tmp = self._scratch(p, 1)
                xp.multiply(buf, momentum, out=tmp)
                g = xp.add(g, tmp, out=tmp)
            else:
                g = buf
        tmp = self._scratch(p, 1)
        xp.multiply(g, group["lr"], out=tmp)
        xp.subtract(p, tmp, out=p)
