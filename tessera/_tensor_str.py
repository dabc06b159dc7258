"""Printing tensors the way PyTorch does: ``tensor([[1., 2.]], requires_grad=True)``."""

import numpy as np

from .backend import dtypes

__all__ = ["tensor_repr"]

_DEFAULT_DTYPES = ("float32", "int64", "bool")


def _float_formatter(values):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return lambda v: _special(v) or f"{v:.4f}"
    absval = np.abs(finite)
    nonzero = absval[absval > 0]
    integral = np.all(finite == np.round(finite))
    if integral:
        if absval.max() < 1e8:
            width = max(len(f"{v:.0f}.") for v in finite)
            return lambda v: (_special(v) or f"{v:.0f}.").rjust(width)
        sci = True
    else:
        sci = nonzero.size > 0 and (nonzero.max() / nonzero.min() > 1000.0 or nonzero.max() > 1e8
                                    or nonzero.min() < 1e-4)
    fmt = "{:.4e}" if sci else "{:.4f}"
    width = max(len(fmt.format(v)) for v in finite)
    return lambda v: (_special(v) or fmt.format(v)).rjust(width)


def _special(v):
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def _format_values(data):
    kind = data.dtype.kind
    if data.size == 0:
        return "[]"
    if kind == "f" or data.dtype.name == "bfloat16":
        arr = data.astype(np.float64)
        fmt = _float_formatter(arr.reshape(-1))
        formatter = {"float_kind": fmt}
    elif kind == "b":
        arr = data
        width = 5 if not data.all() else 4
        formatter = {"bool": lambda v: ("True" if v else "False").rjust(width)}
    else:
        arr = data
        width = max(len(str(v)) for v in data.reshape(-1))
        formatter = {"int": lambda v: str(v).rjust(width)}
    summarize = data.size > 1000
    return np.array2string(arr, separator=", ", formatter=formatter, prefix="tensor(",
                           threshold=1000 if summarize else data.size + 1, edgeitems=3,
                           max_line_width=80)


def tensor_repr(t, prefix="tensor"):
    data = t._data
    body = _format_values(data) if data.ndim else _format_values(data.reshape(1))[1:-1]
    extras = []
    if data.size == 0 and data.shape != (0,):
        extras.append(f"size={tuple(data.shape)}")
    dt = dtypes.from_numpy_dtype(data.dtype)
    if dt.name not in _DEFAULT_DTYPES or (data.size == 0 and dt.name != "float32"):
        extras.append(f"dtype=tessera.{dt.name}")
    if t._node is not None:
        extras.append(f"grad_fn=<{t._node.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return f"{prefix}({body}" + "".join(", " + e for e in extras) + ")"
