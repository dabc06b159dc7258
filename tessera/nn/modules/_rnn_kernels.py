"""Compiled LSTM and GRU loops (numba; loaded through :func:`tessera.backend.jit.load`).

A layer's forward and backward each run a whole sequence in one call (:func:`lstm_forward`,
:func:`lstm_backward`, :func:`gru_forward`, :func:`gru_backward`): the loop calls NumPy's
BLAS itself for every step's GEMM (through its address, ``backend/native.py``) and does the
step's gate arithmetic in the same pass, so nothing goes back to Python between steps; on
two threads each owns half the hidden units and the threads meet once a step at a spin
barrier. Where the BLAS cannot be called so, the ``*_step`` kernels do one step's
elementwise work per call (for the LSTM 11 NumPy passes forward, 6 passes plus 7
whole-sequence passes backward otherwise). The layouts are the layers': feature-major gates
``(T, G, B)`` with rows in ``_rnn_ops._gate_rows``'s order, states ``(T, H, B)``, outputs
``(T, B, H)``. Float32 only: :func:`sigmoid` and :func:`tanh` are float32 approximations.
"""

import math
import platform

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
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


# -- calling BLAS and waiting for other threads from compiled code ---------------------------

_CBLAS_ROW_MAJOR, _CBLAS_NO_TRANS, _CBLAS_TRANS = 101, 111, 112
_SPINS_BEFORE_YIELDING = 1 << 14     # pause instructions: ~0.4 ms at 65 cycles each


@intrinsic
def _sgemm(typingctx, function, transpose_b, m, n, k, a, lda, b, ldb, c, ldc):
    """``C = A @ B`` (``A @ B.T`` with ``transpose_b``) in float32, row-major, through the
    ``cblas_sgemm`` at address ``function`` (64-bit integers); ``a``, ``b``, ``c`` are data
    addresses."""
    i64 = types.int64
    signature = types.void(i64, types.boolean, i64, i64, i64, i64, i64, i64, i64, i64, i64)

    def codegen(context, builder, signature, args):
        function, transpose_b, m, n, k, a, lda, b, ldb, c, ldc = args
        i32, int64, f32_ = ir.IntType(32), ir.IntType(64), ir.FloatType()
        ptr = f32_.as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, int64, int64, int64, f32_, ptr,
                                               int64, ptr, int64, f32_, ptr, int64])
        callee = builder.inttoptr(function, fnty.as_pointer())
        trans_b = builder.select(transpose_b, ir.Constant(i32, _CBLAS_TRANS),
                                 ir.Constant(i32, _CBLAS_NO_TRANS))
        builder.call(callee, [ir.Constant(i32, _CBLAS_ROW_MAJOR), ir.Constant(i32, _CBLAS_NO_TRANS),
                              trans_b, m, n, k, ir.Constant(f32_, 1.0),
                              builder.inttoptr(a, ptr), lda, builder.inttoptr(b, ptr), ldb,
                              ir.Constant(f32_, 0.0), builder.inttoptr(c, ptr), ldc])
        return context.get_dummy_value()
    return signature, codegen


def _flag_pointer(context, builder, array_type, array, index):
    array = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, array, [index])


@intrinsic
def _load_acquire(typingctx, flags, i):
    """``flags[i]`` (int64), read atomically: what its writer wrote before it is visible."""
    def codegen(context, builder, signature, args):
        pointer = _flag_pointer(context, builder, signature.args[0], *args)
        return builder.load_atomic(pointer, "acquire", 8)
    return types.int64(flags, types.intp), codegen


@intrinsic
def _store_release(typingctx, flags, i, value):
    """``flags[i] = value`` atomically, after everything written before it."""
    def codegen(context, builder, signature, args):
        pointer = _flag_pointer(context, builder, signature.args[0], args[0], args[1])
        builder.store_atomic(args[2], pointer, "release", 8)
        return context.get_dummy_value()
    return types.void(flags, types.intp, types.int64), codegen


