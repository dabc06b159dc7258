"""Function transforms over functions of tensors (``torch.func``'s names):
``grad``, ``value_and_grad``, ``vjp``, ``jacobian`` (``jacrev``) and ``hessian``.

They run on the same define-by-run autograd as ``.backward()``: each call records
the function once and differentiates it, keeping the graph when the inputs
themselves require grad, so the transforms nest (``hessian`` is a jacobian of a
jacobian).
"""

from . import autograd
from ._tensor import Tensor
from .autograd import grad_mode

__all__ = ["grad", "value_and_grad", "vjp", "jacobian", "jacrev", "hessian"]


def _prepare(args, argnums):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    args = list(args)
    nested = False
    for i in nums:
        x = args[i]
        if not isinstance(x, Tensor):
            raise TypeError(f"tessera.func: argument {i} must be a Tensor to be differentiated, "
                            f"got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"tessera.func: argument {i} must be a floating point tensor, got "
                            f"{x.dtype}")
        if x.requires_grad:
            nested = True  # an outer transform differentiates through us: keep the graph
        else:
            args[i] = x.detach().requires_grad_()
    return args, nums, nested


def _finish(t, nested):
    return t if nested or t is None else t.detach()


def _split_aux(out, has_aux, name):
    if not has_aux:
        return out, None
    if not isinstance(out, tuple) or len(out) != 2:
        raise RuntimeError(f"{name}(f, has_aux=True): f must return a (output, aux) tuple")
    return out


def value_and_grad(func, argnums=0, has_aux=False):
    """A function returning ``(func(*args), gradient of func wrt args[argnums])``."""

    def wrapper(*args, **kwargs):
        args, nums, nested = _prepare(args, argnums)
        with grad_mode.enable_grad():
            out, aux = _split_aux(func(*args, **kwargs), has_aux, "grad")
            if not isinstance(out, Tensor) or out.numel() != 1:
                raise RuntimeError("grad(f): f must return a tensor with a single element, got "
                                   + (f"shape {tuple(out.shape)}" if isinstance(out, Tensor)
                                      else type(out).__name__))
            if out.requires_grad:
                grads = autograd.grad(out, [args[i] for i in nums], create_graph=True,
                                      allow_unused=True, materialize_grads=True)
            else:
                from .ops import zeros_like
                grads = [zeros_like(args[i]) for i in nums]
        grads = tuple(_finish(g, nested) for g in grads)
        result = grads[0] if isinstance(argnums, int) else grads
        value = _finish(out, nested)
        return ((value, aux), result) if has_aux else (value, result)

    return wrapper


def grad(func, argnums=0, has_aux=False):
    """A function returning the gradient of scalar ``func`` wrt ``args[argnums]``."""
    vg = value_and_grad(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        (value, grads) = vg(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return wrapper


def vjp(func, *primals, has_aux=False):
    """``(func(*primals), vjp_fn)`` where ``vjp_fn(cotangent)`` gives one gradient per primal."""
    args, nums, nested = _prepare(primals, tuple(range(len(primals))))
    with grad_mode.enable_grad():
        out, aux = _split_aux(func(*args), has_aux, "vjp")
    outs = out if isinstance(out, (tuple, list)) else (out,)

    def vjp_fn(*cotangents):
        if len(cotangents) == 1 and isinstance(cotangents[0], (tuple, list)):
            cotangents = tuple(cotangents[0])
        if len(cotangents) != len(outs):
            raise RuntimeError(f"vjp_fn: expected {len(outs)} cotangents, got {len(cotangents)}")
        with grad_mode.enable_grad():
            grads = autograd.grad(list(outs), args, list(cotangents), retain_graph=True,
                                  create_graph=True, allow_unused=True, materialize_grads=True)
        return tuple(_finish(g, nested) for g in grads)

    out = tuple(_finish(o, nested) for o in outs) if isinstance(out, (tuple, list)) \
        else _finish(out, nested)
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def jacobian(func, argnums=0, has_aux=False):
    """Reverse-mode Jacobian: one vector-Jacobian product per output element.

    For an output of shape ``O`` and an input of shape ``I`` the result has shape ``O + I``.
    """
    from .ops import stack, zeros

    def wrapper(*args):
        args, nums, nested = _prepare(args, argnums)
        with grad_mode.enable_grad():
            out, aux = _split_aux(func(*args), has_aux, "jacobian")
            rows = {i: [] for i in nums}
            flat = out.reshape(-1)
            for k in range(flat.numel()):
                if flat.requires_grad:
                    grads = autograd.grad(flat[k], [args[i] for i in nums], retain_graph=True,
                                          create_graph=True, allow_unused=True,
                                          materialize_grads=True)
                else:
                    grads = [zeros(*args[i].shape, dtype=args[i].dtype) for i in nums]
                for i, g in zip(nums, grads):
                    rows[i].append(g)
        jacs = []
        for i in nums:
            shape = tuple(out.shape) + tuple(args[i].shape)
            jac = stack(rows[i]).reshape(shape) if rows[i] else zeros(*shape, dtype=out.dtype)
            jacs.append(_finish(jac, nested))
        result = jacs[0] if isinstance(argnums, int) else tuple(jacs)
        return (result, aux) if has_aux else result

    return wrapper


jacrev = jacobian


def hessian(func, argnums=0):
    """The Hessian of scalar ``func``: the jacobian of its gradient."""
    return jacobian(jacobian(func, argnums), argnums)
