"""Keras layers against their PyTorch equivalents given the same weights (Keras kernel
layouts transposed accordingly), forward values and gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tessera as ts
from tessera import keras
from tessera.keras import layers

RTOL, ATOL = 1e-5, 1e-5


def close(a, b, rtol=RTOL, atol=ATOL):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def w(t):
    """A Keras weight as a float64-free torch tensor."""
    return torch.tensor(t.detach().numpy())


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def tf_same(n, k, s, d=1):
    keff = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + keff - n, 0)
    return total // 2, total - total // 2


# -- core ----------------------------------------------------------------------------------

def test_dense_matches_linear_with_transposed_kernel():
    x = rand(4, 7)
    layer = layers.Dense(5, activation="relu")
    y = layer(ts.tensor(x))
    assert tuple(layer.kernel.shape) == (7, 5)
    ref = TF.relu(TF.linear(torch.tensor(x), w(layer.kernel).T, w(layer.bias)))
    close(y, ref)


def test_dense_on_3d_input_and_gradients():
    x = rand(2, 3, 6)
    layer = layers.Dense(4, use_bias=True)
    xt = ts.tensor(x, requires_grad=True)
    y = layer(xt)
    (y * y).sum().backward()
    k = w(layer.kernel).requires_grad_()
    b = w(layer.bias).requires_grad_()
    xr = torch.tensor(x, requires_grad=True)
    yr = xr @ k + b
    (yr * yr).sum().backward()
    close(y, yr)
    close(layer.kernel.grad, k.grad, rtol=1e-4)
    close(layer.bias.grad, b.grad, rtol=1e-4)
    close(xt.grad, xr.grad, rtol=1e-4)


def test_dense_default_initializers_are_glorot_uniform_and_zeros():
    layer = layers.Dense(300)
    layer.build((None, 200))
    limit = np.sqrt(6 / (200 + 300))
    k = layer.get_weights()[0]
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.9 * limit
    assert abs(k.std() - limit / np.sqrt(3)) < 0.01
    assert not layer.get_weights()[1].any()


def test_activation_by_name_and_callable():
    x = rand(3, 4)
    close(layers.Activation("softmax")(ts.tensor(x)), torch.softmax(torch.tensor(x), -1))
    close(layers.Activation(ts.tanh)(ts.tensor(x)), torch.tanh(torch.tensor(x)))
    close(layers.Dense(2, activation="gelu", kernel_initializer="ones")(ts.tensor(x)),
          TF.gelu(torch.tensor(x).sum(1, keepdim=True).expand(3, 2)))
    with pytest.raises(ValueError, match="activation"):
        layers.Dense(2, activation="no_such_activation")


def test_dropout_identity_in_inference_and_scaled_in_training():
    x = np.ones((200, 50), np.float32)
    layer = layers.Dropout(0.5)
    close(layer(ts.tensor(x)), x)
    y = layer(ts.tensor(x), training=True).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6
    y = layers.Dropout(0.5, noise_shape=(None, 1))(ts.tensor(x), training=True).numpy()
    assert all(len(set(row)) == 1 for row in y)


def test_shape_layers():
    x = rand(2, 3, 4, 5)
    close(layers.Flatten()(ts.tensor(x)), x.reshape(2, -1))
    close(layers.Reshape((12, 5))(ts.tensor(x)), x.reshape(2, 12, 5))
    close(layers.Reshape((-1, 10))(ts.tensor(x)), x.reshape(2, 6, 10))
    close(layers.Permute((3, 1, 2))(ts.tensor(x)), x.transpose(0, 3, 1, 2))
    assert layers.Reshape((-1, 10)).compute_output_shape((None, 3, 4, 5)) == (None, 6, 10)
    with pytest.raises(ValueError, match="Reshape"):
        layers.Reshape((7,)).compute_output_shape((None, 3, 4))
    close(layers.Rescaling(1 / 255, offset=-1)(ts.tensor(x)), x / 255 - 1, rtol=1e-6)


def test_embedding_matches_torch():
    ids = np.array([[0, 3, 9], [2, 2, 1]])
    layer = layers.Embedding(10, 4)
    y = layer(ts.tensor(ids))
    close(y, TF.embedding(torch.tensor(ids), w(layer.embeddings)))
    assert np.abs(layer.get_weights()[0]).max() <= 0.05  # uniform(-0.05, 0.05)


def test_merging_layers():
    a, b = rand(3, 4, seed=1), rand(3, 4, seed=2)
    ta, tb = ts.tensor(a), ts.tensor(b)
    close(layers.Add()([ta, tb]), a + b)
    close(layers.Subtract()([ta, tb]), a - b)
    close(layers.Multiply()([ta, tb]), a * b)
    close(layers.Average()([ta, tb]), (a + b) / 2)
    close(layers.Maximum()([ta, tb]), np.maximum(a, b))
    close(layers.Concatenate()([ta, tb]), np.concatenate([a, b], -1))
    close(layers.Concatenate(axis=0)([ta, tb]), np.concatenate([a, b], 0))
    with pytest.raises(ValueError, match="list"):
        layers.Add()(ta)


# -- convolution and pooling ---------------------------------------------------------------

@pytest.mark.parametrize("k,s,padding,d", [(3, 1, "valid", 1), (3, 2, "same", 1),
                                           (4, 2, "same", 1), (3, 1, "same", 2),
                                           (2, 2, "valid", 1)])
def test_conv2d_matches_torch_channels_last(k, s, padding, d):
    x = rand(2, 11, 10, 3)
    layer = layers.Conv2D(5, k, strides=s, padding=padding, dilation_rate=d)
    y = layer(ts.tensor(x))
    assert tuple(layer.kernel.shape) == (k, k, 3, 5)
    xt = torch.tensor(x).permute(0, 3, 1, 2)
    if padding == "same":
        (t, b), (left, r) = tf_same(11, k, s, d), tf_same(10, k, s, d)
        xt = TF.pad(xt, (left, r, t, b))
    ref = TF.conv2d(xt, w(layer.kernel).permute(3, 2, 0, 1), w(layer.bias), stride=s,
                    dilation=d).permute(0, 2, 3, 1)
    close(y, ref, rtol=1e-4)
    assert layer.compute_output_shape((None, 11, 10, 3)) == (None,) + tuple(y.shape[1:])


def test_conv2d_gradients_match_torch():
    x = rand(2, 6, 6, 2)
    layer = layers.Conv2D(3, 3, padding="same", activation="relu")
    xt = ts.tensor(x, requires_grad=True)
    layer(xt).square().sum().backward()
    k = w(layer.kernel).requires_grad_()
    xr = torch.tensor(x, requires_grad=True)
    out = TF.relu(TF.conv2d(xr.permute(0, 3, 1, 2), k.permute(3, 2, 0, 1),
                            w(layer.bias), padding=1))
    out.square().sum().backward()
    close(layer.kernel.grad, k.grad, rtol=1e-4, atol=1e-4)
    close(xt.grad, xr.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("k,s,padding,d", [(3, 1, "valid", 1), (3, 2, "same", 1),
                                           (3, 1, "causal", 2)])
def test_conv1d_matches_torch(k, s, padding, d):
    x = rand(2, 9, 4)
    layer = layers.Conv1D(6, k, strides=s, padding=padding, dilation_rate=d)
    y = layer(ts.tensor(x))
    xt = torch.tensor(x).permute(0, 2, 1)
    if padding == "same":
        xt = TF.pad(xt, tf_same(9, k, s, d))
    elif padding == "causal":
        xt = TF.pad(xt, ((k - 1) * d, 0))
    ref = TF.conv1d(xt, w(layer.kernel).permute(2, 1, 0), w(layer.bias), stride=s,
                    dilation=d).permute(0, 2, 1)
    close(y, ref, rtol=1e-4)


@pytest.mark.parametrize("k,s,padding", [(3, 2, "same"), (3, 2, "valid"), (4, 2, "same"),
                                         (2, 2, "valid"), (3, 1, "same"), (1, 3, "valid")])
def test_conv2d_transpose_is_the_transpose_of_conv2d(k, s, padding):
    # Keras's transposed convolution is the gradient of the convolution it inverts.
    x = rand(2, 5, 4, 3)
    layer = layers.Conv2DTranspose(6, k, strides=s, padding=padding)
    y = layer(ts.tensor(x))
    assert tuple(layer.kernel.shape) == (k, k, 6, 3)
    out_h, out_w = y.shape[1], y.shape[2]
    z = torch.zeros(2, 6, out_h, out_w, requires_grad=True)
    zz = z
    if padding == "same":
        (t, b), (left, r) = tf_same(out_h, k, s), tf_same(out_w, k, s)
        zz = TF.pad(z, (left, r, t, b))
    conv = TF.conv2d(zz, w(layer.kernel).permute(3, 2, 0, 1), stride=s)
    assert tuple(conv.shape[2:]) == (5, 4)
    (grad,) = torch.autograd.grad(conv, z, torch.tensor(x).permute(0, 3, 1, 2))
    ref = grad.permute(0, 2, 3, 1) + w(layer.bias)
    close(y, ref, rtol=1e-4)
    assert layer.compute_output_shape((None, 5, 4, 3)) == (None,) + tuple(y.shape[1:])


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_matches_torch(padding):
    x = rand(2, 7, 6, 3)
    xt = torch.tensor(x).permute(0, 3, 1, 2)
    ymax = layers.MaxPooling2D(3, strides=2, padding=padding)(ts.tensor(x))
    yavg = layers.AveragePooling2D(3, strides=2, padding=padding)(ts.tensor(x))
    if padding == "same":
        (t, b), (left, r) = tf_same(7, 3, 2), tf_same(6, 3, 2)
        ref_max = TF.max_pool2d(TF.pad(xt, (left, r, t, b), value=-np.inf), 3, 2)
        summed = TF.avg_pool2d(TF.pad(xt, (left, r, t, b)), 3, 2)
        count = TF.avg_pool2d(TF.pad(torch.ones(1, 1, 7, 6), (left, r, t, b)), 3, 2)
        ref_avg = summed / count
    else:
        ref_max, ref_avg = TF.max_pool2d(xt, 3, 2), TF.avg_pool2d(xt, 3, 2)
    close(ymax, ref_max.permute(0, 2, 3, 1))
    close(yavg, ref_avg.permute(0, 2, 3, 1))


def test_global_pooling():
    x = rand(2, 5, 4, 3)
    close(layers.GlobalAveragePooling2D()(ts.tensor(x)), x.mean((1, 2)))
    close(layers.GlobalMaxPooling2D()(ts.tensor(x)), x.max((1, 2)))
    close(layers.GlobalAveragePooling2D(keepdims=True)(ts.tensor(x)),
          x.mean((1, 2), keepdims=True))
    close(layers.GlobalAveragePooling1D()(ts.tensor(x[:, 0])), x[:, 0].mean(1))
    close(layers.MaxPooling1D(2)(ts.tensor(x[:, 0])), x[:, 0, :4].reshape(2, 2, 2, 3).max(2))


# -- normalization -------------------------------------------------------------------------

def test_batch_normalization_training_inference_and_moving_stats():
    x = rand(8, 4, 4, 3) * 3 + 1
    layer = layers.BatchNormalization()
    layer.build(x.shape)
    layer.set_weights([rand(3, seed=1), rand(3, seed=2), np.zeros(3), np.ones(3)])
    bn = torch.nn.BatchNorm2d(3, eps=1e-3, momentum=0.01)
    with torch.no_grad():
        bn.weight.copy_(w(layer.gamma))
        bn.bias.copy_(w(layer.beta))
    xt = torch.tensor(x).permute(0, 3, 1, 2)
    y = layer(ts.tensor(x), training=True)
    close(y, bn.train()(xt).permute(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    close(layer.moving_mean, bn.running_mean, rtol=1e-4)
    close(layer.moving_variance, bn.running_var, rtol=1e-4)
    close(layer(ts.tensor(x)), bn.eval()(xt).permute(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    assert [tuple(v.shape) for v in layer.weights] == [(3,)] * 4
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2


def test_frozen_batch_normalization_runs_in_inference_mode():
    x = rand(8, 3)
    layer = layers.BatchNormalization()
    layer.build(x.shape)
    layer.trainable = False
    close(layer(ts.tensor(x), training=True), x / np.sqrt(1 + 1e-3), rtol=1e-5)
    assert not layer.moving_mean.numpy().any()


def test_layer_normalization_matches_torch():
    x = rand(2, 3, 6)
    layer = layers.LayerNormalization()
    layer.build(x.shape)
    layer.set_weights([rand(6, seed=1), rand(6, seed=2)])
    ref = TF.layer_norm(torch.tensor(x), (6,), w(layer.gamma), w(layer.beta), eps=1e-3)
    close(layer(ts.tensor(x)), ref, rtol=1e-4, atol=1e-5)
    two = layers.LayerNormalization(axis=[1, 2], center=False, scale=False)
    ref = TF.layer_norm(torch.tensor(x), (3, 6), eps=1e-3)
    close(two(ts.tensor(x)), ref, rtol=1e-4, atol=1e-5)


# -- recurrent -----------------------------------------------------------------------------

def _torch_rnn(kind, layer, bidirectional=False, backward=None):
    units = layer.units
    features = layer.kernel.shape[0]
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    mod = cls(features, units, batch_first=True, bidirectional=bidirectional)

    def load(suffix, lay):
        k, rk = w(lay.kernel), w(lay.recurrent_kernel)
        if kind == "gru":
            def order(m):  # Keras z, r, h -> PyTorch r, z, n
                return torch.cat([m[..., units:2 * units], m[..., :units],
                                  m[..., 2 * units:]], -1)
            b = w(lay.bias)
            params = {"weight_ih": order(k).T, "weight_hh": order(rk).T,
                      "bias_ih": order(b[0]), "bias_hh": order(b[1])}
        else:
            params = {"weight_ih": k.T, "weight_hh": rk.T, "bias_ih": w(lay.bias),
                      "bias_hh": torch.zeros_like(w(lay.bias))}
        with torch.no_grad():
            for name, value in params.items():
                getattr(mod, f"{name}_l0{suffix}").copy_(value)
    load("", layer)
    if bidirectional:
        load("_reverse", backward)
    return mod


@pytest.mark.parametrize("kind,cls", [("lstm", layers.LSTM), ("gru", layers.GRU),
                                      ("rnn", layers.SimpleRNN)])
def test_recurrent_layers_match_torch(kind, cls):
    x = rand(3, 5, 4)
    layer = cls(6, return_sequences=True, return_state=True)
    out = layer(ts.tensor(x))
    mod = _torch_rnn(kind, layer)
    ref, state = mod(torch.tensor(x))
    close(out[0], ref, rtol=1e-4, atol=1e-5)
    if kind == "lstm":
        close(out[1], state[0][0], rtol=1e-4, atol=1e-5)
        close(out[2], state[1][0], rtol=1e-4, atol=1e-5)
    else:
        close(out[1], state[0], rtol=1e-4, atol=1e-5)
    last = cls(6)
    last.build(x.shape)
    last.set_weights(layer.get_weights())
    close(last(ts.tensor(x)), ref[:, -1], rtol=1e-4, atol=1e-5)


def test_lstm_defaults_and_gradients():
    layer = layers.LSTM(3)
    x = rand(2, 4, 5)
    xt = ts.tensor(x, requires_grad=True)
    layer(xt).sum().backward()
    bias = layer.get_weights()[2]
    np.testing.assert_array_equal(bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])  # forget = 1
    rk = layer.get_weights()[1]  # orthogonal recurrent kernel (3, 12): orthonormal rows
    np.testing.assert_allclose(rk @ rk.T, np.eye(3), atol=1e-5)
    mod = _torch_rnn("lstm", layer)
    xr = torch.tensor(x, requires_grad=True)
    mod(xr)[0][:, -1].sum().backward()
    close(xt.grad, xr.grad, rtol=1e-4, atol=1e-5)
    close(layer.kernel.grad, mod.weight_ih_l0.grad.T, rtol=1e-4, atol=1e-5)


def test_go_backwards_and_bidirectional():
    x = rand(2, 5, 3)
    layer = layers.LSTM(4, return_sequences=True, go_backwards=True)
    out = layer(ts.tensor(x))
    mod = _torch_rnn("lstm", layer)
    ref, _ = mod(torch.tensor(x[:, ::-1].copy()))
    close(out, ref, rtol=1e-4, atol=1e-5)

    bi = layers.Bidirectional(layers.LSTM(4, return_sequences=True))
    y = bi(ts.tensor(x))
    assert tuple(y.shape) == (2, 5, 8)
    mod = _torch_rnn("lstm", bi.forward_layer, bidirectional=True, backward=bi.backward_layer)
    ref, _ = mod(torch.tensor(x))
    close(y, ref, rtol=1e-4, atol=1e-5)
    summed = layers.Bidirectional(layers.GRU(4), merge_mode="sum")
    assert tuple(summed(ts.tensor(x)).shape) == (2, 4)


def test_multi_head_attention_matches_torch():
    q, v = rand(2, 5, 8, seed=1), rand(2, 6, 8, seed=2)
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    out, scores = layer(ts.tensor(q), ts.tensor(v), return_attention_scores=True)
    assert tuple(layer.query_kernel.shape) == (8, 2, 4)
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)

    def flat(kernel):  # (dim, heads, head_dim) -> torch's (heads * head_dim, dim)
        return w(kernel).reshape(8, -1).T
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([flat(layer.query_kernel),
                                            flat(layer.key_kernel),
                                            flat(layer.value_kernel)]))
        mha.in_proj_bias.copy_(torch.cat([w(layer.query_bias).reshape(-1),
                                          w(layer.key_bias).reshape(-1),
                                          w(layer.value_bias).reshape(-1)]))
        mha.out_proj.weight.copy_(w(layer.output_kernel).reshape(-1, 8).T)
        mha.out_proj.bias.copy_(w(layer.output_bias))
    ref, ref_scores = mha(torch.tensor(q), torch.tensor(v), torch.tensor(v),
                          average_attn_weights=False)
    close(out, ref, rtol=1e-4, atol=1e-5)
    close(scores, ref_scores, rtol=1e-4, atol=1e-5)
    fast = layer(ts.tensor(q), ts.tensor(v))
    close(fast, ref, rtol=1e-4, atol=1e-5)
    causal = layer(ts.tensor(q), ts.tensor(q), use_causal_mask=True)
    ref_c, _ = mha(torch.tensor(q), torch.tensor(q), torch.tensor(q),
                   attn_mask=torch.triu(torch.ones(5, 5, dtype=torch.bool), 1))
    close(causal, ref_c, rtol=1e-4, atol=1e-5)


# -- building ------------------------------------------------------------------------------

def test_weights_are_created_on_first_call():
    layer = layers.Dense(3)
    assert not layer.built and layer.weights == []
    layer(ts.zeros(2, 5))
    assert layer.built and [tuple(v.shape) for v in layer.weights] == [(5, 3), (3,)]
    assert list(layer.state_dict()) == ["kernel", "bias"]
    with pytest.raises(ValueError, match="incompatible"):
        layer(ts.zeros(2, 4))


def test_custom_layer_with_add_weight_and_training_argument():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                     name="scale")
            self.count = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def call(self, x, training=False):
            return x * self.w * (2.0 if training else 1.0)

    layer = Scale()
    x = ts.ones(2, 3)
    close(layer(x), np.ones((2, 3)))
    close(layer(x, training=True), 2 * np.ones((2, 3)))
    assert list(layer.state_dict()) == ["w", "count"]
    assert len(layer.trainable_weights) == 1 and len(layer.non_trainable_weights) == 1
    assert layer.get_build_config() == {"input_shape": [None, 3]}


def test_layers_nest_in_torch_style_modules_and_back():
    inner = ts.nn.Linear(4, 3)
    model = keras.Sequential([layers.Dense(4, input_shape=(5,)), inner,
                              layers.Dense(2)])
    assert tuple(model(ts.zeros(7, 5)).shape) == (7, 2)
    assert any(p is inner.weight for p in model.parameters())

    class Net(ts.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = keras.Sequential([layers.Dense(8, activation="relu")])
            self.head = ts.nn.Linear(8, 1)

        def forward(self, x):
            return self.head(self.body(x))
    net = Net()
    out = net(ts.zeros(3, 4))
    out.sum().backward()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["body.0.kernel", "body.0.bias", "head.weight", "head.bias"]
    assert all(p.grad is not None for p in net.parameters())


def test_layer_config_round_trip():
    for layer in [layers.Dense(3, activation="relu", kernel_initializer="he_normal"),
                  layers.Conv2D(4, (3, 2), strides=2, padding="same"),
                  layers.LSTM(5, return_sequences=True), layers.Dropout(0.3),
                  layers.BatchNormalization(momentum=0.9),
                  layers.MultiHeadAttention(2, 4), layers.Embedding(10, 3),
                  layers.Bidirectional(layers.GRU(3))]:
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == {**config, "name": clone.name}
