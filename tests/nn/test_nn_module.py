"""Module: registration, iteration, state_dict, modes, conversion, hooks and printing."""

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

import tessera as ts
from tessera import nn
from tessera.testing import assert_close

from nn_helpers import load_from_torch


class Net(nn.Module):
    def __init__(self, lib_nn):
        super().__init__()
        self.conv = lib_nn.Conv2d(1, 2, 3)
        self.bn = lib_nn.BatchNorm2d(2)
        self.head = lib_nn.Sequential(lib_nn.Flatten(), lib_nn.Linear(8, 3))


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.bn = torch.nn.BatchNorm2d(2)
        self.head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3))


def test_parameter_basics():
    p = nn.Parameter(ts.ones(2))
    assert isinstance(p, ts.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    assert repr(p) == repr(torch.nn.Parameter(torch.ones(2)))
    assert not nn.Parameter(ts.ones(2), requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)
    with ts.no_grad():
        assert nn.Parameter(ts.zeros(1)).requires_grad  # as PyTorch: no_grad does not matter
    base = ts.zeros(3)
    q = nn.Parameter(base)
    with ts.no_grad():
        q.add_(1.0)
    assert base.tolist() == [1.0, 1.0, 1.0]  # shares data with what it wraps
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(ts.tensor([1, 2]))


def test_parameter_copy_and_pickle():
    p = nn.Parameter(ts.tensor([1.0, 2.0]))
    p.grad = ts.tensor([0.5, 0.5])
    q = copy.deepcopy(p)
    assert type(q) is nn.Parameter and q.requires_grad
    assert q.tolist() == [1.0, 2.0] and q.grad.tolist() == [0.5, 0.5]
    assert q.data_ptr() != p.data_ptr()
    r = pickle.loads(pickle.dumps(p))
    assert type(r) is nn.Parameter and r.requires_grad and r.tolist() == [1.0, 2.0]


def test_registration_and_attribute_access():
    m = nn.Module()
    m.w = nn.Parameter(ts.zeros(2))
    m.register_buffer("running", ts.ones(2))
    m.register_buffer("scratch", ts.zeros(1), persistent=False)
    m.child = nn.Linear(2, 2)
    m.plain = 3
    assert set(m._parameters) == {"w"} and set(m._buffers) == {"running", "scratch"}
    assert set(m._modules) == {"child"} and m.plain == 3
    assert list(m.state_dict()) == ["w", "running", "child.weight", "child.bias"]
    assert {"w", "running", "scratch", "child", "plain"} <= set(dir(m))
    m.running = ts.full((2,), 5.0)  # reassigning a buffer keeps it a buffer
    assert m._buffers["running"].tolist() == [5.0, 5.0]
    m.buf2 = nn.Buffer(ts.zeros(2), persistent=False)
    assert "buf2" in m._buffers and "buf2" in m._non_persistent_buffers_set
    with pytest.raises(TypeError, match="cannot assign 'tessera.Tensor' as parameter 'w'"):
        m.w = ts.zeros(2)
    m.w = None
    assert m.w is None and "w" not in m.state_dict()
    with pytest.raises(TypeError, match="child module 'child'"):
        m.child = 3
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", ts.zeros(1))
    with pytest.raises(KeyError, match="contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("x", 3)
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nothing'"):
        m.nothing  # noqa: B018
    del m.child
    del m.running
    assert "child" not in m._modules and "running" not in m._buffers
    with pytest.raises(ValueError, match="non-leaf"):
        m.register_parameter("bad", _non_leaf_parameter())


def _non_leaf_parameter():
    p = nn.Parameter(ts.zeros(1))
    p._node = (ts.zeros(1, requires_grad=True) * 2)._node
    return p


def test_before_init_errors():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ts.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_named_members_and_duplicates():
    shared = nn.Linear(2, 2)
    m = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(m.named_parameters(remove_duplicate=False))) == 4
    assert [n for n, _ in m.named_modules()] == ["", "0", "1"]
    assert len(list(m.modules())) == 3
    assert [n for n, _ in m.named_children()] == ["0", "1"]
    assert [n for n, _ in m.named_parameters(prefix="model")] == ["model.0.weight",
                                                                  "model.0.bias"]
    assert list(m.parameters(recurse=False)) == []
    bn = nn.BatchNorm1d(3)
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var",
                                                  "num_batches_tracked"]


def test_state_dict_matches_torch_and_loads():
    tnet = TorchNet()
    net = Net(nn)
    th_sd = tnet.state_dict()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == list(th_sd)
    for k in sd:
        assert tuple(sd[k].shape) == tuple(th_sd[k].shape), k
        assert sd[k].dtype.name == str(th_sd[k].dtype).split(".")[1], k
    load_from_torch(net, tnet)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), th_sd[k].numpy())
    assert not sd["conv.weight"].requires_grad
    assert net.state_dict(keep_vars=True)["conv.weight"] is net.conv.weight
    assert sd._metadata["bn"]["version"] == 2
    # the state dict shares data with the module
    sd["conv.bias"].zero_()
    assert net.conv.bias.tolist() == [0.0, 0.0]


