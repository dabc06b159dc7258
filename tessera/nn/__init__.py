"""Neural network building blocks: modules, parameters, initialisers and utilities.

>>> import tessera as ts
>>> from tessera import nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> model(ts.randn(3, 4)).shape
tessera.Size([3, 2])
"""

from . import functional
from . import init, modules, utils
from .modules import *
from .parameter import Buffer, Parameter

__all__ = ["functional", "init", "utils", "modules", "Parameter", "Buffer"] + modules.__all__
