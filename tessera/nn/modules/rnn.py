"""Recurrent layers: RNN, LSTM, GRU and their single-step cells.

Parameter names, shapes, gate orders (LSTM i, f, g, o; GRU r, z, n) and initial states
follow PyTorch, so checkpoints load unchanged. Each layer projects the inputs of all
time steps with one GEMM and runs the recurrence, both inside one fused operator
(see ``_rnn_ops``).
"""

import math
import numbers
import warnings

from ... import ops
from .. import functional as F
from .. import init
from .module import Module
from ._rnn_ops import gru_layer, lstm_layer, rnn_layer
from ._utils import empty_parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


class RNNBase(Module):
    """The parameters, checks and layer loop shared by RNN, LSTM and GRU."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype=None):
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: "
                            f"{type(batch_first).__name__}")
        if not isinstance(input_size, int):
            raise TypeError(f"input_size should be of type int, got: "
                            f"{type(input_size).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: "
                            f"{type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size > 0:
            raise ValueError(f"{name}: proj_size > 0 (LSTM projections) is not supported by "
                             "tessera")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        num_directions = 2 if bidirectional else 1
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input = input_size if layer == 0 else hidden_size * num_directions
                suffix = "_reverse" if direction == 1 else ""
                shapes = [("weight_ih_l{}{}", (gate_size, layer_input)),
                          ("weight_hh_l{}{}", (gate_size, hidden_size))]
                if bias:
                    shapes += [("bias_ih_l{}{}", (gate_size,)), ("bias_hh_l{}{}", (gate_size,))]
                names = []
                for fmt, shape in shapes:
                    pname = fmt.format(layer, suffix)
                    setattr(self, pname, empty_parameter(*shape, device=device, dtype=dtype))
                    names.append(pname)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        """The parameters, one list per layer and direction."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self):
        """A no-op kept for PyTorch compatibility (there is no cuDNN weight buffer)."""

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # -- forward -----------------------------------------------------------------------

    def _name(self):
        return type(self).__name__

    def _prepare(self, input, states):
        """Check the input; make it time-major and batched; check and unbatch the states.

        Returns ``(input, states, is_batched)`` with states a tuple of ``(L*D, B, H)``
        Tensors or None.
        """
        name = self._name()
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D "
                             "tensor instead")
        is_batched = input.ndim == 3
        if not is_batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        if states is not None:
            want = 3 if is_batched else 2
            for s in states:
                if s.ndim != want:
                    kind = "batched 3-D" if is_batched else "unbatched 2-D"
                    raise RuntimeError(f"{name}: For {kind} input, hx should also be {want}-D "
                                       f"but got {s.ndim}-D tensor")
            if not is_batched:
                states = tuple(s.unsqueeze(1) for s in states)
        weight = getattr(self, self._flat_weights_names[0])
        if input.dtype != weight.dtype:
            raise ValueError(f"{name}: input dtype ({input.dtype}) does not match weight dtype "
                             f"({weight.dtype}). Convert input: input.to({weight.dtype}), or "
                             f"convert model: model.to({input.dtype})")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]}")
        if self.batch_first:
            input = input.transpose(0, 1)
        if states is not None:
            expected = (self.num_layers * (2 if self.bidirectional else 1), input.shape[1],
                        self.hidden_size)
            for k, s in enumerate(states):
                if tuple(s.shape) != expected:
                    label = "hidden size" if len(states) == 1 else f"hidden[{k}] size"
                    raise RuntimeError(f"{name}: Expected {label} {expected}, got "
                                       f"{list(s.shape)}")
        return input, states, is_batched

    def _run(self, input, states):
        """The layer loop over time-major ``input``; returns ``(output, final_states)``."""
        num_directions = 2 if self.bidirectional else 1
        per_state = [s.unbind(0) if s is not None else None for s in states]
        finals = [[] for _ in states]
        layer_input = input
        for layer in range(self.num_layers):
            outs = []
            for direction in range(num_directions):
                idx = layer * num_directions + direction
                params = [getattr(self, name) for name in self._all_weights[idx]]
                init_states = [None if s is None else s[idx] for s in per_state]
                result = self._layer(layer_input, params, init_states, direction == 1)
                outs.append(result[0])
                for k, final in enumerate(result[1:]):
                    finals[k].append(final)
            layer_input = outs[0] if num_directions == 1 else ops.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, tuple(ops.stack(f) for f in finals)

    def _finish(self, output, finals, is_batched):
        if self.batch_first:
            output = output.transpose(0, 1)
        if not is_batched:
            output = output.squeeze(0 if self.batch_first else 1)
            finals = tuple(f.squeeze(1) for f in finals)
        return output, finals


