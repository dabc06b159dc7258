"""Linear algebra: matmul and its special cases, einsum, linear and bilinear layers,
triangles, diagonals and trace.

GEMMs go to NumPy's matmul, which calls BLAS (sgemm for float32) and reads transposed
views without copying them; backward rules are GEMMs written with tessera's matmul, so
gradients of gradients work.
"""

import math
import string

import numpy as np

from .._tensor import Tensor
from ..autograd import grad_mode
from ..autograd.function import Function, sum_to_shape
from ._util import check_tensor, make_tensor, wrap_dim
from .elementwise import add, clamp_min, mul, sqrt
from .reduce import norm
from .reduce import sum as _sum
from .shape import permute, roll

__all__ = ["matmul", "mm", "bmm", "dot", "mv", "outer", "inner", "addmm", "baddbmm", "einsum",
           "linear", "bilinear", "triu", "tril", "diagonal", "trace", "tensordot", "cross",
           "cdist"]

_grad_state = grad_mode.state
_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # einsum's 52 subscripts


def _as_array(out, dtype):
    # NumPy gives scalars for 0-d products and float32 for bfloat16 products.
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    return out if out.dtype == dtype else out.astype(dtype)


# == matmul ======================================================================================

class Matmul(Function):
    """``a @ b`` with NumPy's (PyTorch's) rules for 1-D operands and batch broadcasting."""

    keeps_inputs = True

    def forward(self, a, b):
        if b.ndim == 2 and a.ndim > 2:
            # One GEMM over all leading dims instead of one per batch entry.
            out = np.matmul(a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + b.shape[1:])
        else:
            out = np.matmul(a, b)
        return _as_array(out, a.dtype)

    def backward(self, g):
        a, b = self.saved_inputs
        need_a, need_b = self.next_edges[0] is not None, self.next_edges[1] is not None
        na, nb = a.ndim, b.ndim
        ga = gb = None
        if na == 1 and nb == 1:                   # dot: g is 0-d
            return (g * b if need_a else None), (g * a if need_b else None)
        if na == 1:                               # (k) @ (..., k, n) -> (..., n)
            if need_a:
                ga = sum_to_shape(_mm(b, g.unsqueeze(-1)).squeeze(-1), a.shape)
            if need_b:
                gb = a.unsqueeze(-1) * g.unsqueeze(-2)
            return ga, gb
        if nb == 1:                               # (..., m, k) @ (k) -> (..., m)
            if need_a:
                ga = g.unsqueeze(-1) * b
            if need_b:
                gb = _mm(g.reshape(1, -1), a.reshape(-1, a.shape[-1])).reshape(b.shape)
            return ga, gb
        if need_a:
            ga = _mm(g, b.mT)
            if ga.shape != a.shape:
                ga = sum_to_shape(ga, a.shape)
        if need_b:
            if nb == 2 and na > 2:                # fold the batch into one GEMM
                gb = _mm(a.reshape(-1, a.shape[-1]).mT, g.reshape(-1, g.shape[-1]))
            else:
                gb = _mm(a.mT, g)
                if gb.shape != b.shape:
                    gb = sum_to_shape(gb, b.shape)
        return ga, gb


_mm = Matmul.apply


def _check_pair(op, a, b):
    check_tensor(a, op)
    check_tensor(b, op, "other")
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"{op}: expected both operands to have the same dtype, but got "
                           f"{a.dtype} and {b.dtype}")
    if a._data.dtype == np.bool_:
        raise RuntimeError(f"{op}: not implemented for bool tensors")


def _shape_error(op, a, b, ka, kb):
    return RuntimeError(f"{op}: cannot multiply shapes {tuple(a.shape)} and {tuple(b.shape)}: "
                        f"{ka} != {kb}")


def matmul(input, other):
    """Matrix product with PyTorch's rules: 1-D operands are vectors, batch dims broadcast.

    Shape: (..., n, k) @ (..., k, m) -> (..., n, m); (k) @ (k) -> ().
    """
    _check_pair("matmul", input, other)
    sa, sb = input._data.shape, other._data.shape
    if not sa or not sb:
        raise RuntimeError(f"matmul: both arguments need to be at least 1D, but they are "
                           f"{len(sa)}D and {len(sb)}D")
    kb = sb[-2] if len(sb) > 1 else sb[0]
    if sa[-1] != kb:
        raise _shape_error("matmul", input, other, sa[-1], kb)
    try:
        return Matmul.apply(input, other)
    except ValueError:
        raise RuntimeError(f"matmul: the batch dimensions of shapes {sa} and {sb} cannot be "
                           f"broadcast together") from None


