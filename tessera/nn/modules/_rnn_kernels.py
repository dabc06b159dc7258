"""Compiled LSTM and GRU steps (numba; loaded through :func:`tessera.backend.jit.load`).

One call does a whole step's elementwise work that ``LSTMLayer`` otherwise does in 11
NumPy passes (forward) or 6 passes plus 7 whole-sequence passes (backward), and likewise
for ``GRULayer``. The layouts are the layers': feature-major gates ``(T, G, B)`` (for the
LSTM in the order o, i, f, g; for the GRU r, z, n), states ``(T, H, B)``, outputs
``(T, B, H)``. Float32 only: :func:`sigmoid` and :func:`tanh` are float32 approximations.
"""

import math

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from ...backend.jit import kernel

f32 = np.float32
_ONE, _TWO, _HALF = f32(1), f32(2), f32(0.5)

# Float32 exp, sigmoid and tanh as plain arithmetic, so that the loops around them compile to
# AVX-512 code (a call to libm's expf or tanhf would keep them scalar). Accuracy, measured
# on a dense grid of float32 inputs by tests/backend/test_jit.py: exp 2 ulp, sigmoid and tanh
# within 1e-7 of the exact value (NumPy's own float32 tanh: 6e-8).

# exp(x) = 2**n * exp(r), n = round(x / ln 2), r = x - n ln 2 (ln 2 in two parts, so that
# n * _LN2_HI is exact), exp(r) by its Taylor series to r**7 (|r| <= ln(2) / 2: 5e-9).
_LOG2E, _LN2_HI, _LN2_LO = f32(1.4426950408889634), f32(0.693359375), f32(-2.12194440e-4)
_E2, _E3, _E4, _E5, _E6, _E7 = (f32(1 / 2), f32(1 / 6), f32(1 / 24), f32(1 / 120),
                                f32(1 / 720), f32(1 / 5040))
_EXP_LOW, _EXP_HIGH = f32(-87), f32(88)   # 2**n stays a normal float32
_ZERO, _INF = f32(0), f32(np.inf)

# tanh(x) / x on |x| < _TANH_SMALL as a polynomial in x**2, a Lawson-reweighted least-squares
# fit (scripts/fit_tanh.py); above, 1 - 2 / (exp(2|x|) + 1) loses nothing to cancellation.
_TANH_SMALL = f32(0.625)
_T0, _T1, _T2, _T3, _T4, _T5 = (f32(0.9999999962993519), f32(-0.33333263379252964),
                                f32(0.13331185743911403), f32(-0.053725229877127176),
                                f32(0.020603142049259743), f32(-0.0056724165015166784))


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose bit pattern is the int32 ``bits`` (LLVM's bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@kernel
def exp(x):
    """exp on [-87, 88]; 0 below, inf above (the ends of float32's normal range)."""
    y = min(max(x, _EXP_LOW), _EXP_HIGH)
    n = np.floor(y * _LOG2E + _HALF)
    r = y - n * _LN2_HI - n * _LN2_LO
    p = _ONE + r * (_ONE + r * (_E2 + r * (_E3 + r * (_E4 + r * (_E5 + r * (_E6 + r * _E7))))))
    e = p * _float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))
    return _INF if x > _EXP_HIGH else (_ZERO if x < _EXP_LOW else e)


@kernel
def sigmoid(x):
    return _ONE / (_ONE + exp(-x))


@kernel
def tanh(x):
    z = x * x
    small = x * (_T0 + z * (_T1 + z * (_T2 + z * (_T3 + z * (_T4 + z * _T5)))))
    large = math.copysign(_ONE - _TWO / (exp(_TWO * abs(x)) + _ONE), x)
    return small if abs(x) < _TANH_SMALL else large


@kernel
def lstm_forward_step(gates, proj, bias, c_prev, cells, tanh_c, out, h, t):
    """Step ``t``: ``gates[t]`` holds ``W_hh @ h.T``; adds the input projection
    ``proj[:, t]`` and ``bias`` (``(4H,)``; adding it here saves a pass over the whole
    projection), activates the gates in place and writes ``cells[t]``, ``tanh_c[t]`` and
    the new hidden state, feature-major into ``h`` (``(H, B)``, the next step's GEMM operand:
    3% faster than a transposed view) and batch-major into ``out[t]``, from the previous
    cell ``c_prev``."""
    G, B = gates.shape[1:]
    H = G // 4
    for r in range(3 * H):          # o, i, f
        for j in range(B):
            gates[t, r, j] = sigmoid(gates[t, r, j] + proj[r, t, j] + bias[r])
    for r in range(3 * H, G):       # g
        for j in range(B):
            gates[t, r, j] = tanh(gates[t, r, j] + proj[r, t, j] + bias[r])
    for k in range(H):
        for j in range(B):
            c = gates[t, 2 * H + k, j] * c_prev[k, j] + gates[t, H + k, j] * gates[t, 3 * H + k, j]
            cells[t, k, j] = c
            tc = tanh(c)
            tanh_c[t, k, j] = tc
            h[k, j] = gates[t, k, j] * tc
    for j in range(B):
        for k in range(H):
            out[t, j, k] = h[k, j]


