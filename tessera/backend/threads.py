"""How many threads the CPU backend uses (``ts.set_num_threads``), for BLAS and for
tessera's own intra-operator loops (``parallel.py``).

NumPy's BLAS (OpenBLAS) picks its thread count at start-up. Small models gain nothing
from several threads, and on a busy machine spinning BLAS threads can make them several
times slower, so PyTorch's knob is offered here. The BLAS side goes through
``threadpoolctl`` (a dependency; should it be missing, the count applies to tessera's loops
only).
"""

import contextlib
import os

__all__ = ["set_num_threads", "get_num_threads", "blas_is_controllable", "single_threaded_blas",
           "blas_controllers"]

_num_threads = None    # None until first asked: then BLAS's own count at start-up
_blas = None           # threadpoolctl controllers of the BLAS libraries NumPy loaded


def blas_controllers():
    """threadpoolctl's controllers of the BLAS libraries NumPy loaded ([] without
    threadpoolctl)."""
    global _blas
    if _blas is None:
        try:
            import threadpoolctl
        except ImportError:
            _blas = []
        else:
            # Only user_api "blas": a process that also loaded PyTorch keeps its OpenMP pool.
            _blas = [c for c in threadpoolctl.ThreadpoolController().lib_controllers
                     if c.user_api == "blas"]
    return _blas


def set_num_threads(n):
    """Use ``n`` threads for the backend's matrix products and loops from now on."""
    global _num_threads
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive number of threads, got {n}")
    for blas in blas_controllers():
        blas.set_num_threads(n)
    _num_threads = n


def get_num_threads():
    """The number of threads the backend uses."""
    global _num_threads
    if _num_threads is None:
        counts = [blas.num_threads for blas in blas_controllers()]
        _num_threads = counts[0] if counts else (os.cpu_count() or 1)
    return _num_threads


def blas_is_controllable():
    """Whether BLAS's thread count can be changed (threadpoolctl found NumPy's BLAS)."""
    return bool(blas_controllers())


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS calls run on the calling thread alone meanwhile, so that tessera's own threads
    can each run GEMMs side by side without oversubscribing the cores."""
    n = get_num_threads()   # asked first: it reads BLAS's own count the first time
    for blas in blas_controllers():
        blas.set_num_threads(1)
    try:
        yield
    finally:
        for blas in blas_controllers():
            blas.set_num_threads(n)
