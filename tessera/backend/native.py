"""Addresses of the native functions that compiled loops call themselves.

A compiled loop that runs a whole recurrence (the LSTM's, ``nn/modules/_rnn_kernels.py``)
does each step's GEMM without coming back to Python, so it calls NumPy's BLAS directly: it
is handed the address of ``cblas_sgemm`` and calls it through a function pointer (an address
passed as an argument, unlike a ctypes function compiled into the loop, keeps the loop
cacheable on disk). Only BLAS builds whose argument types are certain are used: the ILP64
OpenBLAS that NumPy's wheels ship (64-bit integers, the ``64_`` symbol suffix); elsewhere
:func:`sgemm_address` gives None and the callers take their per-step path.
"""

import ctypes

from . import threads

__all__ = ["sgemm_address", "sched_yield_address"]

# Row-major cblas_sgemm with 64-bit integer arguments, as NumPy's wheels name it: NumPy 2
# (scipy-openblas64) and NumPy 1.22-1.26 (openblas64_).
_ILP64_SGEMM = ("scipy_cblas_sgemm64_", "cblas_sgemm64_")

_sgemm = _yield = ...   # not looked up yet


def _address(library, names):
    for name in names:
        try:
            return ctypes.cast(getattr(library, name), ctypes.c_void_p).value
        except AttributeError:
            continue
    return None


def sgemm_address():
    """The address of NumPy's ``cblas_sgemm`` taking 64-bit integers, or None where NumPy's
    BLAS is another build (or threadpoolctl cannot find it)."""
    global _sgemm
    if _sgemm is ...:
        _sgemm = None
        for blas in threads.blas_controllers():
            library = getattr(blas, "dynlib", None)
            if blas.internal_api == "openblas" and library is not None:
                _sgemm = _address(library, _ILP64_SGEMM)
                if _sgemm is not None:
                    break
    return _sgemm


def sched_yield_address():
    """The address of the C library's ``sched_yield`` (0 where there is none): a thread
    that has waited long for another gives its core away, in case that other thread is
    waiting for it."""
    global _yield
    if _yield is ...:
        try:
            _yield = _address(ctypes.CDLL(None), ("sched_yield",)) or 0
        except (OSError, TypeError):   # no C library to open by name (Windows)
            _yield = 0
    return _yield