def test_load_state_dict_errors_name_the_keys():
    net = Net(nn)
    sd = dict(net.state_dict())
    del sd["conv.bias"]
    sd["extra.weight"] = ts.zeros(1)
    sd["bn.weight"] = ts.zeros(5)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:")
    assert 'Missing key(s) in state_dict: "conv.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight".' in msg
    assert ("size mismatch for bn.weight: copying a param with shape tessera.Size([5]) from "
            "checkpoint, the shape in current model is tessera.Size([2]).") in msg
    del sd["bn.weight"]
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["conv.bias", "bn.weight"]
    assert result.unexpected_keys == ["extra.weight"]
    sd2 = dict(net.state_dict())
    del sd2["conv.bias"]
    sd2["foo"] = ts.zeros(1)
    result = net.load_state_dict(sd2, strict=False)
    assert result == (["conv.bias"], ["foo"])
    assert result.missing_keys == ["conv.bias"]
    assert repr(net.load_state_dict(net.state_dict())) == "<All keys matched successfully>"
    with pytest.raises(TypeError, match="dict-like"):
        net.load_state_dict([1, 2])


def test_load_state_dict_copies_into_parameters_and_assign():
    m = nn.Linear(2, 2)
    weight = m.weight
    m.load_state_dict({"weight": ts.ones(2, 2), "bias": np.zeros(2, np.float64)})
    assert m.weight is weight and m.weight.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert m.bias.dtype == ts.float32  # copied and cast into the existing parameter
    new = ts.full((2, 2), 2.0)
    m.load_state_dict({"weight": new, "bias": ts.zeros(2)}, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad
    assert m.weight.data_ptr() == new.data_ptr()


def test_batchnorm_loads_old_checkpoint_without_counter():
    bn = nn.BatchNorm1d(2)
    sd = OrderedDict((k, v) for k, v in bn.state_dict().items() if k != "num_batches_tracked")
    sd._metadata = {"": {"version": 1}}
    bn.load_state_dict(sd)


def test_train_eval_zero_grad_requires_grad():
    net = Net(nn)
    assert net.training and net.head[1].training
    assert net.eval() is net
    assert not net.training and not net.head[1].training
    net.train()
    assert net.bn.training
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")
    for p in net.parameters():
        p.grad = ts.ones_like(p)
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_apply_and_to_dtype():
    net = Net(nn)
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Conv2d", "BatchNorm2d", "Flatten", "Linear", "Sequential", "Net"]
    weight = net.conv.weight
    net.conv.weight.grad = ts.ones_like(weight)
    assert net.to(ts.float64) is net
    assert net.conv.weight is weight and weight.dtype == ts.float64
    assert weight.grad.dtype == ts.float64
    assert net.bn.running_mean.dtype == ts.float64
    assert net.bn.num_batches_tracked.dtype == ts.int64  # integers keep their dtype
    net.float()
    assert weight.dtype == ts.float32
    net.half()
    assert weight.dtype == ts.float16
    net.to("cpu").to(dtype=ts.float32)
    assert weight.dtype == ts.float32
    net.double().to(ts.zeros(1))
    assert weight.dtype == ts.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to(ts.int64)


def test_get_submodule_parameter_buffer():
    net = Net(nn)
    assert net.get_submodule("head.1") is net.head[1]
    assert net.get_submodule("") is net
    assert net.get_parameter("head.1.weight") is net.head[1].weight
    assert net.get_buffer("bn.running_var") is net.bn.running_var
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        net.get_submodule("head.nope")
    with pytest.raises(AttributeError, match="is not an nn.Parameter"):
        net.get_parameter("bn.running_var")
    with pytest.raises(AttributeError, match="is not a buffer"):
        net.get_buffer("bn.weight")
    net.set_submodule("head.1", nn.Linear(8, 4))
    assert net.head[1].out_features == 4


def test_forward_hooks():
    lin = nn.Linear(2, 2)
    calls = []

    def pre(mod, args):
        calls.append("pre")
        return (args[0] * 0,)

    def post(mod, args, out):
        calls.append("post")
        return out + 1

    h1 = lin.register_forward_pre_hook(pre)
    h2 = lin.register_forward_hook(post)
    out = lin(ts.ones(1, 2))
    assert calls == ["pre", "post"]
    assert_close(out, lin.bias.detach().reshape(1, 2) + 1)
    h1.remove()
    h2.remove()
    calls.clear()
    lin(ts.ones(1, 2))
    assert calls == []

    def pre_kw(mod, args, kwargs):
        return args, kwargs

    def post_kw(mod, args, kwargs, out):
        calls.append(sorted(kwargs))

    with lin.register_forward_pre_hook(pre_kw, with_kwargs=True), \
            lin.register_forward_hook(post_kw, with_kwargs=True):
        lin(input=ts.ones(1, 2))
    assert calls == [["input"]]
    first = lin.register_forward_hook(lambda m, a, o: calls.append("a"))
    lin.register_forward_hook(lambda m, a, o: calls.append("b"), prepend=True)
    calls.clear()
    lin(ts.ones(1, 2))
    assert calls == ["b", "a"]
    first.remove()


def test_always_call_hook_and_global_hooks():
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    m = Boom()
    seen = []
    m.register_forward_hook(lambda mod, args, out: seen.append("always"), always_call=True)
    with pytest.raises(ValueError, match="boom"):
        m(ts.ones(1))
    assert seen == ["always"]
    register = nn.modules.module.register_module_forward_hook
    handle = register(lambda mod, args, out: seen.append(type(mod)))
    try:
        nn.ReLU()(ts.ones(1))
    finally:
        handle.remove()
    assert seen[-1] is nn.ReLU
    nn.ReLU()(ts.ones(1))
    assert seen[-1] is nn.ReLU and len(seen) == 2


def test_full_backward_hook_matches_torch():
    records = {}

    def hook_for(lib):
        def hook(mod, grad_input, grad_output):
            records[lib] = ([None if g is None else g.detach().numpy() for g in grad_input],
                            [g.detach().numpy() for g in grad_output])
            return (grad_input[0] * 2,)
        return hook

    th = torch.nn.Linear(3, 2)
    tm = load_from_torch(nn.Linear(3, 2), th)
    th.register_full_backward_hook(hook_for("torch"))
    tm.register_full_backward_hook(hook_for("ts"))
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    xt, xs = torch.tensor(x, requires_grad=True), ts.tensor(x, requires_grad=True)
    (th(xt) ** 2).sum().backward()
    (tm(xs) ** 2).sum().backward()
    for a, e in zip(records["ts"][0] + records["ts"][1],
                    records["torch"][0] + records["torch"][1]):
        assert_close(a, e)
    assert_close(xs.grad, xt.grad)
    assert_close(tm.weight.grad, th.weight.grad)


def test_full_backward_hook_without_input_grad_and_pre_hook():
    seen = []
    lin = nn.Linear(2, 2)
    lin.register_full_backward_hook(lambda m, gi, go: seen.append((gi, len(go))))
    lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 0,))
    lin(ts.ones(1, 2)).sum().backward()
    assert seen == [((None,), 1)]
    assert not lin.weight.grad.numpy().any()  # the pre-hook replaced grad_output by zeros


