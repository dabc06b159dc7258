"""The backend layer: which array module serves a device, dtypes and randomness.

Every operator gets its array module from :func:`get_array_module`, never by
importing NumPy for work a GPU would do, so that a CuPy backend for "cuda" is
a new module here rather than a rewrite of the operators (Chainer's design).
"""

from . import process  # first: some settings must be made before NumPy loads OpenBLAS

import numpy as np  # noqa: E402

from . import dtypes  # noqa: E402
from .device import device, as_device, cpu
from .random import Generator, default_generator, manual_seed, seed, initial_seed
from .threads import get_num_threads, set_num_threads

__all__ = ["get_array_module", "device", "as_device", "cpu", "dtypes", "Generator",
           "default_generator", "manual_seed", "seed", "initial_seed", "array_module_of_device",
           "set_num_threads", "get_num_threads"]


def get_array_module(*arrays):
    """The array module (NumPy on the CPU) that owns these arrays."""
    return np


def array_module_of_device(dev):
    dev = as_device(dev)
    if dev.type == "cpu":
        return np
    raise RuntimeError(f"device {dev} is not available: tessera has only the 'cpu' backend so far")
