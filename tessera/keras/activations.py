"""Keras activations as functions of tessera Tensors, and ``get``/``serialize`` by name."""

from .. import ops
from ..nn import functional as F
from .saving.serialization_lib import (deserialize_keras_object, get_registered_name,
                                       get_registered_object)

__all__ = ["relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid",
           "hard_silu", "hard_swish", "silu", "swish", "softmax", "log_softmax", "softplus",
           "softsign", "tanh", "exponential", "linear", "mish", "get", "serialize",
           "deserialize"]


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """``max(x, 0)``; with ``negative_slope``, ``max_value`` and ``threshold`` as in Keras."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return F.relu(x)
    if threshold != 0.0:
        below = x < threshold
        y = ops.where(below, negative_slope * (x - threshold), x)
    elif negative_slope != 0.0:
        y = F.leaky_relu(x, negative_slope)
    else:
        y = F.relu(x)
    if max_value is not None:
        y = ops.clamp(y, max=max_value)
    return y


def relu6(x):
    return F.relu6(x)


def leaky_relu(x, negative_slope=0.2):
    return F.leaky_relu(x, negative_slope)


def elu(x, alpha=1.0):
    return F.elu(x, alpha)


def selu(x):
    return F.selu(x)


def gelu(x, approximate=False):
    return F.gelu(x, approximate="tanh" if approximate else "none")


def sigmoid(x):
    return F.sigmoid(x)


def hard_sigmoid(x):
    """``relu6(x + 3) / 6`` (Keras 3's definition)."""
    return F.hardsigmoid(x)


def hard_silu(x):
    return F.hardswish(x)


hard_swish = hard_silu


def silu(x):
    return F.silu(x)


swish = silu


def softmax(x, axis=-1):
    return F.softmax(x, dim=axis)


def log_softmax(x, axis=-1):
    return F.log_softmax(x, dim=axis)


def softplus(x):
    return F.softplus(x)


def softsign(x):
    return F.softsign(x)


def tanh(x):
    return F.tanh(x)


def exponential(x):
    return ops.exp(x)


def linear(x):
    return x


def mish(x):
    return F.mish(x)


_ACTIVATIONS = {fn.__name__: fn for fn in (
    relu, relu6, leaky_relu, elu, selu, gelu, sigmoid, hard_sigmoid, hard_silu, silu, softmax,
    log_softmax, softplus, softsign, tanh, exponential, linear, mish)}
_ACTIVATIONS.update(swish=silu, hard_swish=hard_silu)
_SERIALIZABLE = dict(_ACTIVATIONS)


def get(identifier):
    """The activation for ``identifier``: a name ("relu"), a serialized config, a callable,
    or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _ACTIVATIONS.get(identifier) or get_registered_object(identifier)
        if fn is None:
            raise ValueError(f"Could not interpret activation function identifier: "
                             f"{identifier!r}; expected one of {', '.join(sorted(_ACTIVATIONS))}"
                             " or a callable")
        return fn
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret activation function identifier: {identifier!r} "
                    f"(a {type(identifier).__name__}); expected a name or a callable")


def serialize(activation):
    """The name of a built-in activation, or a serialized callable."""
    for name, fn in _ACTIVATIONS.items():
        if fn is activation:
            return "silu" if fn is silu else "hard_silu" if fn is hard_silu else name
    if hasattr(activation, "get_config"):
        from .saving.serialization_lib import serialize_keras_object
        return serialize_keras_object(activation)
    name = get_registered_name(activation)
    if ">" not in name:
        raise ValueError(f"cannot serialize the activation {activation!r}: register it with "
                         "keras.saving.register_keras_serializable()")
    return name


def deserialize(config, custom_objects=None):
    if isinstance(config, str):
        return get(config) if custom_objects is None or config not in custom_objects \
            else custom_objects[config]
    return deserialize_keras_object(config, module_objects=_SERIALIZABLE,
                                    custom_objects=custom_objects)