def test_repr_matches_torch():
    tnet = TorchNet()
    net = Net(nn)
    assert repr(net).replace("Net", "TorchNet", 1) == repr(tnet)
    big = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
                        nn.BatchNorm2d(8, momentum=None), nn.ReLU(inplace=True),
                        nn.MaxPool2d(2), nn.Dropout(0.2), nn.Flatten(),
                        nn.ModuleList([nn.Linear(4, 4) for _ in range(3)]),
                        nn.ModuleDict({"a": nn.GELU(approximate="tanh"), "b": nn.Identity()}),
                        nn.LSTM(4, 8, num_layers=2, batch_first=True),
                        nn.Embedding(10, 3, padding_idx=0), nn.LayerNorm(4),
                        nn.LeakyReLU(0.2), nn.Softmax(dim=-1))
    tbig = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
                               torch.nn.BatchNorm2d(8, momentum=None),
                               torch.nn.ReLU(inplace=True), torch.nn.MaxPool2d(2),
                               torch.nn.Dropout(0.2), torch.nn.Flatten(),
                               torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)]),
                               torch.nn.ModuleDict({"a": torch.nn.GELU(approximate="tanh"),
                                                    "b": torch.nn.Identity()}),
                               torch.nn.LSTM(4, 8, num_layers=2, batch_first=True),
                               torch.nn.Embedding(10, 3, padding_idx=0),
                               torch.nn.LayerNorm(4), torch.nn.LeakyReLU(0.2),
                               torch.nn.Softmax(dim=-1))
    assert repr(big) == repr(tbig)


def test_call_dispatches_to_forward_and_missing_forward():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(ts.ones(1))

    class Twice(nn.Module):
        def forward(self, x, scale=2):
            return x * scale

    assert Twice()(ts.ones(1), scale=3).tolist() == [3.0]


def test_module_deepcopy_and_pickle():
    net = Net(nn)
    twin = copy.deepcopy(net)
    assert twin.conv.weight is not net.conv.weight
    assert isinstance(twin.conv.weight, nn.Parameter)
    assert_close(twin.conv.weight, net.conv.weight)
    restored = pickle.loads(pickle.dumps(net))
    assert list(restored.state_dict()) == list(net.state_dict())
    assert isinstance(restored.head[1].weight, nn.Parameter)


def test_init_rejects_unexpected_arguments():
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        nn.Module(foo=1)
