"""Every operator in the OpInfo database against PyTorch: forward values and dtypes,
gradients for a random cotangent, finite-difference gradcheck in float64, and
gradients of gradients where the entry asks for them."""

import contextlib

import numpy as np
import pytest
import torch

import tessera as ts
from tessera.backend import jit
from tessera.testing import assert_close
from tessera.testing.comparison import to_numpy
from tessera.testing.opinfo import op_db_modules, op_infos


def _load_all():
    # A family module that fails to import fails its own test below, not the others'.
    infos, broken = [], []
    for name in op_db_modules():
        try:
            infos.extend(op_infos(name))
        except Exception as exc:  # noqa: BLE001 - reported by test_op_db_module_imports
            broken.append((name, exc))
    return infos, broken


OPS, BROKEN = _load_all()


@pytest.mark.parametrize("module", op_db_modules())
def test_op_db_module_imports(module):
    for name, exc in BROKEN:
        if name == module:
            raise exc
_TORCH_DTYPE = {str(getattr(torch, n)): n for n in
                ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16",
                 "float32", "float64")}


def _convert(sample, lib, requires_grad, dtype=None):
    args = []
    for i, a in enumerate(sample.args):
        if isinstance(a, np.ndarray):
            arr = a.astype(dtype) if dtype is not None and a.dtype.kind == "f" else a
            grad = requires_grad and arr.dtype.kind == "f" and i not in sample.no_grad_args
            if lib is torch:
                t = torch.tensor(arr, requires_grad=grad)
            else:
                t = ts.tensor(arr, requires_grad=grad)
            args.append(t)
        else:
            args.append(a)
    return args


def _flatten(out):
    if isinstance(out, (tuple, list)):
        result = []
        for o in out:
            result.extend(_flatten(o))
        return result
    return [out] if out is not None and hasattr(out, "shape") else []


def _dtype_name(t):
    return _TORCH_DTYPE[str(t.dtype)] if type(t).__module__.startswith("torch") else t.dtype.name


@pytest.mark.parametrize("info", OPS, ids=[o.name for o in OPS])
def test_forward_backward_matches_torch(info):
    for sample in info.sample_inputs():
        ts_args = _convert(sample, ts, info.differentiable)
        th_args = _convert(sample, torch, info.differentiable)
        ts_out = _flatten(info.fn(ts, *ts_args, **sample.kwargs))
        th_out = _flatten(info.fn(torch, *th_args, **sample.kwargs))
        assert len(ts_out) == len(th_out), f"{sample}: number of outputs differs"
        for a, e in zip(ts_out, th_out):
            assert tuple(a.shape) == tuple(e.shape), f"{sample}: shape {a.shape} vs {e.shape}"
            assert _dtype_name(a) == _dtype_name(e), f"{sample}: dtype {a.dtype} vs {e.dtype}"
            if info.compare_fn is not None:
                info.compare_fn(a, e)
            elif not info.random:
                assert_close(a, to_numpy(e), rtol=info.rtol, atol=info.atol, msg=repr(sample))
        if not info.differentiable or info.random:
            continue
        ts_inputs = [a for a in ts_args if isinstance(a, ts.Tensor) and a.requires_grad]
        th_inputs = [a for a in th_args if isinstance(a, torch.Tensor) and a.requires_grad]
        pairs = [(a, e) for a, e in zip(ts_out, th_out) if e.requires_grad]
        if not ts_inputs or not pairs:
            continue
        rng = np.random.default_rng(1)
        cot = [rng.standard_normal(tuple(e.shape)).astype(to_numpy(e).dtype) for _, e in pairs]
        ts_grads = ts.autograd.grad([a for a, _ in pairs], ts_inputs,
                                    [ts.tensor(c) for c in cot], allow_unused=True)
        th_grads = torch.autograd.grad([e for _, e in pairs], th_inputs,
                                       [torch.tensor(c) for c in cot], allow_unused=True)
        for i, (g, e) in enumerate(zip(ts_grads, th_grads)):
            if e is None:
                assert g is None or not np.any(to_numpy(g)), f"{sample}: grad {i} should be 0"
                continue
            assert g is not None, f"{sample}: gradient of input {i} missing"
            assert_close(g, to_numpy(e), rtol=info.grad_rtol or info.rtol * 10,
                         atol=info.grad_atol or info.atol * 10, msg=f"{sample} grad {i}")


# Operators with a compiled kernel (numba, tessera/backend/jit.py) keep their NumPy path for
# dtypes and machines without one: both paths are checked.
COMPILED_OPS = [o for o in OPS if o.name.startswith("max_pool") or o.name == "layer_norm"]