@intrinsic
def _pause(typingctx):
    """x86's ``pause`` in a spin loop (frees the core's pipeline for its sibling); nothing
    elsewhere."""
    def codegen(context, builder, signature, args):
        if platform.machine().lower() in ("x86_64", "amd64", "i686", "x86"):
            fnty = ir.FunctionType(ir.VoidType(), [])
            builder.call(cgutils.get_or_insert_function(builder.module, fnty,
                                                        "llvm.x86.sse2.pause"), [])
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def _call(typingctx, function):
    """Calls the ``void f(void)`` at address ``function``."""
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.VoidType(), [])
        builder.call(builder.inttoptr(args[0], fnty.as_pointer()), [])
        return context.get_dummy_value()
    return types.void(types.int64), codegen


@kernel
def _announce(flags, p, steps):
    """Part ``p`` has finished ``steps`` steps (each part's flag on its own cache line)."""
    _store_release(flags, 16 * p, steps)


@kernel
def _wait_for_all(flags, P, steps, sched_yield):
    """Spins until every part has finished ``steps`` steps; after a while it yields its core
    at each try (``sched_yield``, when not 0), in case a part waits for a core."""
    for q in range(P):
        spins = 0
        while _load_acquire(flags, 16 * q) < steps:
            if spins < _SPINS_BEFORE_YIELDING:
                _pause()
                spins += 1
            elif sched_yield != 0:
                _call(sched_yield)


@kernel
def _start_step(sgemm, sched_yield, flags, p, P, s, first, w_ih, x, w, proj, h, a, reverse):
    """The start of a whole-sequence loop's step ``s`` (of ``T = len(x) / B``) for part
    ``p``, whose rows of ``w_ih``, ``w``, ``proj`` and the step's gates ``a`` (``(R, B)``)
    are given: when a block of ``K = proj.shape[1]`` steps begins and ``w_ih`` is not empty,
    the block's input projection as one GEMM into ``proj``; then the wait for every part to
    finish step ``s - 1``, and ``a = w @ h[s % 2]``. Returns the first time step of the
    current block (``first`` when none begins; its steps are ``proj[:, t - first]``)."""
    R, B = a.shape
    K = proj.shape[1]
    if w_ih.shape[0] > 0 and s % K == 0:
        T = x.shape[0] // B
        steps = min(K, T - s)
        first = T - s - steps if reverse else s
        inputs = x.shape[1]
        _sgemm(sgemm, True, R, steps * B, inputs, w_ih.ctypes.data, inputs,
               x[first * B].ctypes.data, inputs, proj.ctypes.data, K * B)
    _wait_for_all(flags, P, s, sched_yield)
    H = w.shape[1]
    _sgemm(sgemm, False, R, B, H, w.ctypes.data, H, h[s % 2].ctypes.data, B, a.ctypes.data, B)
    return first


# -- the LSTM -----------------------------------------------------------------------------------
# The gates' rows come in ``P`` parts, each with the o, i, f, g rows of its ``H / P`` hidden
# units (``_rnn_ops._gate_rows``), so that part p's gate arithmetic needs only its own rows
# and its GEMM writes one block. With P = 1 that is o, i, f, g over all units.

