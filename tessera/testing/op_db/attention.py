"""OpInfo entries for tessera/ops/attention.py."""


from ..opinfo import OpInfo, SampleInput, make_array


def _sdpa(m, q, k, v, attn_mask=None, **kwargs):
    return m.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, **kwargs)


def _qkv(rng, q_shape, k_shape, v_shape):
    return make_array(rng, q_shape), make_array(rng, k_shape), make_array(rng, v_shape)


def _samples(rng):
    bool_mask = rng.random((3, 4)) > 0.3
    bool_mask[1] = False  # a query that may attend to nothing: weights and output are 0
    return [
        SampleInput(_qkv(rng, (2, 2, 3, 4), (2, 2, 4, 4), (2, 2, 4, 3))),
        SampleInput(_qkv(rng, (2, 3, 4), (2, 5, 4), (2, 5, 2)), {"is_causal": True}),
        SampleInput(_qkv(rng, (2, 5, 3), (2, 3, 3), (2, 3, 2)), {"is_causal": True,
                                                                 "scale": 0.7}),
        SampleInput(_qkv(rng, (2, 2, 3, 4), (2, 2, 4, 4), (2, 2, 4, 3)) + (bool_mask,)),
        SampleInput(_qkv(rng, (2, 2, 3, 4), (2, 2, 4, 4), (2, 2, 4, 3))
                    + (make_array(rng, (2, 1, 4)),)),
        SampleInput(_qkv(rng, (3, 4), (5, 4), (5, 2))),
        SampleInput(_qkv(rng, (2, 2, 3, 4), (1, 2, 4, 4), (2, 4, 3))),
        SampleInput(_qkv(rng, (1, 4, 3, 2), (1, 2, 4, 2), (1, 2, 4, 3)), {"enable_gqa": True}),
        SampleInput(_qkv(rng, (0, 2, 3, 4), (0, 2, 4, 4), (0, 2, 4, 3))),
    ]


def _dropout_samples(rng):
    return [SampleInput(_qkv(rng, (2, 3, 4), (2, 5, 4), (2, 5, 2)), {"dropout_p": 0.3})]


OP_INFOS = [
    OpInfo("scaled_dot_product_attention", _sdpa, _samples, gradgrad=True, gradcheck_samples=5),
    OpInfo("scaled_dot_product_attention_dropout", _sdpa, _dropout_samples, random=True),
]
