"""Every operator of the OpInfo database, compiled: a replay on new values equals eager
mode (values and gradients), or the function runs eagerly with a warning. Never a replay
silently specialised on the values of its trace."""

import warnings

import numpy as np
import pytest

import tessera as ts
from tessera.testing import assert_close
from tessera.testing.comparison import to_numpy
from tessera.testing.opinfo import op_db_modules, op_infos

CALLS = 4  # a trace, the backward's capture, its check, a replay with the captured backward


def _other_values(array, rng):
    """An array like ``array`` with other values (indices stay valid: they are permuted)."""
    if array.size == 0:
        return array.copy()
    if array.dtype.kind == "f":
        scale = float(np.abs(array).mean()) + 0.5
        return np.asarray(rng.standard_normal(array.shape) * scale, dtype=array.dtype)
    if array.dtype.kind == "b":
        return np.asarray(rng.random(array.shape) > 0.5)
    return rng.permutation(array.reshape(-1)).reshape(array.shape)


def _tensors(out):
    if isinstance(out, ts.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return []


def _run(info, sample, arrays, fn):
    args = [ts.tensor(a, requires_grad=info.differentiable and a.dtype.kind == "f"
                      and i not in sample.no_grad_args) if isinstance(a, np.ndarray) else a
            for i, a in enumerate(arrays)]
    out = fn(*args)
    leaves = [a for a in args if isinstance(a, ts.Tensor) and a.requires_grad]
    outs = [t for t in _tensors(out) if t.requires_grad]
    grads = []
    if leaves and outs:
        loss = sum((t * ts.ones_like(t) * 0.5).sum() for t in outs)
        grads = ts.autograd.grad(loss, leaves, allow_unused=True)
    return [to_numpy(t) for t in _tensors(out)], [None if g is None else to_numpy(g)
                                                   for g in grads]


@pytest.mark.parametrize("module", op_db_modules())
def test_replays_equal_eager_on_new_values(module):
    rng = np.random.default_rng(0)
    for info in op_infos(module):
        if info.random:
            continue
        for sample in info.sample_inputs():
            def fn(*args, _info=info, _sample=sample):
                return _info.fn(ts, *args, **_sample.kwargs)

            compiled = ts.compile(fn)
            arrays = list(sample.args)
            for call in range(CALLS):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # fallbacks, and NaNs some values make
                    try:
                        expected = _run(info, sample, arrays, fn)
                    except Exception:  # noqa: BLE001 - new values an operator rejects
                        break
                    ours = _run(info, sample, arrays, compiled)
                for a, e in zip(ours[0] + ours[1], expected[0] + expected[1]):
                    if e is None:
                        assert a is None, f"{info.name} {sample}: call {call}"
                        continue
                    assert_close(a, e, rtol=1e-5, atol=1e-5, msg=f"{info.name} {sample}: "
                                                                 f"call {call}")
                arrays = [_other_values(a, rng) if isinstance(a, np.ndarray) else a
                          for a in sample.args]