@kernel
def _lstm_forward_cells(a, proj, bias, c_prev, c, tanh_c, h, out, t, k0):
    """Step ``t``'s gate arithmetic for one part of ``n`` hidden units, first unit ``k0``.
    Views of the part's rows: ``a`` ``(4n, B)`` holds ``W_hh @ h.T`` (its o, i, f, g rows),
    ``proj`` ``(4n, T, B)`` the input projection and ``bias`` ``(4n,)`` (added here: that
    saves a pass over the whole projection); ``c_prev``, ``c``, ``tanh_c``, ``h``
    ``(n, B)``; ``out`` is step t's ``(B, H)`` output. Activates the gates in place and writes
    the cell, its tanh and the new hidden state, feature-major into ``h`` (the next step's
    GEMM operand: 3% faster than a transposed view) and batch-major into ``out``.
    (Part views rather than row offsets into whole arrays: with offsets the loops ran 2x
    slower.)"""
    R, B = a.shape
    n = R // 4
    for r in range(3 * n):          # o, i, f
        for j in range(B):
            a[r, j] = sigmoid(a[r, j] + proj[r, t, j] + bias[r])
    for r in range(3 * n, R):       # g
        for j in range(B):
            a[r, j] = tanh(a[r, j] + proj[r, t, j] + bias[r])
    for u in range(n):
        for j in range(B):
            cell = a[2 * n + u, j] * c_prev[u, j] + a[n + u, j] * a[3 * n + u, j]
            c[u, j] = cell
            tc = tanh(cell)
            tanh_c[u, j] = tc
            h[u, j] = a[u, j] * tc
    for j in range(B):
        for u in range(n):
            out[j, k0 + u] = h[u, j]


@kernel
def _lstm_backward_cells(a, c_prev, tanh_c, g_out, dh, dc, D, d, t, k0):
    """Step ``t`` of backpropagation through time for one part of ``n`` hidden units, first
    unit ``k0`` (views as in :func:`_lstm_forward_cells`: ``a`` the activated gates
    ``(4n, B)``, ``c_prev``, ``tanh_c``, ``dh``, ``dc`` ``(n, B)``, ``g_out`` step t's
    ``(B, H)`` output gradient). ``dh`` holds the gradient reaching ``h_t`` through the next
    step (``W_hh.T @ D[:, t + 1]``), ``dc`` the one reaching ``c_t``; writes the gradients
    of the gates' pre-activations into ``D[:, t]`` (``D`` ``(4n, T, B)``) and into ``d``
    (``(4n, B)``, contiguous: the next GEMM reads it 10% faster than the strided
    ``D[:, t]``), and leaves the gradient reaching ``c_{t-1}`` in ``dc``."""
    R, B = a.shape
    n = R // 4
    for j in range(B):
        for u in range(n):
            dh[u, j] += g_out[j, k0 + u]
    for u in range(n):
        for j in range(B):
            o, i, f, g = a[u, j], a[n + u, j], a[2 * n + u, j], a[3 * n + u, j]
            tc = tanh_c[u, j]
            d_h = dh[u, j]
            d_c = d_h * o * (_ONE - tc * tc) + dc[u, j]
            D[u, t, j] = d[u, j] = d_h * tc * o * (_ONE - o)
            D[n + u, t, j] = d[n + u, j] = d_c * g * i * (_ONE - i)
            D[2 * n + u, t, j] = d[2 * n + u, j] = d_c * c_prev[u, j] * f * (_ONE - f)
            D[3 * n + u, t, j] = d[3 * n + u, j] = d_c * i * (_ONE - g * g)
            dc[u, j] = d_c * f


@kernel
def lstm_forward_step(gates, proj, bias, c_prev, cells, tanh_c, out, h, t):
    """One forward step's gate arithmetic over all units (:func:`_lstm_forward_cells`),
    for a caller that does the step's GEMM itself."""
    _lstm_forward_cells(gates[t], proj, bias, c_prev, cells[t], tanh_c[t], h, out[t], t, 0)


@kernel
def lstm_backward_step(gates, c_prev, tanh_c, g_out, dh, dc, D, d, t):
    """One backward step's gate arithmetic over all units (:func:`_lstm_backward_cells`)."""
    _lstm_backward_cells(gates[t], c_prev, tanh_c[t], g_out[t], dh, dc, D, d, t, 0)


