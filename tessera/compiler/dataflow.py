"""Where tensor data goes outside the operators while a trace records.

Several public functions of tessera do array work outside any ``Function``: comparisons,
rounding, argmax, masks and indices computed from a tensor's data
(``make_tensor(np.greater(a._data, b._data))``), statistics handed to an operator as a
parameter (batch norm in training). A tracer that only watched ``Function.apply`` would
bake such results into the graph as constants, and a replay would be silently wrong.

So while a trace records, array work outside the operators is done on
:class:`TracedArray` objects, which know whether they carry tensor data:

- reading ``tensor._data`` gives an *exact* view of that tensor's data;
- NumPy's array factories (``np.zeros``, ``np.arange``, ``np.asarray`` of a list ...) give
  *clean* arrays (constants);
- whatever NumPy computes from a TracedArray is a TracedArray, *derived* if an input
  carried tensor data, clean otherwise (``__array_ufunc__``, ``__array_function__``, the
  methods); a clean array that tensor data is written into (``out=``, item assignment,
  ``np.put_along_axis``) becomes derived.

A derived array owns its memory, so that a plain view of it (``np.asarray``) keeps it as
its base and can be traced back. The recorder then classifies an array that reaches an
operator parameter or a new tensor (:meth:`tessera.compiler.tracer.Recorder.origin_of`):
an exact view of a tensor's data is that tensor; derived data cannot be replayed; a clean
array is a constant. Python-level reads of tensor data (``item``, ``int``, ``tolist``,
printing) and writes into tensor memory are reported to the recorder. Branching on a
derived boolean is allowed, since that is how library code checks its arguments
(``if bad.any(): raise``) and a replay may skip a check, unless the recorder is strict
(a backward's capture refuses it).

Inside an operator (``Function.apply``) arrays are plain: its forward runs at full speed.

What this cannot see: tensor data copied by item assignment into a NumPy array that the
trace did not make (one made before it, or by a NumPy routine outside FACTORIES), and
data leaving through routes other than NumPy (``memoryview``, ctypes).
"""

import numpy as np

__all__ = ["TracedArray", "plain", "carries_data", "factory", "FACTORIES"]

# The recorder of the running trace (tessera.compiler.tracer sets and clears it).
recorder = None
_inside = [0]  # > 0 while NumPy runs a call for a TracedArray: its own arrays stay plain

EXACT, DERIVED, CLEAN = "exact", "derived", "clean"