def mm(input, mat2):
    """Product of two matrices: (n, k) @ (k, m) -> (n, m)."""
    _check_pair("mm", input, mat2)
    sa, sb = input._data.shape, mat2._data.shape
    if len(sa) != 2 or len(sb) != 2:
        raise RuntimeError(f"mm: expected two matrices, but got {len(sa)}-D and {len(sb)}-D "
                           f"tensors")
    if sa[1] != sb[0]:
        raise _shape_error("mm", input, mat2, sa[1], sb[0])
    return Matmul.apply(input, mat2)


def bmm(input, mat2):
    """Batched matrix product: (b, n, k) @ (b, k, m) -> (b, n, m), no broadcasting."""
    _check_pair("bmm", input, mat2)
    sa, sb = input._data.shape, mat2._data.shape
    if len(sa) != 3 or len(sb) != 3:
        raise RuntimeError(f"bmm: expected two 3-D tensors, but got {len(sa)}-D and "
                           f"{len(sb)}-D")
    if sa[0] != sb[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {sa[0]} != {sb[0]} (shapes {sa} and "
                           f"{sb})")
    if sa[2] != sb[1]:
        raise _shape_error("bmm", input, mat2, sa[2], sb[1])
    return Matmul.apply(input, mat2)


def dot(input, other):
    """Inner product of two vectors of the same size and dtype (a 0-d tensor)."""
    _check_pair("dot", input, other)
    sa, sb = input._data.shape, other._data.shape
    if len(sa) != 1 or len(sb) != 1:
        raise RuntimeError(f"dot: 1D tensors expected, but got {len(sa)}D and {len(sb)}D "
                           f"tensors")
    if sa != sb:
        raise RuntimeError(f"dot: inconsistent tensor size, expected tensors of the same number "
                           f"of elements, but got {sa[0]} and {sb[0]}")
    return Matmul.apply(input, other)


def mv(input, vec):
    """Matrix-vector product: (n, k) @ (k) -> (n)."""
    _check_pair("mv", input, vec)
    sa, sb = input._data.shape, vec._data.shape
    if len(sa) != 2 or len(sb) != 1:
        raise RuntimeError(f"mv: expected a matrix and a vector, but got {len(sa)}-D and "
                           f"{len(sb)}-D tensors")
    if sa[1] != sb[0]:
        raise RuntimeError(f"mv: size mismatch, got input ({sa[0]}), mat ({sa[0]}x{sa[1]}), "
                           f"vec ({sb[0]})")
    return Matmul.apply(input, vec)


def outer(input, vec2):
    """Outer product of two vectors: (n) x (m) -> (n, m)."""
    check_tensor(input, "outer")
    check_tensor(vec2, "outer", "vec2")
    for name, t in (("self", input), ("vec2", vec2)):
        if t.ndim != 1:
            raise RuntimeError(f"outer: expected 1-D argument {name}, but got {t.ndim}-D")
    return mul(input.unsqueeze(1), vec2)


def inner(input, other):
    """Sum of products over the last dims: (..., k) and (..., k) -> (*a_lead, *b_lead)."""
    check_tensor(input, "inner")
    check_tensor(other, "inner", "other")
    if input.ndim == 0 or other.ndim == 0:
        return mul(input, other)
    sa, sb = input._data.shape, other._data.shape
    if sa[-1] != sb[-1]:
        raise RuntimeError(f"inner: the last dimension must match on both input tensors but got "
                           f"shapes {list(sa)} and {list(sb)}")
    if len(sa) == 1 and len(sb) == 1:
        return dot(input, other)
    _check_pair("inner", input, other)
    k = sa[-1]
    out = _mm(input.reshape(-1, k), other.reshape(-1, k).mT)
    return out.reshape(sa[:-1] + sb[:-1])


def _scaled_sum(op, input, product, beta, alpha):
    """``beta * input + alpha * product``; with ``beta == 0`` input is ignored (even NaN)."""
    check_tensor(input, op)
    if input._data.dtype != product._data.dtype:
        raise RuntimeError(f"{op}: self and the product must have the same dtype, but got "
                           f"{input.dtype} and {product.dtype}")
    shape = product._data.shape
    try:
        ok = np.broadcast_shapes(input._data.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} cannot be broadcast to "
                           f"the product's shape {shape}")
    if alpha != 1:
        product = mul(product, alpha)
    return AddScaled.apply(product, input, beta=beta)