@kernel
def lstm_forward(sgemm, sched_yield, p, P, w_ih, x, w, proj, bias, c0, gates, cells, tanh_c, out,
                 h, flags, reverse):
    """Part ``p`` of ``P`` of a whole forward pass, every step's GEMMs included, each part on
    its own thread (``parallel.run_together``). Per step, part p's rows of
    ``gates[t] = w @ h_{t-1}`` (``w`` ``(4H, H)`` in part order) through ``sgemm`` (the
    address of a 64-bit-integer ``cblas_sgemm``, single-threaded meanwhile), then its gate
    arithmetic. ``h`` is ``(2, H, B)``: ``h[0]`` holds ``h0.T``, step s writes
    ``h[(s + 1) % 2]`` while the others may still read ``h[s % 2]``; the last state ends in
    ``h[T % 2]``. Each part announces a finished step in ``flags[16 p]`` (zeros at the
    start) and waits for all parts to finish a step before its GEMM reads their ``h``.

    The input projection: with ``w_ih`` ``(4H, I)`` (part order) and ``x`` ``(T*B, I)``, it is
    computed here, ``K`` steps at a time into ``proj`` ``(4H, K, B)``, while the block is
    still in cache when its steps read it (a projection of all steps made beforehand is read
    from memory, a row of B floats 4H apart per gate: 40% of the gate arithmetic's time);
    with ``w_ih`` empty, ``proj`` is the whole projection ``(4H, T, B)``."""
    T, G, B = gates.shape
    H = G // 4
    n = H // P
    rows, units = slice(4 * n * p, 4 * n * (p + 1)), slice(n * p, n * (p + 1))
    w, w_ih, proj, bias, c0 = w[rows], w_ih[rows], proj[rows], bias[rows], c0[units]
    first = 0
    for s in range(T):
        t = T - 1 - s if reverse else s
        a = gates[t, rows]
        first = _start_step(sgemm, sched_yield, flags, p, P, s, first, w_ih, x, w, proj, h, a,
                            reverse)
        c_prev = c0 if s == 0 else cells[t + 1 if reverse else t - 1, units]
        _lstm_forward_cells(a, proj, bias, c_prev, cells[t, units], tanh_c[t, units],
                            h[(s + 1) % 2, units], out[t], t - first, n * p)
        _announce(flags, p, s + 1)


@kernel
def lstm_backward(sgemm, sched_yield, p, P, w_t, gates, cells, tanh_c, c0, g_out, dh, dc, D,
                  d, flags, reverse):
    """Part ``p`` of ``P`` of backpropagation through time over all steps (see
    :func:`lstm_forward` for the parts, ``sgemm`` and ``flags``): per step its gate
    arithmetic (:func:`_lstm_backward_cells`), then, once every part has written its rows of
    ``d[s % 2]`` (``d`` is ``(2, 4H, B)``), its rows of ``dh = w_t @ d[s % 2]`` (``w_t``
    ``(H, 4H)``, columns in part order). ``dh`` and ``dc`` end as the gradients reaching
    ``h0`` and ``c0``."""
    T, G, B = gates.shape
    H = G // 4
    n = H // P
    rows, units = slice(4 * n * p, 4 * n * (p + 1)), slice(n * p, n * (p + 1))
    w_t, c0, dh, dc, D = w_t[units], c0[units], dh[units], dc[units], D[rows]
    for s in range(T):
        t = s if reverse else T - 1 - s
        c_prev = c0 if s == T - 1 else cells[t + 1 if reverse else t - 1, units]
        _lstm_backward_cells(gates[t, rows], c_prev, tanh_c[t, units], g_out[t], dh, dc, D,
                             d[s % 2, rows], t, n * p)
        _announce(flags, p, s + 1)
        _wait_for_all(flags, P, s + 1, sched_yield)
        _sgemm(sgemm, False, n, B, G, w_t.ctypes.data, G, d[s % 2].ctypes.data, B,
               dh.ctypes.data, B)


# -- the GRU ------------------------------------------------------------------------------------
# As the LSTM's: ``P`` parts of ``H / P`` hidden units, each with its units' r, z, n rows
# (``_rnn_ops._gate_rows``); with P = 1 PyTorch's order r, z, n.

