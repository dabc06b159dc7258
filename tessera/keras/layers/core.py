"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, Embedding,
Rescaling, Lambda, Identity."""

import math

import numpy as np

from ... import ops
from ...nn import functional as F
from .. import activations, constraints, initializers, regularizers
from .layer import InputSpec, Layer

__all__ = ["Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute", "Embedding",
           "Rescaling", "Lambda", "Identity"]


def _ser(module, obj):
    return None if obj is None else module.serialize(obj)


class Dense(Layer):
    """``activation(inputs @ kernel + bias)`` on the last axis.

    Args:
        units: output size.
        activation: a name ("relu") or callable; none by default.
        use_bias: add a bias.
        kernel_initializer, bias_initializer: "glorot_uniform" and "zeros" by default.
        kernel_regularizer, bias_regularizer, activity_regularizer: penalties.
        kernel_constraint, bias_constraint: projections after each update.

    Shape: ``(..., in)`` -> ``(..., units)``; kernel ``(in, units)`` (Keras's layout, the
    transpose of ``nn.Linear.weight``).
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        if lora_rank is not None:
            raise ValueError("Dense: lora_rank is not supported by tessera")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(f"Dense {self.name}: the last dimension of the inputs must be "
                             f"known, got shape {input_shape}")
        self.kernel = self.add_weight(shape=(in_dim, self.units), name="kernel",
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.units,), name="bias",
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_dim})

    def call(self, inputs):
        if self.use_bias and inputs.ndim == 2:
            x = ops.addmm(self.bias, inputs, self.kernel)
        else:
            x = ops.matmul(inputs, self.kernel)
            if self.use_bias:
                x = x + self.bias
        act = self.activation
        return x if act is activations.linear else act(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=activations.serialize(self.activation),
                      use_bias=self.use_bias,
                      kernel_initializer=_ser(initializers, self.kernel_initializer),
                      bias_initializer=_ser(initializers, self.bias_initializer),
                      kernel_regularizer=_ser(regularizers, self.kernel_regularizer),
                      bias_regularizer=_ser(regularizers, self.bias_regularizer),
                      kernel_constraint=_ser(constraints, self.kernel_constraint),
                      bias_constraint=_ser(constraints, self.bias_constraint))
        return config


class Activation(Layer):
    """Apply an activation (by name or callable)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


class Dropout(Layer):
    """Zero a fraction ``rate`` of the inputs during training, scaling the rest by
    ``1 / (1 - rate)``.

    Args:
        rate: the fraction to drop, in [0, 1).
        noise_shape: the shape of the mask (1 where it broadcasts), e.g. ``(batch, 1, C)``.
        seed: accepted for Keras compatibility (tessera's generator decides).
    """

    _keeps_input_dtype = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"Dropout: rate must be in [0, 1], got {rate}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.noise_shape is None:
            return F.dropout(inputs, self.rate, True)
        shape = tuple(inputs.shape[i] if s is None else s
                      for i, s in enumerate(self.noise_shape))
        keep = ops.bernoulli(ops.full(shape, 1.0 - self.rate, dtype=inputs.dtype))
        return inputs * keep / (1.0 - self.rate)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=self.noise_shape, seed=self.seed)
        return config


class Flatten(Layer):
    """Flatten all axes but the batch axis (in channels_last order by default)."""

    _keeps_input_dtype = True

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        from ..backend import standardize_data_format
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = inputs.movedim(1, -1)
        return inputs.reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(s is None for s in rest) else math.prod(rest)
        return (input_shape[0], size)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be -1)."""

    _keeps_input_dtype = True

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(s) for s in target_shape)
        if self.target_shape.count(-1) > 1:
            raise ValueError(f"Reshape: at most one dimension may be -1, got "
                             f"{self.target_shape}")

    def call(self, inputs):
        try:
            return inputs.reshape((inputs.shape[0],) + self.target_shape)
        except RuntimeError as e:
            raise ValueError(f"Reshape {self.name}: cannot reshape samples of shape "
                             f"{tuple(inputs.shape[1:])} to {self.target_shape}") from e

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if -1 in self.target_shape:
            if any(s is None for s in rest):
                return (input_shape[0],) + tuple(None if s == -1 else s
                                                 for s in self.target_shape)
            known = math.prod(s for s in self.target_shape if s != -1)
            total = math.prod(rest)
            if known == 0 or total % known:
                raise ValueError(f"Reshape {self.name}: cannot reshape samples of shape "
                                 f"{tuple(rest)} to {self.target_shape}")
            return (input_shape[0],) + tuple(total // known if s == -1 else s
                                             for s in self.target_shape)
        if None not in rest and math.prod(rest) != math.prod(self.target_shape):
            raise ValueError(f"Reshape {self.name}: total size of the new shape "
                             f"{self.target_shape} must equal that of the input samples "
                             f"{tuple(rest)}")
        return (input_shape[0],) + self.target_shape

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config


class Permute(Layer):
    """Permute the non-batch axes; ``dims`` counts from 1 (``(2, 1)`` swaps the two)."""

    _keeps_input_dtype = True

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(self.dims)}, "
                             f"got {self.dims}")
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, inputs):
        return inputs.permute((0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        config = super().get_config()
        config["dims"] = list(self.dims)
        return config


class Embedding(Layer):
    """Look up rows of an ``(input_dim, output_dim)`` table for integer inputs.

    Args:
        input_dim: vocabulary size.
        output_dim: embedding size.
        embeddings_initializer: "uniform" (in [-0.05, 0.05]) by default.
        mask_zero: not supported (tessera layers carry no masks).
    """

    _keeps_input_dtype = False

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, **kwargs):
        super().__init__(**kwargs)
        if mask_zero:
            raise ValueError("Embedding: mask_zero=True is not supported; tessera's Keras "
                             "layers do not propagate masks")
        if lora_rank is not None:
            raise ValueError("Embedding: lora_rank is not supported by tessera")
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = False
        self._initial_weights = weights
        if weights is not None:
            self.build(None)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim),
                                          name="embeddings",
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(self, inputs):
        if inputs.is_floating_point():
            inputs = inputs.long()
        return F.embedding(inputs, self.embeddings)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(input_dim=self.input_dim, output_dim=self.output_dim,
                      embeddings_initializer=_ser(initializers, self.embeddings_initializer),
                      embeddings_regularizer=_ser(regularizers, self.embeddings_regularizer),
                      embeddings_constraint=_ser(constraints, self.embeddings_constraint),
                      mask_zero=False)
        return config


class Rescaling(Layer):
    """``inputs * scale + offset`` (e.g. ``Rescaling(1 / 255)`` for pixel values)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.offset = offset

    def call(self, inputs):
        if not inputs.is_floating_point():
            inputs = inputs.float()
        out = inputs * self.scale
        return out + self.offset if self.offset else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        scale, offset = self.scale, self.offset
        config.update(scale=scale.tolist() if hasattr(scale, "tolist") else scale,
                      offset=offset.tolist() if hasattr(offset, "tolist") else offset)
        return config


class Lambda(Layer):
    """Wrap a function of tensors as a layer. Lambda layers cannot be saved to a
    ``.keras`` file (that would need to store code); write a small Layer subclass with
    ``get_config`` instead."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, got "
                            f"{type(function).__name__}")
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def get_config(self):
        raise ValueError(f"Lambda layer {self.name} cannot be serialized: tessera does not "
                         "store Python code in saved models. Replace it with a Layer "
                         "subclass that implements get_config()")


class Identity(Layer):
    """Return the inputs unchanged."""

    _keeps_input_dtype = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape
