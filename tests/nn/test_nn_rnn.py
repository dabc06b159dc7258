"""RNN, LSTM, GRU and their cells against torch; gradients of gradients of the fused
recurrences; checks and errors."""

import contextlib

import numpy as np
import pytest
import torch

import tessera as ts
from tessera import nn
from tessera.autograd import gradcheck, gradgradcheck
from tessera.backend import jit
from tessera.nn.modules import _rnn_ops
from tessera.testing import assert_close

from nn_helpers import compare_modules, load_from_torch

RTOL, ATOL = 1e-4, 1e-5

CONFIGS = [
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bias": False}),
    ("RNN", {"bidirectional": True, "batch_first": True}),
    ("LSTM", {}),
    ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"batch_first": True, "bias": False}),
    ("LSTM", {"num_layers": 2, "dropout": 0.5}),   # compared in eval mode: no dropout
    ("GRU", {}),
    ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("GRU", {"bias": False}),
]


def _pair(name, kwargs, input_size=3, hidden=4):
    th = getattr(torch.nn, name)(input_size, hidden, **kwargs)
    tm = load_from_torch(getattr(nn, name)(input_size, hidden, **kwargs), th)
    if kwargs.get("dropout"):
        th.eval()
        tm.eval()
    return tm, th


def _states(name, kwargs, batch, hidden, rng, unbatched=False):
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    shape = (layers, hidden) if unbatched else (layers, batch, hidden)
    h = rng.standard_normal(shape).astype(np.float32)
    if name == "LSTM":
        return (h, rng.standard_normal(shape).astype(np.float32))
    return h


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{k}" for n, k in CONFIGS])
def test_recurrent_layer_matches_torch(name, kwargs):
    rng = np.random.default_rng(0)
    tm, th = _pair(name, kwargs)
    assert repr(tm) == repr(th)
    assert [(k, tuple(v.shape)) for k, v in tm.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in th.state_dict().items()]
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    compare_modules(tm, th, [x], rtol=RTOL, atol=ATOL)
    tm.zero_grad()
    th.zero_grad()
    batch = 5 if kwargs.get("batch_first") else 2
    compare_modules(tm, th, [x, _states(name, kwargs, batch, 4, rng)], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_unbatched_input(name):
    rng = np.random.default_rng(1)
    kwargs = {"num_layers": 2}
    tm, th = _pair(name, kwargs)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    compare_modules(tm, th, [x], rtol=RTOL, atol=ATOL)
    compare_modules(tm, th, [x, _states(name, kwargs, 1, 4, rng, unbatched=True)],
                    rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name,kwargs", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}),
                                         ("LSTMCell", {}), ("GRUCell", {}),
                                         ("GRUCell", {"bias": False})])
def test_cells_match_torch(name, kwargs):
    rng = np.random.default_rng(2)
    th = getattr(torch.nn, name)(3, 4, **kwargs)
    tm = load_from_torch(getattr(nn, name)(3, 4, **kwargs), th)
    assert repr(tm) == repr(th)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    compare_modules(tm, th, [x], rtol=RTOL, atol=ATOL)
    h = rng.standard_normal((2, 4)).astype(np.float32)
    state = (h, rng.standard_normal((2, 4)).astype(np.float32)) if name == "LSTMCell" else h
    compare_modules(tm, th, [x, state], rtol=RTOL, atol=ATOL)
    compare_modules(tm, th, [x[0]], rtol=RTOL, atol=ATOL)  # unbatched


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
@pytest.mark.parametrize("path", ["two-threads", "one-thread", "per-step", "numpy"])
def test_training_loop_step_matches_torch(name, path, monkeypatch):
    rng = np.random.default_rng(3)
    kwargs = {"num_layers": 2, "batch_first": True, "bidirectional": True}
    th = getattr(torch.nn, name)(6, 8, **kwargs)
    tm = load_from_torch(getattr(nn, name)(6, 8, **kwargs), th)
    x = rng.standard_normal((3, 10, 6)).astype(np.float32)
    if path != "numpy":
        _run_recurrences_as(path, monkeypatch)
    with jit.disabled() if path == "numpy" else contextlib.nullcontext():
        out, state = tm(ts.tensor(x))
        finals = state if name == "LSTM" else (state,)
        (out.sum() + finals[0].pow(2).sum() + finals[-1].sum()).backward()
    tout, th_state = th(torch.tensor(x))
    th_finals = th_state if name == "LSTM" else (th_state,)
    (tout.sum() + th_finals[0].pow(2).sum() + th_finals[-1].sum()).backward()
    for (pname, p), (_, q) in zip(tm.named_parameters(), th.named_parameters()):
        assert_close(p.grad, q.grad, rtol=RTOL, atol=ATOL, msg=pname)


