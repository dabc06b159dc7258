"""``tessera.utils.data``: the same names as :mod:`tessera.data`, for PyTorch habits
(``from tessera.utils.data import DataLoader``)."""

from ..data import *  # noqa: F401,F403
from ..data import __all__  # noqa: F401
