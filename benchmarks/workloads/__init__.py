"""The suite's workloads: a registry of :class:`Workload` objects, one module per family.

Adding a workload is a few lines in a family module (or a new one imported below)::

    def build(lib):  # lib is the tessera or the torch module
        model = same_weights(lambda nn: nn.Linear(64, 64), lib)
        return inference_step(lib, model, normal(lib, (32, 64)))

    register(Workload("linear-infer", "Linear 64->64 inference, batch 32", build,
                      flops=2 * 32 * 64 * 64, trains=False))
"""

import dataclasses
from collections.abc import Callable

__all__ = ["Workload", "register", "get", "all_workloads"]


@dataclasses.dataclass(frozen=True)
class Workload:
    """One step to time in both libraries.

    Attributes:
        name: short key for ``--only`` and ``python -m benchmarks.memory``.
        title: the row label of the table.
        build: ``build(lib) -> step``; ``lib`` is the ``tessera`` or the ``torch`` module and
            ``step`` a zero-argument callable running one step (model, data and optimizer are
            made once, in ``build``).
        flops: floating-point operations of one step (0: no GFLOP/s column).
        trains: whether a step is a training step (forward, backward and optimizer update).
        target: the ratio tessera / PyTorch that issue 5 asks for, if any.
        memory: whether the suite measures the step's peak memory in a fresh process.
    """

    name: str
    title: str
    build: Callable
    flops: float = 0.0
    trains: bool = True
    target: float | None = None
    memory: bool = True


_REGISTRY = {}


def register(workload):
    """Add ``workload`` to the suite; names are unique."""
    if workload.name in _REGISTRY:
        raise ValueError(f"register: a workload named {workload.name!r} already exists")
    _REGISTRY[workload.name] = workload
    return workload


def get(name):
    """The registered workload called ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no workload named {name!r}; known: {', '.join(_REGISTRY)}") from None


def all_workloads():
    """Every registered workload, in the order of the table."""
    return list(_REGISTRY.values())


# Importing a family module registers its workloads; the order here is the table's order.
from . import mlp, cnn, transformer, lstm, inference, overhead  # noqa: E402, F401
