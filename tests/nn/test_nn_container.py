"""Sequential, ModuleList, ModuleDict, ParameterList and ParameterDict."""

from collections import OrderedDict

import pytest
import torch

import tessera as ts
from tessera import nn


def test_sequential_indexing_and_editing():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    assert list(sub._modules) == ["1", "2"]  # a slice keeps the names, as PyTorch
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[3], nn.Sigmoid)
    seq.insert(1, nn.Tanh())
    assert [type(m).__name__ for m in seq] == ["Linear", "Tanh", "ReLU", "Linear", "Sigmoid"]
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2", "3"]
    seq.extend([nn.Identity()])
    assert len(seq) == 5
    seq[4] = nn.ReLU6()
    assert isinstance(seq[4], nn.ReLU6)
    assert isinstance(seq.pop(4), nn.ReLU6) and len(seq) == 4
    with pytest.raises(IndexError, match="out of range"):
        seq[10]  # noqa: B018
    assert len(seq + nn.Sequential(nn.ReLU())) == 5
    assert len(nn.Sequential(nn.ReLU()) * 3) == 3
    out = seq(ts.randn(4, 2))
    assert out.shape == (4, 1)


def test_sequential_from_ordered_dict_matches_torch_keys():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    tseq = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(2, 3)),
                                            ("act", torch.nn.ReLU())]))
    assert list(seq.state_dict()) == list(tseq.state_dict()) == ["fc.weight", "fc.bias"]
    assert seq.fc is seq[0]
    assert repr(seq) == repr(tseq)


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and [n for n, _ in layers.named_parameters()][:2] == [
        "0.weight", "0.bias"]
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers.insert(0, nn.Identity())
    assert [type(m).__name__ for m in layers] == ["Identity", "Linear", "Linear", "Linear",
                                                  "ReLU", "Tanh"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert list(layers._modules) == [str(i) for i in range(5)]
    layers += [nn.ReLU()]
    assert len(layers) == 6
    with pytest.raises(TypeError, match="iterable"):
        layers.extend(3)
    tl = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)] + [torch.nn.ReLU()])
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU()])
    assert repr(ml) == repr(tl)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList()) == "ModuleList()"


def test_module_dict():
    d = nn.ModuleDict({"b": nn.ReLU(), "a": nn.Linear(1, 1)})
    assert list(d.keys()) == ["b", "a"] and "a" in d and len(d) == 2
    d["c"] = nn.Tanh()
    d.update([("e", nn.Identity())])
    assert list(d) == ["b", "a", "c", "e"]
    assert isinstance(d.pop("c"), nn.Tanh) and "c" not in d
    assert [type(v).__name__ for v in d.values()] == ["ReLU", "Linear", "Identity"]
    with pytest.raises(ValueError, match="has length 3"):
        d.update([("x", nn.ReLU(), 1)])
    d.clear()
    assert len(d) == 0


def test_parameter_list():
    pl = nn.ParameterList([nn.Parameter(ts.zeros(2)), ts.ones(3)])
    assert all(isinstance(p, nn.Parameter) for p in pl)  # Tensors become Parameters
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"]
    pl.append(ts.zeros(1, 2))
    assert len(pl) == 3 and pl[-1].shape == (1, 2)
    tpl = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2)), torch.ones(3),
                                  torch.zeros(1, 2)])
    assert repr(pl).replace("tessera.", "torch.") == repr(tpl)
    with pytest.raises(RuntimeError, match="should not be called"):
        pl(ts.ones(1))


def test_parameter_dict():
    pd = nn.ParameterDict({"b": ts.zeros(2), "a": nn.Parameter(ts.ones(1))})
    assert list(pd) == ["a", "b"]  # a plain dict is added in sorted order (PyTorch)
    assert isinstance(pd["b"], nn.Parameter)
    pd["c"] = ts.zeros(3)
    assert sorted(n for n, _ in pd.named_parameters()) == ["a", "b", "c"]
    assert pd.get("zz") is None and "c" in pd
    assert pd.pop("c").shape == (3,) and "c" not in pd
    merged = pd | nn.ParameterDict({"d": ts.zeros(1)})
    assert list(merged) == ["a", "b", "d"]
    with pytest.raises(TypeError, match="not a string"):
        pd[1] = ts.zeros(1)
