"""MultiHeadAttention with Keras's weights: per-head query/key/value kernels
``(dim, num_heads, key_dim)`` and an output kernel ``(num_heads, value_dim, out_dim)``."""

import math

from ... import ops
from ...backend import dtypes
from ...nn import functional as F
from .. import constraints, initializers, regularizers
from .layer import Layer

__all__ = ["MultiHeadAttention"]


def _ser(module, obj):
    return None if obj is None else module.serialize(obj)


class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention (Vaswani 2017), as Keras's layer.

    Args:
        num_heads: number of heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value (``key_dim`` by default).
        dropout: dropout on the attention probabilities during training.
        use_bias: biases in the projections.
        output_shape: the output's last dimension (the query's by default).
        attention_axes: must be None (attention over the sequence axis).

    Call: ``layer(query, value, key=None, attention_mask=None,
    return_attention_scores=False, use_causal_mask=False)``; ``(batch, T, dim)`` query and
    ``(batch, S, dim)`` value/key; ``attention_mask`` ``(batch, T, S)`` is True where
    attention is allowed.
    """

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 seed=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if attention_axes is not None and tuple(
                [attention_axes] if isinstance(attention_axes, int) else attention_axes) \
                not in ((1,), (-2,)):
            raise ValueError("MultiHeadAttention: only attention over the sequence axis "
                             f"(attention_axes=None) is supported, got {attention_axes}")
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.value_dim = int(value_dim) if value_dim is not None else self.key_dim
        self.dropout = float(dropout)
        self.use_bias = use_bias
        if isinstance(output_shape, (list, tuple)):
            if len(output_shape) != 1:
                raise ValueError("MultiHeadAttention: output_shape must be an int or a "
                                 f"1-tuple, got {output_shape}")
            output_shape = output_shape[0]
        self._output_dim = output_shape
        self.attention_axes = None
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed

    def _projection(self, name, shape, bias_shape):
        kernel = self.add_weight(shape=shape, name=f"{name}_kernel",
                                 initializer=self.kernel_initializer,
                                 regularizer=self.kernel_regularizer,
                                 constraint=self.kernel_constraint)
        bias = None
        if self.use_bias:
            bias = self.add_weight(shape=bias_shape, name=f"{name}_bias",
                                   initializer=self.bias_initializer,
                                   regularizer=self.bias_regularizer,
                                   constraint=self.bias_constraint)
        return kernel, bias

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        for what, shape in (("query", query_shape), ("value", value_shape),
                            ("key", key_shape)):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(f"MultiHeadAttention {self.name}: {what} must be "
                                 f"(batch, sequence, features) with known features, got "
                                 f"{shape}")
        h, kd, vd = self.num_heads, self.key_dim, self.value_dim
        self._projection("query", (query_shape[-1], h, kd), (h, kd))
        self._projection("key", (key_shape[-1], h, kd), (h, kd))
        self._projection("value", (value_shape[-1], h, vd), (h, vd))
        out_dim = self._output_dim or query_shape[-1]
        self._projection("output", (h, vd, out_dim), (out_dim,))

    def _project(self, x, name, head_dim):
        kernel = getattr(self, f"{name}_kernel")
        y = ops.matmul(x, kernel.reshape(kernel.shape[0], -1))
        if self.use_bias:
            y = y + getattr(self, f"{name}_bias").reshape(-1)
        b, t = x.shape[0], x.shape[1]
        return y.reshape(b, t, self.num_heads, head_dim).transpose(1, 2)

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=False,
             use_causal_mask=False):
        if query_mask is not None or value_mask is not None or key_mask is not None:
            raise ValueError("MultiHeadAttention: query/value/key masks are not supported; "
                             "pass attention_mask")
        key = value if key is None else key
        q = self._project(query, "query", self.key_dim)
        k = self._project(key, "key", self.key_dim)
        v = self._project(value, "value", self.value_dim)
        T, S = query.shape[1], key.shape[1]
        mask = None
        if attention_mask is not None:
            mask = attention_mask
            if mask.dtype is not dtypes.bool:
                mask = mask > 0.5 if mask.is_floating_point() else mask != 0
            if mask.ndim == 3:  # (batch, T, S): the same mask for every head
                mask = mask.unsqueeze(1)
        if use_causal_mask:
            causal = ops.tril(ops.ones((T, S), dtype=dtypes.bool))
            mask = causal if mask is None else ops.logical_and(mask, causal)
        p = self.dropout if training else 0.0
        if return_attention_scores:
            scores = ops.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.key_dim))
            if mask is not None:
                scores = scores.masked_fill(ops.logical_not(mask), -1e9)
            weights = F.softmax(scores, dim=-1)
            if p:
                weights = F.dropout(weights, p, True)
            attended = ops.matmul(weights, v)
        else:
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        b = query.shape[0]
        attended = attended.transpose(1, 2).reshape(b, T, self.num_heads * self.value_dim)
        out_kernel = self.output_kernel
        out = ops.matmul(attended, out_kernel.reshape(-1, out_kernel.shape[-1]))
        if self.use_bias:
            out = out + self.output_bias
        if return_attention_scores:
            return out, weights
        return out

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        if isinstance(query_shape, list):  # called with the shapes of all inputs
            query_shape = query_shape[0]
        return tuple(query_shape[:-1]) + (self._output_dim or query_shape[-1],)

    def compute_output_spec(self, query, value, key=None, **kwargs):
        from .layer import KerasTensor
        out = KerasTensor(tuple(query.shape[:-1]) + (self._output_dim or query.shape[-1],),
                          self.dtype)
        if kwargs.get("return_attention_scores"):
            scores = KerasTensor((query.shape[0], self.num_heads, query.shape[1],
                                  (key if key is not None else value).shape[1]), self.dtype)
            return out, scores
        return out

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, key_dim=self.key_dim,
                      value_dim=self.value_dim, dropout=self.dropout, use_bias=self.use_bias,
                      output_shape=self._output_dim, attention_axes=None,
                      kernel_initializer=_ser(initializers, self.kernel_initializer),
                      bias_initializer=_ser(initializers, self.bias_initializer),
                      kernel_regularizer=_ser(regularizers, self.kernel_regularizer),
                      bias_regularizer=_ser(regularizers, self.bias_regularizer),
                      kernel_constraint=_ser(constraints, self.kernel_constraint),
                      bias_constraint=_ser(constraints, self.bias_constraint), seed=self.seed)
        return config
