"""Shape operators: views (reshape, transpose, expand ...), joins and splits, padding."""

import numpy as np

from ..autograd.function import Function, sum_to_shape
from ._util import broadcast_shapes, wrap_dim

__all__ = ["pad", "reshape", "view", "expand", "broadcast_to", "permute", "transpose", "unsqueeze",
           "squeeze"]


def _infer_shape(shape, numel, op, in_shape):
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred")
    if -1 in shape:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        if known == 0 or numel % known:
            raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    n = 1
    for s in shape:
        if s < 0:
            raise RuntimeError(f"{op}: invalid shape dimension {s}")
        n *= s
    if n != numel:
        raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel} "
                           f"(input shape {tuple(in_shape)})")
    return shape


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


class Reshape(Function):
    is_view = True

    def forward(self, x, shape):
        self.in_shape = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return g.reshape(self.in_shape)


def reshape(input, *shape):
    shape = _infer_shape(_shape_args(shape), input._data.size, "reshape", input._data.shape)
    if shape == input._data.shape:
        return input if input._node is None and not input.requires_grad else \
            Reshape.apply(input, shape=shape)
    return Reshape.apply(input, shape=shape)


def view(input, *shape):
    shape = _infer_shape(_shape_args(shape), input._data.size, "view", input._data.shape)
    return Reshape.apply(input, shape=shape)


class Expand(Function):
    is_view = True

    def forward(self, x, shape):
        self.in_shape = x.shape
        return np.broadcast_to(x, shape)

    def backward(self, g):
        return sum_to_shape(g, self.in_shape)


def expand(input, *sizes):
    sizes = _shape_args(sizes)
    shape = input._data.shape
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({len(shape)})")
    target = tuple(shape[i - lead] if s == -1 and i >= lead else int(s)
                   for i, s in enumerate(sizes))
    for i, s in enumerate(shape):
        if s != 1 and s != target[i + lead]:
            raise RuntimeError(f"expand: the expanded size of the tensor ({target[i + lead]}) "
                               f"must match the existing size ({s}) at non-singleton dimension "
                               f"{i + lead}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                               f"{list(shape)}")
    if target == shape:
        return input
    return Expand.apply(input, shape=target)


def broadcast_to(input, shape):
    broadcast_shapes("broadcast_to", input._data.shape, tuple(shape))
    return expand(input, *shape)


class Permute(Function):
    is_view = True

    def forward(self, x, dims):
        self.dims = dims
        return np.transpose(x, dims)

    def backward(self, g):
        return g.permute(*np.argsort(self.dims).tolist())


def permute(input, *dims):
    dims = _shape_args(dims)
    n = input._data.ndim
    if len(dims) != n:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does "
                           f"not match the length of the desired ordering of dimensions i.e. "
                           f"input.dim() = {n} is not equal to len(dims) = {len(dims)}")
    dims = tuple(wrap_dim(d, n, "permute") for d in dims)
    if len(set(dims)) != n:
        raise RuntimeError("permute: repeated dim")
    return Permute.apply(input, dims=dims)


def transpose(input, dim0, dim1):
    n = input._data.ndim
    if n == 0:
        return input
    d0, d1 = wrap_dim(dim0, n, "transpose"), wrap_dim(dim1, n, "transpose")
    dims = list(range(n))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(input, dims=tuple(dims))


def unsqueeze(input, dim):
    d = wrap_dim(dim, input._data.ndim + 1, "unsqueeze")
    shape = input._data.shape
    return Reshape.apply(input, shape=shape[:d] + (1,) + shape[d:])


def squeeze(input, dim=None):
    shape = input._data.shape
    if dim is None:
        dims = {i for i, s in enumerate(shape) if s == 1}
    else:
        dims = {wrap_dim(d, len(shape), "squeeze") for d in (dim if isinstance(dim, (tuple, list))
                                                             else (dim,))}
        dims = {d for d in dims if shape[d] == 1} if shape else set()
    if not dims:
        return Reshape.apply(input, shape=shape)
    return Reshape.apply(input, shape=tuple(s for i, s in enumerate(shape) if i not in dims))


def pad(*args, **kwargs):  # placeholder while this family is being written
    raise NotImplementedError("pad")
