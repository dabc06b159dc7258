"""Learning-rate schedules, as ``torch.optim.lr_scheduler``.

Each scheduler sets ``group["lr"]`` of its optimizer's parameter groups once per
``step()``. The formulas are PyTorch's, recursive forms included (each step
multiplies the current lr), so a schedule gives the same learning rates as
PyTorch's, and chains of schedulers compose the same way.

>>> import tessera as ts
>>> from tessera import optim
>>> opt = optim.SGD([ts.zeros(2, requires_grad=True)], lr=1.0)
>>> sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
>>> lrs = []
>>> for _ in range(5):
...     opt.step()
...     sched.step()
...     lrs.append(sched.get_last_lr()[0])
>>> lrs
[1.0, 0.5, 0.5, 0.25, 0.25]
"""

from ._base import EPOCH_DEPRECATION_WARNING, LRScheduler, _LRScheduler
from ._cyclic import CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR
from ._plateau import ReduceLROnPlateau
from ._schedules import (ChainedScheduler, ConstantLR, CosineAnnealingLR, ExponentialLR,
                         LambdaLR, LinearLR, MultiplicativeLR, MultiStepLR, PolynomialLR,
                         SequentialLR, StepLR)

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR",
           "LinearLR", "ExponentialLR", "SequentialLR", "CosineAnnealingLR", "ChainedScheduler",
           "ReduceLROnPlateau", "CyclicLR", "CosineAnnealingWarmRestarts", "OneCycleLR",
           "PolynomialLR"]
