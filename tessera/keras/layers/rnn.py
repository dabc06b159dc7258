"""Recurrent layers with Keras's weight layouts: SimpleRNN, LSTM, GRU and Bidirectional.

Inputs are ``(batch, timesteps, features)``. The input projection of all steps is one
matmul; with the default activations the recurrence runs in tessera's fused sequence
operators (the ones under ``nn.LSTM``/``nn.GRU``), otherwise step by step in
differentiable operations.

Layouts (gates along the last axis): LSTM kernel ``(in, 4u)`` and recurrent kernel
``(u, 4u)`` in the order i, f, c, o (PyTorch's ``weight_ih_l0`` is the kernel's
transpose); GRU (``reset_after=True``) kernel ``(in, 3u)`` in the order z, r, h and bias
``(2, 3u)`` (input and recurrent biases) - PyTorch orders r, z, n.
"""

import copy

import numpy as np

from ... import ops
from ...nn import functional as F
from ...nn.modules._rnn_ops import gru_sequence, lstm_sequence, rnn_sequence
from .. import activations, constraints, initializers, regularizers
from .layer import InputSpec, Layer

__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional"]


def _ser(module, obj):
    return None if obj is None else module.serialize(obj)


class _RNN(Layer):
    gates = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 seed=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        name = type(self).__name__
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"{name}: units must be a positive integer, got {units!r}")
        if stateful:
            raise ValueError(f"{name}: stateful=True is not supported by tessera")
        if recurrent_dropout:
            raise ValueError(f"{name}: recurrent_dropout is not supported by tessera; use "
                             "dropout (on the inputs)")
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = 0.0
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = False
        self.unroll = unroll
        self.seed = seed
        self.input_spec = InputSpec(ndim=3)

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"{type(self).__name__} {self.name}: the feature dimension must "
                             f"be known, got shape {input_shape}")
        g = self.gates * self.units
        self.kernel = self.add_weight(shape=(features, g), name="kernel",
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(shape=(self.units, g), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight(shape=self._bias_shape(), name="bias",
                                        initializer=self._bias_initializer(),
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.input_spec = InputSpec(ndim=3, axes={-1: features})

    def _initial(self, initial_state, batch, dtype, count):
        if initial_state is None:
            return [None] * count
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
            else [initial_state]
        if len(states) != count:
            raise ValueError(f"{type(self).__name__} {self.name}: expected {count} initial "
                             f"state tensor(s), got {len(states)}")
        for s in states:
            if tuple(s.shape) != (batch, self.units):
                raise ValueError(f"{type(self).__name__} {self.name}: initial states must "
                                 f"have shape {(batch, self.units)}, got {tuple(s.shape)}")
        return states

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if mask is not None:
            raise ValueError(f"{type(self).__name__}: masks are not supported by tessera")
        x = sequences
        if self.dropout and training:
            x = F.dropout(x, self.dropout, True)
        batch, steps, _ = x.shape
        # The input projection of every step in one matmul, time-major for the recurrence.
        xw = ops.matmul(x.transpose(0, 1), self._input_kernel())
        if self.use_bias:
            xw = xw + self._input_bias()
        out, states = self._recur(xw, self._initial(initial_state, batch, x.dtype,
                                                    self._state_count()))
        if self.go_backwards:
            out = out.flip(0)  # Keras returns the sequence in processing order
        result = out.transpose(0, 1) if self.return_sequences else states[0]
        if self.return_state:
            return [result] + list(states)
        return result

    def _state_count(self):
        return 1

    def _input_kernel(self):
        return self.kernel

    def _input_bias(self):
        return self.bias

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self._state_count()
        return out

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=activations.serialize(self.activation),
                      use_bias=self.use_bias,
                      kernel_initializer=_ser(initializers, self.kernel_initializer),
                      recurrent_initializer=_ser(initializers, self.recurrent_initializer),
                      bias_initializer=_ser(initializers, self.bias_initializer),
                      kernel_regularizer=_ser(regularizers, self.kernel_regularizer),
                      recurrent_regularizer=_ser(regularizers, self.recurrent_regularizer),
                      bias_regularizer=_ser(regularizers, self.bias_regularizer),
                      kernel_constraint=_ser(constraints, self.kernel_constraint),
                      recurrent_constraint=_ser(constraints, self.recurrent_constraint),
                      bias_constraint=_ser(constraints, self.bias_constraint),
                      dropout=self.dropout, recurrent_dropout=0.0,
                      return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards, stateful=False, unroll=self.unroll,
                      seed=self.seed)
        return config


class SimpleRNN(_RNN):
    """A fully connected recurrence ``h = activation(x @ kernel + h @ recurrent_kernel + b)``.

    Args:
        units: state size.
        activation: "tanh" by default.
        return_sequences: return every step's output ``(batch, steps, units)`` instead of
            the last ``(batch, units)``.
        return_state: also return the final state.
        go_backwards: process the sequence in reverse.
        dropout: dropout on the inputs during training.
    """

    gates = 1

    def __init__(self, units, activation="tanh", **kwargs):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, activation=activation, **kwargs)

    def _recur(self, xw, states):
        h0 = states[0]
        act = self.activation
        if act in (activations.tanh, activations.relu):
            out, h = rnn_sequence(xw, self.recurrent_kernel.t(), h0, reverse=self.go_backwards,
                                  nonlinearity="tanh" if act is activations.tanh else "relu")
            return out, [h]
        steps = range(xw.shape[0] - 1, -1, -1) if self.go_backwards else range(xw.shape[0])
        h = h0 if h0 is not None else ops.zeros(xw.shape[1], self.units, dtype=xw.dtype)
        outs = [None] * xw.shape[0]
        for t in steps:
            h = act(xw[t] + ops.matmul(h, self.recurrent_kernel))
            outs[t] = h
        return ops.stack(outs), [h]

    def get_config(self):
        return super().get_config()


class LSTM(_RNN):
    """Long short-term memory (Hochreiter 1997), Keras's layout (gates i, f, c, o).

    Args:
        units: state size.
        activation: "tanh"; recurrent_activation: "sigmoid".
        unit_forget_bias: initialize the forget gate's bias to 1 (Keras's default).
        return_sequences, return_state, go_backwards, dropout: as in SimpleRNN;
            ``return_state`` adds the final ``h`` and ``c``.
    """

    gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, **kwargs):
        kwargs.pop("implementation", None)
        super().__init__(units, activation=activation,
                         recurrent_activation=recurrent_activation, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    def _state_count(self):
        return 2

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, u = self.bias_initializer, self.units

        def init(shape, dtype=None):
            b = np.array(base((4 * u,), dtype=dtype), copy=True)
            b[u:2 * u] = 1.0
            return b
        return init

    def _recur(self, xw, states):
        h0, c0 = states
        fused = (self.activation is activations.tanh
                 and self.recurrent_activation is activations.sigmoid)
        if fused:
            out, h, c = lstm_sequence(xw, self.recurrent_kernel.t(), h0, c0,
                                      reverse=self.go_backwards)
            return out, [h, c]
        T, B = xw.shape[0], xw.shape[1]
        h = h0 if h0 is not None else ops.zeros(B, self.units, dtype=xw.dtype)
        c = c0 if c0 is not None else ops.zeros(B, self.units, dtype=xw.dtype)
        act, ract = self.activation, self.recurrent_activation
        outs = [None] * T
        for t in (range(T - 1, -1, -1) if self.go_backwards else range(T)):
            z = xw[t] + ops.matmul(h, self.recurrent_kernel)
            i, f, g, o = z.chunk(4, -1)
            c = ract(f) * c + ract(i) * act(g)
            h = ract(o) * act(c)
            outs[t] = h
        return ops.stack(outs), [h, c]

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=activations.serialize(self.recurrent_activation),
                      unit_forget_bias=self.unit_forget_bias)
        return config


