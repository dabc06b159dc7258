"""``assert_close``: compare tensors (or arrays, or numbers) with a useful message."""

import numpy as np

__all__ = ["assert_close", "to_numpy"]

_DEFAULT_TOLERANCES = {  # (rtol, atol) by dtype, as in torch.testing
    "float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
}


def to_numpy(x):
    """A NumPy array from a tessera Tensor, a torch tensor, an array or a number."""
    if hasattr(x, "_data") and hasattr(x, "_node"):
        return np.asarray(x._data)
    if type(x).__module__.startswith("torch"):
        x = x.detach()
        if str(x.dtype) == "torch.bfloat16":
            import ml_dtypes
            return x.float().numpy().astype(ml_dtypes.bfloat16)
        return x.numpy()
    return np.asarray(x)


def assert_close(actual, expected, *, rtol=None, atol=None, equal_nan=True, check_dtype=True,
                 msg=None):
    """Raise AssertionError unless ``actual`` and ``expected`` match in shape, dtype and value."""
    a, e = to_numpy(actual), to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{msg + ': ' if msg else ''}shape mismatch: {a.shape} vs {e.shape}")
    if check_dtype and a.dtype != e.dtype:
        raise AssertionError(f"{msg + ': ' if msg else ''}dtype mismatch: {a.dtype} vs {e.dtype}")
    default = _DEFAULT_TOLERANCES.get(a.dtype.name, (0.0, 0.0))
    rtol = default[0] if rtol is None else rtol
    atol = default[1] if atol is None else atol
    if a.dtype.kind in "biu" and e.dtype.kind in "biu":
        ok = np.array_equal(a, e)
        bad = ~(a == e)
    else:
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        close = np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=equal_nan)
        ok = bool(close.all())
        bad = ~close
    if not ok:
        idx = np.argwhere(bad)
        first = tuple(idx[0]) if idx.size else ()
        diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
        raise AssertionError(
            f"{msg + ': ' if msg else ''}tensors are not close: {int(bad.sum())} of {a.size} "
            f"elements differ (rtol={rtol}, atol={atol}); greatest absolute difference "
            f"{np.nanmax(diff) if diff.size else 0:.3g}; first at index {first}: "
            f"{a[first] if a.ndim else a} vs {e[first] if e.ndim else e}")