def _run_recurrences_as(path, monkeypatch):
    """Make float32 LSTM and GRU layers take ``path``: the compiled loop over the whole
    sequence split over two threads or on one, or compiled steps with NumPy's GEMM in
    between."""
    if path == "per-step":
        monkeypatch.setattr(_rnn_ops.native, "sgemm_address", lambda: None)
    else:
        assert _rnn_ops.native.sgemm_address() is not None  # NumPy's wheels: OpenBLAS ILP64
        parts = 2 if path == "two-threads" else 1
        monkeypatch.setattr(_rnn_ops.parallel, "threads_together", lambda ns: parts)
        monkeypatch.setattr(_rnn_ops, "_MIN_SPLIT_STEP_NS", 0)
        monkeypatch.setattr(_rnn_ops, "_PROJECTION_BLOCK", 3)  # whole and partial blocks


def test_thread_count_of_the_whole_sequence_loops(monkeypatch):
    monkeypatch.setattr(_rnn_ops.parallel, "threads_together", lambda ns: 2)
    parts = _rnn_ops._split_parts
    kernels = object()        # any kernel module
    assert parts(kernels, 64, 32, 256, 256, 4) == 2
    assert parts(kernels, 64, 32, 256, 256, 3) == 2
    assert parts(kernels, 64, 32, 255, 256, 4) == 1     # the units do not split evenly
    assert parts(kernels, 64, 4, 16, 16, 4) == 1        # steps too short to meet at
    assert parts(kernels, 64, 0, 256, 256, 4) == 0      # empty: BLAS would reject the sizes
    assert parts(None, 64, 32, 256, 256, 4) == 0        # no compiled kernels


