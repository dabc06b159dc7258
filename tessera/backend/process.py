"""Process-wide settings of the CPU backend, made once when tessera is imported.

Two defaults of the C libraries under NumPy cost every training step time, measured on
the CNN benchmark (docs/performance.md):

- OpenBLAS's idle threads spin for about 2**28 cycles (0.1 s) after each multi-threaded
  call, so a thread of tessera's own (``parallel.py``) that runs right after a GEMM shares
  its core with a spinning BLAS thread: conv(32->64) forward 4.6 ms alone, 9.8 ms after a
  linear layer. ``OPENBLAS_THREAD_TIMEOUT=20`` (2**20 cycles, ~0.4 ms) lets them sleep soon
  after. Shorter is better for the CNN benchmark but makes the LSTM's per-step GEMMs (50-100
  us apart) wake a sleeping thread each time; measured over the suite, 20 was the best
  compromise (2**16: CNN 1.08-1.22 x PyTorch, LSTM 1.44; 2**20: CNN 1.17-1.25, LSTM 1.32-1.35;
  OpenBLAS's default 2**28 makes splitting a loss). OpenBLAS reads the variable
  when it loads, so it is set here only if NumPy is not loaded yet, and never over a value
  the user set.
- glibc gives freed memory at the top of the heap back to the OS, and serves large arrays
  from fresh ``mmap``s, so every step's activations are new pages that the kernel must zero
  (4,000 page faults, 8-10 ms of a 50 ms CNN step). Raising the two thresholds keeps that
  memory in the process for the next step (``mallopt``; the same as the environment variables
  ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``, which win when set). It does not
  raise peak memory: what is kept was in use at the peak already.

``TESSERA_TUNE_PROCESS=0`` in the environment leaves both alone.
"""

import ctypes
import ctypes.util
import os
import sys

__all__ = ["blas_threads_sleep_when_idle"]

BLAS_THREAD_TIMEOUT = 20       # log2 of the cycles an idle OpenBLAS thread spins
_MMAP_THRESHOLD = 32 << 20     # arrays below it come from the heap, which is kept ...
_TRIM_THRESHOLD = 256 << 20    # ... unless more than this lies free at its top
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers

_enabled = os.environ.get("TESSERA_TUNE_PROCESS", "1") != "0"


def _set_blas_thread_timeout():
    if "OPENBLAS_THREAD_TIMEOUT" not in os.environ and "numpy" not in sys.modules:
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(BLAS_THREAD_TIMEOUT)
        return True
    return False


def _keep_freed_memory():
    if sys.platform != "linux" or "MALLOC_TRIM_THRESHOLD_" in os.environ or \
            "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


_timeout_set_here = _enabled and _set_blas_thread_timeout()
if _enabled:
    _keep_freed_memory()


def blas_threads_sleep_when_idle():
    """Whether idle OpenBLAS threads stop spinning soon after a call (see the module
    docstring), so that tessera's own threads get the cores right after a GEMM."""
    if _timeout_set_here:
        return True
    try:
        # Set by the user: assume it was in place when OpenBLAS loaded.
        return int(os.environ.get("OPENBLAS_THREAD_TIMEOUT", "0")) in range(1, 21)
    except ValueError:
        return False
