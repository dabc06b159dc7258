"""MLP 784-256-256-10, batch 128, Adam: one training step."""

import functools

from . import Workload, register
from ._common import is_torch, labels, normal, same_weights, train_step

BATCH = 128
SIZES = (784, 256, 256, 10)


def make_model(nn):
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def build(lib, compiled=False):
    """The step; ``compiled``: tessera's forward through ``ts.compile`` (PyTorch stays eager,
    as people run it on a CPU without a C++ compiler for torch.compile)."""
    model = same_weights(make_model, lib)
    optimizer = lib.optim.Adam(model.parameters(), lr=1e-3)
    forward = lib.compile(model) if compiled and not is_torch(lib) else model
    return train_step(forward, optimizer, lib.nn.functional.cross_entropy,
                      normal(lib, (BATCH, SIZES[0])), labels(lib, BATCH, SIZES[-1]))


# A training step costs 3x the forward GEMMs (forward, gradient of the input, gradient of the
# weight), 2 * batch * n_in * n_out each; elementwise work is not counted. The first layer needs
# no input gradient, so 3x slightly overstates the work done.
FORWARD_FLOPS = sum(2 * BATCH * n_in * n_out for n_in, n_out in zip(SIZES, SIZES[1:]))

register(Workload("mlp", "MLP 784-256-256-10 b128 Adam", build, flops=3 * FORWARD_FLOPS,
                  target=1.0))
register(Workload("mlp-compiled", "MLP, tessera compiled", functools.partial(build, compiled=True),
                  flops=3 * FORWARD_FLOPS, memory=False))