@kernel
def _gru_forward_cells(a, proj, b_ih, b_hh, hn, h_prev, h, out, t, k0):
    """Step ``t`` for one part of ``n`` hidden units, first unit ``k0``. Views of the
    part's rows: ``a`` ``(3n, B)`` holds ``W_hh @ h.T`` (its r, z, n rows), ``proj``
    ``(3n, T, B)`` the input projection, ``b_ih`` and ``b_hh`` ``(3n,)``; ``hn``, ``h_prev``
    and ``h`` ``(n, B)``; ``out`` step t's ``(B, H)`` output. Activates r, z, n in place,
    keeps ``hn = W_hn h + b_hn`` (``n = tanh(W_in x + b_in + r * hn)``, as in PyTorch) and
    writes the new state ``h = n + z (h_prev - n)``, also batch-major into ``out``."""
    R, B = a.shape
    n = R // 3
    for u in range(n):
        for j in range(B):
            r = sigmoid(a[u, j] + b_hh[u] + proj[u, t, j] + b_ih[u])
            z = sigmoid(a[n + u, j] + b_hh[n + u] + proj[n + u, t, j] + b_ih[n + u])
            h_n = a[2 * n + u, j] + b_hh[2 * n + u]
            new = tanh(proj[2 * n + u, t, j] + b_ih[2 * n + u] + r * h_n)
            a[u, j] = r
            a[n + u, j] = z
            a[2 * n + u, j] = new
            hn[u, j] = h_n
            h[u, j] = new + z * (h_prev[u, j] - new)
    for j in range(B):
        for u in range(n):
            out[j, k0 + u] = h[u, j]


@kernel
def _gru_backward_cells(a, hn, h_prev, g_out, dh, dh_w, Dh, Dx, d, h_prev_t, t, k0):
    """Step ``t`` of backpropagation through time for one part of ``n`` hidden units, first
    unit ``k0`` (views as in :func:`_gru_forward_cells`; ``h_prev`` is ``h_{t-1}``
    batch-major ``(B, H)``, ``g_out`` step t's ``(B, H)`` output gradient, ``h_prev_t``
    ``(n, B)`` scratch for the part of ``h_prev`` feature-major). The gradient of ``h_t`` is
    ``dh`` (through the next step's z) + ``dh_w`` (through its ``W_hh``) + ``g_out``. Writes
    the gradients of ``W_hh h + b_hh`` into ``Dh[:, t]`` and ``d`` (contiguous, for the next
    GEMM), those of the input projection into ``Dx[:, t]`` (``Dh``, ``Dx`` ``(3n, T, B)``),
    and leaves the part that reaches ``h_{t-1}`` through z in ``dh``."""
    R, B = a.shape
    n = R // 3
    for j in range(B):
        for u in range(n):
            dh[u, j] += dh_w[u, j] + g_out[j, k0 + u]
            h_prev_t[u, j] = h_prev[j, k0 + u]
    for u in range(n):
        for j in range(B):
            r, z, new = a[u, j], a[n + u, j], a[2 * n + u, j]
            d_h = dh[u, j]
            d_n = d_h * (_ONE - z) * (_ONE - new * new)
            d_z = d_h * (h_prev_t[u, j] - new) * z * (_ONE - z)
            d_r = d_n * hn[u, j] * r * (_ONE - r)
            Dh[u, t, j] = Dx[u, t, j] = d[u, j] = d_r
            Dh[n + u, t, j] = Dx[n + u, t, j] = d[n + u, j] = d_z
            Dh[2 * n + u, t, j] = d[2 * n + u, j] = d_n * r
            Dx[2 * n + u, t, j] = d_n
            dh[u, j] = d_h * z