@kernel
def lstm_backward_step(gates, c_prev, tanh_c, g_out, dh, dc, D, d, t):
    """Step ``t`` of backpropagation through time: ``dh`` holds the gradient reaching
    ``h_t`` through the next step (``W_hh.T @ D[:, t + 1]``), ``dc`` the one reaching
    ``c_t``; writes the gradients of the gates' pre-activations into ``D[:, t]`` and into
    ``d`` (``(4H, B)``, contiguous: the next GEMM reads it 10% faster than the strided
    ``D[:, t]``), and leaves the gradient reaching ``c_{t-1}`` in ``dc``."""
    G, B = gates.shape[1:]
    H = G // 4
    for j in range(B):
        for k in range(H):
            dh[k, j] += g_out[t, j, k]
    for k in range(H):
        for j in range(B):
            o = gates[t, k, j]
            i = gates[t, H + k, j]
            f = gates[t, 2 * H + k, j]
            g = gates[t, 3 * H + k, j]
            tc = tanh_c[t, k, j]
            d_h = dh[k, j]
            d_c = d_h * o * (_ONE - tc * tc) + dc[k, j]
            d_o = d_h * tc * o * (_ONE - o)
            d_i = d_c * g * i * (_ONE - i)
            d_f = d_c * c_prev[k, j] * f * (_ONE - f)
            d_g = d_c * i * (_ONE - g * g)
            D[k, t, j] = d[k, j] = d_o
            D[H + k, t, j] = d[H + k, j] = d_i
            D[2 * H + k, t, j] = d[2 * H + k, j] = d_f
            D[3 * H + k, t, j] = d[3 * H + k, j] = d_g
            dc[k, j] = d_c * f


@kernel
def gru_forward_step(gates, proj, b_hh, hn, out, h, t):
    """Step ``t`` of ``GRULayer``: ``gates[t]`` holds ``W_hh @ h.T`` (rows r, z, n),
    ``proj`` the input projection (with ``b_ih``); activates r, z, n in place, keeps
    ``hn[t] = W_hn h + b_hn`` and overwrites ``h`` (``(H, B)``) with the new state, also
    written batch-major into ``out[t]``."""
    G, B = gates.shape[1:]
    H = G // 3
    for k in range(H):
        for j in range(B):
            r = sigmoid(gates[t, k, j] + b_hh[k] + proj[k, t, j])
            z = sigmoid(gates[t, H + k, j] + b_hh[H + k] + proj[H + k, t, j])
            h_n = gates[t, 2 * H + k, j] + b_hh[2 * H + k]
            n = tanh(proj[2 * H + k, t, j] + r * h_n)
            gates[t, k, j] = r
            gates[t, H + k, j] = z
            gates[t, 2 * H + k, j] = n
            hn[t, k, j] = h_n
            h[k, j] = n + z * (h[k, j] - n)
    for j in range(B):
        for k in range(H):
            out[t, j, k] = h[k, j]


@kernel
def gru_backward_step(gates, hn, h_prev, g_out, dh, dh_w, Dh, Dx, d, h_prev_t, t):
    """Step ``t`` of backpropagation through time for ``GRULayer``: the gradient of ``h_t``
    is ``dh`` (through the next step's z) + ``dh_w`` (through its ``W_hh``) + ``g_out[t]``.
    Writes the gradients of ``W_hh h + b_hh`` into ``Dh[:, t]`` and ``d`` (contiguous, for
    the next GEMM), those of the input projection into ``Dx[:, t]``, and leaves the part
    that reaches ``h_{t-1}`` through z in ``dh``. ``h_prev`` is ``h_{t-1}`` batch-major;
    ``h_prev_t`` is scratch for it feature-major."""
    G, B = gates.shape[1:]
    H = G // 3
    for j in range(B):
        for k in range(H):
            dh[k, j] += dh_w[k, j] + g_out[t, j, k]
            h_prev_t[k, j] = h_prev[j, k]
    for k in range(H):
        for j in range(B):
            r = gates[t, k, j]
            z = gates[t, H + k, j]
            n = gates[t, 2 * H + k, j]
            d_h = dh[k, j]
            d_n = d_h * (_ONE - z) * (_ONE - n * n)
            d_z = d_h * (h_prev_t[k, j] - n) * z * (_ONE - z)
            d_r = d_n * hn[t, k, j] * r * (_ONE - r)
            Dh[k, t, j] = Dx[k, t, j] = d[k, j] = d_r
            Dh[H + k, t, j] = Dx[H + k, t, j] = d[H + k, j] = d_z
            Dh[2 * H + k, t, j] = d[2 * H + k, j] = d_n * r
            Dx[2 * H + k, t, j] = d_n
            dh[k, j] = d_h * z
