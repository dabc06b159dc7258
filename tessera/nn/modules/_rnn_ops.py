"""Fused recurrences: one operator runs a whole sequence of one RNN/LSTM/GRU layer.

Each ``*_layer`` operator does the input projection ``W_ih @ x + b`` of every time step
as one GEMM and runs the recurrence over time on backend arrays, keeping the per-step
Python path to a few array calls; ``*_sequence`` takes a ready projection ``xw`` of shape
``(T, B, G)`` instead. Their backward is backpropagation through time, also on arrays,
with each weight's gradient as one GEMM over all steps.

When the backward itself is recorded (``create_graph=True``), the gradients are instead
derived from the same recurrence written with tessera's differentiable operations
(``*_reference`` below), so gradients of gradients work.
"""

import numpy as np

from ... import ops
from ...autograd import grad_mode
from ...autograd.function import Function, _make_tensor
from ...backend import get_array_module, jit, native, parallel

__all__ = ["lstm_layer", "lstm_sequence", "gru_layer", "gru_sequence", "rnn_layer",
           "rnn_sequence", "lstm_reference", "lstm_layer_reference", "gru_reference",
           "gru_layer_reference", "rnn_reference", "rnn_layer_reference"]


def _logistic_(xp, a):
    """In-place logistic function; call under ``np.errstate(over="ignore")`` (overflow of
    exp gives the right limit, 0)."""
    xp.negative(a, out=a)
    xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)
    return a


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


class _Recurrence(Function):
    """A fused recurrence: it keeps its inputs (for double backward) and the arrays its
    backward reads in ``self.saved``, freed with the graph."""

    keeps_inputs = True
    saved = None

    def release(self):
        super().release()
        self.saved = None


def _project_inputs(xp, x, w_ih, b, rows):
    """The input projection of every step, feature-major ``(rows, T, B)``, and ``x`` as a
    ``(T*B, I)`` matrix (None when ``x`` is already the projection and ``w_ih`` absent)."""
    T, B = x.shape[:2]
    if w_ih is None:
        return None, x.reshape(T * B, rows).T.reshape(rows, T, B)  # a view, read per step
    x2 = x.reshape(T * B, x.shape[2])
    proj = xp.matmul(w_ih, x2.T)
    if b is not None:
        proj += b[:, None]
    return x2, proj.reshape(rows, T, B)


def _input_grads(xp, D, x, x2, w_ih, need_dx, need_dw):
    """``dx`` and ``dw_ih`` from the gate gradients ``D`` of all steps, ``(rows, T*B)``:
    one GEMM each."""
    dx = dw_ih = None
    if need_dx:
        dx = D.T.reshape(x.shape) if w_ih is None else \
            xp.matmul(D.T, w_ih._data).reshape(x.shape)
    if need_dw:
        dw_ih = D @ x2
    return dx, dw_ih


def _shifted(xp, out, h0, reverse):
    """The hidden state each step started from: ``out`` shifted by one step in time."""
    # Sliced to T steps: with T = 0 the concatenation would hold h0 alone.
    if reverse:
        return xp.concatenate([out[1:], h0[None]])[:len(out)]
    return xp.concatenate([h0[None], out[:-1]])[:len(out)]


def _state_before(t, states, initial, reverse):
    """The state step ``t`` starts from: ``initial`` for the first step in time order, else
    its neighbour's entry of ``states`` (``(T, ...)``)."""
    T = len(states)
    if t == (T - 1 if reverse else 0):
        return initial
    return states[t + 1 if reverse else t - 1]


def _hidden_weight_grad(D, out, h0, reverse):
    """``sum_t D_t @ h_{t-1}``, the recurrent weight's gradient, from the gate gradients ``D``
    ``(G, T*B)`` and the outputs ``(T, B, H)``, without a shifted copy of the outputs: the
    steps that start from an output are one GEMM, the first step (from ``h0``) another."""
    T, B, H = out.shape
    if reverse:
        grad = D[:, :(T - 1) * B] @ out[1:].reshape(-1, H)
        first = D[:, (T - 1) * B:]
    else:
        grad = D[:, B:] @ out[:-1].reshape(-1, H)
        first = D[:, :B]
    if h0 is not None and T:
        grad += first @ h0
    return grad


def _regrad(reference, inputs, grads, **params):
    """Gradients of ``reference(*inputs)`` for ``grads``, recorded for double backward."""
    from ...autograd import grad

    with grad_mode.enable_grad():
        outs = reference(*inputs, **params)
        # One scalar root: the outputs depend on each other (h_n is the last step of out).
        total = None
        for o, g in zip(outs, grads):
            if g is not None and o.requires_grad:
                term = (o * g).sum()
                total = term if total is None else total + term
    wanted = [i for i, t in enumerate(inputs) if t is not None and t.requires_grad]
    result = [None] * len(inputs)
    if not wanted or total is None:
        return tuple(result)
    found = grad(total, [inputs[i] for i in wanted], create_graph=True, allow_unused=True)
    for i, g in zip(wanted, found):
        result[i] = g
    return tuple(result)


# == Gate rows and whole-sequence loops (LSTM and GRU) ===========================================