class TracedArray(np.ndarray):
    """An array outside the operators while a trace records: an exact view of a tensor's
    data (``source`` is the Tensor), data derived from tensors, or a clean array.
    Outside a trace it behaves as an ndarray."""

    source = None
    kind = CLEAN

    def __array_finalize__(self, obj):
        self.source = None
        self.kind = CLEAN if getattr(obj, "kind", CLEAN) == CLEAN else DERIVED

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        data = any(carries_data(x) for x in inputs)
        out = kwargs.get("out")
        if out is not None:
            for o in out:
                _write(o, data, f"np.{ufunc.__name__}(..., out=)")
            kwargs["out"] = tuple(plain(o) for o in out)
        if method == "at":
            _write(inputs[0], any(carries_data(x) for x in inputs[1:]),
                   f"np.{ufunc.__name__}.at")
        inputs = plain(inputs)
        _inside[0] += 1
        try:
            result = getattr(ufunc, method)(*inputs, **kwargs)
        finally:
            _inside[0] -= 1
        if out is not None:
            return out[0] if len(out) == 1 else out
        return wrap(result, data, inputs)

    def __array_function__(self, func, types, args, kwargs):
        data = carries_data(args) or carries_data(kwargs)
        if func in _WRITERS:
            _write(args[0], carries_data(args[1:]) or carries_data(kwargs), func.__name__)
        out = kwargs.get("out")
        if isinstance(out, np.ndarray):
            _write(out, data, f"np.{func.__name__}(..., out=)")
        args, kwargs = plain(args), plain(kwargs)
        _inside[0] += 1
        try:
            result = func(*args, **kwargs)
        finally:
            _inside[0] -= 1
        if func in _WRITERS or out is not None:
            return result
        return wrap(result, data and func not in _SHAPE_ONLY, (args, kwargs))

    def __getitem__(self, key):
        result = np.ndarray.__getitem__(self, plain(key))
        if recorder is None:
            return result
        data = carries_data(key)
        if type(result) is TracedArray:
            if data:  # indices made from tensor data select data-dependent elements
                result.kind = DERIVED
            return result
        return wrap(result, data or carries_data(self), ())

    # -- writes ------------------------------------------------------------------------

    def __setitem__(self, key, value):
        _write(self, carries_data(value) or carries_data(key), "item assignment", key, value)
        np.ndarray.__setitem__(plain(self), plain(key), plain(value))

    def fill(self, value):
        _write(self, carries_data(value), "fill")
        np.ndarray.fill(plain(self), value)

    def sort(self, *args, **kwargs):
        _write(self, carries_data(self), "sort")
        np.ndarray.sort(plain(self), *args, **kwargs)

    def partition(self, *args, **kwargs):
        _write(self, carries_data(self), "partition")
        np.ndarray.partition(plain(self), *args, **kwargs)

    def put(self, indices, values, mode="raise"):
        _write(self, carries_data(indices) or carries_data(values), "put")
        np.ndarray.put(plain(self), plain(indices), plain(values), mode)

    # -- reads into Python -------------------------------------------------------------

    def item(self, *args):
        _read(self, "item()")
        return plain(self).item(*args)

    def tolist(self):
        _read(self, "tolist()")
        return plain(self).tolist()

    def tobytes(self, order="C"):
        _read(self, "tobytes()")
        return plain(self).tobytes(order)

    def __bool__(self):
        if recorder is not None and carries_data(self):
            recorder.on_branch()
        return bool(plain(self))

    def __int__(self):
        _read(self, "int()")
        return int(plain(self))

    def __float__(self):
        _read(self, "float()")
        return float(plain(self))

    def __complex__(self):
        _read(self, "complex()")
        return complex(plain(self))

    def __index__(self):
        _read(self, "an index")
        return plain(self).__index__()

    def __iter__(self):
        _read(self, "iteration")
        return iter(plain(self))

    def __repr__(self):
        _read(self, "printing")
        return repr(plain(self))

    def __str__(self):
        _read(self, "printing")
        return str(plain(self))

    def __format__(self, spec):
        _read(self, "formatting")
        return format(plain(self), spec)

    def __dlpack__(self, *args, **kwargs):
        _read(self, "__dlpack__")
        return plain(self).__dlpack__(*args, **kwargs)


def _method(name):
    # Array methods that compute a new array (or a NumPy scalar) without going through
    # __array_ufunc__ or __array_function__.
    unbound = getattr(np.ndarray, name)

    def method(self, *args, **kwargs):
        array = plain(self)
        _inside[0] += 1
        try:
            result = unbound(array, *plain(args), **plain(kwargs))
        finally:
            _inside[0] -= 1
        return wrap(result, carries_data(self) or carries_data(args), (array,))
    method.__name__ = name
    return method


for _name in ("all", "any", "argmax", "argmin", "argpartition", "argsort", "choose", "clip",
              "compress", "conj", "conjugate", "copy", "cumprod", "cumsum", "dot", "max",
              "mean", "min", "nonzero", "prod", "repeat", "round", "searchsorted", "std", "sum",
              "take", "trace", "var", "flatten"):
    setattr(TracedArray, _name, _method(_name))
del _name


def _astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
    # astype(copy=False) to the same dtype returns the array itself: still the same view
    if not copy and np.dtype(dtype) == self.dtype:
        return self
    result = np.ndarray.astype(plain(self), dtype, order, casting, False, copy)
    return wrap(result, carries_data(self), ())


TracedArray.astype = _astype

# NumPy functions whose result says nothing about the data (shapes, dtypes, a new array).
_SHAPE_ONLY = {np.shape, np.ndim, np.size, np.result_type, np.may_share_memory,
               np.shares_memory, np.iscomplexobj, np.isrealobj, np.empty_like, np.zeros_like,
               np.ones_like, np.full_like, np.can_cast, np.min_scalar_type}
# NumPy functions that write into their first argument.
_WRITERS = {np.copyto, np.put, np.place, np.putmask, np.put_along_axis, np.fill_diagonal}


def plain(x):
    """``x`` with every TracedArray (also inside tuples, lists and dicts) as a plain view."""
    t = type(x)
    if t is TracedArray:
        return x.view(np.ndarray)
    if t is tuple or t is list:
        return t(plain(v) for v in x)
    if t is dict:
        return {k: plain(v) for k, v in x.items()}
    return x


