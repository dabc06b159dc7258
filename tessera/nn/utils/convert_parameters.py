"""Flatten parameters into one vector and back."""

from ... import ops
from ..._tensor import Tensor
from ...autograd.function import _make_tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """One 1-D Tensor with every parameter flattened, in order (differentiable)."""
    return ops.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into the ``.data`` of each parameter."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected tessera.Tensor, but got: {type(vec).__name__}")
    pointer = 0
    for param in parameters:
        n = param.numel()
        if pointer + n > vec.numel():
            raise RuntimeError(f"vector_to_parameters: the vector has {vec.numel()} elements, "
                               "fewer than the parameters need")
        param.data = _make_tensor(vec._data.reshape(-1)[pointer:pointer + n]
                                  .reshape(param._data.shape))
        pointer += n
