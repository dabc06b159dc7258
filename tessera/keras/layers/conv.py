"""Convolution layers in Keras's layout: channels_last inputs and ``(k..., in, out)``
kernels, computed by tessera's conv operators (which work channels_first)."""

from ...nn import functional as F
from .. import activations, constraints, initializers, regularizers
from ..backend import standardize_data_format
from .layer import InputSpec, Layer

__all__ = ["Conv1D", "Conv2D", "Conv2DTranspose", "Convolution1D", "Convolution2D",
           "Convolution2DTranspose", "conv_output_length", "same_padding"]


def normalize_tuple(value, n, name, allow_zero=False):
    if isinstance(value, int):
        value = (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value}")
    low = 0 if allow_zero else 1
    if any(v < low for v in value):
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def normalize_padding(padding, allowed=("valid", "same")):
    padding = str(padding).lower()
    if padding not in allowed:
        raise ValueError(f"padding must be one of {', '.join(allowed)}, got {padding!r}")
    return padding


def conv_output_length(length, kernel, padding, stride, dilation=1):
    if length is None:
        return None
    k = (kernel - 1) * dilation + 1
    if padding == "same":
        return -(-length // stride)
    if padding == "causal":
        return -(-length // stride)
    return max(0, (length - k) // stride + 1)


def same_padding(length, kernel, stride, dilation=1):
    """TensorFlow's "same": ``(before, after)`` padding, the odd one after."""
    k = (kernel - 1) * dilation + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + k - length, 0)
    return total // 2, total - total // 2


def _pad_spatial(x, pads, value=0.0):
    """Pad the trailing spatial axes of a channels_first tensor by ``[(before, after)]``."""
    flat = []
    for before, after in reversed(pads):
        flat += [before, after]
    if not any(flat):
        return x
    return F.pad(x, flat, value=value)


def _symmetric(pads):
    return all(b == a for b, a in pads)


class _Conv(Layer):
    rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        name = type(self).__name__
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{name}: filters must be a positive integer, got {filters!r}")
        self.filters = filters
        self.kernel_size = normalize_tuple(kernel_size, self.rank, f"{name}: kernel_size")
        self.strides = normalize_tuple(strides, self.rank, f"{name}: strides")
        allowed = ("valid", "same", "causal") if self.rank == 1 else ("valid", "same")
        self.padding = normalize_padding(padding, allowed)
        self.data_format = standardize_data_format(data_format)
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, f"{name}: dilation_rate")
        if self.padding == "same" and max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{name}: strides > 1 together with dilation_rate > 1 is not "
                             "supported with padding='same'")
        self.groups = int(groups)
        if filters % self.groups:
            raise ValueError(f"{name}: filters ({filters}) must be divisible by groups "
                             f"({groups})")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    @property
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (in_channels // self.groups, self.filters)

    def build(self, input_shape):
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(f"{type(self).__name__} {self.name}: the channel dimension of the "
                             f"inputs must be known, got shape {input_shape}")
        if channels % self.groups:
            raise ValueError(f"{type(self).__name__}: input channels ({channels}) must be "
                             f"divisible by groups ({self.groups})")
        self.kernel = self.add_weight(shape=self._kernel_shape(channels), name="kernel",
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.filters,), name="bias",
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis: channels})

    def _torch_kernel(self):
        # (k..., in, out) -> (out, in, k...)
        r = self.rank
        return self.kernel.permute((r + 1, r) + tuple(range(r)))

    def _conv(self, x, weight, bias, stride, padding, dilation):
        conv = F.conv1d if self.rank == 1 else F.conv2d
        return conv(x, weight, bias, stride, padding, dilation, self.groups)

    def call(self, inputs):
        channels_last = self.data_format == "channels_last"
        x = inputs.movedim(-1, 1) if channels_last else inputs
        spatial = x.shape[2:]
        if self.padding == "valid":
            pads = [(0, 0)] * self.rank
        elif self.padding == "causal":
            pads = [((self.kernel_size[0] - 1) * self.dilation_rate[0], 0)]
        else:
            pads = [same_padding(n, k, s, d) for n, k, s, d in
                    zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]
        if _symmetric(pads):
            padding = tuple(b for b, _ in pads)
        else:
            x = _pad_spatial(x, pads)
            padding = 0
        bias = self.bias if self.use_bias else None
        y = self._conv(x, self._torch_kernel(), bias, self.strides, padding,
                       self.dilation_rate)
        if channels_last:
            y = y.movedim(1, -1)
        act = self.activation
        return y if act is activations.linear else act(y)

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            spatial = input_shape[1:-1]
        else:
            spatial = input_shape[2:]
        out = tuple(conv_output_length(n, k, self.padding, s, d) for n, k, s, d in
                    zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        if self.data_format == "channels_last":
            return (input_shape[0],) + out + (self.filters,)
        return (input_shape[0], self.filters) + out

    def get_config(self):
        config = super().get_config()
        ser = (lambda m, o: None if o is None else m.serialize(o))
        config.update(filters=self.filters, kernel_size=list(self.kernel_size),
                      strides=list(self.strides), padding=self.padding,
                      data_format=self.data_format, dilation_rate=list(self.dilation_rate),
                      groups=self.groups, activation=activations.serialize(self.activation),
                      use_bias=self.use_bias,
                      kernel_initializer=ser(initializers, self.kernel_initializer),
                      bias_initializer=ser(initializers, self.bias_initializer),
                      kernel_regularizer=ser(regularizers, self.kernel_regularizer),
                      bias_regularizer=ser(regularizers, self.bias_regularizer),
                      kernel_constraint=ser(constraints, self.kernel_constraint),
                      bias_constraint=ser(constraints, self.bias_constraint))
        return config


class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)`` inputs.

    Args:
        filters: output channels.
        kernel_size, strides, dilation_rate: ints (or 1-tuples).
        padding: "valid", "same" or "causal" (left padding, for sequence models).
        data_format: "channels_last" (default) or "channels_first".
        groups: grouped convolution.
        activation, use_bias, *_initializer, *_regularizer, *_constraint: as in Dense.

    Kernel: ``(kernel_size, in_channels // groups, filters)``.
    """

    rank = 1


class Conv2D(_Conv):
    """2-D convolution over ``(batch, height, width, channels)`` inputs (channels_last).

    Args:
        filters: output channels.
        kernel_size, strides, dilation_rate: ints or pairs.
        padding: "valid" or "same" (TensorFlow's rule: any odd padding goes after).
        data_format: "channels_last" (default) or "channels_first".
        groups: grouped convolution.
        activation, use_bias, *_initializer, *_regularizer, *_constraint: as in Dense.

    Kernel: ``(kh, kw, in_channels // groups, filters)``; ``nn.Conv2d.weight`` is its
    ``permute(3, 2, 0, 1)``.
    """

    rank = 2


class Conv2DTranspose(_Conv):
    """Transposed 2-D convolution (learned upsampling), channels_last.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate: as in Conv2D;
            with "same" the output is ``input * strides``.
        output_padding: extra size added to one side of each output dimension.

    Kernel: ``(kh, kw, filters, in_channels)`` (Keras's layout); the
    ``nn.ConvTranspose2d.weight`` equivalent is its ``permute(3, 2, 0, 1)``.
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         **kwargs)
        self.output_padding = (None if output_padding is None else
                               normalize_tuple(output_padding, 2, "Conv2DTranspose: "
                                               "output_padding", allow_zero=True))
        if self.output_padding is not None:
            for op, s in zip(self.output_padding, self.strides):
                if op >= s:
                    raise ValueError(f"Conv2DTranspose: output_padding {self.output_padding} "
                                     f"must be smaller than strides {self.strides}")

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (self.filters, in_channels)

    def _crops(self, n, k, s, d, op):
        """``(crop_before, crop_after)`` of the full transposed convolution of one axis
        (``(n - 1) * s + keff`` long) giving Keras's output; negative extends it."""
        keff = (k - 1) * d + 1
        if self.padding == "valid":
            op = max(keff, s) - keff if op is None else op
            left, right = keff - 1, keff - 1 + op
        else:
            pad_len = s + keff - 2 if op is None else keff + keff % 2 - 2 + op
            left = min(pad_len // 2 + pad_len % 2, keff - 1)
            right = pad_len - left
        return keff - 1 - left, keff - 1 - right

    def _plans(self, spatial):
        ops_ = self.output_padding or (None,) * self.rank
        return [self._crops(n, k, s, d, op) for n, k, s, d, op in
                zip(spatial, self.kernel_size, self.strides, self.dilation_rate, ops_)]

    def call(self, inputs):
        channels_last = self.data_format == "channels_last"
        x = inputs.movedim(-1, 1) if channels_last else inputs
        weight = self.kernel.permute(3, 2, 0, 1)  # (in, out, kh, kw)
        plans = self._plans(x.shape[2:])
        # torch's padding crops both sides alike; Keras's "same" may crop one pixel more
        # after (or, with large strides, extend): the rest is sliced or padded here.
        common = tuple(max(0, min(b, a)) for b, a in plans)
        rest = [(b - c, a - c) for (b, a), c in zip(plans, common)]
        fused_bias = all(a >= 0 for _, a in rest)
        bias = self.bias if self.use_bias and fused_bias else None
        y = F.conv_transpose2d(x, weight, bias, self.strides, common, 0, 1,
                               self.dilation_rate)
        if any(b or a for b, a in rest):
            index = (slice(None), slice(None)) + tuple(
                slice(b, size - a if a > 0 else None)
                for (b, a), size in zip(rest, y.shape[2:]))
            y = y[index]
            grow = [(0, -a) if a < 0 else (0, 0) for _, a in rest]
            y = _pad_spatial(y, grow)
        if self.use_bias and not fused_bias:
            y = y + self.bias.reshape(-1, 1, 1)
        if channels_last:
            y = y.movedim(1, -1)
        act = self.activation
        return y if act is activations.linear else act(y)

    def compute_output_shape(self, input_shape):
        spatial = input_shape[1:-1] if self.data_format == "channels_last" else input_shape[2:]
        out = []
        for i, n in enumerate(spatial):
            if n is None:
                out.append(None)
                continue
            op = None if self.output_padding is None else self.output_padding[i]
            k, s, d = self.kernel_size[i], self.strides[i], self.dilation_rate[i]
            before, after = self._crops(n, k, s, d, op)
            out.append((n - 1) * s + (k - 1) * d + 1 - before - after)
        if self.data_format == "channels_last":
            return (input_shape[0],) + tuple(out) + (self.filters,)
        return (input_shape[0], self.filters) + tuple(out)

    def get_config(self):
        config = super().get_config()
        config.pop("groups", None)
        config["output_padding"] = (None if self.output_padding is None
                                    else list(self.output_padding))
        return config


# Keras's aliases.
Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose
