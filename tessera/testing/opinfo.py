"""The operator database: one entry per operator with sample inputs and tolerances.

An :class:`OpInfo` names an operator by a function ``fn(lib, *args, **kwargs)`` written
once against the library module, so that the same entry runs tessera (``lib`` is
``tessera``) and the reference (``lib`` is ``torch``): the public APIs share their names.
Sample inputs are NumPy arrays (converted to each library's tensors) and plain values.
Each family of operators lists its entries in ``tessera/testing/op_db/<family>.py``.
"""

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["OpInfo", "SampleInput", "all_op_infos", "make_array"]


@dataclasses.dataclass
class SampleInput:
    """Positional args (arrays become tensors) and keyword args of one call."""

    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)
    name: str = ""
    # Indices of float array args that should not require grad (e.g. a target).
    no_grad_args: tuple = ()

    def __repr__(self):
        shapes = [a.shape if isinstance(a, np.ndarray) else a for a in self.args]
        return f"SampleInput({self.name or shapes}, {self.kwargs})"


@dataclasses.dataclass
class OpInfo:
    """How to call, sample and check one operator."""

    name: str
    fn: Callable[..., Any]
    samples: Callable[[np.random.Generator], list]
    differentiable: bool = True
    gradcheck: bool = True          # finite differences in float64 on the first samples
    gradgrad: bool = False          # also check gradients of gradients
    rtol: float = 1e-5
    atol: float = 1e-6
    grad_rtol: float = None
    grad_atol: float = None
    random: bool = False            # outputs are random: compare shapes and dtypes only
    gradcheck_samples: int = 2
    compare_fn: Callable = None     # custom comparison of (ts_out, torch_out), or None

    def sample_inputs(self, seed=0):
        return self.samples(np.random.default_rng(seed))


def make_array(rng, shape, dtype=np.float32, low=-2.0, high=2.0, positive=False):
    """A random array; ``positive`` keeps it away from zero (for log, sqrt, division)."""
    if np.dtype(dtype).kind == "f":
        arr = rng.uniform(low, high, shape)
        if positive:
            arr = np.abs(arr) + 0.5
        return np.asarray(arr, dtype=dtype)
    if np.dtype(dtype).kind == "b":
        return np.asarray(rng.random(shape) > 0.5)
    return np.asarray(rng.integers(int(low), int(high) + 1, shape), dtype=dtype)


def op_db_modules():
    """The names of the modules of ``tessera.testing.op_db`` (one per operator family)."""
    from . import op_db

    return sorted(m.name for m in pkgutil.iter_modules(op_db.__path__))


def op_infos(module_name):
    """The OpInfo entries of one family module."""
    module = importlib.import_module(f"{__package__}.op_db.{module_name}")
    return list(module.OP_INFOS)


def all_op_infos():
    """Every OpInfo in ``tessera.testing.op_db``."""
    return [info for name in op_db_modules() for info in op_infos(name)]
