"""The Tensor itself against PyTorch: creation, dtypes and promotion, printing, interop."""

import itertools

import numpy as np
import pytest
import torch

import tessera as ts
from tessera._tensor import _FORWARDED
from tessera.testing import assert_close

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
          "float64"]


def test_every_tensor_method_has_its_operator():
    missing = [name for name in _FORWARDED if not hasattr(ts.ops, name)]
    assert not missing, f"Tensor methods without an operator: {missing}"


@pytest.mark.parametrize("a,b", list(itertools.combinations_with_replacement(DTYPES, 2)))
def test_promotion_matches_torch(a, b):
    ta, tb = torch.zeros(2, dtype=getattr(torch, a)), torch.zeros(2, dtype=getattr(torch, b))
    sa, sb = ts.zeros(2, dtype=getattr(ts, a)), ts.zeros(2, dtype=getattr(ts, b))
    assert ts.result_type(sa, sb).name == str(torch.result_type(ta, tb)).split(".")[1]
    # 0-d tensors and Python scalars only raise the category
    for scalar in (1, 2.5, True):
        expected = str(torch.result_type(ta, scalar)).split(".")[1]
        assert ts.result_type(sa, scalar).name == expected, (a, scalar)
    zero_d = str(torch.result_type(ta, torch.tensor(1, dtype=getattr(torch, b)))).split(".")[1]
    assert ts.result_type(sa, ts.tensor(1, dtype=getattr(ts, b))).name == zero_d


@pytest.mark.parametrize("data", [[1, 2], [1.5, 2], [True, False], 3, 2.5, [[1, 2], [3, 4]],
                                  np.arange(3, dtype=np.int32), np.ones(2, np.float64), []])
def test_tensor_dtype_inference(data):
    t, e = ts.tensor(data), torch.tensor(data)
    assert t.dtype.name == str(e.dtype).split(".")[1]
    assert tuple(t.shape) == tuple(e.shape)
    assert t.tolist() == e.tolist()


def test_factories_match_torch():
    for name, args in [("zeros", (2, 3)), ("ones", (4,)), ("empty", (2, 2)), ("eye", (3,))]:
        t, e = getattr(ts, name)(*args), getattr(torch, name)(*args)
        assert t.shape == tuple(e.shape) and t.dtype.name == str(e.dtype).split(".")[1]
    assert_close(ts.full((2, 2), 7), torch.full((2, 2), 7).numpy())
    assert ts.full((2,), 1.5).dtype is ts.float32
    for args in [(5,), (1, 4), (0, 1, 0.1), (1.0, 2.0, 0.25), (-3, 3, 2)]:
        assert_close(ts.arange(*args), torch.arange(*args).numpy())
    assert_close(ts.linspace(0, 1, 7), torch.linspace(0, 1, 7).numpy())
    x = ts.ones(2, 3, dtype=ts.int32)
    assert ts.zeros_like(x).dtype is ts.int32 and ts.ones_like(x, dtype=ts.float64).dtype is \
        ts.float64
    assert ts.full_like(x, 4).tolist() == [[4] * 3] * 2
    assert ts.zeros((2, 3)).shape == (2, 3) and ts.zeros([2]).shape == (2,)
    with pytest.raises(RuntimeError, match="negative dimension"):
        ts.zeros(-1)


def test_random_functions_are_reproducible():
    def draw():
        ts.manual_seed(123)
        return [ts.rand(3), ts.randn(2, 2), ts.randint(0, 10, (4,)), ts.randperm(5),
                ts.normal(0.0, 1.0, (3,)), ts.bernoulli(ts.full((4,), 0.5)),
                ts.multinomial(ts.tensor([0.2, 0.8]), 3, replacement=True)]

    first, second = draw(), draw()
    for a, b in zip(first, second):
        assert np.array_equal(a.numpy(), b.numpy())
    assert first[0].dtype is ts.float32 and first[2].dtype is ts.int64
    assert sorted(first[3].tolist()) == list(range(5))
    ts.manual_seed(1)
    r = ts.rand(10000)
    assert 0.0 <= r.min().item() and r.max().item() < 1.0
    assert abs(ts.randn(10000).mean().item()) < 0.05
    assert set(ts.randint(3, 5, (100,)).tolist()) == {3, 4}
    m = ts.multinomial(ts.tensor([[0.0, 1.0], [1.0, 0.0]]), 2, replacement=True)
    assert m.tolist() == [[1, 1], [0, 0]]


