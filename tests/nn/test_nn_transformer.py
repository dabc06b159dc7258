"""MultiheadAttention and the Transformer layers against torch (dropout 0 or eval mode)."""

import numpy as np
import pytest
import torch

import tessera as ts
from tessera import nn
from tessera.testing import assert_close

from nn_helpers import compare_modules, load_from_torch

RTOL, ATOL = 1e-4, 1e-5


def _pair(name, *args, **kwargs):
    th = getattr(torch.nn, name)(*args, **kwargs)
    tm = getattr(nn, name)(*args, **kwargs)
    load_from_torch(tm, th)
    return tm, th


def _x(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("kwargs", [
    {},
    {"batch_first": True},
    {"bias": False},
    {"kdim": 5, "vdim": 3},
    {"add_bias_kv": True, "add_zero_attn": True},
], ids=["default", "batch_first", "nobias", "kdim_vdim", "bias_kv_zero_attn"])
def test_multihead_attention_matches_torch(kwargs):
    rng = np.random.default_rng(0)
    tm, th = _pair("MultiheadAttention", 8, 2, **kwargs)
    assert repr(tm) == repr(th)
    assert [(k, tuple(v.shape)) for k, v in tm.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in th.state_dict().items()]
    kd, vd = kwargs.get("kdim", 8), kwargs.get("vdim", 8)
    if kwargs.get("batch_first"):
        q, k, v = _x(rng, 3, 4, 8), _x(rng, 3, 5, kd), _x(rng, 3, 5, vd)
    else:
        q, k, v = _x(rng, 4, 3, 8), _x(rng, 5, 3, kd), _x(rng, 5, 3, vd)
    compare_modules(tm, th, [q, k, v], rtol=RTOL, atol=ATOL)
    compare_modules(tm, th, [q, k, v], {"average_attn_weights": False}, rtol=RTOL, atol=ATOL)
    compare_modules(tm, th, [q, k, v], {"need_weights": False}, rtol=RTOL, atol=ATOL)


def test_multihead_self_attention_with_masks():
    rng = np.random.default_rng(1)
    tm, th = _pair("MultiheadAttention", 8, 4, batch_first=True)
    x = _x(rng, 2, 5, 8)
    causal = np.triu(np.ones((5, 5), bool), 1)
    padding = np.array([[False] * 5, [False, False, False, True, True]])
    float_mask = _x(rng, 8, 5, 5)
    for kwargs in [{"attn_mask": causal}, {"key_padding_mask": padding},
                   {"attn_mask": causal, "key_padding_mask": padding},
                   {"attn_mask": float_mask}, {"attn_mask": causal, "need_weights": False}]:
        tm.zero_grad()
        th.zero_grad()
        # self-attention: the same tensor as query, key and value
        compare_modules(_SelfAttention(tm), _SelfAttention(th), [x], kwargs, rtol=RTOL,
                        atol=ATOL)


class _SelfAttention:
    """Calls an attention module with one tensor as query, key and value."""

    def __init__(self, module):
        self.module = module

    def __call__(self, x, **kwargs):
        return self.module(x, x, x, **kwargs)

    def named_parameters(self):
        return self.module.named_parameters()


def test_multihead_attention_unbatched_and_dropout_eval():
    rng = np.random.default_rng(2)
    tm, th = _pair("MultiheadAttention", 6, 3, dropout=0.5)
    tm.eval()
    th.eval()
    q, k = _x(rng, 4, 6), _x(rng, 3, 6)
    compare_modules(tm, th, [q, k, k], {"key_padding_mask": np.array([False, True, False])},
                    rtol=RTOL, atol=ATOL)


def test_multihead_attention_errors():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    mha = nn.MultiheadAttention(8, 2)
    with pytest.raises(ValueError, match="expected `key` and `value` to be 3-D"):
        mha(ts.ones(2, 1, 8), ts.ones(2, 8), ts.ones(2, 8))
    with pytest.raises(ValueError, match="batch size of key and value"):
        mha(ts.ones(2, 1, 8), ts.ones(3, 2, 8), ts.ones(3, 2, 8))
    with pytest.raises(RuntimeError, match="The shape of the 2D attn_mask"):
        mha(ts.ones(2, 1, 8), ts.ones(3, 1, 8), ts.ones(3, 1, 8), attn_mask=ts.ones(2, 2))


@pytest.mark.parametrize("kwargs", [
    {},
    {"norm_first": True, "activation": "gelu", "batch_first": True},
    {"bias": False, "layer_norm_eps": 1e-3},
], ids=["post_norm", "pre_norm_gelu_bf", "nobias"])
def test_encoder_and_decoder_layers(kwargs):
    rng = np.random.default_rng(3)
    enc, th_enc = _pair("TransformerEncoderLayer", 8, 2, dim_feedforward=16, dropout=0.0,
                        **kwargs)
    assert repr(enc) == repr(th_enc)
    shape = (2, 5, 8) if kwargs.get("batch_first") else (5, 2, 8)
    src = _x(rng, *shape)
    mask = np.triu(np.full((5, 5), -np.inf, np.float32), 1)
    compare_modules(enc, th_enc, [src], rtol=RTOL, atol=ATOL)
    compare_modules(enc, th_enc, [src], {"src_mask": mask}, rtol=RTOL, atol=ATOL)
    dec, th_dec = _pair("TransformerDecoderLayer", 8, 2, dim_feedforward=16, dropout=0.0,
                        **kwargs)
    assert repr(dec) == repr(th_dec)
    tshape = (2, 4, 8) if kwargs.get("batch_first") else (4, 2, 8)
    tgt = _x(rng, *tshape)
    compare_modules(dec, th_dec, [tgt, src],
                    {"tgt_mask": np.triu(np.ones((4, 4), bool), 1)}, rtol=RTOL, atol=ATOL)


def test_encoder_stack_with_padding_mask_in_eval():
    rng = np.random.default_rng(4)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3)
    th = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(8),
                                     enable_nested_tensor=False)
    tm = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3), 2,
                               norm=nn.LayerNorm(8), enable_nested_tensor=False)
    load_from_torch(tm, th)
    assert repr(tm) == repr(th)
    th.eval()
    tm.eval()
    src = _x(rng, 5, 2, 8)
    padding = np.array([[False] * 5, [False] * 3 + [True] * 2])
    with torch.no_grad():
        ref = th(torch.tensor(src), src_key_padding_mask=torch.tensor(padding))
    out = tm(ts.tensor(src), src_key_padding_mask=ts.tensor(padding))
    # torch's eval fast path zeroes padded positions of the output; compare the rest
    assert_close(out[:, 0], ref[:, 0], rtol=RTOL, atol=ATOL)
    assert_close(out[:3, 1], ref[:3, 1], rtol=RTOL, atol=ATOL)


