"""CNN conv(3->32)-relu-pool-conv(32->64)-relu-pool-linear(4096->128)-relu-linear(128->10) on
32x32x3, batch 64, SGD with momentum: one training step."""

from . import Workload, register
from ._common import labels, normal, same_weights, train_step

BATCH = 64
IMAGE = (3, 32, 32)


def make_model(nn):
    # padding=1 keeps each conv's size, so the pools give 32 -> 16 -> 8 and 64 * 8 * 8 = 4096.
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4096, 128), nn.ReLU(), nn.Linear(128, 10))


def forward_flops(batch):
    """GEMM FLOPs of one forward pass: 2 * c_out * h * w * c_in * k * k per conv and sample,
    2 * n_in * n_out per linear and sample; pooling and activations are not counted."""
    conv1 = 2 * 32 * 32 * 32 * 3 * 3 * 3
    conv2 = 2 * 64 * 16 * 16 * 32 * 3 * 3
    linear = 2 * 4096 * 128 + 2 * 128 * 10
    return batch * (conv1 + conv2 + linear)


def build(lib):
    model = same_weights(make_model, lib)
    optimizer = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return train_step(model, optimizer, lib.nn.functional.cross_entropy,
                      normal(lib, (BATCH, *IMAGE)), labels(lib, BATCH, 10))


# Training: 3x the forward (forward, input gradient, weight gradient); conv1's input gradient is
# not needed, so 3x slightly overstates the work done.
register(Workload("cnn", "CNN 32x32x3 b64 SGD-momentum", build, flops=3 * forward_flops(BATCH),
                  target=1.2))