class GRU(_RNN):
    """Gated recurrent unit (Cho 2014), Keras's layout (gates z, r, h).

    Args:
        units: state size.
        activation: "tanh"; recurrent_activation: "sigmoid".
        reset_after: apply the reset gate after the recurrent matmul (Keras 3's default and
            PyTorch's formulation); the bias is then ``(2, 3 * units)``.
        return_sequences, return_state, go_backwards, dropout: as in SimpleRNN.
    """

    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, **kwargs):
        kwargs.pop("implementation", None)
        super().__init__(units, activation=activation,
                         recurrent_activation=recurrent_activation, **kwargs)
        self.reset_after = reset_after

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _torch_order(self, w):
        """Columns z, r, h (Keras) -> r, z, n (PyTorch's fused operator)."""
        u = self.units
        return ops.cat([w[..., u:2 * u], w[..., :u], w[..., 2 * u:]], -1)

    def _input_kernel(self):
        return self._torch_order(self.kernel) if self._fused() else self.kernel

    def _input_bias(self):
        b = self.bias[0] if self.reset_after else self.bias
        return self._torch_order(b) if self._fused() else b

    def _fused(self):
        return (self.reset_after and self.activation is activations.tanh
                and self.recurrent_activation is activations.sigmoid)

    def _recur(self, xw, states):
        h0 = states[0]
        if self._fused():
            w_hh = self._torch_order(self.recurrent_kernel).t()
            b_hh = self._torch_order(self.bias[1]) if self.use_bias else None
            out, h = gru_sequence(xw, w_hh, b_hh, h0, reverse=self.go_backwards)
            return out, [h]
        T, B = xw.shape[0], xw.shape[1]
        u = self.units
        h = h0 if h0 is not None else ops.zeros(B, u, dtype=xw.dtype)
        act, ract = self.activation, self.recurrent_activation
        rk = self.recurrent_kernel
        outs = [None] * T
        for t in (range(T - 1, -1, -1) if self.go_backwards else range(T)):
            x_z, x_r, x_h = xw[t].chunk(3, -1)
            if self.reset_after:
                hw = ops.matmul(h, rk)
                if self.use_bias:
                    hw = hw + self.bias[1]
                h_z, h_r, h_h = hw.chunk(3, -1)
                z = ract(x_z + h_z)
                r = ract(x_r + h_r)
                hh = act(x_h + r * h_h)
            else:
                h_z = ops.matmul(h, rk[:, :u])
                h_r = ops.matmul(h, rk[:, u:2 * u])
                z = ract(x_z + h_z)
                r = ract(x_r + h_r)
                hh = act(x_h + ops.matmul(r * h, rk[:, 2 * u:]))
            h = z * h + (1 - z) * hh
            outs[t] = h
        return ops.stack(outs), [h]

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=activations.serialize(self.recurrent_activation),
                      reset_after=self.reset_after)
        return config