def _fold_bias(params):
    """``(w_ih, w_hh, b)`` with ``b = b_ih + b_hh`` (or None without biases)."""
    if len(params) == 4:
        w_ih, w_hh, b_ih, b_hh = params
        return w_ih, w_hh, b_ih + b_hh
    return params[0], params[1], None


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``.

    Args:
        input_size, hidden_size (int), num_layers (int), nonlinearity ("tanh" or "relu"),
        bias (bool), batch_first (bool), dropout (float, between layers),
        bidirectional (bool).

    Shape:
        input ``(L, N, H_in)`` (``(N, L, H_in)`` with batch_first) or ``(L, H_in)``;
        h_0 ``(D * num_layers, N, H)``. Returns ``(output, h_n)``.
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' "
                             "or 'relu'.")
        super().__init__(mode, *args, **kwargs)

    def _layer(self, x, params, states, reverse):
        w_ih, w_hh, b = _fold_bias(params)
        return rnn_layer(x, w_ih, w_hh, b, states[0], reverse, self.nonlinearity)

    def forward(self, input, hx=None):
        input, states, is_batched = self._prepare(input, None if hx is None else (hx,))
        output, finals = self._run(input, states or (None,))
        output, finals = self._finish(output, finals, is_batched)
        return output, finals[0]


class LSTM(RNNBase):
    """Long short-term memory; gates i, f, g, o as in PyTorch.

    Args:
        input_size, hidden_size (int), num_layers (int), bias (bool), batch_first (bool),
        dropout (float, between layers), bidirectional (bool).

    Shape:
        input ``(L, N, H_in)`` (``(N, L, H_in)`` with batch_first); ``hx = (h_0, c_0)``, each
        ``(D * num_layers, N, H)``. Returns ``(output, (h_n, c_n))``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def _layer(self, x, params, states, reverse):
        w_ih, w_hh, b = _fold_bias(params)
        return lstm_layer(x, w_ih, w_hh, b, states[0], states[1], reverse)

    def forward(self, input, hx=None):
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError("LSTM: hx must be a tuple (h_0, c_0) of Tensors")
        input, states, is_batched = self._prepare(input, None if hx is None else tuple(hx))
        output, finals = self._run(input, states or (None, None))
        output, finals = self._finish(output, finals, is_batched)
        return output, finals


class GRU(RNNBase):
    """Gated recurrent unit; gates r, z, n as in PyTorch
    (``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``).

    Arguments and shapes as :class:`RNN` (without nonlinearity). Returns
    ``(output, h_n)``.
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def _layer(self, x, params, states, reverse):
        if len(params) == 4:
            w_ih, w_hh, b_ih, b_hh = params
        else:
            (w_ih, w_hh), b_ih, b_hh = params, None, None
        return gru_layer(x, w_ih, w_hh, b_ih, b_hh, states[0], reverse)

    def forward(self, input, hx=None):
        input, states, is_batched = self._prepare(input, None if hx is None else (hx,))
        output, finals = self._run(input, states or (None,))
        output, finals = self._finish(output, finals, is_batched)
        return output, finals[0]


# == cells ======================================================================================

class RNNCellBase(Module):
    """Parameters ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` of one cell."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = empty_parameter(num_chunks * hidden_size, input_size, device=device,
                                         dtype=dtype)
        self.weight_hh = empty_parameter(num_chunks * hidden_size, hidden_size, device=device,
                                         dtype=dtype)
        if bias:
            self.bias_ih = empty_parameter(num_chunks * hidden_size, device=device, dtype=dtype)
            self.bias_hh = empty_parameter(num_chunks * hidden_size, device=device, dtype=dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _check(self, input, states):
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D "
                             "instead")
        for idx, s in enumerate(states):
            if s is not None and s.ndim not in (1, 2):
                raise ValueError(f"{name}: Expected hx[{idx}] to be 1D or 2D, got {s.ndim}D "
                                 "instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got "
                               f"{input.shape[-1]} expected {self.input_size}")
        is_batched = input.ndim == 2
        if not is_batched:
            input = input.unsqueeze(0)
            states = tuple(None if s is None else s.unsqueeze(0) for s in states)
        for s in states:
            if s is not None and tuple(s.shape) != (input.shape[0], self.hidden_size):
                raise RuntimeError(f"{name}: hidden state has shape {tuple(s.shape)}, expected "
                                   f"{(input.shape[0], self.hidden_size)}")
        return input, states, is_batched


class RNNCell(RNNCellBase):
    """One step of an Elman RNN: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        input, (hx,), is_batched = self._check(input, (hx,))
        b = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        _, h = rnn_layer(input.unsqueeze(0), self.weight_ih, self.weight_hh, b, hx, False,
                         self.nonlinearity)
        return h if is_batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step; ``forward(input, (h, c))`` returns ``(h', c')``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        input, (h0, c0), is_batched = self._check(input, (None, None) if hx is None
                                                  else tuple(hx))
        b = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        _, h, c = lstm_layer(input.unsqueeze(0), self.weight_ih, self.weight_hh, b, h0, c0)
        return (h, c) if is_batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step; ``forward(input, h)`` returns ``h'``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        input, (hx,), is_batched = self._check(input, (hx,))
        _, h = gru_layer(input.unsqueeze(0), self.weight_ih, self.weight_hh, self.bias_ih,
                         self.bias_hh, hx)
        return h if is_batched else h.squeeze(0)
