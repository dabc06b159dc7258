"""PyTorch's ``torch.utils`` names: ``tessera.utils.data`` is :mod:`tessera.data`."""

from . import data

__all__ = ["data"]
