"""LSTM, 2 layers, input 256, hidden 256, batch 32, sequence 64, Adam: one training step.

The loss is the mean squared error of all outputs (every time step of the last layer) against
fixed data, so that the backward pass runs through every step's output.
"""

from . import Workload, register
from ._common import normal, same_weights, train_step

LAYERS, INPUT, HIDDEN = 2, 256, 256
BATCH, SEQ = 32, 64


def make_model(nn):
    return nn.LSTM(INPUT, HIDDEN, LAYERS, batch_first=True)


def _output_loss(lib):
    mse_loss = lib.nn.functional.mse_loss

    def loss(result, target):
        output, _ = result
        return mse_loss(output, target)
    return loss


def build(lib):
    model = same_weights(make_model, lib)
    optimizer = lib.optim.Adam(model.parameters(), lr=1e-3)
    return train_step(model, optimizer, _output_loss(lib), normal(lib, (BATCH, SEQ, INPUT)),
                      normal(lib, (BATCH, SEQ, HIDDEN), 3))


# Forward GEMM FLOPs per layer and time step: the four gates, 2 * batch * (n_in + hidden) *
# 4 * hidden (every layer's input here is 256 wide). Training: 3x the forward.
_FORWARD_FLOPS = LAYERS * SEQ * 2 * BATCH * (INPUT + HIDDEN) * 4 * HIDDEN

register(Workload("lstm", "LSTM 2x256 b32 s64 Adam", build, flops=3 * _FORWARD_FLOPS,
                  target=1.2))
