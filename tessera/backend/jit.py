"""Compiled loops for the few places where a chain of NumPy passes is the bottleneck.

A NumPy expression makes one pass over memory per operation; an LSTM step's gate
arithmetic is 11 of them and Adam's update 12. Fused into one loop compiled by numba (the
optional ``fast`` extra), each element is read once and its arithmetic stays in registers:
LSTM steps and Adam's update run 3-4x faster (docs/performance.md).

Kernel modules sit beside their operators (``nn/modules/_rnn_kernels.py``,
``optim/_kernels.py``, ``ops/_*_kernels.py``), import numba and decorate their loops with
:func:`kernel`; operators ask for them through :func:`load`, which gives ``None`` when numba
is not installed or compiled loops are turned off (``TESSERA_JIT=0`` in the environment, or
:func:`disabled`), and the operator takes its NumPy path. So numba is imported on first use
only, never at ``import tessera``. Kernels compile on their first call and are cached on disk
by numba.
"""

import contextlib
import importlib
import importlib.util
import os
import warnings

__all__ = ["available", "load", "disabled", "kernel"]

_enabled = os.environ.get("TESSERA_JIT", "1") != "0"
_numba_installed = None
_modules = {}


def available():
    """Whether compiled kernels are in use: numba is installed and they are not turned off."""
    global _numba_installed
    if _numba_installed is None:
        _numba_installed = importlib.util.find_spec("numba") is not None
    return _enabled and _numba_installed


def load(module):
    """The kernel module named ``module`` (absolute), or None when kernels are not in use.

    A numba that is installed but cannot be imported (one built for another NumPy, say)
    turns the kernels off with a warning, once: the NumPy paths still run.
    """
    global _numba_installed
    if not available():
        return None
    found = _modules.get(module)
    if found is None:
        try:
            found = _modules[module] = importlib.import_module(module)
        except ImportError as error:
            _numba_installed = False
            warnings.warn(f"tessera: numba could not be imported ({error}); compiled loops are "
                          "off and the NumPy paths run instead", RuntimeWarning, stacklevel=2)
            return None
    return found


def kernel(fn=None, *, reassociate=False):
    """``fn`` as a numba kernel (imports numba: for kernel modules only). NumPy's error
    model (no exception on division by zero) lets loops with a division vectorise; cached
    on disk, and the GIL is released so that ``parallel_for`` chunks run at once.

    Without fast-math the arithmetic is IEEE's, operation for operation, so a sum over a
    loop stays one scalar chain; ``reassociate=True`` lets such reductions run in vector
    lanes (summation order, and so the last bits, differ from NumPy's).
    """
    import numba

    options = {"fastmath": {"reassoc", "contract"}} if reassociate else {}
    decorate = numba.njit(cache=True, nogil=True, error_model="numpy", **options)
    return decorate if fn is None else decorate(fn)


@contextlib.contextmanager
def disabled():
    """Run the NumPy paths inside the block (tests compare them with the kernels)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before
