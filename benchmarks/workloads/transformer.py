"""Transformer encoder, 4 layers, d_model 256, 4 heads, feed-forward 1024, batch 16, sequence
128, AdamW: one training step, loss the mean squared error of the output against fixed data."""

from . import Workload, register
from ._common import normal, same_weights, train_step

LAYERS, D_MODEL, HEADS, FF = 4, 256, 4, 1024
BATCH, SEQ = 16, 128


def make_model(nn):
    # dropout 0 so that both libraries compute the same function, step after step.
    layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)


def build(lib):
    model = same_weights(make_model, lib)
    optimizer = lib.optim.AdamW(model.parameters(), lr=1e-3)
    return train_step(model, optimizer, lib.nn.functional.mse_loss,
                      normal(lib, (BATCH, SEQ, D_MODEL)), normal(lib, (BATCH, SEQ, D_MODEL), 3))


# Forward GEMM FLOPs per layer over tokens = batch * seq: the q, k, v and output projections
# 2 * tokens * d * 4d, the feed-forward 2 * tokens * d * ff * 2, and attention's two batched
# products (q k^T and weights @ v) 2 * batch * seq^2 * d each. Training: 3x the forward.
_TOKENS = BATCH * SEQ
_LAYER_FLOPS = (2 * _TOKENS * D_MODEL * 4 * D_MODEL + 2 * _TOKENS * D_MODEL * FF * 2
                + 2 * 2 * BATCH * SEQ * SEQ * D_MODEL)

register(Workload("transformer", "Transformer enc 4x256 b16 s128 AdamW", build,
                  flops=3 * LAYERS * _LAYER_FLOPS, target=1.1))
