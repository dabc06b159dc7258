"""tessera's dtypes, mapped to the array module's dtypes.

A dtype is a small immutable object (``ts.float32``) so that tessera code never
spells a NumPy dtype. Type promotion follows PyTorch: categories bool < integer
< floating; Python scalars and 0-d tensors only raise the category, never the
width inside a category (so ``float32_tensor * 2.0`` stays float32).
"""

import builtins

import ml_dtypes
import numpy as np

__all__ = [
    "dtype", "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16",
    "float32", "float64", "get_default_dtype", "set_default_dtype", "promote_types",
    "result_type", "from_numpy_dtype",
]

_builtin_bool = builtins.bool


class dtype:
    """A tensor element type: name, backend dtype, and its promotion category."""

    __slots__ = ("name", "np_dtype", "itemsize", "is_floating_point", "is_signed", "_category")

    def __init__(self, name, np_dtype, category):
        self.name = name
        self.np_dtype = np.dtype(np_dtype)
        self.itemsize = self.np_dtype.itemsize
        self._category = category  # 0 bool, 1 integer, 2 floating
        self.is_floating_point = category == 2
        self.is_signed = name not in ("bool", "uint8")

    def __repr__(self):
        return f"tessera.{self.name}"

    def __reduce__(self):
        return self.name  # pickles as the module attribute of that name

    def to_numpy(self):
        return self.np_dtype


bool = dtype("bool", np.bool_, 0)  # noqa: A001 - mirrors torch.bool
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
float16 = dtype("float16", np.float16, 2)
bfloat16 = dtype("bfloat16", ml_dtypes.bfloat16, 2)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)

ALL_DTYPES = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
_BY_NUMPY = {d.np_dtype: d for d in ALL_DTYPES}
_ALIASES = {"half": float16, "float": float32, "double": float64, "long": int64, "int": int32,
            "short": int16}
_BY_NAME = {d.name: d for d in ALL_DTYPES} | _ALIASES

_default_float = float32


def get_default_dtype():
    return _default_float


def set_default_dtype(d):
    global _default_float
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating point dtypes are allowed, got {d}")
    _default_float = d


def from_numpy_dtype(np_dtype):
    """The tessera dtype of a backend dtype; TypeError for one tessera lacks."""
    try:
        return _BY_NUMPY[np_dtype]
    except KeyError:
        pass
    np_dtype = np.dtype(np_dtype)
    if np_dtype in _BY_NUMPY:
        return _BY_NUMPY[np_dtype]
    if np_dtype == np.uint16 or np_dtype == np.uint32 or np_dtype == np.uint64:
        return int64
    raise TypeError(f"tessera has no dtype for numpy dtype {np_dtype}; supported: "
                    + ", ".join(d.name for d in ALL_DTYPES))


def as_dtype(d):
    """Accept a tessera dtype, a NumPy dtype or type, a Python type, or a name."""
    if isinstance(d, dtype):
        return d
    if d is None:
        return None
    if d is float:
        return _default_float
    if d is int:
        return int64
    if d is _builtin_bool:
        return bool
    if isinstance(d, str):
        try:
            return _BY_NAME[d.removeprefix("torch.").removeprefix("tessera.")]
        except KeyError:
            pass
    try:
        return from_numpy_dtype(np.dtype(d))
    except TypeError:
        raise
    except Exception:
        raise TypeError(f"cannot interpret {d!r} as a tessera dtype") from None


def _promote_pair(a, b):
    if a is b:
        return a
    if a._category != b._category:
        return a if a._category > b._category else b
    if a._category == 2:
        if {a.name, b.name} == {"float16", "bfloat16"}:
            return float32
        return a if a.itemsize > b.itemsize else b
    if a._category == 0:
        return a
    return from_numpy_dtype(np.promote_types(a.np_dtype, b.np_dtype))


_PROMOTE = {(a, b): _promote_pair(a, b) for a in ALL_DTYPES for b in ALL_DTYPES}


def promote_types(a, b):
    return _PROMOTE[(a, b)]


def _scalar_dtype(value):
    if isinstance(value, _builtin_bool):
        return bool
    if isinstance(value, int):
        return int64
    if isinstance(value, float):
        return _default_float
    if isinstance(value, np.generic):
        return from_numpy_dtype(value.dtype)
    raise TypeError(f"expected a Tensor or a Python number, got {type(value).__name__}")


def _combine_categories(higher, lower):
    # PyTorch's rule: a lower-priority operand only matters if it is of a higher category.
    if higher is None:
        return lower
    if lower is None or higher.is_floating_point:
        return higher
    if higher is bool or lower.is_floating_point:
        return _PROMOTE[(higher, lower)]
    return higher


def result_type(*operands):
    """The dtype PyTorch would give an operation on these Tensors and Python scalars."""
    dim = zero = wrapped = None
    for x in operands:
        d = getattr(x, "dtype", None)
        if isinstance(d, dtype):
            if x.ndim:
                dim = d if dim is None else _PROMOTE[(dim, d)]
            else:
                zero = d if zero is None else _PROMOTE[(zero, d)]
        elif x is not None:
            d = _scalar_dtype(x)
            wrapped = d if wrapped is None else _PROMOTE[(wrapped, d)]
    return _combine_categories(dim, _combine_categories(zero, wrapped))
