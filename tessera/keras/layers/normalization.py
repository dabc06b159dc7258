"""BatchNormalization and LayerNormalization with Keras's defaults (momentum 0.99,
epsilon 1e-3, normalizing the last axis)."""

from ... import ops
from ...nn import functional as F
from .. import constraints, initializers, regularizers
from .layer import InputSpec, Layer

__all__ = ["BatchNormalization", "LayerNormalization"]


def _ser(module, obj):
    return None if obj is None else module.serialize(obj)


class BatchNormalization(Layer):
    """Normalize each feature of ``axis`` with batch statistics in training and moving
    averages in inference.

    Args:
        axis: the feature axis (-1, channels_last).
        momentum: decay of the moving averages (Keras's 0.99 is PyTorch's momentum 0.01).
        epsilon: added to the variance.
        center, scale: learn ``beta`` / ``gamma``.
        *_initializer, *_regularizer, *_constraint: for gamma, beta and the moving stats.

    Weights: gamma, beta (trainable), moving_mean, moving_variance (non-trainable). As in
    PyTorch, the moving variance is updated with the unbiased batch variance. A layer with
    ``trainable=False`` runs in inference mode, as in Keras.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError("BatchNormalization: only a single axis is supported, got "
                                 f"{axis}")
            axis = axis[0]
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.synchronized = synchronized
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def build(self, input_shape):
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(f"BatchNormalization {self.name}: axis {self.axis} of the input "
                             f"shape {input_shape} must be known")
        if self.scale:
            self.gamma = self.add_weight(shape=(dim,), name="gamma",
                                         initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight(shape=(dim,), name="beta",
                                        initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.moving_mean = self.add_weight(shape=(dim,), name="moving_mean",
                                           initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight(shape=(dim,), name="moving_variance",
                                               initializer=self.moving_variance_initializer,
                                               trainable=False)
        self.input_spec = InputSpec(min_ndim=2, axes={self.axis: dim})

    def call(self, inputs, training=False):
        training = bool(training) and self.trainable
        ndim = inputs.ndim
        axis = self.axis % ndim
        gamma = self.gamma if self.scale else None
        beta = self.beta if self.center else None
        if axis == ndim - 1:
            # channels_last: rows of a (-1, C) view share the per-channel statistics.
            shape = inputs.shape
            x = inputs.reshape(-1, shape[-1])
            y = F.batch_norm(x, self.moving_mean, self.moving_variance, gamma, beta,
                             training, 1.0 - self.momentum, self.epsilon)
            return y.reshape(shape)
        x = inputs.movedim(axis, 1) if axis != 1 else inputs
        y = F.batch_norm(x, self.moving_mean, self.moving_variance, gamma, beta, training,
                         1.0 - self.momentum, self.epsilon)
        return y.movedim(1, axis) if axis != 1 else y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon,
                      center=self.center, scale=self.scale,
                      beta_initializer=_ser(initializers, self.beta_initializer),
                      gamma_initializer=_ser(initializers, self.gamma_initializer),
                      moving_mean_initializer=_ser(initializers, self.moving_mean_initializer),
                      moving_variance_initializer=_ser(initializers,
                                                       self.moving_variance_initializer),
                      beta_regularizer=_ser(regularizers, self.beta_regularizer),
                      gamma_regularizer=_ser(regularizers, self.gamma_regularizer),
                      beta_constraint=_ser(constraints, self.beta_constraint),
                      gamma_constraint=_ser(constraints, self.gamma_constraint),
                      synchronized=self.synchronized)
        return config


class LayerNormalization(Layer):
    """Normalize each sample over ``axis`` (the last by default).

    Args:
        axis: an axis or a list of axes to normalize over.
        epsilon: added to the variance (1e-3).
        center, scale: learn ``beta`` / ``gamma``.
        rms_scaling: scale by the root mean square only (no centering), as RMSNorm.
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.rms_scaling = rms_scaling
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def _axes(self, ndim):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        return sorted(a % ndim for a in axes)

    def build(self, input_shape):
        axes = self._axes(len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if any(s is None for s in shape):
            raise ValueError(f"LayerNormalization {self.name}: the normalized axes of "
                             f"{input_shape} must be known")
        if self.scale:
            self.gamma = self.add_weight(shape=shape, name="gamma",
                                         initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight(shape=shape, name="beta",
                                        initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.input_spec = InputSpec(min_ndim=len(input_shape))

    def call(self, inputs):
        ndim = inputs.ndim
        axes = self._axes(ndim)
        gamma = self.gamma if self.scale else None
        beta = self.beta if self.center and not self.rms_scaling else None
        trailing = axes == list(range(ndim - len(axes), ndim))
        if self.rms_scaling:
            ms = ops.square(inputs).mean(dim=tuple(axes), keepdim=True)
            y = inputs * ops.rsqrt(ms + self.epsilon)
            return y * self._broadcast(gamma, axes, ndim) if gamma is not None else y
        if trailing:
            return F.layer_norm(inputs, tuple(inputs.shape[a] for a in axes), gamma, beta,
                                self.epsilon)
        mean = inputs.mean(dim=tuple(axes), keepdim=True)
        var = inputs.var(dim=tuple(axes), keepdim=True, correction=0)
        y = (inputs - mean) * ops.rsqrt(var + self.epsilon)
        if gamma is not None:
            y = y * self._broadcast(gamma, axes, ndim)
        if beta is not None:
            y = y + self._broadcast(beta, axes, ndim)
        return y

    @staticmethod
    def _broadcast(w, axes, ndim):
        shape = [1] * ndim
        for a, s in zip(axes, w.shape):
            shape[a] = s
        return w.reshape(shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, epsilon=self.epsilon, center=self.center,
                      scale=self.scale, rms_scaling=self.rms_scaling,
                      beta_initializer=_ser(initializers, self.beta_initializer),
                      gamma_initializer=_ser(initializers, self.gamma_initializer),
                      beta_regularizer=_ser(regularizers, self.beta_regularizer),
                      gamma_regularizer=_ser(regularizers, self.gamma_regularizer),
                      beta_constraint=_ser(constraints, self.beta_constraint),
                      gamma_constraint=_ser(constraints, self.gamma_constraint))
        return config