_LSTM_GATES = (3, 0, 1, 2)   # o, i, f, g, as indices into PyTorch's i, f, g, o
_GRU_GATES = (0, 1, 2)       # r, z, n: PyTorch's order


def _gate_rows(H, parts, gates):
    """The order of a fused layer's gate rows, as indices into PyTorch's rows: ``parts``
    blocks of ``H / parts`` hidden units, each with its units' rows of every gate, gates in
    the order ``gates`` (indices into PyTorch's gate order). A part's rows are one block for
    the thread that owns them; the LSTM's order o, i, f, g puts the sigmoid gates in one block
    and the gates the cell gradient scales (i, f, g) in another."""
    units = np.arange(H).reshape(parts, H // parts)
    starts = np.array(gates) * H
    return (starts[None, :, None] + units[:, None, :]).reshape(-1)


def _to_rows(a, rows, sigmoid_scale=None):
    """``a``'s gate rows (first axis, PyTorch's order) in the order ``rows`` (None: as they
    are); with ``sigmoid_scale`` (the LSTM's NumPy steps) the o, i, f rows are multiplied by
    it."""
    if rows is None:
        return a
    out = a[rows]
    if sigmoid_scale is not None:
        out[:3 * (len(rows) // 4)] *= sigmoid_scale
    return out


def _from_rows(xp, a, rows):
    """The inverse of :func:`_to_rows`: ``a``'s rows back in PyTorch's order."""
    if rows is None:
        return a
    out = xp.empty_like(a)
    out[rows] = a
    return out


_MIN_SPLIT_STEP_NS = 20_000   # two threads meeting once a step gain from ~25 us steps on
_PROJECTION_BLOCK = 8   # steps of input projection a whole-sequence loop makes at a time


def _split_parts(kernels, T, B, H, inputs, gates):
    """How many threads run a fused layer's compiled loops over the whole sequence
    (``gates`` gates of ``H`` units, ``inputs`` input features), each owning a part of the
    hidden units; 0 where those loops cannot run (no kernels, NumPy's BLAS is not one they
    can call, or an empty dimension BLAS would reject): the steps then go back to Python
    for their GEMMs."""
    if kernels is None or native.sgemm_address() is None or min(B, H, inputs) == 0:
        return 0
    step = parallel.gemm_ns(gates * H * (H + inputs) * B) + parallel.pass_ns(gates * H * B, 8)
    if step < _MIN_SPLIT_STEP_NS:
        return 1
    parts = parallel.threads_together(T * step)
    return parts if H % parts == 0 else 1


def _whole_sequence_inputs(x, proj, w_in, G):
    """What a whole-sequence loop projects from: ``(w_in, x_rows, proj, x2)`` with ``x2`` the
    ``(T*B, I)`` input kept for the weight gradient. With ``w_in`` the loop projects blocks
    of steps into the scratch ``proj``; without (``x`` is the projection), it reads ``proj``
    whole and gets empty ``w_in`` and ``x_rows``."""
    dt = x.dtype
    if w_in is None:
        empty = np.empty((0, 0), dt)
        return empty, empty, proj, None
    T, B = x.shape[:2]
    x2 = np.ascontiguousarray(x.reshape(T * B, x.shape[2]))
    return w_in, x2, np.empty((G, _PROJECTION_BLOCK, B), dt), x2


def _initial_states(h0, H, B, dt):
    """``(2, H, B)``: the hidden state a step reads and the one it writes, feature-major;
    ``h0`` (batch-major, or None for zeros) in the first."""
    h = np.zeros((2, H, B), dt)
    if h0 is not None:
        h[0] = h0.T
    return h


def _run_parts(loop, parts, *args, reverse):
    """``loop`` (a whole-sequence kernel) for each of ``parts`` parts on its own thread; the
    loops' shared arguments ``args`` come after the BLAS and thread arguments, the step
    counters and ``reverse`` after them."""
    flags = np.zeros(16 * parts, np.int64)   # each part's counter on its own cache line
    parallel.run_together(parts, lambda p: loop(native.sgemm_address(),
                                                native.sched_yield_address(), p, parts, *args,
                                                flags, reverse))


# == LSTM =======================================================================================

class LSTMLayer(_Recurrence):
    """``(x, w_ih, w_hh, b, h0, c0) -> (out, h_n, c_n)`` for one LSTM layer and direction.

    ``x`` is ``(T, B, I)``; gates are ordered i, f, g, o. Without ``w_ih`` (and ``b``),
    ``x`` is the input projection ``xw`` ``(T, B, 4H)`` with both biases folded in.

    The recurrence runs feature-major: each step's gates are ``W_hh @ h.T``, a ``(4H, B)``
    array (that GEMM is about 1.4x faster here than ``h @ W_hh.T`` at B=32), so every gate
    is a contiguous ``(H, B)`` block. The input projection is one ``(4H, T*B)`` GEMM, and
    the backward collects every step's gate gradients in one ``(4H, T*B)`` array ``D``, so
    ``dW_ih``, ``dW_hh``, ``db`` and ``dx`` are one GEMM (or sum) each over all steps.

    Inside, the gates' rows are reordered (:func:`_gate_rows`). Three ways to run the steps:

    - with numba and NumPy's usual BLAS, a compiled loop runs the whole sequence, calling
      the BLAS for each step's GEMM itself; on two threads each owns half the hidden units
      (its rows of the GEMM and their gate arithmetic), and the threads meet once a step;
    - with numba and another BLAS, each step is a NumPy GEMM and one compiled call;
    - without numba, NumPy passes: the sigmoid gates' weights halved, since
      ``sigmoid(z) = (1 + tanh(z / 2)) / 2``, so one tanh activates all four gates and one
      multiply-add finishes the sigmoids (11 array calls a step instead of 15).
    """

    def forward(self, x, w_ih, w_hh, b, h0, c0, reverse):
        xp = get_array_module(x)
        T, B = x.shape[:2]
        G = w_hh.shape[0]
        H = G // 4
        dt = x.dtype
        self.reverse = reverse
        kernels = _rnn_kernels(dt)
        self.parts = parts = _split_parts(kernels, T, B, H, x.shape[2], 4)
        self.rows = rows = _gate_rows(H, max(parts, 1), _LSTM_GATES)
        half = None if kernels else 0.5   # the NumPy steps' tanh trick (the kernels need none)
        bias = None if b is None else _to_rows(b, rows, half)
        if kernels is not None and bias is None:
            bias = xp.zeros(G, dt)     # the kernels add the bias step by step
        w_in = None if w_ih is None else _to_rows(w_ih, rows, half)
        w_rec = _to_rows(w_hh, rows, half)
        # Without w_ih, x is the projection (T, B, 4H): its rows, feature-major (4H, T, B).
        proj = None if w_ih is not None else \
            _to_rows(x.reshape(T * B, G).T, rows, half).reshape(G, T, B)
        c = xp.zeros((H, B), dt) if c0 is None else xp.ascontiguousarray(c0.T)
        gates = xp.empty((T, G, B), dt)    # activated gates per step, feature-major
        cells = xp.empty((T, H, B), dt)    # c_t
        tanh_c = xp.empty((T, H, B), dt)
        out = xp.empty((T, B, H), dt)
        state = gates, cells, tanh_c, out
        if parts:
            x2, h_t = _lstm_forward_whole(kernels, parts, x, proj, w_in, w_rec, bias, h0, c,
                                          state, reverse)
        else:
            x2, h_t = _lstm_forward_steps(kernels, x, proj, w_in, w_rec, bias, h0, c, state,
                                          reverse)
        if T:
            c = cells[0 if reverse else T - 1]
        self.saved = (x2, gates, cells, tanh_c, out)
        return out, xp.ascontiguousarray(h_t.T), xp.ascontiguousarray(c.T)

    def backward(self, g_out, g_h, g_c):
        if grad_mode.is_grad_enabled():
            return _regrad(lstm_layer_reference, self.saved_inputs, (g_out, g_h, g_c),
                           reverse=self.reverse)
        x, w_ih, w_hh, b, h0, c0 = self.saved_inputs
        x2, gates, cells, tanh_c, out = self.saved
        xp = get_array_module(gates)
        T, G, B = gates.shape
        H = G // 4
        parts, rows = self.parts, self.rows
        c_first = xp.zeros((H, B), gates.dtype) if c0 is None else \
            xp.ascontiguousarray(c0._data.T)
        w_t = xp.ascontiguousarray(_to_rows(w_hh._data, rows).T)  # the faster GEMM operand
        dh = g_h._data.T.copy()   # written in place: never the caller's gradient
        dc = g_c._data.T.copy()
        D = xp.empty((G, T, B), gates.dtype)  # every step's gate gradients, (4H, T*B)
        gout = xp.ascontiguousarray(g_out._data, dtype=gates.dtype)
        if parts:
            d = xp.empty((2, G, B), gates.dtype)   # a step's gate gradients, double-buffered
            _run_parts(_rnn_kernels(gates.dtype).lstm_backward, parts, w_t, gates, cells,
                       tanh_c, c_first, gout, dh, dc, D, d, reverse=self.reverse)
        else:
            bptt = _lstm_bptt_kernel if _rnn_kernels(gates.dtype) else _lstm_bptt
            bptt(xp, gates, cells, tanh_c, c_first, gout, w_t, dh, dc, D, self.reverse)
        D2 = D.reshape(G, T * B)
        need = self.next_edges
        dx = dw_ih = dw_hh = db = None
        if need[0] is not None:
            dx = _from_rows(xp, D2, rows).T.reshape(x.shape) if w_ih is None else \
                xp.matmul(D2.T, _to_rows(w_ih._data, rows)).reshape(x.shape)
        if need[1] is not None:
            dw_ih = _from_rows(xp, D2 @ x2, rows)
        if need[2] is not None:
            dw_hh = _from_rows(xp, _hidden_weight_grad(D2, out, None if h0 is None else h0._data,
                                                       self.reverse), rows)
        if need[3] is not None:
            db = _from_rows(xp, D2.sum(1), rows)
        return (None if dx is None else _make_tensor(dx),
                None if dw_ih is None else _make_tensor(dw_ih),
                None if dw_hh is None else _make_tensor(dw_hh),
                None if db is None else _make_tensor(db),
                None if need[4] is None else _make_tensor(xp.ascontiguousarray(dh.T)),
                None if need[5] is None else _make_tensor(xp.ascontiguousarray(dc.T)))


def _lstm_forward_whole(kernels, parts, x, proj, w_in, w_rec, bias, h0, c0, state, reverse):
    """The forward as compiled loops over the whole sequence (``kernels.lstm_forward``), one
    per part on its own thread, from the input ``x`` and its weight ``w_in``, or from the
    projection ``proj`` (``w_in`` None); returns ``x`` as a ``(T*B, I)`` matrix (or None) and
    the last hidden state ``(H, B)``."""
    gates, cells, tanh_c, out = state
    T, G, B = gates.shape
    w_in, x_rows, proj, x2 = _whole_sequence_inputs(x, proj, w_in, G)
    h = _initial_states(h0, G // 4, B, gates.dtype)
    _run_parts(kernels.lstm_forward, parts, w_in, x_rows, w_rec, proj, bias, c0, gates, cells,
               tanh_c, out, h, reverse=reverse)
    return x2, h[T % 2]


def _lstm_forward_steps(kernels, x, proj, w_in, w_rec, bias, h0, c, state, reverse):
    """The forward step by step from Python: NumPy's GEMM, then the step's compiled gate
    arithmetic (``kernels``) or NumPy passes (``kernels`` None); arguments and results as
    :func:`_lstm_forward_whole`'s."""
    gates, cells, tanh_c, out = state
    T, G, B = gates.shape
    xp = get_array_module(gates)
    x2 = None
    if w_in is not None:
        x2, proj = _project_inputs(xp, x, w_in, None if kernels else bias, G)
    h = xp.zeros((B, G // 4), gates.dtype) if h0 is None else h0
    ig = None if kernels else xp.empty((G // 4, B), gates.dtype)
    h_t = h.T.copy() if kernels else h.T   # feature-major (H, B); the kernels write it
    for t in _steps(T, reverse):
        xp.matmul(w_rec, h_t, out=gates[t])
        if kernels:
            kernels.lstm_forward_step(gates, proj, bias, c, cells, tanh_c, out, h_t, t)
        else:
            _lstm_forward_step(xp, gates[t], proj[:, t], c, cells[t], tanh_c[t], ig, out[t].T)
            h_t = out[t].T
        c = cells[t]
    return x2, h_t


def _rnn_kernels(dtype):
    """The compiled LSTM and GRU loops for ``dtype`` (float32 only), or None: the NumPy
    path."""
    return jit.load("tessera.nn.modules._rnn_kernels") if dtype == np.float32 else None


def _lstm_forward_step(xp, a, proj_t, c_prev, c, tanh_c, ig, h_t):
    """One forward step in NumPy passes (``_rnn_kernels.lstm_forward_step``'s work): ``a``
    holds ``W_hh @ h.T``, ``h_t`` is the new hidden state feature-major."""
    H = len(c)
    a += proj_t
    xp.tanh(a, out=a)
    sig = a[:3 * H]
    sig *= 0.5
    sig += 0.5
    o, i, f, g = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
    xp.multiply(f, c_prev, out=c)
    xp.multiply(i, g, out=ig)
    c += ig
    xp.tanh(c, out=tanh_c)
    xp.multiply(o, tanh_c, out=h_t)


def _lstm_bptt(xp, gates, cells, tanh_c, c_first, gout, w_t, dh, dc, D, reverse):
    """Backpropagation through time in NumPy passes: fills ``D`` with every step's gate
    gradients and leaves the gradients reaching ``h0`` and ``c0`` in ``dh`` and ``dc``."""
    T, G, B = gates.shape
    H = G // 4
    order = list(_steps(T, reverse))
    # Everything but the recurrence, for all steps at once: each gate's derivative
    # (sigmoid' = s (1 - s) for o, i, f; tanh' = 1 - t^2 for g) times the factor its
    # gradient carries: do = dh tanh(c), di = dc g, df = dc c_prev, dg = dc i.
    dgates = 1 - gates
    dgates *= gates
    gq = gates.reshape(T, 4, H, B)
    dq = dgates.reshape(T, 4, H, B)
    g_all = gq[:, 3]
    xp.multiply(g_all, g_all, out=dq[:, 3])
    xp.subtract(1, dq[:, 3], out=dq[:, 3])
    dq[:, 1] *= g_all
    if T:
        dq[order[0], 2] *= c_first
        if reverse:
            dq[:-1, 2] *= cells[1:]
        else:
            dq[1:, 2] *= cells[:-1]
    dq[:, 3] *= gq[:, 1]
    dq[:, 0] *= tanh_c
    dtanh_c = tanh_c * tanh_c
    xp.subtract(1, dtanh_c, out=dtanh_c)
    d_c = xp.empty_like(dc)
    for t in reversed(order):
        dh += gout[t].T
        xp.multiply(dh, gq[t, 0], out=d_c)
        d_c *= dtanh_c[t]
        d_c += dc
        d = dq[t]
        d[1:] *= d_c
        d[0] *= dh
        xp.multiply(d_c, gq[t, 2], out=dc)
        xp.matmul(w_t, dgates[t], out=dh)
        D[:, t] = dgates[t]


def _lstm_bptt_kernel(xp, gates, cells, tanh_c, c_first, gout, w_t, dh, dc, D, reverse):
    """:func:`_lstm_bptt` with one compiled call per step, writing ``D`` directly."""
    kernels = _rnn_kernels(gates.dtype)
    T = len(gates)
    d = xp.empty(gates.shape[1:], gates.dtype)
    for t in reversed(_steps(T, reverse)):
        c_prev = _state_before(t, cells, c_first, reverse)
        kernels.lstm_backward_step(gates, c_prev, tanh_c, gout, dh, dc, D, d, t)
        xp.matmul(w_t, d, out=dh)


def lstm_reference(xw, w_hh, h0, c0, reverse=False):
    """The LSTM recurrence in differentiable tessera operations (``lstm_sequence``'s
    contract)."""
    T, B, G = xw.shape
    H = G // 4
    h = ops.zeros(B, H, dtype=xw.dtype) if h0 is None else h0
    c = ops.zeros(B, H, dtype=xw.dtype) if c0 is None else c0
    outs = [None] * T
    for t in _steps(T, reverse):
        a = xw[t] + h.matmul(w_hh.t())
        i, f, g, o = a.chunk(4, -1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        outs[t] = h
    return ops.stack(outs), h, c


def lstm_layer_reference(x, w_ih, w_hh, b, h0, c0, reverse=False):
    """``lstm_layer`` in differentiable tessera operations (same contract)."""
    xw = x if w_ih is None else ops.linear(x, w_ih, b)
    return lstm_reference(xw, w_hh, h0, c0, reverse)


def lstm_layer(x, w_ih, w_hh, b=None, h0=None, c0=None, reverse=False):
    """Run one LSTM layer over ``x`` (``(T, B, I)``): the input projection
    ``x @ w_ih.T + b`` and the recurrence with ``w_hh``; returns ``(out, h_n, c_n)``."""
    return LSTMLayer.apply(x, w_ih, w_hh, b, h0, c0, reverse=reverse)


def lstm_sequence(xw, w_hh, h0=None, c0=None, reverse=False):
    """Run one LSTM layer over ``xw`` (``(T, B, 4H)``, the input projection with both
    biases); returns ``(out, h_n, c_n)``."""
    return LSTMLayer.apply(xw, None, w_hh, None, h0, c0, reverse=reverse)


# == GRU ========================================================================================

class GRULayer(_Recurrence):
    """``(x, w_ih, w_hh, b_ih, b_hh, h0) -> (out, h_n)`` for one GRU layer and direction.

    ``x`` is ``(T, B, I)``; gates are ordered r, z, n, and
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` as in PyTorch, so ``b_hh`` stays
    inside the recurrence. Without ``w_ih`` (and ``b_ih``), ``x`` is the input projection
    ``xw`` ``(T, B, 3H)`` with ``b_ih`` folded in.

    Laid out feature-major like :class:`LSTMLayer`: each step's ``W_hh @ h.T`` is a
    ``(3H, B)`` array, and the backward gathers the gate gradients of all steps so that
    every weight, bias and input gradient is one GEMM (or sum). The steps run as the
    LSTM's do: compiled loops over the whole sequence (on two threads, each owning half the
    hidden units, their rows reordered by :func:`_gate_rows`), compiled steps between NumPy
    GEMMs where the BLAS cannot be called from the loops, NumPy passes without numba.
    """

    def forward(self, x, w_ih, w_hh, b_ih, b_hh, h0, reverse):
        xp = get_array_module(x)
        T, B = x.shape[:2]
        G = w_hh.shape[0]
        H = G // 3
        dt = x.dtype
        self.reverse = reverse
        kernels = _rnn_kernels(dt)
        self.parts = parts = _split_parts(kernels, T, B, H, x.shape[2], 3)
        # Reordered only for two parts or more: r, z, n over all units is PyTorch's order.
        self.rows = rows = _gate_rows(H, parts, _GRU_GATES) if parts > 1 else None
        gates = xp.empty((T, G, B), dt)    # activated r, z, n per step, feature-major
        hn = xp.empty((T, H, B), dt)       # W_hn h + b_hn, which r scales
        out = xp.empty((T, B, H), dt)
        if kernels is not None:
            # Without w_ih, x is the projection (T, B, 3H): its rows, feature-major (3H, T, B).
            proj = None if w_ih is not None else \
                xp.ascontiguousarray(_to_rows(x.reshape(T * B, G).T, rows)).reshape(G, T, B)
            w_in = None if w_ih is None else xp.ascontiguousarray(_to_rows(w_ih, rows))
            w_rec = xp.ascontiguousarray(_to_rows(w_hh, rows))
            zeros = xp.zeros(G, dt)
            b_in = zeros if b_ih is None else _to_rows(b_ih, rows)
            b_h = zeros if b_hh is None else _to_rows(b_hh, rows)
            state = gates, hn, out
            if parts:
                x2, h_t = _gru_forward_whole(kernels, parts, x, proj, w_in, w_rec, b_in, b_h,
                                             h0, state, reverse)
            else:
                x2, h_t = _gru_forward_steps(kernels, x, proj, w_in, w_rec, b_in, b_h, h0,
                                             state, reverse)
            self.saved = (x2, gates, hn, out)
            return out, xp.ascontiguousarray(h_t.T)
        x2, proj = _project_inputs(xp, x, w_ih, b_ih, G)
        h = xp.zeros((B, H), dt) if h0 is None else h0
        bh = None if b_hh is None else b_hh[:, None]
        with np.errstate(over="ignore"):  # exp overflow in the sigmoid gives its limit, 0
            for t in _steps(T, reverse):
                a = gates[t]
                xp.matmul(w_hh, h.T, out=a)
                if bh is not None:
                    a += bh
                n = a[2 * H:]
                hn[t] = n
                rz = a[:2 * H]
                rz += proj[:2 * H, t]
                _logistic_(xp, rz)
                n *= a[:H]
                n += proj[2 * H:, t]
                xp.tanh(n, out=n)
                # h' = n + z (h - n)
                h_new = out[t].T
                xp.subtract(h.T, n, out=h_new)
                h_new *= a[H:2 * H]
                h_new += n
                h = out[t]
        self.saved = (x2, gates, hn, out)
        return out, h.copy()

    def backward(self, g_out, g_h):
        if grad_mode.is_grad_enabled():
            return _regrad(gru_layer_reference, self.saved_inputs, (g_out, g_h),
                           reverse=self.reverse)
        x, w_ih, w_hh, b_ih, b_hh, h0 = self.saved_inputs
        x2, gates, hn, out = self.saved
        xp = get_array_module(gates)
        T, G, B = gates.shape
        H = G // 3
        rows = self.rows
        h0a = xp.zeros((B, H), gates.dtype) if h0 is None else xp.ascontiguousarray(h0._data)
        w_t = xp.ascontiguousarray(_to_rows(w_hh._data, rows).T)  # (H, 3H): the faster operand
        dh = g_h._data.T.copy()   # written in place: never the caller's gradient
        need = self.next_edges
        gout = xp.ascontiguousarray(g_out._data, dtype=gates.dtype)
        if self.parts:
            Dh, Dx = xp.empty((G, T, B), gates.dtype), xp.empty((G, T, B), gates.dtype)
            dh_w = xp.zeros_like(dh)
            _run_parts(_rnn_kernels(gates.dtype).gru_backward, self.parts, w_t, gates, hn, out,
                       h0a, gout, dh, dh_w, Dh, Dx, xp.empty((2, G, B), gates.dtype),
                       xp.empty_like(dh), reverse=self.reverse)
            Dh, Dx = Dh.reshape(G, T * B), Dx.reshape(G, T * B)
            dh += dh_w
        else:
            bptt = _gru_bptt_kernel if _rnn_kernels(gates.dtype) else _gru_bptt
            Dh, Dx, dh = bptt(xp, gates, hn, out, h0a, gout, w_t, dh, self.reverse,
                              need[0] is not None or need[1] is not None or need[3] is not None)
        dx = dw_ih = dw_hh = db_ih = db_hh = None
        if need[0] is not None:
            dx = _from_rows(xp, Dx, rows).T.reshape(x.shape) if w_ih is None else \
                xp.matmul(Dx.T, _to_rows(w_ih._data, rows)).reshape(x.shape)
        if need[1] is not None:
            dw_ih = _from_rows(xp, Dx @ x2, rows)
        if need[2] is not None:
            dw_hh = _from_rows(xp, _hidden_weight_grad(Dh, out, None if h0 is None else h0a,
                                                       self.reverse), rows)
        if need[3] is not None:
            db_ih = _from_rows(xp, Dx.sum(1), rows)
        if need[4] is not None:
            db_hh = _from_rows(xp, Dh.sum(1), rows)
        return tuple(None if g is None else _make_tensor(g) for g in
                     (dx, dw_ih, dw_hh, db_ih, db_hh,
                      None if need[5] is None else xp.ascontiguousarray(dh.T)))


def _gru_forward_whole(kernels, parts, x, proj, w_in, w_rec, b_in, b_h, h0, state, reverse):
    """The forward as compiled loops over the whole sequence (``kernels.gru_forward``), one
    per part on its own thread, from the input ``x`` and its weight ``w_in``, or from the
    projection ``proj`` (``w_in`` None); returns ``x`` as a ``(T*B, I)`` matrix (or None) and
    the last hidden state ``(H, B)``."""
    gates, hn, out = state
    T, G, B = gates.shape
    w_in, x_rows, proj, x2 = _whole_sequence_inputs(x, proj, w_in, G)
    h = _initial_states(h0, G // 3, B, gates.dtype)
    _run_parts(kernels.gru_forward, parts, w_in, x_rows, w_rec, proj, b_in, b_h, gates, hn,
               out, h, reverse=reverse)
    return x2, h[T % 2]


def _gru_forward_steps(kernels, x, proj, w_in, w_rec, b_in, b_h, h0, state, reverse):
    """The forward step by step from Python: NumPy's GEMM, then the step's compiled
    arithmetic; arguments and results as :func:`_gru_forward_whole`'s."""
    gates, hn, out = state
    T, G, B = gates.shape
    x2 = None
    if w_in is not None:
        x2, proj = _project_inputs(np, x, w_in, None, G)
    h = _initial_states(h0, G // 3, B, gates.dtype)   # read one, write the other
    for s, t in enumerate(_steps(T, reverse)):
        np.matmul(w_rec, h[s % 2], out=gates[t])
        kernels.gru_forward_step(gates, proj, b_in, b_h, hn, out, h[s % 2], h[(s + 1) % 2], t)
    return x2, h[T % 2]


def _gru_bptt(xp, gates, hn, out, h0, gout, w_t, dh, reverse, need_dx):
    """Backpropagation through time for ``GRULayer`` in NumPy passes: the gradients of
    ``W_hh h + b_hh`` (``Dh``) and, with ``need_dx``, of the input projection (``Dx``), both
    ``(3H, T*B)``, and the gradient reaching ``h0``."""
    T, G, B = gates.shape
    H = G // 3
    dt = gates.dtype
    h_prev = _shifted(xp, out, h0, reverse)            # (T, B, H)
    gq = gates.reshape(T, 3, H, B)
    r, z, n = gq[:, 0], gq[:, 1], gq[:, 2]
    # Every factor but dh, for all steps at once; with dh the gradient of h_t,
    # dn_pre = dh (1 - z)(1 - n^2), dz_pre = dh (h_prev - n) z (1 - z),
    # dr_pre = dn_pre hn r (1 - r), and W_hn h + b_hn receives dn_pre r.
    dn = n * n
    xp.subtract(1, dn, out=dn)
    dn *= 1 - z
    coef = xp.empty((T, 3, H, B), dt)  # gradients of W_hh h + b_hh per unit of dh
    cr, cz, cn = coef[:, 0], coef[:, 1], coef[:, 2]
    xp.subtract(1, r, out=cr)
    cr *= r
    cr *= hn
    cr *= dn
    xp.subtract(h_prev.transpose(0, 2, 1), n, out=cz)
    cz *= z
    xp.subtract(1, z, out=cn)
    cz *= cn
    xp.multiply(dn, r, out=cn)
    dh_all = xp.empty((T, H, B), dt)  # the gradient of each step's h_t
    dh_w = xp.empty((H, B), dt)
    for t in reversed(list(_steps(T, reverse))):
        dh += gout[t].T
        dh_all[t] = dh
        c = coef[t]
        c *= dh
        dh *= z[t]
        xp.matmul(w_t, c.reshape(G, B), out=dh_w)
        dh += dh_w
    Dh = coef.reshape(T, G, B).transpose(1, 0, 2).reshape(G, T * B)
    Dx = None
    if need_dx:
        Dx = xp.empty((G, T, B), dt)
        Dx[:2 * H] = Dh[:2 * H].reshape(2 * H, T, B)
        xp.multiply(dn, dh_all, out=Dx[2 * H:].transpose(1, 0, 2))
        Dx = Dx.reshape(G, T * B)
    return Dh, Dx, dh


def _gru_bptt_kernel(xp, gates, hn, out, h0, gout, w_t, dh, reverse, need_dx):
    """:func:`_gru_bptt` with one compiled call per step, writing ``Dh`` and ``Dx``
    directly."""
    kernels = _rnn_kernels(gates.dtype)
    T, G, B = gates.shape
    Dh, Dx = xp.empty((G, T, B), gates.dtype), xp.empty((G, T, B), gates.dtype)
    d = xp.empty((G, B), gates.dtype)
    dh_w = xp.zeros_like(dh)
    h_prev_t = xp.empty_like(dh)
    for t in reversed(_steps(T, reverse)):
        h_prev = _state_before(t, out, h0, reverse)
        kernels.gru_backward_step(gates, hn, h_prev, gout, dh, dh_w, Dh, Dx, d, h_prev_t, t)
        xp.matmul(w_t, d, out=dh_w)
    dh += dh_w
    return Dh.reshape(G, T * B), Dx.reshape(G, T * B), dh


def gru_reference(xw, w_hh, b_hh, h0, reverse=False):
    """The GRU recurrence in differentiable tessera operations (``gru_sequence``'s
    contract)."""
    T, B, G = xw.shape
    H = G // 3
    h = ops.zeros(B, H, dtype=xw.dtype) if h0 is None else h0
    outs = [None] * T
    for t in _steps(T, reverse):
        hw = h.matmul(w_hh.t())
        if b_hh is not None:
            hw = hw + b_hh
        x_r, x_z, x_n = xw[t].chunk(3, -1)
        h_r, h_z, h_n = hw.chunk(3, -1)
        r = ops.sigmoid(x_r + h_r)
        z = ops.sigmoid(x_z + h_z)
        n = ops.tanh(x_n + r * h_n)
        h = n + z * (h - n)
        outs[t] = h
    return ops.stack(outs), h


def gru_layer_reference(x, w_ih, w_hh, b_ih, b_hh, h0, reverse=False):
    """``gru_layer`` in differentiable tessera operations (same contract)."""
    xw = x if w_ih is None else ops.linear(x, w_ih, b_ih)
    return gru_reference(xw, w_hh, b_hh, h0, reverse)


def gru_layer(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, reverse=False):
    """Run one GRU layer over ``x`` (``(T, B, I)``): the input projection
    ``x @ w_ih.T + b_ih`` and the recurrence with ``w_hh``, ``b_hh``; returns
    ``(out, h_n)``."""
    return GRULayer.apply(x, w_ih, w_hh, b_ih, b_hh, h0, reverse=reverse)


def gru_sequence(xw, w_hh, b_hh=None, h0=None, reverse=False):
    """Run one GRU layer over ``xw`` (``(T, B, 3H)``, the input projection with ``b_ih``);
    returns ``(out, h_n)``."""
    return GRULayer.apply(xw, None, w_hh, None, b_hh, h0, reverse=reverse)


# == Elman RNN ==================================================================================

class RNNLayer(_Recurrence):
    """``(x, w_ih, w_hh, b, h0) -> (out, h_n)`` for one Elman layer and direction:
    ``h' = act(W_ih x + b + W_hh h)``, act tanh or relu.

    ``x`` is ``(T, B, I)``; without ``w_ih`` (and ``b``), ``x`` is the input projection
    ``xw`` ``(T, B, H)`` with both biases folded in. Feature-major like
    :class:`LSTMLayer`: step ``t``'s state is the contiguous ``(H, B)`` array ``acts[t]``,
    the right operand of the next step's GEMM.
    """

    def forward(self, x, w_ih, w_hh, b, h0, reverse, nonlinearity):
        xp = get_array_module(x)
        T, B = x.shape[:2]
        H = w_hh.shape[0]
        dt = x.dtype
        self.reverse, self.nonlinearity = reverse, nonlinearity
        x2, proj = _project_inputs(xp, x, w_ih, b, H)
        h = xp.zeros((H, B), dt) if h0 is None else h0.T
        acts = xp.empty((T, H, B), dt)
        tanh = nonlinearity == "tanh"
        for t in _steps(T, reverse):
            a = acts[t]
            xp.matmul(w_hh, h, out=a)
            a += proj[:, t]
            if tanh:
                xp.tanh(a, out=a)
            else:
                xp.maximum(a, 0, out=a)
            h = a
        out = xp.ascontiguousarray(acts.transpose(0, 2, 1))
        self.saved = (x2, acts, out)
        return out, xp.ascontiguousarray(h.T)

    def backward(self, g_out, g_h):
        if grad_mode.is_grad_enabled():
            return _regrad(rnn_layer_reference, self.saved_inputs, (g_out, g_h),
                           reverse=self.reverse, nonlinearity=self.nonlinearity)
        x, w_ih, w_hh, b, h0 = self.saved_inputs
        x2, acts, out = self.saved
        xp = get_array_module(acts)
        T, H, B = acts.shape
        dt = acts.dtype
        if self.nonlinearity == "tanh":
            d = acts * acts
            xp.subtract(1, d, out=d)
        else:
            d = (acts > 0).astype(dt)
        gout = g_out._data
        w_t = xp.ascontiguousarray(w_hh._data.T)  # the faster GEMM operand
        dh = g_h._data.T.copy()   # written in place: never the caller's gradient
        for t in reversed(list(_steps(T, self.reverse))):
            dh += gout[t].T
            dpre = d[t]
            dpre *= dh                     # now the pre-activation gradient of step t
            xp.matmul(w_t, dpre, out=dh)
        D = xp.ascontiguousarray(d.transpose(1, 0, 2)).reshape(H, T * B)
        need = self.next_edges
        dx, dw_ih = _input_grads(xp, D, x, x2, w_ih, need[0] is not None, need[1] is not None)
        dw_hh = db = None
        if need[2] is not None:
            dw_hh = _hidden_weight_grad(D, out, None if h0 is None else h0._data, self.reverse)
        if need[3] is not None:
            db = D.sum(1)
        return tuple(None if g is None else _make_tensor(g) for g in
                     (dx, dw_ih, dw_hh, db,
                      None if need[4] is None else xp.ascontiguousarray(dh.T)))


def rnn_reference(xw, w_hh, h0, reverse=False, nonlinearity="tanh"):
    """The Elman recurrence in differentiable tessera operations (``rnn_sequence``'s
    contract)."""
    T, B, H = xw.shape
    h = ops.zeros(B, H, dtype=xw.dtype) if h0 is None else h0
    act = ops.tanh if nonlinearity == "tanh" else ops.relu
    outs = [None] * T
    for t in _steps(T, reverse):
        h = act(xw[t] + h.matmul(w_hh.t()))
        outs[t] = h
    return ops.stack(outs), h


def rnn_layer_reference(x, w_ih, w_hh, b, h0, reverse=False, nonlinearity="tanh"):
    """``rnn_layer`` in differentiable tessera operations (same contract)."""
    xw = x if w_ih is None else ops.linear(x, w_ih, b)
    return rnn_reference(xw, w_hh, h0, reverse, nonlinearity)


def rnn_layer(x, w_ih, w_hh, b=None, h0=None, reverse=False, nonlinearity="tanh"):
    """Run one Elman RNN layer over ``x`` (``(T, B, I)``): the input projection
    ``x @ w_ih.T + b`` and the recurrence with ``w_hh``; returns ``(out, h_n)``."""
    return RNNLayer.apply(x, w_ih, w_hh, b, h0, reverse=reverse, nonlinearity=nonlinearity)


def rnn_sequence(xw, w_hh, h0=None, reverse=False, nonlinearity="tanh"):
    """Run one Elman RNN layer over ``xw`` (``(T, B, H)``); returns ``(out, h_n)``."""
    return RNNLayer.apply(xw, None, w_hh, None, h0, reverse=reverse,
                          nonlinearity=nonlinearity)
