"""The random operators: dropout variants and attention dropout.

Their masks cannot match PyTorch's draw for draw, so these tests check what defines them:
reproducibility under ``ts.manual_seed``, scaling, the fraction dropped, identity in eval
mode, and gradients equal to the mask times the scale.
"""

import warnings

import numpy as np
import pytest

import tessera as ts
import tessera.nn.functional as F


def _draw(fn, seed=0):
    ts.manual_seed(seed)
    return fn().numpy(force=True).copy()


@pytest.mark.parametrize("fn", [
    lambda x: F.dropout(x, 0.4),
    lambda x: F.dropout1d(x, 0.4),
    lambda x: F.dropout2d(x.reshape(2, 3, 4, 10), 0.4),
    lambda x: F.alpha_dropout(x, 0.4, training=True),
    lambda x: F.feature_alpha_dropout(x, 0.4, training=True),
], ids=["dropout", "dropout1d", "dropout2d", "alpha_dropout", "feature_alpha_dropout"])
def test_reproducible_under_manual_seed(fn):
    x = ts.randn(2, 3, 40)
    first, again, other = _draw(lambda: fn(x)), _draw(lambda: fn(x)), _draw(lambda: fn(x), 1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_scaling_and_fraction_of_zeros():
    x = ts.ones(200, 500)
    y = F.dropout(x, p=0.3).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.01
    assert y.dtype == np.float32


def test_dtype_is_kept():
    assert F.dropout(ts.ones(10, dtype=ts.float64), 0.5).dtype == ts.float64
    assert F.dropout(ts.ones(10, dtype=ts.bfloat16), 0.5).dtype == ts.bfloat16


def test_eval_mode_and_p0_return_the_input():
    x = ts.randn(3, 4, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert F.dropout2d(x.reshape(3, 4, 1, 1), 0.5, training=False).shape == (3, 4, 1, 1)
    assert F.alpha_dropout(x, 0.5) is x  # alpha dropout defaults to training=False


def test_p1_gives_zeros_and_bad_p_raises():
    x = ts.randn(3, 4, requires_grad=True)
    y = F.dropout(x, 1.0)
    assert not y.numpy(force=True).any()
    y.sum().backward()
    assert not x.grad.numpy().any()
    assert not F.alpha_dropout(x.detach(), 1.0, training=True).numpy().any()
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, bad)
    with pytest.raises(RuntimeError, match="floating point"):
        F.dropout(ts.ones(3, dtype=ts.int64), 0.5)


def test_gradient_is_mask_times_scale():
    x = ts.randn(50, 40, requires_grad=True)
    y = F.dropout(x, 0.25)
    g = ts.randn(50, 40)
    y.backward(g)
    mask = np.where(y.detach().numpy() != 0, 1 / 0.75, 0.0)
    np.testing.assert_allclose(y.detach().numpy(), x.detach().numpy() * mask, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), g.numpy() * mask, rtol=1e-6)


def test_gradient_of_gradient_is_zero_on_dropped():
    x = ts.randn(20, requires_grad=True)
    y = F.dropout(x, 0.5)
    (gx,) = ts.autograd.grad((y * y).sum(), x, create_graph=True)
    (ggx,) = ts.autograd.grad(gx.sum(), x)
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(ggx.numpy(), np.where(kept, 2 * 4.0, 0.0), rtol=1e-5)


@pytest.mark.parametrize("fn,shape,noise", [
    (lambda x: F.dropout1d(x, 0.5), (4, 6, 5), (4, 6, 1)),
    (lambda x: F.dropout1d(x, 0.5), (6, 5), (6, 1)),
    (lambda x: F.dropout2d(x, 0.5), (4, 6, 3, 2), (4, 6, 1, 1)),
    (lambda x: F.dropout3d(x, 0.5), (2, 6, 2, 2, 2), (2, 6, 1, 1, 1)),
    (lambda x: F.dropout3d(x, 0.5), (6, 2, 2, 2), (6, 1, 1, 1)),
], ids=["1d", "1d_unbatched", "2d", "3d", "3d_unbatched"])
def test_channel_dropout_drops_whole_channels(fn, shape, noise):
    y = fn(ts.ones(*shape)).numpy()
    reduced = y.min(axis=tuple(i for i, n in enumerate(noise) if n == 1), keepdims=True)
    np.testing.assert_array_equal(np.broadcast_to(reduced, y.shape), y)
    assert set(np.unique(y)) <= {0.0, 2.0}


def test_dropout2d_on_3d_input_is_channelwise_1d_and_warns():
    with pytest.warns(UserWarning, match="dropout1d"):
        y = F.dropout2d(ts.ones(4, 6, 5), 0.5).numpy()
    assert (y.min(axis=2) == y.max(axis=2)).all()
    with pytest.raises(RuntimeError, match="Expected 2D or 3D input"):
        F.dropout1d(ts.ones(5), 0.5)


def test_inplace_writes_the_input_and_backpropagates():
    a = ts.randn(5, 6, requires_grad=True)
    b = a * 1.0
    out = F.dropout(b, 0.5, inplace=True)
    assert out is b
    b.sum().backward()
    kept = b.detach().numpy() != 0
    np.testing.assert_allclose(a.grad.numpy(), np.where(kept, 2.0, 0.0))
    c = ts.ones(3, 4)
    F.dropout1d(c, 0.5, inplace=True)
    assert set(np.unique(c.numpy())) <= {0.0, 2.0}
    with pytest.raises(RuntimeError, match="leaf"):
        F.dropout(ts.ones(3, requires_grad=True), 0.5, inplace=True)


def test_alpha_dropout_keeps_mean_and_variance():
    x = ts.randn(400, 500)
    y = F.alpha_dropout(x, 0.2, training=True).numpy()
    assert abs(y.mean()) < 0.02
    assert abs(y.std() - 1) < 0.02
    # Dropped units all take one value: a * (-alpha') + b.
    _, counts = np.unique(y, return_counts=True)
    assert abs(counts.max() / y.size - 0.2) < 0.01


def test_feature_alpha_dropout_needs_two_dims():
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        F.feature_alpha_dropout(ts.ones(4), 0.5, training=True)


# == attention dropout ============================================================================

def _qkv(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [ts.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
            for s in [(2, 3, 4), (2, 5, 4), (2, 5, 3)]]


def test_attention_dropout_is_reproducible_and_unbiased():
    q, k, v = _qkv(dtype=np.float32)
    sdpa = F.scaled_dot_product_attention
    first = _draw(lambda: sdpa(q, k, v, dropout_p=0.5), 3)
    np.testing.assert_array_equal(first, _draw(lambda: sdpa(q, k, v, dropout_p=0.5), 3))
    expected = sdpa(q, k, v).numpy(force=True)
    assert not np.allclose(first, expected)
    with ts.no_grad():
        mean = np.mean([sdpa(q, k, v, dropout_p=0.5).numpy() for _ in range(2000)], axis=0)
    np.testing.assert_allclose(mean, expected, atol=0.1)
    assert not sdpa(q, k, v, dropout_p=1.0).numpy(force=True).any()


def test_attention_dropout_gradients_match_finite_differences():
    def fn(q, k, v):
        ts.manual_seed(7)  # the same mask at every call
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)

    inputs = _qkv()
    assert ts.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)
    assert ts.autograd.gradgradcheck(fn, inputs, eps=1e-6, atol=1e-4, rtol=1e-3)


def test_no_warning_for_4d_dropout2d():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout2d(ts.ones(2, 3, 2, 2), 0.5)
