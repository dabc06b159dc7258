"""Keras optimizers with Keras's names and defaults, running tessera.optim's update rules.

A Keras optimizer is created before the model's weights exist; it builds its
``tessera.optim`` optimizer on the first step from the model's trainable weights. Weight
decay is decoupled (``w -= lr * weight_decay * w``) for every optimizer, as in Keras, and
``clipnorm``/``clipvalue``/``global_clipnorm`` clip the gradients first.

Note on epsilon: Keras adds epsilon to ``sqrt(v)`` before the bias correction, PyTorch after;
with Keras's epsilon of 1e-7 the two differ only in the least significant digits.
"""

import math

import numpy as np

from ... import optim
from ..._tensor import Tensor
from ...autograd.function import _make_tensor
from ..saving.serialization_lib import deserialize_keras_object, serialize_keras_object
from . import schedules
from .schedules import LearningRateSchedule

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "Nadam",
           "schedules", "get", "serialize", "deserialize"]


class Optimizer:
    """Base class of Keras optimizers (see the module docstring).

    Args:
        learning_rate: a float or a ``LearningRateSchedule``.
        weight_decay: decoupled weight decay (None: none).
        clipnorm: clip each gradient to this norm.
        clipvalue: clip each gradient's values to [-clipvalue, clipvalue].
        global_clipnorm: clip all gradients together to this norm.
        name: the optimizer's name.
    """

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(kwargs)}")
        if use_ema:
            raise ValueError(f"{type(self).__name__}: use_ema is not supported by tessera")
        if gradient_accumulation_steps:
            raise ValueError(f"{type(self).__name__}: gradient_accumulation_steps is not "
                             "supported by tessera")
        if sum(v is not None for v in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can "
                             "be set")
        if not isinstance(learning_rate, LearningRateSchedule) and not callable(learning_rate):
            learning_rate = float(learning_rate)
            if learning_rate < 0:
                raise ValueError(f"{type(self).__name__}: learning_rate must be >= 0, got "
                                 f"{learning_rate}")
        self._learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.loss_scale_factor = loss_scale_factor
        self.name = name or _snake(type(self).__name__)
        self.iterations = 0
        self._inner = None
        self._params = None

    # -- learning rate --------------------------------------------------------------------

    @property
    def learning_rate(self):
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule) or callable(lr):
            return float(lr(self.iterations))
        return lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object "
                            "as its `learning_rate` constructor argument, hence its learning "
                            "rate is not settable")
        if isinstance(value, Tensor):
            value = value.item()
        self._learning_rate = float(value)
        self._sync_lr()

    lr = learning_rate

    def _sync_lr(self):
        if self._inner is not None:
            lr = self.learning_rate
            for group in self._inner.param_groups:
                group["lr"] = lr

    # -- building and stepping ------------------------------------------------------------

    @property
    def built(self):
        return self._inner is not None

    @property
    def variables(self):
        return list(self._params or [])

    def build(self, variables):
        """Create the update rule's state for these weights."""
        params = [v for v in variables]
        if not params:
            raise ValueError(f"{type(self).__name__}: no trainable weights to optimize")
        self._params = params
        self._inner = self._make(params, self.learning_rate)

    def _make(self, params, lr):
        raise NotImplementedError(f"{type(self).__name__} must implement _make")

    def zero_grad(self, set_to_none=True):
        for p in self._params or []:
            p.grad = None

    def _clip(self):
        grads = [p.grad for p in self._params if p.grad is not None]
        if self.clipvalue is not None:
            for g in grads:
                np.clip(g._data, -self.clipvalue, self.clipvalue, out=g._data)
        elif self.clipnorm is not None:
            for g in grads:
                norm = float(np.sqrt(np.sum(np.square(g._data, dtype=np.float64))))
                if norm > self.clipnorm:
                    g._data *= self.clipnorm / norm
        elif self.global_clipnorm is not None:
            total = math.sqrt(sum(float(np.sum(np.square(g._data, dtype=np.float64)))
                                  for g in grads))
            if total > self.global_clipnorm:
                scale = self.global_clipnorm / total
                for g in grads:
                    g._data *= scale

    def step(self):
        """One update from the gradients in ``.grad``."""
        if self._inner is None:
            raise RuntimeError(f"{type(self).__name__}: build(variables) (or compile and fit "
                               "a model) before stepping")
        if self.clipnorm is not None or self.clipvalue is not None \
                or self.global_clipnorm is not None:
            self._clip()
        if not isinstance(self._learning_rate, float):
            self._sync_lr()
        if self.weight_decay:
            shrink = 1.0 - self.learning_rate * self.weight_decay
            for p in self._params:
                if p.grad is not None:
                    p._data *= shrink
        self._inner.step()
        self.iterations += 1

    def apply(self, grads, trainable_variables=None):
        """Apply ``grads`` to ``trainable_variables`` (the built variables by default)."""
        variables = list(trainable_variables) if trainable_variables is not None \
            else self._params
        if variables is None:
            raise ValueError(f"{type(self).__name__}.apply: give trainable_variables on the "
                             "first call")
        grads = list(grads)
        if len(grads) != len(variables):
            raise ValueError(f"{type(self).__name__}.apply: {len(grads)} gradients for "
                             f"{len(variables)} variables")
        if self._inner is None:
            self.build(variables)
        for v, g in zip(variables, grads):
            v.grad = None if g is None else (g if isinstance(g, Tensor)
                                             else _make_tensor(np.asarray(g, v._data.dtype)))
        self.step()

    def apply_gradients(self, grads_and_vars):
        """Keras 2's form: ``apply_gradients(zip(grads, variables))``."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    # -- state ----------------------------------------------------------------------------

    def state_dict(self):
        state = {"iterations": self.iterations}
        if self._inner is not None:
            state["optimizer"] = self._inner.state_dict()
        return state

    def load_state_dict(self, state):
        self.iterations = int(state.get("iterations", 0))
        if "optimizer" in state:
            if self._inner is None:
                raise RuntimeError(f"{type(self).__name__}: build the optimizer before "
                                   "loading its state")
            self._inner.load_state_dict(state["optimizer"])
            self._sync_lr()

    def get_config(self):
        lr = self._learning_rate
        return {"name": self.name,
                "learning_rate": serialize_keras_object(lr) if not isinstance(lr, float)
                else lr,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "loss_scale_factor": self.loss_scale_factor}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = deserialize_keras_object(
                lr, module_objects=_SCHEDULES, custom_objects=custom_objects)
        for key in ("use_ema", "ema_momentum", "ema_overwrite_frequency",
                    "gradient_accumulation_steps", "is_legacy_optimizer", "jit_compile"):
            config.pop(key, None)
        return cls(**config)

    def __repr__(self):
        return f"<keras.optimizers.{type(self).__name__} learning_rate={self.learning_rate}>"


def _snake(name):
    return "".join("_" + c.lower() if c.isupper() and i else c.lower()
                   for i, c in enumerate(name))


class SGD(Optimizer):
    """Gradient descent with optional momentum (Keras defaults: learning_rate 0.01)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="SGD", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name=name, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum}")
        self.momentum = momentum
        self.nesterov = nesterov

    def _make(self, params, lr):
        return optim.SGD(params, lr=lr, momentum=self.momentum, nesterov=self.nesterov)

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, nesterov=self.nesterov)
        return config


