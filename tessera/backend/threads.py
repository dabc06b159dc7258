"""The number of threads the CPU backend's BLAS uses (``ts.set_num_threads``).

NumPy's BLAS (OpenBLAS) picks its thread count at start-up. Small models gain nothing
from several threads, and on a busy machine spinning BLAS threads can make them several
times slower, so PyTorch's knob is offered here. It needs ``threadpoolctl`` (installed
with the ``train`` extra).
"""

__all__ = ["set_num_threads", "get_num_threads"]

_limiter = None


def _controller():
    try:
        import threadpoolctl
    except ImportError:
        raise ImportError("set_num_threads needs threadpoolctl: pip install 'tessera[train]'") \
            from None
    return threadpoolctl


def set_num_threads(n):
    """Use ``n`` threads for the backend's matrix products from now on."""
    global _limiter
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive number of threads, got {n}")
    _limiter = _controller().threadpool_limits(limits=n, user_api="blas")


def get_num_threads():
    """The number of threads the backend's BLAS uses."""
    info = _controller().threadpool_info()
    counts = [i["num_threads"] for i in info if i.get("user_api") == "blas"]
    return counts[0] if counts else 1