def carries_data(x):
    """Whether ``x`` (an array, or tuples, lists and dicts of them) holds tensor data: a
    TracedArray, or one of its bases, that is not clean."""
    t = type(x)
    if t is TracedArray:
        a = x
        while isinstance(a, TracedArray):
            if a.kind != CLEAN:
                return True
            a = a.base
        return False
    if t is tuple or t is list:
        return any(carries_data(v) for v in x)
    if t is dict:
        return any(carries_data(v) for v in x.values())
    return False


def wrap(result, data, inputs):
    """What NumPy computed, as TracedArrays: derived when ``data``, else clean.

    A view into one of the call's ``inputs`` is wrapped as it is: writes through it must
    reach that memory (the recorder knows which memory is a tensor's). Any other array is
    copied into a TracedArray that owns its memory, so that a plain view of it (as
    ``np.asarray`` makes) keeps it as its base. A NumPy scalar made from tensor data
    becomes a 0-d array (a clean one stays a scalar).
    """
    if recorder is None:
        return result
    if data and recorder.strict:
        recorder.on_compute()
        return result
    if type(result) is TracedArray:
        if data:
            result.kind = DERIVED
        return result
    if type(result) is np.ndarray:
        kind = DERIVED if data else CLEAN
        if result.base is not None and any(np.may_share_memory(result, a)
                                           for a in _arrays(inputs)):
            view = result.view(TracedArray)
            view.kind = kind
            return view
        return owned(result, kind)
    if data and isinstance(result, np.generic):
        return owned(np.asarray(result), DERIVED)
    if type(result) is tuple or type(result) is list:
        return type(result)(wrap(r, data, inputs) for r in result)
    return result


def owned(array, kind):
    """A TracedArray of ``kind`` that owns a copy of ``array``."""
    new = np.ndarray.__new__(TracedArray, array.shape, array.dtype)
    np.copyto(new.view(np.ndarray), array)
    new.kind = kind
    return new


def _arrays(x):
    if isinstance(x, np.ndarray):
        yield x
    elif type(x) is tuple or type(x) is list:
        for v in x:
            yield from _arrays(v)
    elif type(x) is dict:
        for v in x.values():
            yield from _arrays(v)


def _read(array, what):
    if recorder is not None and carries_data(array):
        recorder.on_read(what)


def _write(array, data, how, key=None, value=None):
    if recorder is not None and isinstance(array, np.ndarray):
        recorder.on_write(array, data, how, key, value)


def mark_derived(array):
    """``array`` (a TracedArray) and the TracedArrays it is a view of now hold tensor
    data."""
    a = array
    while isinstance(a, TracedArray):
        if a.kind == CLEAN:
            a.kind = DERIVED
        a = a.base


# -- NumPy's array factories, for the time of a trace (hooks.Patches installs them) -------

FACTORIES = ("asarray", "array", "asanyarray", "ascontiguousarray", "asfortranarray",
             "empty", "zeros", "ones", "full", "empty_like", "zeros_like", "ones_like",
             "full_like", "arange", "linspace", "eye", "identity")


def factory(original):
    """``original`` (one of FACTORIES) outside the operators: a new array is a clean
    TracedArray (so that data written into it later is seen); a conversion of traced data
    is derived, unless it is the same view of a tensor's data (``np.asarray(t._data)``);
    a conversion that returns its argument's memory returns a view of it, not a copy."""
    def make(*args, **kwargs):
        result = original(*args, **kwargs)
        if recorder is None or recorder.depth or _inside[0] or \
                not isinstance(result, np.ndarray) or type(result) is TracedArray:
            return result
        source = args[0] if args else None
        if type(source) is TracedArray and source.kind == EXACT and _same_memory(result,
                                                                                 source):
            view = result.view(TracedArray)
            view.kind, view.source = EXACT, source.source
            return view
        kind = DERIVED if carries_data(args) or carries_data(kwargs) else CLEAN
        if isinstance(source, np.ndarray) and np.may_share_memory(result, source):
            view = result.view(TracedArray)
            view.kind = kind
            return view
        return owned(result, kind)
    make.__name__ = original.__name__
    return make


def _same_memory(x, y):
    return (x.__array_interface__["data"][0] == y.__array_interface__["data"][0]
            and x.shape == y.shape and x.strides == y.strides)
