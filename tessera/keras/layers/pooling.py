"""Pooling layers, channels_last by default, with TensorFlow's "same" padding (padded
cells are ignored: -inf for max pooling, left out of the count for average pooling)."""

import math

from ... import ops
from ...nn import functional as F
from ..backend import standardize_data_format
from .conv import _pad_spatial, conv_output_length, normalize_padding, normalize_tuple, \
    same_padding
from .layer import InputSpec, Layer

__all__ = ["MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
           "GlobalMaxPooling2D", "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D",
           "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D"]


class _Pooling(Layer):
    rank = 2
    mode = "max"
    _keeps_input_dtype = True

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.pool_size = normalize_tuple(pool_size, self.rank, f"{name}: pool_size")
        self.strides = (self.pool_size if strides is None
                        else normalize_tuple(strides, self.rank, f"{name}: strides"))
        self.padding = normalize_padding(padding)
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        channels_last = self.data_format == "channels_last"
        x = inputs.movedim(-1, 1) if channels_last else inputs
        if self.padding == "same":
            pads = [same_padding(n, k, s) for n, k, s in
                    zip(x.shape[2:], self.pool_size, self.strides)]
        else:
            pads = [(0, 0)] * self.rank
        y = self._pool(x, pads)
        return y.movedim(1, -1) if channels_last else y

    def _pool(self, x, pads):
        k, s = self.pool_size, self.strides
        symmetric = all(b == a for b, a in pads) and all(b <= kk // 2 for (b, _), kk in
                                                       zip(pads, k))
        if self.mode == "max":
            fn = F.max_pool1d if self.rank == 1 else F.max_pool2d
            if symmetric:
                return fn(x, k, s, tuple(b for b, _ in pads))
            return fn(_pad_spatial(x, pads, value=-math.inf), k, s)
        fn = F.avg_pool1d if self.rank == 1 else F.avg_pool2d
        if symmetric:
            return fn(x, k, s, tuple(b for b, _ in pads), count_include_pad=False)
        # Asymmetric "same": average of the real cells = pooled sum / pooled count.
        total = fn(_pad_spatial(x, pads), k, s)
        ones = ops.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
        count = fn(_pad_spatial(ones, pads), k, s)
        return total / count

    def compute_output_shape(self, input_shape):
        channels_last = self.data_format == "channels_last"
        spatial = input_shape[1:-1] if channels_last else input_shape[2:]
        out = tuple(conv_output_length(n, k, self.padding, s) for n, k, s in
                    zip(spatial, self.pool_size, self.strides))
        if channels_last:
            return (input_shape[0],) + out + (input_shape[-1],)
        return (input_shape[0], input_shape[1]) + out

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=list(self.pool_size), strides=list(self.strides),
                      padding=self.padding, data_format=self.data_format)
        return config


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps of ``(batch, steps, channels)`` inputs."""

    rank = 1


class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows of ``(batch, height, width, channels)`` inputs.

    Args:
        pool_size: window size (2 by default).
        strides: the step (``pool_size`` by default).
        padding: "valid" or "same".
        data_format: "channels_last" (default) or "channels_first".
    """

    rank = 2


class AveragePooling1D(_Pooling):
    rank = 1
    mode = "avg"


class AveragePooling2D(_Pooling):
    """Average over ``pool_size`` windows (arguments as MaxPooling2D)."""

    rank = 2
    mode = "avg"


class _GlobalPooling(Layer):
    rank = 2
    mode = "avg"
    _keeps_input_dtype = True

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = keepdims
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        if self.data_format == "channels_last":
            dims = tuple(range(1, self.rank + 1))
        else:
            dims = tuple(range(2, self.rank + 2))
        if self.mode == "avg":
            return inputs.mean(dim=dims, keepdim=self.keepdims)
        return inputs.amax(dim=dims, keepdim=self.keepdims)

    def compute_output_shape(self, input_shape):
        channels_last = self.data_format == "channels_last"
        if self.keepdims:
            if channels_last:
                return (input_shape[0],) + (1,) * self.rank + (input_shape[-1],)
            return (input_shape[0], input_shape[1]) + (1,) * self.rank
        return (input_shape[0], input_shape[-1] if channels_last else input_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


class GlobalAveragePooling1D(_GlobalPooling):
    rank = 1
    mode = "avg"


class GlobalAveragePooling2D(_GlobalPooling):
    """Average over height and width: ``(batch, h, w, c)`` -> ``(batch, c)``."""

    rank = 2
    mode = "avg"


class GlobalMaxPooling1D(_GlobalPooling):
    rank = 1
    mode = "max"


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over height and width: ``(batch, h, w, c)`` -> ``(batch, c)``."""

    rank = 2
    mode = "max"


# Keras's aliases.
MaxPool1D, MaxPool2D = MaxPooling1D, MaxPooling2D
AvgPool1D, AvgPool2D = AveragePooling1D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