class AddScaled(Function):
    """``product + beta * input``; ``beta == 0`` ignores input's values (its gradient is 0)."""

    def forward(self, product, input, beta):
        self.beta, self.in_shape = beta, input.shape
        if beta == 0:
            return product.copy()
        return product + (input if beta == 1 else input * beta)

    def backward(self, g):
        gi = None
        if self.next_edges[1] is not None:
            gi = sum_to_shape(g if self.beta == 1 else g * self.beta, self.in_shape)
        return g, gi


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)``; input broadcasts to (n, m)."""
    return _scaled_sum("addmm", input, mm(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * bmm(batch1, batch2)``; input broadcasts to (b, n, m)."""
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)


# == linear layers ===============================================================================

class Linear(Function):
    """``x @ weight.T + bias`` as one GEMM over all leading dims of ``x``."""

    keeps_inputs = True

    def forward(self, x, weight, bias):
        out = np.matmul(x.reshape(-1, x.shape[-1]), weight.T)
        if bias is not None:
            out += bias
        return _as_array(out, x.dtype).reshape(x.shape[:-1] + weight.shape[:1])

    def backward(self, g):
        x, weight, _ = self.saved_inputs
        out_features, in_features = weight._data.shape
        if not _grad_state.enabled:
            return self._backward_arrays(g._data, x._data, weight._data)
        g2 = g.reshape(-1, out_features)
        gx = gw = gb = None
        if self.next_edges[0] is not None:
            gx = _mm(g2, weight).reshape(x.shape)
        if self.next_edges[1] is not None:
            gw = _mm(g2.mT, x.reshape(-1, in_features))
        if self.next_edges[2] is not None:
            gb = g2.sum(0)
        return gx, gw, gb

    def _backward_arrays(self, g, x, weight):
        """The same gradients straight from the arrays, when no graph is recorded: a layer's
        backward is then three NumPy calls, not a dozen tessera operators (a tenth of an MLP
        step's time)."""
        need_x, need_w, need_b = (e is not None for e in self.next_edges)
        g2 = g.reshape(-1, weight.shape[0])
        gx = gw = gb = None
        if need_x:
            gx = make_tensor(_as_array(np.matmul(g2, weight), g.dtype).reshape(x.shape))
        if need_w:
            gw = make_tensor(_as_array(np.matmul(g2.T, x.reshape(-1, weight.shape[1])), g.dtype))
        if need_b:
            gb = make_tensor(_as_array(g2.sum(0), g.dtype))
        return gx, gw, gb


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``.

    Shape: input (*, in_features), weight (out_features, in_features), bias (out_features)
    -> (*, out_features).
    """
    check_tensor(input, "linear")
    check_tensor(weight, "linear", "weight")
    if weight.ndim != 2 or input.ndim == 0:
        # PyTorch's rule for a 1-D weight (or 0-d input) is matmul's.
        out = matmul(input, weight.mT if weight.ndim == 2 else weight)
        return out if bias is None else add(out, bias)
    dt = input._data.dtype
    if weight._data.dtype != dt or (bias is not None and bias._data.dtype != dt):
        raise RuntimeError(f"linear: input, weight and bias must have the same dtype, but got "
                           f"{input.dtype}, {weight.dtype} and "
                           f"{None if bias is None else bias.dtype}")
    if dt == np.bool_:
        raise RuntimeError("linear: not implemented for bool tensors")
    k = input._data.shape[-1]
    if weight._data.shape[1] != k:
        raise RuntimeError(f"linear: input shape {tuple(input.shape)} and weight shape "
                           f"{tuple(weight.shape)} do not match: {k} != {weight.shape[1]} "
                           f"(in_features)")
    if bias is not None and bias._data.shape not in ((weight.shape[0],), (1,), ()):
        raise RuntimeError(f"linear: bias of shape {tuple(bias.shape)} does not match "
                           f"out_features {weight.shape[0]}")
    if bias is not None and bias._data.shape != (weight.shape[0],):
        return add(Linear.apply(input, weight, None), bias)
    return Linear.apply(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """``y[..., o] = sum_ij input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]``.

    Shape: input1 (*, in1), input2 (*, in2), weight (out, in1, in2), bias (out) -> (*, out).
    """
    check_tensor(input1, "bilinear")
    check_tensor(input2, "bilinear", "input2")
    check_tensor(weight, "bilinear", "weight")
    s1, s2, sw = input1._data.shape, input2._data.shape, weight._data.shape
    if len(s1) != len(s2):
        raise RuntimeError(f"bilinear: input dimensions do not match: got {len(s1)} and "
                           f"{len(s2)}")
    for d, (a, b) in enumerate(zip(s1[:-1], s2[:-1])):
        if a != b:
            raise RuntimeError(f"bilinear: input batch dimensions do not match at dim {d}: got "
                               f"{a} and {b}")
    if len(sw) != 3:
        raise RuntimeError(f"bilinear: weight must be 3-D, got shape {sw}")
    if s1[-1] != sw[1]:
        raise RuntimeError(f"bilinear: input1 size does not match weight size: got {s1[-1]} "
                           f"but expected {sw[1]}")
    if s2[-1] != sw[2]:
        raise RuntimeError(f"bilinear: input2 size does not match weight size: got {s2[-1]} "
                           f"but expected {sw[2]}")
    out_f, in1, in2 = sw
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    # One GEMM against weight viewed as (out * in1, in2), then a product over in1.
    t = matmul(x2, weight.reshape(out_f * in1, in2).mT).reshape(-1, out_f, in1)
    out = (t * x1.unsqueeze(1)).sum(-1)
    if bias is not None:
        out = add(out, bias)
    return out.reshape(s1[:-1] + (out_f,))


# == einsum ======================================================================================

class Einsum(Function):
    """The contraction of operands whose subscripts are explicit and sizes equal."""

    keeps_inputs = True

    def forward(self, *arrays, subs, out):
        self.subs, self.out = subs, out
        result = np.einsum(",".join(subs) + "->" + out, *arrays, optimize=len(arrays) > 1)
        if len(arrays) == 1 and type(result) is np.ndarray and \
                np.may_share_memory(result, arrays[0]):
            result = result.copy()  # NumPy may return a view (a transpose, a diagonal)
        return _as_array(result, arrays[0].dtype)

    def backward(self, g):
        operands = self.saved_inputs
        return tuple(None if edge is None else _einsum_grad(g, i, operands, self.subs, self.out)
                     for i, edge in enumerate(self.next_edges))


def _einsum_grad(g, i, operands, subs, out):
    """The gradient of operand ``i``: an einsum of ``g`` with the other operands."""
    sub = subs[i]
    others = [j for j in range(len(subs)) if j != i]
    available = set(out).union(*(subs[j] for j in others))
    unique = "".join(dict.fromkeys(sub))
    kept = "".join(c for c in unique if c in available)
    size = dict(zip(sub, operands[i].shape))
    if not others and len(kept) == len(out):
        grad = g if kept == out else g.permute(*[out.index(c) for c in kept])
    else:
        grad = Einsum.apply(g, *[operands[j] for j in others],
                            subs=(out,) + tuple(subs[j] for j in others), out=kept)
    if len(kept) < len(unique):
        # Subscripts summed inside operand i alone: the gradient is constant along them.
        grad = grad.reshape(*[size[c] if c in kept else 1 for c in unique])
        grad = grad.expand(*[size[c] for c in unique])
    if len(unique) < len(sub):
        # A repeated subscript reads a diagonal: put the gradient back on it with identities.
        used = set(out).union(*subs)
        fresh = iter(c for c in _LETTERS if c not in used)
        renamed, eye_subs, eyes = [], [], []
        for c in sub:
            if c in renamed:
                new = next(fresh)
                renamed.append(new)
                eye_subs.append(c + new)
                eyes.append(make_tensor(np.eye(size[c], dtype=g._data.dtype)))
            else:
                renamed.append(c)
        grad = Einsum.apply(grad, *eyes, subs=(unique,) + tuple(eye_subs), out="".join(renamed))
    return grad


def _sublist_equation(args):
    """``einsum(op1, [0, 1], op2, [1, 2], [0, 2])`` -> an equation and the operands."""
    args = list(args)
    out = args.pop() if len(args) % 2 else None

    def letters(sublist):
        chars = []
        for s in sublist:
            if s is Ellipsis:
                chars.append("...")
            elif isinstance(s, int) and 0 <= s < 52:
                chars.append(_LETTERS[s])
            else:
                raise ValueError(f"einsum(): subscript in subscript list is not within the "
                                 f"valid range [0, 52), got {s!r}")
        return "".join(chars)

    equation = ",".join(letters(s) for s in args[1::2])
    if out is not None:
        equation += "->" + letters(out)
    return equation, tuple(args[0::2])


def einsum(equation, *operands):
    """Einstein summation, as ``torch.einsum``: ``einsum('ij,jk->ik', a, b)``.

    Accepts the operands as arguments or as one list, ellipsis for broadcast dims, implicit
    output (subscripts seen once, sorted), and the sublist form.
    """
    if not isinstance(equation, str):
        equation, operands = _sublist_equation((equation,) + operands)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for i, op in enumerate(operands):
        check_tensor(op, "einsum", f"operands[{i}]")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(operands):
        raise RuntimeError(f"einsum(): {'more' if len(operands) > len(subs) else 'fewer'} "
                           f"operands were provided than specified in the equation "
                           f"{equation!r} ({len(operands)} operands for {len(subs)} subscripts)")
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    dt = operands[0]._data.dtype
    for i, op in enumerate(operands):
        if op._data.dtype != dt:
            raise RuntimeError(f"einsum(): operands must have the same dtype, but operand {i} is "
                               f"{op.dtype} and operand 0 is {operands[0].dtype}")
    for c in eq.replace("...", "").replace(",", "").replace("->", ""):
        if c not in _LETTERS:
            raise RuntimeError(f"einsum(): invalid subscript {c!r} in equation {equation!r}: "
                               f"subscripts must be letters [a-zA-Z]")

    # Ellipsis dims become fresh letters, right-aligned across operands (they broadcast).
    free = [c for c in _LETTERS if c not in eq]
    spans = []
    for i, (sub, op) in enumerate(zip(subs, operands)):
        pre, dots, post = sub.partition("...")
        named = len(pre) + len(post)
        if not dots and named != op.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) "
                               f"does not match the number of dimensions ({op.ndim}) for operand "
                               f"{i} and no ellipsis was given")
        if dots and ("." in pre or "." in post or named > op.ndim):
            raise RuntimeError(f"einsum(): invalid subscripts {sub!r} for operand {i} with "
                               f"{op.ndim} dimensions")
        spans.append((pre, op.ndim - named if dots else 0, post))
    n_ell = max(n for _, n, _ in spans)
    ell = "".join(free[:n_ell])
    subs = [pre + ell[n_ell - n:] + post for pre, n, post in spans]
    if arrow:
        out = rhs.replace("...", ell)
        for c in out:
            if c not in lhs and c not in ell:
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                                   f"equation for any input operand")
            if out.count(c) > 1:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in "
                                   f"the output")
    else:
        named = lhs.replace("...", "").replace(",", "")
        out = ell + "".join(sorted(c for c in set(named) if named.count(c) == 1))

    # Sizes: equal, or 1 (broadcast). Broadcast dims are dropped from their operand.
    size = {}
    for i, (sub, op) in enumerate(zip(subs, operands)):
        mine = {}
        for c, s in zip(sub, op._data.shape):
            if mine.setdefault(c, s) != s:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {i} but the "
                                   f"sizes don't match, {s} != {mine[c]}")
            seen = size.get(c)
            if seen is None or seen == 1:
                size[c] = s
            elif s != 1 and s != seen:
                raise RuntimeError(f"einsum(): subscript {c} has size {s} for operand {i} which "
                                   f"does not broadcast with previously seen size {seen}")
    operands = list(operands)
    for i, (sub, op) in enumerate(zip(subs, operands)):
        keep = [j for j, c in enumerate(sub) if op._data.shape[j] == size[c]]
        if len(keep) < len(sub):
            operands[i] = op.reshape(*[op._data.shape[j] for j in keep])
            subs[i] = "".join(sub[j] for j in keep)
    return Einsum.apply(*operands, subs=tuple(subs), out=out)


# == triangles, diagonals, trace =================================================================

class Triu(Function):
    def forward(self, x, diagonal, upper):
        self.diagonal, self.upper = diagonal, upper
        return np.triu(x, diagonal) if upper else np.tril(x, diagonal)

    def backward(self, g):
        return Triu.apply(g, diagonal=self.diagonal, upper=self.upper)


def _triangle(input, diagonal, upper):
    op = "triu" if upper else "tril"
    check_tensor(input, op)
    if input.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions, got shape "
                           f"{tuple(input.shape)}")
    return Triu.apply(input, diagonal=int(diagonal), upper=upper)


def triu(input, diagonal=0):
    """The upper triangle of the last two dims (entries below ``diagonal`` zeroed)."""
    return _triangle(input, diagonal, True)


def tril(input, diagonal=0):
    """The lower triangle of the last two dims (entries above ``diagonal`` zeroed)."""
    return _triangle(input, diagonal, False)


def _diagonal_view(x, offset, dim1, dim2):
    """A writable view of a diagonal, moved to the last dim (np.diagonal's is read-only)."""
    n1, n2 = x.shape[dim1], x.shape[dim2]
    length = max(min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2), 0)
    rest = [d for d in range(x.ndim) if d not in (dim1, dim2)]
    shape = tuple(x.shape[d] for d in rest) + (length,)
    strides = tuple(x.strides[d] for d in rest) + (x.strides[dim1] + x.strides[dim2],)
    if length == 0:
        return np.zeros(shape, x.dtype)
    start = [0] * x.ndim
    if offset >= 0:
        start[dim2] = offset
    else:
        start[dim1] = -offset
    base = x[tuple(slice(s, None) for s in start)]
    return np.lib.stride_tricks.as_strided(base, shape, strides,
                                           writeable=x.flags.writeable)


