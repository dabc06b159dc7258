"""Finite-difference checks of backward rules (``gradcheck``, ``gradgradcheck``)."""

import numpy as np

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    pass


def _differentiable_inputs(inputs):
    from .._tensor import Tensor
    return [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]


def _flat_outputs(func, inputs):
    from .._tensor import Tensor
    out = func(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.is_floating_point()]


def _numerical_jacobian(func, inputs, idx, eps):
    """Central differences, d(all outputs)/d(input idx), shape (n_in, n_out_total)."""
    x = inputs[idx]
    data = x._data
    flat = data.reshape(-1)
    if flat.size == 0:
        return np.zeros((0, _evaluate(func, inputs).size))
    columns = []
    # Not under no_grad: func may itself differentiate (gradgradcheck's first gradients).
    for k in range(flat.size):
        orig = flat[k]
        flat[k] = orig + eps
        plus = _evaluate(func, inputs)
        flat[k] = orig - eps
        minus = _evaluate(func, inputs)
        flat[k] = orig
        columns.append((plus - minus) / (2 * eps))
    return np.array(columns).reshape(flat.size, -1)


def _evaluate(func, inputs):
    outs = _flat_outputs(func, inputs)
    return np.concatenate([o._data.astype(np.float64).reshape(-1) for o in outs] or [np.zeros(0)])


def _analytical_jacobian(func, inputs, idx_list):
    from .. import ops
    from . import grad as autograd_grad

    outputs = _flat_outputs(func, inputs)
    sizes = [o.numel() for o in outputs]
    total = sum(sizes)
    jacobians = [np.zeros((inputs[i].numel(), total)) for i in idx_list]
    col = 0
    for o, size in zip(outputs, sizes):
        for k in range(size):
            g = np.zeros(size, dtype=o._data.dtype)
            g[k] = 1
            grads = autograd_grad(o, [inputs[i] for i in idx_list],
                                  ops.tensor(g.reshape(o.shape)), retain_graph=True,
                                  allow_unused=True) if o.requires_grad else [None] * len(idx_list)
            for j, gi in enumerate(grads):
                if gi is not None:
                    jacobians[j][:, col + k] = gi._data.astype(np.float64).reshape(-1)
        col += size
    return jacobians


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0):
    """Compare backward with central finite differences; inputs should be float64."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    idx_list = _differentiable_inputs(inputs)
    if not idx_list:
        raise ValueError("gradcheck expects at least one input tensor with requires_grad=True")
    for i in idx_list:
        if inputs[i].dtype.name != "float64":
            import warnings
            warnings.warn(f"gradcheck: input {i} is {inputs[i].dtype}, not float64; the check "
                          "may fail from rounding alone", stacklevel=2)
    analytical = _analytical_jacobian(func, inputs, idx_list)
    for j, i in enumerate(idx_list):
        numerical = _numerical_jacobian(func, inputs, i, eps)
        if not np.allclose(analytical[j], numerical, rtol=rtol, atol=atol):
            diff = np.abs(analytical[j] - numerical).max()
            msg = (f"Jacobian mismatch for output 0 with respect to input {i} (max abs "
                   f"difference {diff:.3g}),\nnumerical:{numerical}\nanalytical:{analytical[j]}")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True):
    """gradcheck of the gradient itself: checks backward of backward (create_graph)."""
    from .. import ops
    from . import grad as autograd_grad

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    idx_list = _differentiable_inputs(inputs)
    outputs = _flat_outputs(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [ops.tensor(rng.standard_normal(o.shape), dtype=o.dtype,
                                   requires_grad=True) for o in outputs]
    grad_outputs = list(grad_outputs)
    n = len(inputs)

    def first_grads(*args):
        ins, gos = args[:n], args[n:]
        outs = _flat_outputs(func, ins)
        grads = autograd_grad(outs, [ins[i] for i in idx_list], gos, create_graph=True,
                              allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_grads, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