class Adam(Optimizer):
    """Adam (Keras defaults: learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="adam", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def _make(self, params, lr):
        return optim.Adam(params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                          amsgrad=self.amsgrad)

    def get_config(self):
        config = super().get_config()
        config.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                      amsgrad=self.amsgrad)
        return config


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras default weight_decay 0.004)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="adamw", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad,
                         weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)


class RMSprop(Optimizer):
    """RMSprop (Keras defaults: learning_rate 0.001, rho 0.9, epsilon 1e-7)."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="rmsprop", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name=name, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def _make(self, params, lr):
        return optim.RMSprop(params, lr=lr, alpha=self.rho, eps=self.epsilon,
                             momentum=self.momentum, centered=self.centered)

    def get_config(self):
        config = super().get_config()
        config.update(rho=self.rho, momentum=self.momentum, epsilon=self.epsilon,
                      centered=self.centered)
        return config


class Adagrad(Optimizer):
    """Adagrad (Keras defaults: learning_rate 0.001, initial_accumulator_value 0.1)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="adagrad", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name=name, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _make(self, params, lr):
        return optim.Adagrad(params, lr=lr, eps=self.epsilon,
                             initial_accumulator_value=self.initial_accumulator_value)

    def get_config(self):
        config = super().get_config()
        config.update(initial_accumulator_value=self.initial_accumulator_value,
                      epsilon=self.epsilon)
        return config


class Adamax(Adam):
    """Adamax (Keras defaults: learning_rate 0.001, epsilon 1e-7)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="adamax", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, False,
                         weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)

    def _make(self, params, lr):
        return optim.Adamax(params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.pop("amsgrad", None)
        return config


class Nadam(Adamax):
    """Nadam: Adam with Nesterov momentum (Keras defaults: learning_rate 0.001)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="nadam", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)

    def _make(self, params, lr):
        return optim.NAdam(params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon)


_CLASSES = {c.__name__: c for c in (SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, Nadam)}
_NAMES = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
          "adamax": Adamax, "nadam": Nadam}
_SCHEDULES = {c.__name__: c for c in (
    schedules.ExponentialDecay, schedules.PiecewiseConstantDecay, schedules.InverseTimeDecay,
    schedules.PolynomialDecay, schedules.CosineDecay)}
_SERIALIZABLE = dict(_CLASSES)
_SERIALIZABLE.update(_SCHEDULES)


def get(identifier):
    """An optimizer from a name ("adam", "sgd", "rmsprop" ...), a config dict, a Keras
    optimizer, or a ``tessera.optim`` optimizer (used as it is)."""
    if isinstance(identifier, (Optimizer, optim.Optimizer)):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}; "
                             f"expected one of {', '.join(sorted(_NAMES))}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise TypeError(f"Could not interpret optimizer identifier: {identifier!r} (a "
                    f"{type(identifier).__name__})")


def serialize(optimizer):
    return serialize_keras_object(optimizer)


def deserialize(config, custom_objects=None):
    return deserialize_keras_object(config, module_objects=_SERIALIZABLE,
                                    custom_objects=custom_objects,
                                    default_module="keras.optimizers")