class Bidirectional(Layer):
    """Run a recurrent layer forwards and backwards and merge the two outputs.

    Args:
        layer: an RNN layer (SimpleRNN, LSTM, GRU).
        merge_mode: "concat" (default), "sum", "mul", "ave", or None (a list of both).
        backward_layer: the backward layer (a copy of ``layer`` with
            ``go_backwards=True`` by default).
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        if not isinstance(layer, _RNN):
            raise ValueError(f"Bidirectional: expected a recurrent layer (SimpleRNN, LSTM, "
                             f"GRU), got {type(layer).__name__}")
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"Bidirectional: invalid merge_mode {merge_mode!r}; expected "
                             "'concat', 'sum', 'mul', 'ave' or None")
        super().__init__(**kwargs)
        if layer.built:
            raise ValueError("Bidirectional: the wrapped layer must not be built yet")
        config = layer.get_config()
        if backward_layer is None:
            config = dict(config)
            config["name"] = "backward_" + layer.name
            config["go_backwards"] = not layer.go_backwards
            config.pop("batch_input_shape", None)
            backward_layer = type(layer).from_config(config)
        self.forward_layer = layer
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self._initial_weights = weights
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(self, sequences, initial_state=None, training=False):
        fw_state = bw_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            fw_state, bw_state = initial_state[:half], initial_state[half:]
        y = self.forward_layer(sequences, initial_state=fw_state, training=training)
        y_rev = self.backward_layer(sequences, initial_state=bw_state, training=training)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev.flip(1)  # back to input order
        if self.merge_mode == "concat":
            out = ops.cat([y, y_rev], -1)
        elif self.merge_mode == "sum":
            out = y + y_rev
        elif self.merge_mode == "ave":
            out = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            out = y * y_rev
        else:
            out = [y, y_rev]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        state_shapes = []
        if self.return_state:
            shape, state_shapes = shape[0], list(shape[1:]) * 2
        if self.merge_mode == "concat":
            shape = tuple(shape[:-1]) + (shape[-1] * 2,)
        out = [shape, shape] if self.merge_mode is None else shape
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + state_shapes
        return out

    def get_config(self):
        from ..saving.serialization_lib import serialize_keras_object

        def unbuilt(layer):
            c = serialize_keras_object(layer)
            c.pop("build_config", None)  # the wrapper builds both when it is built
            return c
        config = super().get_config()
        config.update(layer=unbuilt(self.forward_layer),
                      backward_layer=unbuilt(self.backward_layer), merge_mode=self.merge_mode)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving.serialization_lib import deserialize_keras_object
        config = copy.deepcopy(config)
        layer = deserialize_keras_object(config.pop("layer"), custom_objects=custom_objects,
                                         default_module="keras.layers")
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = deserialize_keras_object(backward, custom_objects=custom_objects,
                                                default_module="keras.layers")
        return cls(layer, backward_layer=backward, **config)