def test_full_transformer_matches_torch():
    rng = np.random.default_rng(5)
    th = torch.nn.Transformer(8, 2, 2, 1, 16, dropout=0.0, batch_first=True)
    tm = nn.Transformer(8, 2, 2, 1, 16, dropout=0.0, batch_first=True)
    assert [(k, tuple(v.shape)) for k, v in tm.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in th.state_dict().items()]
    assert repr(tm) == repr(th)
    load_from_torch(tm, th)
    src, tgt = _x(rng, 2, 6, 8), _x(rng, 2, 4, 8)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(4)
    assert_close(tgt_mask, torch.nn.Transformer.generate_square_subsequent_mask(4))
    compare_modules(tm, th, [src, tgt], {"tgt_mask": tgt_mask.numpy()}, rtol=RTOL, atol=ATOL)
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal"):
        tm(ts.ones(2, 6, 8), ts.ones(2, 4, 7))


def test_transformer_init_is_xavier():
    tm = nn.Transformer(16, 2, 1, 1, 32)
    w = tm.encoder.layers[0].linear1.weight.numpy(force=True)
    assert np.abs(w).max() <= np.sqrt(6 / (16 + 32)) + 1e-7


def test_encoder_layer_with_module_activation():
    rng = np.random.default_rng(6)
    th = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=torch.nn.GELU())
    tm = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=nn.GELU())
    assert repr(tm) == repr(th)  # a module activation is a registered child
    load_from_torch(tm, th)
    compare_modules(tm, th, [_x(rng, 3, 2, 8)], rtol=RTOL, atol=ATOL)
    custom = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=lambda x: x * 2)
    assert custom.activation_relu_or_gelu == 0
    assert custom(ts.ones(3, 2, 8)).shape == (3, 2, 8)


@pytest.mark.parametrize("need_weights", [True, False])
def test_multi_head_attention_forward_with_static_key_and_value(need_weights):
    """Heads given as static_k / static_v ``(N * heads, S, head_dim)``, with a zero
    attention slot appended, as PyTorch's functional form."""
    from tessera.nn.modules.attention import multi_head_attention_forward

    rng = np.random.default_rng(3)
    L, N, E, heads, S = 4, 3, 8, 2, 5
    q = _x(rng, L, N, E)
    w_in, b_in = _x(rng, 3 * E, E), _x(rng, 3 * E)
    w_out, b_out = _x(rng, E, E), _x(rng, E)
    static_k, static_v = _x(rng, N * heads, S, E // heads), _x(rng, N * heads, S, E // heads)
    args = (E, heads)
    kwargs = dict(bias_k=None, bias_v=None, add_zero_attn=True, dropout_p=0.0,
                  training=False, need_weights=need_weights)
    theirs = torch.nn.functional.multi_head_attention_forward(
        *(torch.tensor(a) for a in (q, q, q)), *args, torch.tensor(w_in), torch.tensor(b_in),
        out_proj_weight=torch.tensor(w_out), out_proj_bias=torch.tensor(b_out),
        static_k=torch.tensor(static_k), static_v=torch.tensor(static_v), **kwargs)
    ours = multi_head_attention_forward(
        *(ts.tensor(a) for a in (q, q, q)), *args, ts.tensor(w_in), ts.tensor(b_in),
        out_proj_weight=ts.tensor(w_out), out_proj_bias=ts.tensor(b_out),
        static_k=ts.tensor(static_k), static_v=ts.tensor(static_v), **kwargs)
    for mine, ref in zip(ours, theirs):
        if ref is None:
            assert mine is None
        else:
            assert_close(mine, ref.detach().numpy(), rtol=RTOL, atol=ATOL)