@pytest.mark.parametrize("kind", ["lstm-two-threads", "lstm-one-thread", "lstm-per-step",
                                  "gru-two-threads", "gru-one-thread", "gru-per-step"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("projected", [False, True], ids=["layer", "sequence"])
@pytest.mark.parametrize("with_states", [True, False])
def test_compiled_steps_as_accurate_as_numpy_steps(kind, reverse, projected, with_states,
                                                   monkeypatch):
    # float32 LSTM and GRU layers run compiled steps (nn/modules/_rnn_kernels.py). Against
    # the float64 result, their values and gradients must be float32-accurate, as the NumPy
    # steps' are, saturated gates included (inputs scaled by 3).
    kind, path = kind.split("-", 1)
    _run_recurrences_as(path, monkeypatch)
    rng = np.random.default_rng(11)
    T, B, IN, H = 7, 3, 5, 6
    G = 4 * H if kind == "lstm" else 3 * H
    if kind == "lstm":
        shapes = [(T, B, G), None, (G, H), None] if projected else \
            [(T, B, IN), (G, IN), (G, H), (G,)]
        shapes += [(B, H), (B, H)] if with_states else [None, None]
        layer, finals = _rnn_ops.lstm_layer, 2
    else:
        shapes = [(T, B, G), None, (G, H), None, (G,)] if projected else \
            [(T, B, IN), (G, IN), (G, H), (G,), (G,)]
        shapes += [(B, H)] if with_states else [None]
        layer, finals = _rnn_ops.gru_layer, 1
    values = [None if s is None else 3 * rng.standard_normal(s) for s in shapes]
    seeds = [rng.standard_normal(s) for s in [(T, B, H)] + [(B, H)] * finals]

    def run(dtype):
        args = [None if v is None else ts.tensor(v, dtype=dtype, requires_grad=True)
                for v in values]
        outs = layer(*args, reverse=reverse)
        total = sum((o * ts.tensor(s, dtype=dtype)).sum() for o, s in zip(outs, seeds))
        grads = ts.autograd.grad(total, [a for a in args if a is not None])
        return [r.detach().numpy().astype(np.float64) for r in outs + grads]

    exact = run(ts.float64)
    compiled = run(ts.float32)
    with jit.disabled():
        numpy_steps = run(ts.float32)
    for c, n, e in zip(compiled, numpy_steps, exact, strict=True):
        scale = np.abs(e).max()
        # Both paths measured within 1.2e-5 (most within 2e-6); a wrong factor in a gate's
        # gradient shows as 1e-3 and more.
        assert np.abs(n - e).max() <= 3e-5 * scale
        assert np.abs(c - e).max() <= 3e-5 * scale


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_backward_leaves_the_incoming_state_gradients_alone(name):
    # Batch 1: the (1, H) gradients of h_n / c_n transposed are contiguous, and the
    # backward's running gradient must still be a copy of them.
    rng = np.random.default_rng(12)
    tm = getattr(nn, name)(3, 4)
    out = tm(ts.tensor(rng.standard_normal((5, 1, 3)).astype(np.float32)))
    finals = out[1] if name == "LSTM" else (out[1],)
    seeds = [rng.standard_normal((1, 1, 4)).astype(np.float32) for _ in finals]
    grads = [ts.tensor(s.copy()) for s in seeds]
    ts.autograd.grad([out[0], *finals], list(tm.parameters()),
                     [ts.ones(5, 1, 4), *grads])
    for g, s in zip(grads, seeds):
        np.testing.assert_array_equal(g.numpy(), s)


@pytest.mark.parametrize("reverse", [False, True])
def test_fused_recurrences_gradcheck_and_gradgradcheck(reverse):
    rng = np.random.default_rng(4)
    T, B, H = 3, 2, 2

    def t(*shape):
        return ts.tensor(rng.standard_normal(shape), dtype=ts.float64, requires_grad=True)

    xw, w, h0, c0 = t(T, B, 4 * H), t(4 * H, H), t(B, H), t(B, H)
    lstm = lambda *a: _rnn_ops.lstm_sequence(*a, reverse=reverse)  # noqa: E731
    assert gradcheck(lstm, (xw, w, h0, c0))
    assert gradgradcheck(lstm, (xw, w, h0, c0))
    xw3, w3, b3 = t(T, B, 3 * H), t(3 * H, H), t(3 * H)
    gru = lambda *a: _rnn_ops.gru_sequence(*a, reverse=reverse)  # noqa: E731
    assert gradcheck(gru, (xw3, w3, b3, h0))
    assert gradgradcheck(gru, (xw3, w3, b3, h0))
    for nl in ("tanh", "relu"):
        rnn = lambda xw, w, h, nl=nl: _rnn_ops.rnn_sequence(xw, w, h, reverse, nl)  # noqa
        assert gradcheck(rnn, (t(T, B, H), t(H, H), h0))
        assert gradgradcheck(rnn, (t(T, B, H), t(H, H), h0))


def test_fused_matches_reference_composite():
    rng = np.random.default_rng(5)
    xw = ts.tensor(rng.standard_normal((4, 3, 8)).astype(np.float32))
    w = ts.tensor(rng.standard_normal((8, 2)).astype(np.float32))
    for a, b in zip(_rnn_ops.lstm_sequence(xw, w, reverse=True),
                    _rnn_ops.lstm_reference(xw, w, None, None, reverse=True)):
        assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_double_backward_through_lstm_module():
    # d/dx of ||d out / dW||^2: needs the recurrence's backward to be differentiable.
    rng = np.random.default_rng(6)
    x64 = rng.standard_normal((3, 1, 2))
    tm = nn.LSTM(2, 2).double()
    th = torch.nn.LSTM(2, 2).double()
    load_from_torch(tm, th)
    xs = ts.tensor(x64, requires_grad=True)
    xt = torch.tensor(x64, requires_grad=True)
    (gs,) = ts.autograd.grad(tm(xs)[0].sum(), [tm.weight_hh_l0], create_graph=True)
    (gt,) = torch.autograd.grad(th(xt)[0].sum(), [th.weight_hh_l0], create_graph=True)
    (gs * gs).sum().backward()
    (gt * gt).sum().backward()
    assert_close(xs.grad, xt.grad, rtol=1e-6, atol=1e-8)


def test_errors():
    lstm = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size"):
        lstm(ts.ones(5, 2, 4))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D"):
        lstm(ts.ones(5))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(2, 2, 4\), got"):
        lstm(ts.ones(5, 2, 3), (ts.ones(1, 2, 4), ts.ones(2, 2, 4)))
    with pytest.raises(ValueError, match="input dtype"):
        lstm(ts.ones(5, 2, 3, dtype=ts.float64))
    with pytest.raises(RuntimeError, match="hx should also be 3-D"):
        nn.GRU(3, 4)(ts.ones(5, 2, 3), ts.ones(2, 4))
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="dropout should be a number"):
        nn.GRU(3, 4, dropout=2)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.2)
    with pytest.raises(RuntimeError, match="inconsistent input_size"):
        nn.LSTMCell(3, 4)(ts.ones(2, 5))


def test_all_weights_and_dropout_between_layers_in_training():
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.5, bidirectional=True)
    assert [[tuple(p.shape) for p in layer] for layer in lstm.all_weights][2] == \
        [(16, 8), (16, 4), (16,), (16,)]
    ts.manual_seed(0)
    a, _ = lstm(ts.ones(4, 1, 3))
    b, _ = lstm(ts.ones(4, 1, 3))
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())  # dropout is active
    lstm.eval()
    a, _ = lstm(ts.ones(4, 1, 3))
    b, _ = lstm(ts.ones(4, 1, 3))
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def _lstm_layer_case(t, T, B, IN, H, bias, reverse):
    args = (t(T, B, IN), t(4 * H, IN), t(4 * H, H), t(4 * H) if bias else None, t(B, H), t(B, H))
    return [(lambda *a: _rnn_ops.lstm_layer(*a, reverse=reverse), args)]


