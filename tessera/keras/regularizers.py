"""Weight regularizers: ``reg(weight)`` is a scalar Tensor added to the training loss."""

from .. import ops
from .saving.serialization_lib import deserialize_keras_object, serialize_keras_object

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize",
           "deserialize"]


class Regularizer:
    """Base class: ``__call__(x)`` returns the penalty for weight ``x``."""

    def __call__(self, x):
        return 0.0

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __call__(self, x):
        total = None
        if self.l1:
            total = self.l1 * ops.abs(x).sum()
        if self.l2:
            term = self.l2 * ops.square(x).sum()
            total = term if total is None else total + term
        return total if total is not None else ops.zeros((), dtype=x.dtype)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1=l1, l2=l2)


l1 = L1
l2 = L2

_SERIALIZABLE = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1_l2": l1_l2,
                 "Regularizer": Regularizer}


def get(identifier):
    if identifier is None:
        return None
    if isinstance(identifier, str):
        fn = _SERIALIZABLE.get(identifier)
        if fn is None:
            raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}; "
                             "expected l1, l2 or l1_l2")
        return fn()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret regularizer identifier: {identifier!r}")


def serialize(regularizer):
    return serialize_keras_object(regularizer)


def deserialize(config, custom_objects=None):
    return deserialize_keras_object(config, module_objects=_SERIALIZABLE,
                                    custom_objects=custom_objects,
                                    default_module="keras.regularizers")
