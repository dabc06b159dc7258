"""nn.init: distributions, bounds, gains, reproducibility and errors; default layer inits."""

import math

import numpy as np
import pytest
import torch

import tessera as ts
from tessera import nn
from tessera.nn import init


def _stats(t):
    a = t.detach().numpy().astype(np.float64)
    return a.mean(), a.std(), a.min(), a.max()


def test_calculate_gain_matches_torch():
    for name in ["linear", "conv2d", "sigmoid", "tanh", "relu", "selu", "conv_transpose1d"]:
        assert init.calculate_gain(name) == torch.nn.init.calculate_gain(name)
    for slope in [None, 0.2, 1]:
        assert init.calculate_gain("leaky_relu", slope) == \
            torch.nn.init.calculate_gain("leaky_relu", slope)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_uniform_normal_constant():
    t = ts.empty(200, 200)
    mean, std, lo, hi = _stats(init.uniform_(t, -2.0, 3.0))
    assert -2.0 <= lo and hi <= 3.0 and abs(mean - 0.5) < 0.05
    assert abs(std - 5 / math.sqrt(12)) < 0.03
    mean, std, _, _ = _stats(init.normal_(t, 1.0, 0.5))
    assert abs(mean - 1.0) < 0.01 and abs(std - 0.5) < 0.01
    assert t.dtype == ts.float32
    assert init.constant_(t, 0.3).numpy().min() == np.float32(0.3)
    assert not init.zeros_(t).numpy().any()
    assert (init.ones_(t).numpy() == 1).all()


def test_init_works_in_place_on_parameters_without_graph():
    p = nn.Parameter(ts.zeros(3, 4))
    ptr = p.data_ptr()
    out = init.kaiming_uniform_(p, a=math.sqrt(5))
    assert out is p and p.data_ptr() == ptr and p.grad_fn is None and p.requires_grad
    assert p.numpy(force=True).any()


def test_xavier_and_kaiming_bounds_and_std():
    t = ts.empty(300, 200)
    bound = math.sqrt(6.0 / 500)
    _, std, lo, hi = _stats(init.xavier_uniform_(t))
    assert -bound <= lo and hi <= bound and abs(std - bound / math.sqrt(3)) < 0.02 * bound
    _, std, _, _ = _stats(init.xavier_normal_(t, gain=2.0))
    assert abs(std - 2.0 * math.sqrt(2.0 / 500)) < 0.02 * std
    bound = math.sqrt(3.0) * math.sqrt(2.0) / math.sqrt(200)
    _, std, lo, hi = _stats(init.kaiming_uniform_(t, nonlinearity="relu"))
    assert -bound <= lo and hi <= bound and abs(std - bound / math.sqrt(3)) < 0.02 * bound
    _, std, _, _ = _stats(init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"))
    assert abs(std - math.sqrt(2.0 / 300)) < 0.02 * std
    conv = ts.empty(16, 8, 3, 3)  # fan_in = 8 * 9
    _, _, lo, hi = _stats(init.kaiming_uniform_(conv, a=math.sqrt(5)))
    assert max(-lo, hi) <= 1 / math.sqrt(72)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(ts.empty(3))
    with pytest.raises(ValueError, match="Mode fan_mid not supported"):
        init.kaiming_normal_(t, mode="fan_mid")
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(ts.empty(0, 3))


def test_trunc_normal():
    t = ts.empty(200, 100)
    mean, std, lo, hi = _stats(init.trunc_normal_(t, mean=0.5, std=1.0, a=-1.0, b=2.0))
    assert -1.0 <= lo and hi <= 2.0
    ref = torch.nn.init.trunc_normal_(torch.empty(400, 400), 0.5, 1.0, -1.0, 2.0).double()
    assert abs(mean - ref.mean().item()) < 0.03 and abs(std - ref.std().item()) < 0.03
    # a narrow window far in the tail takes the other sampling path
    mean, _, lo, hi = _stats(init.trunc_normal_(t, mean=0.0, std=1.0, a=2.0, b=2.5))
    assert 2.0 <= lo and hi <= 2.5 and 2.1 < mean < 2.3


def test_orthogonal_eye_dirac_sparse():
    for shape in [(6, 4), (4, 6), (3, 2, 2)]:
        t = init.orthogonal_(ts.empty(*shape), gain=2.0)
        m = t.numpy().reshape(shape[0], -1)
        gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
        np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-5)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(ts.empty(3))
    np.testing.assert_array_equal(init.eye_(ts.empty(2, 3)).numpy(), np.eye(2, 3))
    w = init.dirac_(ts.empty(4, 2, 3, 3), groups=2)
    np.testing.assert_array_equal(
        w.numpy(), torch.nn.init.dirac_(torch.empty(4, 2, 3, 3), groups=2).numpy())
    s = init.sparse_(ts.empty(10, 5), sparsity=0.3)
    assert ((s.numpy() == 0).sum(0) >= 3).all()


def test_seeded_generator_reproducibility():
    ts.manual_seed(7)
    a = nn.Linear(5, 3)
    ts.manual_seed(7)
    b = nn.Linear(5, 3)
    np.testing.assert_array_equal(a.weight.numpy(force=True), b.weight.numpy(force=True))
    g = ts.Generator().manual_seed(3)
    x = init.normal_(ts.empty(4), generator=g)
    g.manual_seed(3)
    np.testing.assert_array_equal(x.numpy(), init.normal_(ts.empty(4), generator=g).numpy())


def _params(module):
    return {n: p.numpy(force=True).astype(np.float64) for n, p in module.named_parameters()}


@pytest.mark.parametrize("case", [
    ("Linear", (64, 48), {"weight": 1 / 8, "bias": 1 / 8}),
    ("Conv2d", (8, 16, 3), {"weight": 1 / math.sqrt(72), "bias": 1 / math.sqrt(72)}),
    ("ConvTranspose2d", (8, 16, 3), {"weight": 1 / math.sqrt(144), "bias": 1 / math.sqrt(144)}),
    ("Bilinear", (10, 20, 30), {"weight": 1 / math.sqrt(10), "bias": 1 / math.sqrt(10)}),
    ("LSTM", (10, 25), {"weight_ih_l0": 0.2, "bias_hh_l0": 0.2}),
    ("GRUCell", (10, 16), {"weight_hh": 0.25, "bias_ih": 0.25}),
], ids=lambda c: c[0] if isinstance(c, tuple) else None)
def test_default_uniform_inits_match_torch_bounds(case):
    name, args, bounds = case
    params = _params(getattr(nn, name)(*args))
    ref = dict(getattr(torch.nn, name)(*args).named_parameters())
    for pname, bound in bounds.items():
        values = params[pname]
        assert values.shape == tuple(ref[pname].shape)
        assert np.abs(values).max() <= bound + 1e-7
        assert np.abs(values).max() > 0.8 * bound  # spread over the whole interval


def test_default_inits_of_other_layers():
    emb = _params(nn.Embedding(100, 50, padding_idx=3))["weight"]
    assert abs(emb.std() - 1.0) < 0.05 and not emb[3].any()
    for norm in [nn.LayerNorm(4), nn.BatchNorm2d(4), nn.GroupNorm(2, 4)]:
        p = _params(norm)
        assert (p["weight"] == 1).all() and (p["bias"] == 0).all()
    mha = _params(nn.MultiheadAttention(16, 4))
    assert not mha["in_proj_bias"].any() and not mha["out_proj.bias"].any()
    assert np.abs(mha["in_proj_weight"]).max() <= math.sqrt(6 / (48 + 16))
    assert (_params(nn.PReLU(3))["weight"] == np.float32(0.25)).all()