class Diagonal(Function):
    is_view = True

    def forward(self, x, offset, dim1, dim2):
        self.in_shape, self.params = x.shape, (offset, dim1, dim2)
        return _diagonal_view(x, offset, dim1, dim2)

    def backward(self, g):
        return DiagonalBackward.apply(g, shape=self.in_shape, params=self.params)


class DiagonalBackward(Function):
    def forward(self, g, shape, params):
        self.params = params
        out = np.zeros(shape, g.dtype)
        _diagonal_view(out, *params)[...] = g
        return out

    def backward(self, gg):
        offset, dim1, dim2 = self.params
        return Diagonal.apply(gg, offset=offset, dim1=dim1, dim2=dim2)


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal of dims ``dim1``, ``dim2`` (a view), appended as the last dim."""
    check_tensor(input, "diagonal")
    if input.ndim < 2:
        raise RuntimeError(f"diagonal: expected a tensor of at least 2 dimensions, got shape "
                           f"{tuple(input.shape)}")
    d1 = wrap_dim(dim1, input.ndim, "diagonal")
    d2 = wrap_dim(dim2, input.ndim, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal: dimensions cannot be identical {dim1}, {dim2}")
    return Diagonal.apply(input, offset=int(offset), dim1=d1, dim2=d2)


def trace(input):
    """Sum of the main diagonal of a matrix (integers sum to int64)."""
    check_tensor(input, "trace")
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return diagonal(input).sum()


# == tensordot, cross, cdist =====================================================================

def _tensordot_dims(dims, na, nb):
    if isinstance(dims, Tensor):
        dims = dims.item() if dims.ndim == 0 else dims.tolist()
    if isinstance(dims, (int, np.integer)):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > na or dims > nb:
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        return list(range(na - dims, na)), list(range(dims))
    if not isinstance(dims, (list, tuple)) or len(dims) != 2:
        raise TypeError(f"tensordot: dims must be an int or a pair of lists of dims, got "
                        f"{dims!r}")
    da, db = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
    if len(da) != len(db):
        raise RuntimeError(f"tensordot: both dimension lists should have same length, got "
                           f"{len(da)} and {len(db)}")
    da = [wrap_dim(d, na, "tensordot") for d in da]
    db = [wrap_dim(d, nb, "tensordot") for d in db]
    for dl in (da, db):
        if len(set(dl)) != len(dl):
            raise RuntimeError(f"tensordot: dims {dl} contain a dim more than once")
    return da, db


def tensordot(a, b, dims=2):
    """Sums the products of ``a`` and ``b`` over the dims ``dims``: the last ``dims`` dims of
    ``a`` and the first of ``b`` for an int, or the dims listed as ``([a dims], [b dims])``.

    Shape: the free dims of ``a`` followed by the free dims of ``b``.
    """
    _check_pair("tensordot", a, b)
    sa, sb = a._data.shape, b._data.shape
    da, db = _tensordot_dims(dims, len(sa), len(sb))
    for i, j in zip(da, db):
        if sa[i] != sb[j]:
            raise RuntimeError(f"tensordot: contracted dimensions need to match, but first has "
                               f"size {sa[i]} in dim {i} and second has size {sb[j]} in dim {j}")
    free_a = [i for i in range(len(sa)) if i not in da]
    free_b = [j for j in range(len(sb)) if j not in db]
    # One GEMM: a as (free, contracted) and b as (contracted, free); identity permutations
    # are skipped so that the common case reshapes without a copy.
    order_a, order_b = free_a + da, db + free_b
    if order_a != list(range(len(sa))):
        a = permute(a, order_a)
    if order_b != list(range(len(sb))):
        b = permute(b, order_b)
    k = math.prod(sa[i] for i in da)
    out_shape = tuple(sa[i] for i in free_a) + tuple(sb[j] for j in free_b)
    m, n = math.prod(sa[i] for i in free_a), math.prod(sb[j] for j in free_b)
    return _mm(a.reshape(m, k), b.reshape(k, n)).reshape(out_shape)


def cross(input, other, dim=None):
    """The cross product of 3-vectors along ``dim`` (by default the first dim of size 3);
    the other dims broadcast."""
    check_tensor(input, "cross")
    check_tensor(other, "cross", "other")
    if input._data.dtype != other._data.dtype:
        raise RuntimeError(f"cross: expected both inputs to have the same dtype, but got "
                           f"{input.dtype} and {other.dtype}")
    sa, sb = input._data.shape, other._data.shape
    if len(sa) != len(sb):
        raise RuntimeError(f"cross: inputs must have the same number of dimensions, got "
                           f"{len(sa)} and {len(sb)}")
    if dim is None:
        dim = next((i for i, n in enumerate(sa) if n == 3), None)
        if dim is None:
            raise RuntimeError(f"cross: no dimension of size 3 in input of shape {tuple(sa)}")
    else:
        dim = wrap_dim(dim, len(sa), "cross")
    if sa[dim] != 3 or sb[dim] != 3:
        raise RuntimeError(f"cross: inputs dimension {dim} must have length 3. Got {sa[dim]} "
                           f"and {sb[dim]}")
    # Component i is a[i+1] b[i+2] - a[i+2] b[i+1]: cyclic shifts give all three at once.
    a1, a2 = roll(input, -1, dim), roll(input, -2, dim)
    b1, b2 = roll(other, -1, dim), roll(other, -2, dim)
    return a1 * b2 - a2 * b1


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                "donot_use_mm_for_euclid_dist")


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distance between each row of ``x1`` and each row of ``x2``.

    Shape: (*, P, M) and (*, R, M) -> (*, P, R), the batch dims broadcast. For p = 2 and more
    than 25 rows (or ``compute_mode="use_mm_for_euclid_dist"``) the distances come from one
    GEMM, ``sqrt(|a|^2 + |b|^2 - 2 a.b)``, as PyTorch computes them.
    """
    check_tensor(x1, "cdist", "x1")
    check_tensor(x2, "cdist", "x2")
    for name, t in (("X1", x1), ("X2", x2)):
        if t.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: "
                               f"{t.ndim}D")
        if not t.is_floating_point():
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: "
                               f"{t.dtype}")
    if x1._data.dtype != x2._data.dtype:
        raise RuntimeError(f"cdist: expected both inputs to have the same dtype, but got "
                           f"{x1.dtype} and {x2.dtype}")
    s1, s2 = x1._data.shape, x2._data.shape
    if s1[-1] != s2[-1]:
        raise RuntimeError(f"cdist: X1 and X2 must have the same number of columns. X1: "
                           f"{s1[-1]} X2: {s2[-1]}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got p={p}")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"cdist: {compute_mode} is not a valid value for compute_mode")
    use_mm = p == 2 and (compute_mode == _CDIST_MODES[1] or (
        compute_mode == _CDIST_MODES[0] and (s1[-2] > 25 or s2[-2] > 25)))
    if use_mm:
        sq1 = _sum(x1 * x1, -1, keepdim=True)                   # (*, P, 1)
        sq2 = _sum(x2 * x2, -1, keepdim=True).mT                # (*, 1, R)
        d2 = sq1 + sq2 - matmul(x1, x2.mT) * 2
        return sqrt(clamp_min(d2, 1e-30))  # rounding can leave tiny negative squares
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)                  # (*, P, R, M)
    if s1[-1] == 0:
        return _sum(diff, -1)
    return norm(diff, p, dim=-1)