@kernel
def gru_forward_step(gates, proj, b_ih, b_hh, hn, out, h_prev, h, t):
    """One forward step over all units (:func:`_gru_forward_cells`), for a caller that does
    the step's GEMM ``gates[t] = W_hh @ h_prev`` itself; writes the new state into ``h``
    (``(H, B)``, another array than ``h_prev``: updated in place, the loop ran 10x slower)."""
    _gru_forward_cells(gates[t], proj, b_ih, b_hh, hn[t], h_prev, h, out[t], t, 0)


@kernel
def gru_backward_step(gates, hn, h_prev, g_out, dh, dh_w, Dh, Dx, d, h_prev_t, t):
    """One backward step over all units (:func:`_gru_backward_cells`)."""
    _gru_backward_cells(gates[t], hn[t], h_prev, g_out[t], dh, dh_w, Dh, Dx, d, h_prev_t, t,
                        0)


@kernel
def gru_forward(sgemm, sched_yield, p, P, w_ih, x, w, proj, b_ih, b_hh, gates, hn, out, h,
                flags, reverse):
    """Part ``p`` of ``P`` of a whole GRU forward pass, every step's GEMMs included: as
    :func:`lstm_forward` (the parts, ``sgemm``, ``flags``, ``h`` ``(2, H, B)``, the
    projection made ``K`` steps at a time into ``proj`` ``(3H, K, B)`` from ``w_ih`` and
    ``x``, or read whole from ``proj`` ``(3H, T, B)`` when ``w_ih`` is empty), with the
    GRU's gate arithmetic (:func:`_gru_forward_cells`)."""
    T, G, B = gates.shape
    H = G // 3
    n = H // P
    rows, units = slice(3 * n * p, 3 * n * (p + 1)), slice(n * p, n * (p + 1))
    w, w_ih, proj = w[rows], w_ih[rows], proj[rows]
    b_ih, b_hh = b_ih[rows], b_hh[rows]
    first = 0
    for s in range(T):
        t = T - 1 - s if reverse else s
        a = gates[t, rows]
        first = _start_step(sgemm, sched_yield, flags, p, P, s, first, w_ih, x, w, proj, h, a,
                            reverse)
        _gru_forward_cells(a, proj, b_ih, b_hh, hn[t, units], h[s % 2, units],
                           h[(s + 1) % 2, units], out[t], t - first, n * p)
        _announce(flags, p, s + 1)


@kernel
def gru_backward(sgemm, sched_yield, p, P, w_t, gates, hn, out, h0, g_out, dh, dh_w, Dh, Dx, d,
                 h_prev_t, flags, reverse):
    """Part ``p`` of ``P`` of backpropagation through time for the GRU over all steps (see
    :func:`lstm_backward`): per step its gate arithmetic (:func:`_gru_backward_cells`),
    then, once every part has written its rows of ``d[s % 2]``, its rows of
    ``dh_w = w_t @ d[s % 2]``; ``h0`` is the initial state batch-major. ``dh + dh_w`` ends
    as the gradient reaching ``h0``."""
    T, G, B = gates.shape
    H = G // 3
    n = H // P
    rows, units = slice(3 * n * p, 3 * n * (p + 1)), slice(n * p, n * (p + 1))
    w_t, dh, dh_w, Dh, Dx = w_t[units], dh[units], dh_w[units], Dh[rows], Dx[rows]
    h_prev_t = h_prev_t[units]
    for s in range(T):
        t = s if reverse else T - 1 - s
        h_prev = h0 if s == T - 1 else out[t + 1 if reverse else t - 1]
        _gru_backward_cells(gates[t, rows], hn[t, units], h_prev, g_out[t], dh, dh_w, Dh, Dx,
                            d[s % 2, rows], h_prev_t, t, n * p)
        _announce(flags, p, s + 1)
        _wait_for_all(flags, P, s + 1, sched_yield)
        _sgemm(sgemm, False, n, B, G, w_t.ctypes.data, G, d[s % 2].ctypes.data, B,
               dh_w.ctypes.data, B)