def _gru_layer_case(t, T, B, IN, H, bias, reverse):
    args = (t(T, B, IN), t(3 * H, IN), t(3 * H, H), t(3 * H) if bias else None,
            t(3 * H) if bias else None, t(B, H))
    return [(lambda *a: _rnn_ops.gru_layer(*a, reverse=reverse), args)]


def _rnn_layer_case(t, T, B, IN, H, bias, reverse):
    return [(lambda *a, nl=nl: _rnn_ops.rnn_layer(*a, reverse, nl),
             (t(T, B, IN), t(H, IN), t(H, H), t(H) if bias else None, t(B, H)))
            for nl in ("tanh", "relu")]


@pytest.mark.parametrize("case", [_lstm_layer_case, _gru_layer_case, _rnn_layer_case],
                         ids=["lstm", "gru", "rnn"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_fused_layer_gradcheck_and_gradgradcheck(case, reverse, bias):
    # Each layer operator fuses the input projection with the recurrence.
    rng = np.random.default_rng(7)

    def t(*shape):
        return ts.tensor(rng.standard_normal(shape), dtype=ts.float64, requires_grad=True)

    for layer, args in case(t, T=3, B=2, IN=3, H=2, bias=bias, reverse=reverse):
        assert gradcheck(layer, args)
        assert gradgradcheck(layer, args)


def test_fused_gru_and_rnn_layers_match_reference_without_initial_state():
    rng = np.random.default_rng(10)
    x = ts.tensor(rng.standard_normal((4, 3, 5)).astype(np.float32), requires_grad=True)
    w_ih = ts.tensor(rng.standard_normal((6, 5)).astype(np.float32), requires_grad=True)
    w_hh = ts.tensor(rng.standard_normal((6, 2)).astype(np.float32), requires_grad=True)
    b = ts.tensor(rng.standard_normal(6).astype(np.float32), requires_grad=True)
    cases = [(_rnn_ops.gru_layer, _rnn_ops.gru_layer_reference, (x, w_ih, w_hh, b, b, None)),
             (_rnn_ops.rnn_layer, _rnn_ops.rnn_layer_reference,
              (x, w_ih[:2], w_hh[:2, :2], b[:2], None))]
    for fused, reference, args in cases:
        for reverse in (False, True):
            got = fused(*args, reverse=reverse)
            want = reference(*args, reverse=reverse)
            for a, w in zip(got, want):
                assert a.dtype == ts.float32
                assert_close(a, w, rtol=1e-5, atol=1e-6)
            leaves = [t for t in args if t is not None]
            g_got = ts.autograd.grad(got[0].sum() + got[1].sum(), leaves)
            g_want = ts.autograd.grad(want[0].sum() + want[1].sum(), leaves)
            for a, w in zip(g_got, g_want):
                assert_close(a, w, rtol=1e-4, atol=1e-5)
    empty = _rnn_ops.gru_layer(x[:0], w_ih, w_hh, b, b, None)
    assert tuple(empty[0].shape) == (0, 3, 2) and tuple(empty[1].shape) == (3, 2)


@pytest.mark.parametrize("path", ["two-threads", "one-thread", "per-step"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_empty_sequences_and_batches_on_every_path(kind, path, monkeypatch):
    _run_recurrences_as(path, monkeypatch)
    H, gates = 6, 4 if kind == "lstm" else 3
    rng = np.random.default_rng(12)
    w_ih, w_hh = (ts.tensor(rng.standard_normal((gates * H, n)).astype(np.float32))
                  for n in (5, H))
    b = ts.tensor(rng.standard_normal(gates * H).astype(np.float32))
    for T, B in [(0, 3), (4, 0)]:
        x = ts.tensor(rng.standard_normal((T, B, 5)).astype(np.float32))
        states = [ts.tensor(rng.standard_normal((B, H)).astype(np.float32), requires_grad=True)
                  for _ in range(2 if kind == "lstm" else 1)]
        if kind == "lstm":
            out, h, c = _rnn_ops.lstm_layer(x, w_ih, w_hh, b, *states)
            finals = (h, c)
        else:
            out, h = _rnn_ops.gru_layer(x, w_ih, w_hh, b, b, *states)
            finals = (h,)
        assert tuple(out.shape) == (T, B, H)
        if T == 0:   # the final states are the initial ones, and so are their gradients
            for final, state in zip(finals, states):
                assert_close(final, state.detach())
            grads = ts.autograd.grad(sum(f.sum() for f in finals), states)
            for g in grads:
                assert_close(g, ts.ones(B, H))
