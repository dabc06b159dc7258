"""The symbolic side of the functional API: ``KerasTensor`` (a shape and a dtype, no
values), the ``Node`` that records one layer call on them, ``InputSpec`` checks, and the
naming and structure helpers the layers share."""

import re

from .. import backend

__all__ = ["KerasTensor", "Node", "InputSpec", "is_keras_tensor", "unique_name",
           "standardize_shape"]


def _snake_case(name):
    """Keras's layer-name rule: ``Conv2D`` -> ``conv2d``, ``SimpleRNN`` -> ``simple_rnn``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def unique_name(prefix):
    uid = backend.get_uid(prefix)
    return prefix if uid == 1 else f"{prefix}_{uid - 1}"


def standardize_shape(shape):
    if shape is None:
        return None
    if isinstance(shape, int):
        return (shape,)
    return tuple(None if s is None else int(s) for s in shape)


# -- symbolic tensors and graph nodes ----------------------------------------------------

class KerasTensor:
    """A symbolic tensor: a shape (None for unknown sizes) and a dtype, and the layer call
    that produced it. It holds no values; it exists to build functional models."""

    def __init__(self, shape, dtype="float32", name=None, history=None):
        self.shape = standardize_shape(shape)
        self.dtype = str(dtype)
        self.name = name or unique_name("keras_tensor")
        self._keras_history = history

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return (f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, "
                f"name={self.name}>")

    def __array__(self, *args, **kwargs):
        raise TypeError("A KerasTensor is symbolic: it has no values. Use it to build a "
                        "keras.Model(inputs, outputs), then call the model on data")

    def __bool__(self):
        raise TypeError("A symbolic KerasTensor cannot be used as a Python bool")

    def _merge(self, other, layer_name):
        if not isinstance(other, KerasTensor):
            raise TypeError(f"KerasTensor arithmetic is supported between KerasTensors only "
                            f"(got {type(other).__name__}); use a layer such as "
                            f"keras.layers.Rescaling or keras.layers.Lambda")
        from . import merging
        return getattr(merging, layer_name)()([self, other])

    def __add__(self, other):
        return self._merge(other, "Add")

    def __sub__(self, other):
        return self._merge(other, "Subtract")

    def __mul__(self, other):
        return self._merge(other, "Multiply")


def is_keras_tensor(x):
    return isinstance(x, KerasTensor)


def _flatten(struct):
    if isinstance(struct, (list, tuple)):
        return [leaf for s in struct for leaf in _flatten(s)]
    if isinstance(struct, dict):
        return [leaf for v in struct.values() for leaf in _flatten(v)]
    return [struct]


def _map(fn, struct):
    if isinstance(struct, (list, tuple)):
        return type(struct)(_map(fn, s) for s in struct)
    if isinstance(struct, dict):
        return {k: _map(fn, v) for k, v in struct.items()}
    return fn(struct)


def _has_symbolic(args, kwargs):
    for a in args:
        if type(a) is KerasTensor:
            return True
        if isinstance(a, (list, tuple, dict)) and any(
                isinstance(v, KerasTensor) for v in _flatten(a)):
            return True
    for v in kwargs.values():
        if type(v) is KerasTensor:
            return True
    return False


class Node:
    """One call of a layer on symbolic tensors: its arguments and its outputs."""

    def __init__(self, layer, call_args, call_kwargs, outputs):
        self.layer = layer
        self.call_args = call_args
        self.call_kwargs = call_kwargs
        self.outputs = outputs
        self.input_tensors = [t for t in _flatten((call_args, call_kwargs))
                              if isinstance(t, KerasTensor)]
        self.output_tensors = _flatten(outputs)
        node_index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(self)
        for i, t in enumerate(self.output_tensors):
            t._keras_history = (layer, node_index, i)

    @property
    def parent_nodes(self):
        parents = []
        for t in self.input_tensors:
            layer, node_index, _ = t._keras_history
            parents.append(layer._inbound_nodes[node_index])
        return parents


class InputSpec:
    """What a layer accepts: ``ndim`` (exact), ``min_ndim``, ``max_ndim`` and ``axes``
    (``{axis: size}``), checked on every call for a clear error on bad input."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None, allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype = dtype
        self.shape = standardize_shape(shape)
        self.ndim = len(self.shape) if shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.axes = dict(axes or {})
        self.name = name
        self.optional = optional

    def __repr__(self):
        return (f"InputSpec(ndim={self.ndim}, min_ndim={self.min_ndim}, "
                f"max_ndim={self.max_ndim}, axes={self.axes})")


def _check_input_spec(layer, spec, x, index=0):
    shape = tuple(x.shape)
    ndim = len(shape)
    head = f'Input {index} of layer "{layer.name}" is incompatible with the layer: '
    tail = f". Full shape received: {shape}"
    if spec.ndim is not None and ndim != spec.ndim:
        raise ValueError(f"{head}expected ndim={spec.ndim}, found ndim={ndim}{tail}")
    if spec.min_ndim is not None and ndim < spec.min_ndim:
        raise ValueError(f"{head}expected min_ndim={spec.min_ndim}, found ndim={ndim}{tail}")
    if spec.max_ndim is not None and ndim > spec.max_ndim:
        raise ValueError(f"{head}expected max_ndim={spec.max_ndim}, found ndim={ndim}{tail}")
    for axis, size in spec.axes.items():
        if size is not None and -ndim <= axis < ndim and shape[axis] not in (size, None):
            raise ValueError(f"{head}expected axis {axis} of the input to have value {size}, "
                             f"but received input with shape {shape}")
    if spec.shape is not None:
        for expected, got in zip(spec.shape, shape):
            if expected is not None and got is not None and expected != got:
                raise ValueError(f"{head}expected shape={spec.shape}, found shape={shape}")
