"""OpInfo entries for tessera/ops/linalg.py."""

import numpy as np

from ..opinfo import OpInfo, SampleInput, make_array

I64 = np.int64


def _pairs(shapes, int_sample=None):
    def samples(rng):
        out = [SampleInput((make_array(rng, a), make_array(rng, b))) for a, b in shapes]
        if int_sample is not None:
            a, b = int_sample
            out.append(SampleInput((make_array(rng, a, I64, -3, 3),
                                    make_array(rng, b, I64, -3, 3))))
        return out
    return samples


_MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4,)), ((4,), (2, 4, 5)), ((2, 3, 4), (4,)),
                  ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5)),
                  ((0, 4), (4, 3)), ((3, 0), (0, 2)), ((4,), (4, 2))]


def _einsum_samples(rng):
    def s(eq, *shapes, as_list=False):
        arrays = tuple(make_array(rng, sh) for sh in shapes)
        return SampleInput(arrays, {"eq": eq, "as_list": as_list})
    return [
        s("ij,jk->ik", (3, 4), (4, 5)),
        s("bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
        s("ii->i", (4, 4)),
        s("ii", (4, 4)),
        s("i,j->ij", (3,), (4,)),
        s("ij->", (3, 4)),
        s("ijk->kj", (2, 3, 4)),
        s("...ij,...jk", (2, 1, 3, 4), (5, 4, 2)),
        s("bi,bi->b", (3, 4), (1, 4)),
        s("ij,jk,kl->il", (2, 3), (3, 4), (4, 2), as_list=True),
        s("iij->j", (3, 3, 2)),
        s("ab,cd->", (2, 3), (4, 2)),
        s("i...->...", (3, 2, 2)),
        s("ijk,ikl->ijl", (2, 0, 3), (2, 3, 4)),
    ]


def _einsum(m, *ops, eq, as_list):
    return m.einsum(eq, list(ops)) if as_list else m.einsum(eq, *ops)


def _einsum_sublist_samples(rng):
    return [SampleInput((make_array(rng, (3, 4)), make_array(rng, (4, 5))))]


def _linear_samples(rng):
    w = make_array(rng, (5, 4))
    b = make_array(rng, (5,))
    return [SampleInput((make_array(rng, (3, 4)), w, b)),
            SampleInput((make_array(rng, (2, 3, 4)), w)),
            SampleInput((make_array(rng, (4,)), w, b)),
            SampleInput((make_array(rng, (0, 4)), w, b)),
            SampleInput((make_array(rng, (3, 4)), make_array(rng, (4,)))),
            SampleInput((make_array(rng, (3, 4)), w, make_array(rng, (1,)))),
            SampleInput((make_array(rng, (3, 4), I64, -3, 3), make_array(rng, (5, 4), I64, -3, 3)))]


def _bilinear_samples(rng):
    w = make_array(rng, (3, 4, 5))
    return [SampleInput((make_array(rng, (2, 4)), make_array(rng, (2, 5)), w,
                         make_array(rng, (3,)))),
            SampleInput((make_array(rng, (2, 2, 4)), make_array(rng, (2, 2, 5)), w)),
            SampleInput((make_array(rng, (4,)), make_array(rng, (5,)), w))]


def _addmm_samples(rng):
    return [SampleInput((make_array(rng, (3, 5)), make_array(rng, (3, 4)),
                         make_array(rng, (4, 5))), {}),
            SampleInput((make_array(rng, (5,)), make_array(rng, (3, 4)), make_array(rng, (4, 5))),
                        {"beta": 0.5, "alpha": 2.0}),
            SampleInput((make_array(rng, (3, 1)), make_array(rng, (3, 4)),
                         make_array(rng, (4, 5))), {"beta": 0}),
            SampleInput((make_array(rng, ()), make_array(rng, (3, 0)), make_array(rng, (0, 5))),
                        {"alpha": -1})]


def _baddbmm_samples(rng):
    return [SampleInput((make_array(rng, (2, 3, 5)), make_array(rng, (2, 3, 4)),
                         make_array(rng, (2, 4, 5))), {}),
            SampleInput((make_array(rng, (3, 5)), make_array(rng, (2, 3, 4)),
                         make_array(rng, (2, 4, 5))), {"beta": 2.0, "alpha": 0.5})]


def _unary_samples(shapes, **kwargs_list):
    def samples(rng):
        out = []
        for shape in shapes:
            for kw in kwargs_list.get("kwargs", [{}]):
                out.append(SampleInput((make_array(rng, shape),), dict(kw)))
        return out
    return samples


_TRI = _unary_samples([(4, 5), (2, 3, 4), (0, 3)],
                      kwargs=[{}, {"diagonal": 1}, {"diagonal": -2}, {"diagonal": 9}])
def _tensordot_samples(rng):
    def s(sa, sb, dims, dtype=np.float32):
        low, high = (-3, 3) if dtype == I64 else (-2.0, 2.0)
        return SampleInput((make_array(rng, sa, dtype, low, high),
                            make_array(rng, sb, dtype, low, high)), {"dims": dims})
    return [s((3, 4, 5), (4, 5, 2), 2), s((3, 4), (4, 5), 1),
            s((3, 4), (4, 3), ([1, 0], [0, 1])), s((3, 4, 5), (2, 5, 3), ([2, 0], [1, 2])),
            s((2, 3), (4,), 0), s((3, 4), (3, 4), 2), s((0, 4), (4, 3), 1),
            s((3, 0), (0, 2), ([1], [0])), s((2, 3), (3, 2), 1, I64)]


def _cross_samples(rng):
    def s(sa, sb, dtype=np.float32, **kw):
        low, high = (-3, 3) if dtype == I64 else (-2.0, 2.0)
        return SampleInput((make_array(rng, sa, dtype, low, high),
                            make_array(rng, sb, dtype, low, high)), kw)
    return [s((3,), (3,)), s((4, 3), (4, 3), dim=1), s((3, 4), (3, 1)), s((2, 3, 5), (2, 3, 5)),
            s((5, 3), (1, 3), dim=-1), s((0, 3), (0, 3), dim=1), s((3, 3), (3, 3), dim=0),
            s((2, 3), (2, 3), I64, dim=1)]


def _cdist_samples(rng):
    def s(sa, sb, **kw):
        return SampleInput((make_array(rng, sa), make_array(rng, sb)), kw)
    return [s((3, 4), (5, 4)), s((3, 4), (5, 4), p=1.0), s((3, 4), (5, 4), p=float("inf")),
            s((2, 3, 4), (2, 5, 4), p=3.0), s((2, 3, 4), (2, 5, 4), p=0.5),
            s((2, 1, 3, 2), (4, 2, 2)), s((0, 4), (5, 4)), s((3, 0), (2, 0)),
            s((1, 2), (6, 2), compute_mode="donot_use_mm_for_euclid_dist")]


def _cdist_mm_samples(rng):
    # More than 25 rows, or the forced mode, take PyTorch's GEMM route for p = 2.
    return [SampleInput((make_array(rng, (30, 3)), make_array(rng, (4, 3)))),
            SampleInput((make_array(rng, (2, 3, 4)), make_array(rng, (2, 5, 4))),
                        {"compute_mode": "use_mm_for_euclid_dist"})]


OP_INFOS = [
    OpInfo("matmul", lambda m, a, b: m.matmul(a, b), _pairs(_MATMUL_SHAPES, ((3, 4), (4, 2))),
           gradgrad=True, atol=1e-5),
    OpInfo("matmul_operator", lambda m, a, b: a @ b, _pairs(_MATMUL_SHAPES[:3]), atol=1e-5),
    OpInfo("mm", lambda m, a, b: m.mm(a, b), _pairs([((3, 4), (4, 5)), ((1, 6), (6, 1)),
                                                      ((0, 2), (2, 3))], ((2, 3), (3, 2))),
           gradgrad=True, atol=1e-5),
    OpInfo("bmm", lambda m, a, b: m.bmm(a, b), _pairs([((2, 3, 4), (2, 4, 5)),
                                                        ((1, 1, 3), (1, 3, 2))]),
           gradgrad=True, atol=1e-5),
    OpInfo("dot", lambda m, a, b: m.dot(a, b), _pairs([((5,), (5,)), ((1,), (1,)), ((0,), (0,))],
                                                       ((3,), (3,))), gradgrad=True, atol=1e-5),
    OpInfo("mv", lambda m, a, b: m.mv(a, b), _pairs([((3, 4), (4,)), ((1, 2), (2,)),
                                                     ((0, 2), (2,))]), atol=1e-5),
    OpInfo("outer", lambda m, a, b: m.outer(a, b), _pairs([((3,), (4,)), ((1,), (2,)),
                                                           ((0,), (2,))], ((2,), (3,)))),
    OpInfo("inner", lambda m, a, b: m.inner(a, b), _pairs([((3, 4), (2, 4)), ((4,), (4,)),
                                                           ((2, 3, 4), (4,)), ((), (2, 3))]),
           atol=1e-5),
    OpInfo("addmm", lambda m, c, a, b, **kw: m.addmm(c, a, b, **kw), _addmm_samples, atol=1e-5),
    OpInfo("baddbmm", lambda m, c, a, b, **kw: m.baddbmm(c, a, b, **kw), _baddbmm_samples,
           atol=1e-5),
    OpInfo("einsum", _einsum, _einsum_samples, gradgrad=True, atol=1e-5, gradcheck_samples=4),
    OpInfo("einsum_diagonal", lambda m, x: m.einsum("iij->ji", x),
           lambda rng: [SampleInput((make_array(rng, (3, 3, 2)),))], gradgrad=True),
    OpInfo("einsum_summed", lambda m, a, b: m.einsum("ij,k->jk", a, b),
           lambda rng: [SampleInput((make_array(rng, (3, 2)), make_array(rng, (4,))))],
           gradgrad=True),
    OpInfo("einsum_sublist", lambda m, a, b: m.einsum(a, [0, 1], b, [1, 2], [0, 2]),
           _einsum_sublist_samples, atol=1e-5),
    OpInfo("linear", lambda m, *args: m.nn.functional.linear(*args), _linear_samples,
           gradgrad=True, atol=1e-5),
    OpInfo("bilinear", lambda m, *args: m.bilinear(*args), _bilinear_samples, atol=1e-5,
           gradgrad=True),
    OpInfo("triu", lambda m, x, **kw: m.triu(x, **kw), _TRI, gradgrad=True),
    OpInfo("tril", lambda m, x, **kw: m.tril(x, **kw), _TRI),
    OpInfo("diagonal", lambda m, x, **kw: m.diagonal(x, **kw),
           _unary_samples([(4, 5), (2, 3, 4)],
                          kwargs=[{}, {"offset": 1}, {"offset": -2, "dim1": 1, "dim2": 0},
                                  {"dim1": -1, "dim2": 0}, {"offset": 7}]), gradgrad=True),
    OpInfo("trace", lambda m, x: m.trace(x), _unary_samples([(4, 5), (3, 3), (0, 2)])),
    OpInfo("trace_int", lambda m, x: m.trace(x), lambda rng: [
        SampleInput((make_array(rng, (3, 3), np.int32, -5, 5),))], differentiable=False),
    OpInfo("tensordot", lambda m, a, b, **kw: m.tensordot(a, b, **kw), _tensordot_samples,
           gradgrad=True, atol=1e-5, gradcheck_samples=4),
    OpInfo("cross", lambda m, a, b, **kw: m.cross(a, b, **kw), _cross_samples, gradgrad=True),
    OpInfo("cross_method", lambda m, a, b: a.cross(b, dim=-1),
           _pairs([((4, 3), (1, 3))], ((2, 3), (2, 3)))),
    OpInfo("cdist", lambda m, a, b, **kw: m.cdist(a, b, **kw), _cdist_samples, atol=1e-5,
           gradcheck_samples=5),
    OpInfo("cdist_mm", lambda m, a, b, **kw: m.cdist(a, b, **kw), _cdist_mm_samples,
           rtol=1e-4, atol=1e-5, grad_rtol=1e-4, grad_atol=1e-4),
    OpInfo("cdist_p0", lambda m, a, b: m.cdist(a, b, p=0),
           lambda rng: [SampleInput((np.array([[0.0, 1.0], [2.0, 2.0]], np.float32),
                                     np.array([[0.0, 1.0], [0.0, 2.0], [1.0, 1.0]], np.float32)))],
           differentiable=False),
]