@pytest.mark.parametrize("info", COMPILED_OPS, ids=[o.name for o in COMPILED_OPS])
def test_numpy_path_of_compiled_operators_matches_torch(info):
    with jit.disabled():
        test_forward_backward_matches_torch(info)


GRAD_OPS = [o for o in OPS if o.differentiable and o.gradcheck and not o.random]


@pytest.mark.parametrize("info", GRAD_OPS, ids=[o.name for o in GRAD_OPS])
def test_gradcheck_float64(info):
    for sample in info.sample_inputs()[:info.gradcheck_samples]:
        args = _convert(sample, ts, True, dtype=np.float64)
        if not any(isinstance(a, ts.Tensor) and a.requires_grad for a in args):
            continue
        assert ts.autograd.gradcheck(lambda *a, s=sample: info.fn(ts, *a, **s.kwargs), args,
                                     eps=1e-6, atol=1e-5, rtol=1e-3), sample


GRADGRAD_OPS = [o for o in OPS if o.gradgrad]


@pytest.mark.parametrize("info", GRADGRAD_OPS, ids=[o.name for o in GRADGRAD_OPS])
def test_gradgradcheck_float64(info):
    for sample in info.sample_inputs()[:1]:
        args = _convert(sample, ts, True, dtype=np.float64)
        assert ts.autograd.gradgradcheck(lambda *a, s=sample: info.fn(ts, *a, **s.kwargs), args,
                                         eps=1e-6, atol=1e-4, rtol=1e-3), sample


@pytest.mark.parametrize("shape", [(4096,), (2, 4097), (3, 50, 41), (8, 4096)])
def test_relu_on_rows_of_zeros_matches_torch(shape):
    """ReLU compares large arrays against a row of 4096 zeros (and the tail against 0)."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for data in (x, x.T):  # contiguous, and a transposed view
        tx = torch.tensor(data, requires_grad=True)
        ours = ts.tensor(data, requires_grad=True)
        y, ty = ts.relu(ours), torch.relu(tx)
        np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
        y.sum().backward()
        ty.sum().backward()
        np.testing.assert_array_equal(ours.grad.numpy(), tx.grad.numpy())
    x.flat[::97] = np.nan  # NaN stays NaN
    np.testing.assert_array_equal(ts.relu(ts.tensor(x)).numpy(), torch.relu(torch.tensor(x)))


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("shape", [(4096,), (8, 4097), (2, 3, 50, 41)])
def test_relu_backward_of_large_arrays_matches_torch(compiled, shape):
    """ReLU's backward with a gradient of its own (the compiled loop takes large contiguous
    arrays): zero where the output is 0, including against inf and NaN gradients."""
    if compiled and not jit.available():
        pytest.skip("compiled loops are off here (TESSERA_JIT=0 or numba missing)")
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    g.flat[::89] = np.inf
    g.flat[::101] = np.nan
    ours, theirs = ts.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    with contextlib.nullcontext() if compiled else jit.disabled():
        ts.relu(ours).backward(ts.tensor(g))
    torch.relu(theirs).backward(torch.tensor(g))
    want = theirs.grad.numpy()
    if not compiled:  # the NumPy path multiplies by the mask: 0 * inf is NaN there
        want = np.where(np.isfinite(g) | (x > 0), want, np.nan)
    np.testing.assert_array_equal(ours.grad.numpy(), want)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_of_transformer_sized_rows_matches_torch(compiled, dtype):
    """The compiled layer norm sums rows in vector lanes: checked on rows of 256 and 1000
    (a vector-length remainder), large offsets included, with gradients of all inputs."""
    rng = np.random.default_rng(3)
    for shape in [(4, 16, 256), (3, 1000)]:
        x = (rng.standard_normal(shape) * 3 + 50).astype(dtype)
        w, b = (rng.standard_normal(shape[-1:]).astype(dtype) for _ in range(2))
        g = rng.standard_normal(shape).astype(dtype)
        ours = [ts.tensor(a, requires_grad=True) for a in (x, w, b)]
        theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
        with contextlib.nullcontext() if compiled else jit.disabled():
            y = ts.nn.functional.layer_norm(ours[0], shape[-1:], ours[1], ours[2])
            y.backward(ts.tensor(g))
        ty = torch.nn.functional.layer_norm(theirs[0], shape[-1:], theirs[1], theirs[2])
        ty.backward(torch.tensor(g))
        tol = 1e-4 if dtype == np.float32 else 1e-10
        assert_close(y.detach(), ty.detach().numpy(), rtol=tol, atol=tol)
        for a, t in zip(ours, theirs):
            assert_close(a.grad, t.grad.numpy(), rtol=tol, atol=tol * shape[0] * 16)
