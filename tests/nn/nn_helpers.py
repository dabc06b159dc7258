"""Shared checks for the nn tests: build a layer in both libraries with the same weights,
then compare outputs, input gradients and parameter gradients."""

import numpy as np
import torch

import tessera as ts
from tessera.testing import assert_close
from tessera.testing.comparison import to_numpy


def load_from_torch(ts_module, th_module):
    """Copy a torch module's state_dict into a tessera module (strict)."""
    state = {k: ts.tensor(v.detach().numpy()) for k, v in th_module.state_dict().items()}
    result = ts_module.load_state_dict(state)
    assert not result.missing_keys and not result.unexpected_keys
    return ts_module


def _flatten(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    return [out] if out is not None else []


def _to_lib(x, lib, requires_grad):
    if isinstance(x, np.ndarray):
        grad = requires_grad and x.dtype.kind == "f"
        if lib is torch:
            return torch.tensor(x, requires_grad=grad)
        return ts.tensor(x, requires_grad=grad)
    if isinstance(x, tuple):
        return tuple(_to_lib(a, lib, requires_grad) for a in x)
    return x


def compare_modules(ts_module, th_module, inputs, kwargs=None, rtol=1e-5, atol=1e-6,
                    backward=True, grad_inputs=True, seed=0):
    """Run both modules on ``inputs`` (arrays become tensors) and compare everything.

    ``grad_inputs``: whether float inputs require grad (True/False, or the indices that do).

    Returns the tessera outputs (flattened) for further checks.
    """
    kwargs = kwargs or {}
    wants = [grad_inputs if isinstance(grad_inputs, bool) else i in grad_inputs
             for i in range(len(inputs))]
    ts_args = [_to_lib(x, ts, w) for x, w in zip(inputs, wants)]
    th_args = [_to_lib(x, torch, w) for x, w in zip(inputs, wants)]
    ts_kwargs = {k: _to_lib(v, ts, False) for k, v in kwargs.items()}
    th_kwargs = {k: _to_lib(v, torch, False) for k, v in kwargs.items()}
    ts_out = _flatten(ts_module(*ts_args, **ts_kwargs))
    th_out = _flatten(th_module(*th_args, **th_kwargs))
    assert len(ts_out) == len(th_out), "number of outputs differs"
    for a, e in zip(ts_out, th_out):
        assert tuple(a.shape) == tuple(e.shape), f"output shape {a.shape} vs {e.shape}"
        assert_close(a, e, rtol=rtol, atol=atol, msg="forward")
    if not backward:
        return ts_out
    rng = np.random.default_rng(seed)
    ts_loss, th_loss = None, None
    for a, e in zip(ts_out, th_out):
        if not (a.requires_grad and e.requires_grad):
            continue
        cot = rng.standard_normal(tuple(a.shape)).astype(to_numpy(e).dtype)
        term_ts = (a * ts.tensor(cot)).sum()
        term_th = (e * torch.tensor(cot)).sum()
        ts_loss = term_ts if ts_loss is None else ts_loss + term_ts
        th_loss = term_th if th_loss is None else th_loss + term_th
    if ts_loss is None:
        return ts_out
    ts_loss.backward()
    th_loss.backward()
    for i, (a, e) in enumerate(zip(_flatten(ts_args), _flatten(th_args))):
        if isinstance(e, torch.Tensor) and e.requires_grad:
            assert (a.grad is None) == (e.grad is None), f"input {i} grad presence"
            if e.grad is not None:
                assert_close(a.grad, e.grad, rtol=rtol, atol=atol, msg=f"grad of input {i}")
    th_params = dict(th_module.named_parameters())
    for name, p in ts_module.named_parameters():
        q = th_params[name]
        assert (p.grad is None) == (q.grad is None), f"grad presence of {name}"
        if q.grad is not None:
            assert_close(p.grad, q.grad, rtol=rtol, atol=atol, msg=f"grad of {name}")
    return ts_out


def pair(ts_cls, th_cls, *args, **kwargs):
    """The same layer built in both libraries, tessera's loaded with torch's weights."""
    th_module = th_cls(*args, **kwargs)
    ts_module = ts_cls(*args, **kwargs)
    load_from_torch(ts_module, th_module)
    return ts_module, th_module
