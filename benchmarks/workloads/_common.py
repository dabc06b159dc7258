"""What the workloads share: one set of weights, one set of data, one step, in both libraries."""

import numpy as np

__all__ = ["is_torch", "same_weights", "normal", "labels", "train_step", "inference_step"]


def is_torch(lib):
    return lib.__name__ == "torch"


def same_weights(make_model, lib, seed=0):
    """``make_model(lib.nn)`` holding the weights PyTorch initialises under ``seed``.

    tessera's state_dict keys are PyTorch's, so torch's state_dict loads as it is.
    """
    import torch

    torch.manual_seed(seed)
    reference = make_model(torch.nn)
    if is_torch(lib):
        return reference
    model = make_model(lib.nn)
    model.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    return model


def normal(lib, shape, seed=1):
    """Standard normal float32 data, the same in both libraries."""
    rng = np.random.default_rng(seed)
    return lib.tensor(rng.standard_normal(shape, dtype=np.float32))


def labels(lib, n, classes, seed=2):
    """``n`` int64 class indices below ``classes``, the same in both libraries."""
    rng = np.random.default_rng(seed)
    return lib.tensor(rng.integers(0, classes, n, dtype=np.int64))


def train_step(model, optimizer, loss, inputs, target):
    """One training step: ``loss(model(inputs), target)``, backward, optimizer update."""
    model.train()

    def step():
        optimizer.zero_grad()
        loss(model(inputs), target).backward()
        optimizer.step()
    return step


def inference_step(lib, model, inputs):
    """One forward pass in eval mode under ``no_grad``."""
    model.eval()
    no_grad = lib.no_grad

    def step():
        with no_grad():
            model(inputs)
    return step
