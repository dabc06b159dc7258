"""tessera.nn's public names, constructor signatures and forward signatures equal PyTorch's."""

import inspect

import pytest
import torch

from tessera import nn

LAYERS = [name for name in nn.modules.__all__
          if isinstance(getattr(nn, name), type) and hasattr(torch.nn, name)]


def _params(fn):
    return [(p.name, p.kind, "callable" if callable(p.default) else p.default)
            for p in inspect.signature(fn).parameters.values()]


def test_public_names():
    assert len(set(nn.__all__)) == len(nn.__all__)
    for name in nn.__all__:
        assert hasattr(nn, name), name
    tessera_only = {"modules"}
    for name in nn.__all__:
        if name not in tessera_only:
            assert hasattr(torch.nn, name), f"{name} is not a torch.nn name"
    for name in ["init", "utils", "functional", "Parameter", "Buffer", "Module"]:
        assert name in nn.__all__


@pytest.mark.parametrize("name", LAYERS)
def test_signatures_match_torch(name):
    ours, theirs = getattr(nn, name), getattr(torch.nn, name)
    th_init = _params(theirs.__init__)
    if not any(kind == inspect.Parameter.VAR_POSITIONAL for _, kind, _ in th_init):
        assert _params(ours.__init__) == th_init
    if "forward" in dir(theirs) and theirs.forward is not torch.nn.Module.forward:
        ours_fwd = [p[0] for p in _params(ours.forward)]
        assert ours_fwd == [p[0] for p in _params(theirs.forward)]


def test_init_and_utils_names():
    for name in nn.init.__all__:
        assert hasattr(torch.nn.init, name), name
    for name in ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
                 "vector_to_parameters"]:
        assert callable(getattr(nn.utils, name))
