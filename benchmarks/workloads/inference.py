"""Inference workloads: a model in eval mode under no_grad, one forward pass per step."""

from . import Workload, register
from ._common import inference_step, normal, same_weights
from .cnn import IMAGE, forward_flops
from .cnn import make_model as make_cnn

CNN_BATCH = 256


def build_cnn(lib):
    return inference_step(lib, same_weights(make_cnn, lib), normal(lib, (CNN_BATCH, *IMAGE)))


register(Workload("cnn-infer", "CNN inference b256 eval no_grad", build_cnn,
                  flops=forward_flops(CNN_BATCH), trains=False, target=1.2))
