"""An Unpickler that resolves globals only from an allow-list.

A pickle runs code by naming a global (``os.system``) and calling it; every such name
goes through ``find_class``, so a pickle whose globals are all in the allow-list can
only build containers, NumPy arrays and what the allow-list's functions return.
"""

import builtins
import collections
import pickle

import numpy as np

__all__ = ["RestrictedUnpickler", "numpy_globals", "builtin_globals"]

# Protocol 0-2 pickles written by Python 2 (or for it) name these modules.
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


def _latin1_encode(obj, encoding="utf-8", errors="strict"):
    # Protocol 2 pickles bytes as _codecs.encode(text, "latin1"); no other codec is needed.
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}: "
                                     "only 'latin1' is allowed")
    return obj.encode("latin1", errors)


def builtin_globals():
    """Python builtins a data pickle may name: containers and plain values."""
    allowed = {("builtins", n): getattr(builtins, n)
               for n in ("set", "frozenset", "slice", "complex", "bytearray")}
    allowed[("collections", "OrderedDict")] = collections.OrderedDict
    allowed[("_codecs", "encode")] = _latin1_encode
    return allowed


def numpy_globals():
    """What NumPy's pickles of arrays, dtypes and scalars name, under old and new paths."""
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float32(0).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = frombuffer
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickle ``file`` resolving globals only from ``allowed``.

    Args:
        allowed: ``{(module, name): object}``.
        source: how the file is named in error messages.
        op: the operation named in error messages (``"tessera.load"``).
        persistent_load: optional handler of persistent ids.
    """

    def __init__(self, file, allowed, source, op, persistent_load=None, encoding="utf-8"):
        super().__init__(file, encoding=encoding)
        self._allowed = allowed
        self._source = source
        self._op = op
        if persistent_load is not None:
            self.persistent_load = persistent_load

    def find_class(self, module, name):
        module = _PY2_MODULES.get(module, module)
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self._op}: refusing to load global '{module}.{name}' from {self._source}: "
                "not in the allow-list") from None
