"""Per-operator overhead: four operators forward and backward on an 8x8 tensor, where the
Python path of each operator, not the arithmetic, takes the time."""

import functools

from ..core_ops import overhead
from . import Workload, register

register(Workload("overhead", "overhead: 4 ops fwd+bwd on 8x8", overhead, trains=False,
                  target=1.0, memory=False))
register(Workload("overhead-compiled", "overhead, tessera compiled",
                  functools.partial(overhead, compiled=True), trains=False, memory=False))