@pytest.mark.parametrize("data", [[[1.0, 2.0]], [0.12345678, 100.5], [1e-5, 1.0], [1e10, 1.0],
                                  [1, 2, 3], [True, False], 3.5, [float("nan"), 1.0, float("inf")],
                                  [[1.5, -2.25], [3.0, 4.0]]])
def test_repr_matches_torch(data):
    t, e = ts.tensor(data), torch.tensor(data)
    assert repr(t) == repr(e).replace("torch.", "tessera.")


def test_repr_extras():
    assert repr(ts.tensor([1.0, 2.0], requires_grad=True)) == \
        "tensor([1., 2.], requires_grad=True)"
    assert repr(ts.tensor([1, 2], dtype=ts.int32)) == "tensor([1, 2], dtype=tessera.int32)"
    x = ts.tensor([1.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2.], grad_fn=<MulBackward0>)"
    assert repr(ts.Size([2, 3])) == "tessera.Size([2, 3])"


def test_conversions():
    t = ts.tensor([[1.5, 2.5]])
    assert t.to(ts.float64).dtype is ts.float64
    assert t.double().dtype is ts.float64 and t.half().dtype is ts.float16
    assert t.long().tolist() == [[1, 2]] and t.int().dtype is ts.int32
    assert t.bool().dtype is ts.bool and t.float().dtype is ts.float32
    assert t.bfloat16().dtype is ts.bfloat16
    assert t.to("cpu") is t and t.cpu() is t and t.device == ts.device("cpu")
    assert t.to("cpu", ts.float64).dtype is ts.float64
    assert str(t.device) == "cpu"
    with pytest.raises(RuntimeError, match="not available"):
        t.to("cuda")


def test_cast_is_differentiable():
    x = ts.tensor([1.5, 2.5], requires_grad=True)
    y = x.double() * 2
    y.sum().backward()
    assert x.grad.dtype is ts.float32 and x.grad.tolist() == [2.0, 2.0]


def test_numpy_and_dlpack_interop():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = ts.from_numpy(a)
    a[0, 0] = 100
    assert t[0, 0].item() == 100  # shares memory
    assert np.asarray(t) is a or np.shares_memory(np.asarray(t), a)
    assert t.numpy() is a
    with pytest.raises(RuntimeError, match="requires grad"):
        ts.ones(2, requires_grad=True).numpy()
    from_torch = ts.from_dlpack(torch.arange(4.0))
    assert from_torch.tolist() == [0.0, 1.0, 2.0, 3.0]
    back = torch.from_dlpack(ts.arange(3))
    assert back.tolist() == [0, 1, 2]
    assert ts.tensor(3.5).item() == 3.5 and isinstance(ts.tensor(3).item(), int)
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        ts.ones(2).item()
    assert float(ts.tensor([2.0])) == 2.0 and int(ts.tensor(7)) == 7
    assert len(ts.zeros(4, 2)) == 4
    assert [r.tolist() for r in ts.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]


def test_as_tensor_shares_memory():
    a = np.ones(3, np.float32)
    t = ts.as_tensor(a)
    a[0] = 5
    assert t[0].item() == 5
    assert ts.as_tensor(a, dtype=ts.float64).dtype is ts.float64


def test_scalar_ops_keep_float32():
    x = ts.ones(3)
    for y in (x * 2.5, x + 1, 2 ** x, x / 3, x - True):
        assert y.dtype is ts.float32
    i = ts.tensor([1, 2, 3])
    assert (i * 2).dtype is ts.int64 and (i * 2.0).dtype is ts.float32
    assert (i / 2).dtype is ts.float32
    assert (x.double() + x).dtype is ts.float64


def test_shape_errors_name_the_operator():
    with pytest.raises(RuntimeError, match=r"add: The size of tensor a \(3\) must match"):
        ts.ones(3) + ts.ones(4)
    with pytest.raises(RuntimeError, match="mul"):
        ts.ones(2, 3) * ts.ones(3, 2)


def test_set_num_threads_limits_blas():
    before = ts.get_num_threads()
    ts.set_num_threads(1)
    assert ts.get_num_threads() == 1
    ts.set_num_threads(before)
    assert ts.get_num_threads() == before
    with pytest.raises(ValueError, match="positive"):
        ts.set_num_threads(0)


def test_inplace_on_a_read_only_view_names_the_problem():
    x = ts.ones(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="read-only view"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="read-only view"):
        x.fill_(0)
