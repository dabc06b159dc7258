"""Intra-operator parallelism: one operator's loop over images split across threads.

BLAS threads a GEMM, but the copies and elementwise passes around it (im2col, col2im,
pooling, activations) are single NumPy loops on one core. PyTorch splits those loops over
its thread pool; :func:`parallel_for` does the same for tessera's kernels: contiguous
chunks of the batch run on the backend's threads at once (NumPy releases the GIL inside
its loops and BLAS calls), with BLAS single-threaded meanwhile so that each chunk's GEMMs
run on their own core. Measured on the CNN benchmark's convolutions (2 cores): forward and
backward of conv(32->64, 3x3) on 64x32x16x16, 19.8 ms with a 2-thread BLAS, 15.1 ms split.

The number of threads is ``ts.get_num_threads()``; with one thread, inside another
parallel region, or when BLAS's threads cannot be controlled, the body runs once on the
caller's thread over the whole range.

A recurrence cannot be cut into independent chunks: :func:`run_together` runs bodies that
wait for each other (the LSTM's compiled loops, which meet once a time step), one thread
each.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

from . import process, threads

__all__ = ["parallel_for", "threads_for", "run_together", "threads_together", "gemm_ns",
           "pass_ns", "MIN_CHUNK_NS"]

MIN_CHUNK_NS = 100_000


def gemm_ns(multiply_adds):
    """About how long a GEMM of that size takes on one thread (~100 GFLOP/s)."""
    return multiply_adds / 50


def pass_ns(elements, passes=1):
    """About how long ``passes`` elementwise passes over that many elements take."""
    return elements * passes / 2

_pool = None
_pool_size = 0
_can_share = None
_region = threading.local()  # .active: this thread is running a chunk


def _executor(workers):
    global _pool, _pool_size
    if _pool is None or _pool_size < workers:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(workers, thread_name_prefix="tessera-intra-op")
        _pool_size = workers
    return _pool


def _forget_pool():
    # A forked child (DataLoader workers) inherits the pool object but not its threads.
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _threads_can_share_cores():
    """BLAS can be made single-threaded, and its idle threads do not spin on the cores our
    threads need (otherwise a split runs slower than one thread with a threaded BLAS)."""
    global _can_share
    if _can_share is None:
        _can_share = threads.blas_is_controllable() and process.blas_threads_sleep_when_idle()
    return _can_share


def _run_chunk(body, *args):
    _region.active = True
    try:
        return body(*args)
    finally:
        _region.active = False


def threads_for(ns):
    """How many threads :func:`parallel_for` would give work of about ``ns`` nanoseconds
    (1: it runs on the caller's thread). Cheap for small work: operators ask it on every
    call."""
    if ns < 2 * MIN_CHUNK_NS or getattr(_region, "active", False) or \
            not _threads_can_share_cores():
        return 1
    return min(threads.get_num_threads(), int(ns // MIN_CHUNK_NS))


def parallel_for(n, body, ns_per_item):
    """``[body(start, stop), ...]`` over contiguous chunks covering ``range(n)``, in order.

    Args:
        n: the number of items (images of a batch, rows of an array).
        body: ``body(start, stop)`` processes items ``start .. stop - 1``; chunks run at the
            same time, so bodies must write disjoint outputs.
        ns_per_item: about how long one item takes on one thread, in nanoseconds (GEMM work
            about ``multiply_adds / 50``, a pass over memory about half a nanosecond per
            element: see ``gemm_ns`` and ``pass_ns``); a chunk gets at least
            ``MIN_CHUNK_NS``, since handing work to a thread costs tens of microseconds.
    """
    workers = min(n, threads_for(n * ns_per_item))
    if workers <= 1:
        return [body(0, n)]
    bounds = [n * i // workers for i in range(workers + 1)]
    with threads.single_threaded_blas():
        futures = [_executor(workers - 1).submit(_run_chunk, body, bounds[i], bounds[i + 1])
                   for i in range(1, workers)]
        try:
            first = _run_chunk(body, bounds[0], bounds[1])
        finally:
            # Every chunk finishes before BLAS gets its threads back and before an error
            # propagates, so no chunk outlives the call.
            wait(futures)
    return [first] + [f.result() for f in futures]


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        return os.cpu_count() or 1


def threads_together(ns):
    """How many threads :func:`run_together` should use for work of about ``ns``
    nanoseconds: as many as :func:`threads_for` gives, and no more than the cores this
    process may run on, since its bodies wait for each other by spinning."""
    return max(1, min(threads_for(ns), _usable_cores()))


def run_together(n, body):
    """``[body(0), ..., body(n - 1)]``, all running at the same time, one thread each (the
    caller's runs ``body(0)``), with BLAS single-threaded meanwhile.

    For bodies that wait for each other, as a compiled loop with a barrier at every step
    does: each needs a thread of its own, so ``n`` should come from
    :func:`threads_together`. A body that raises cannot release the others' waits, so
    bodies must not fail once started.
    """
    if n <= 1:
        return [body(0)]
    with threads.single_threaded_blas():
        futures = [_executor(n - 1).submit(_run_chunk, body, i) for i in range(1, n)]
        try:
            first = _run_chunk(body, 0)
        finally:
            wait(futures)
    return [first] + [f.result() for f in futures]
