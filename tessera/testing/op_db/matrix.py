"""OpInfo entries for tessera/ops/matrix.py (tessera.linalg)."""

import math
import warnings

import numpy as np

from ..opinfo import OpInfo, SampleInput, make_array


def _well_conditioned(rng, shape, dtype=np.float32):
    """Random matrices with n added to the diagonal: far from singular."""
    n = shape[-1]
    return (make_array(rng, shape, dtype, -1.0, 1.0) + n * np.eye(n, dtype=dtype)).astype(dtype)


def _spd(rng, shape):
    """Symmetric positive-definite: R R^T + n I."""
    r = make_array(rng, shape, low=-1.0, high=1.0)
    n = shape[-1]
    return (r @ np.swapaxes(r, -1, -2) + n * np.eye(n, dtype=np.float32)).astype(np.float32)


_SQUARE = [(3, 3), (2, 4, 4), (1, 1), (2, 1, 2, 2), (0, 0), (0, 3, 3)]


def _square_samples(shapes=_SQUARE, make=_well_conditioned):
    def samples(rng):
        return [SampleInput((make(rng, s),)) for s in shapes]
    return samples


def _solve_samples(rng):
    def s(sa, sb, **kw):
        return SampleInput((_well_conditioned(rng, sa), make_array(rng, sb)), kw)
    return [s((3, 3), (3, 2)), s((3, 3), (3,)), s((2, 3, 3), (2, 3)), s((2, 3, 3), (3, 4)),
            s((2, 1, 3, 3), (4, 3, 1)), s((3, 3), (2, 3), left=False), s((0, 0), (0, 2)),
            s((4, 4), (4, 0))]


def _matrix_power_samples(rng):
    return [SampleInput((_well_conditioned(rng, sh),), {"n": n})
            for sh, n in [((3, 3), 3), ((2, 3, 3), 2), ((3, 3), 1), ((3, 3), 0),
                          ((2, 3, 3), -1), ((3, 3), -3), ((4, 4), 6), ((0, 0), 2)]]


def _norm_samples(rng):
    def s(shape, **kw):
        return SampleInput((make_array(rng, shape),), kw)
    inf = math.inf
    return [s((3, 4)), s((2, 3, 4)), s((5,), ord=1), s((3, 4), ord=inf), s((3, 4), ord=-inf),
            s((3, 4), ord="fro"), s((3, 4), ord=1), s((2, 3, 4), ord=-1, dim=(0, 2)),
            s((2, 3, 4), ord=3, dim=1, keepdim=True), s((2, 3, 4), dim=(-1, -2), keepdim=True),
            s((5,), ord=0.5), s(())]


def _vector_norm_samples(rng):
    def s(shape, **kw):
        return SampleInput((make_array(rng, shape),), kw)
    inf = math.inf
    return [s((3, 4)), s((2, 3, 4), ord=1, dim=(0, 2)), s((3, 4), ord=inf, dim=0),
            s((3, 4), ord=-inf, dim=1, keepdim=True), s((3, 4), ord=3.0), s((3, 4), ord=0),
            s((0, 3), dim=1), s(()), s((4,), ord=-2)]


def _matrix_norm_samples(rng):
    def s(shape, **kw):
        return SampleInput((make_array(rng, shape),), kw)
    inf = math.inf
    return [s((3, 4)), s((2, 3, 4), ord=1), s((2, 3, 4), ord=-1, keepdim=True),
            s((3, 4), ord=inf), s((2, 3, 4), ord=-inf, dim=(2, 0)),
            s((2, 3, 4), ord="fro", dim=(0, 1), keepdim=True), s((0, 3))]


def _symmetrized_cholesky(m, x, **kw):
    # A symmetric input makes finite differences see the same symmetric gradient.
    return m.linalg.cholesky((x + x.mT) * 0.5, **kw)


def _cholesky(m, x, upper):
    with warnings.catch_warnings():  # torch.cholesky warns that it is deprecated
        warnings.simplefilter("ignore", UserWarning)
        return m.cholesky((x + x.mT) * 0.5, upper)


OP_INFOS = [
    OpInfo("linalg.inv", lambda m, x: m.linalg.inv(x), _square_samples(), gradgrad=True,
           atol=1e-5),
    OpInfo("inverse", lambda m, x: m.inverse(x), _square_samples([(3, 3), (2, 2, 2)])),
    OpInfo("linalg.det", lambda m, x: m.linalg.det(x), _square_samples(), gradgrad=True,
           rtol=1e-4, atol=1e-5, grad_rtol=1e-4, grad_atol=1e-4),
    OpInfo("det", lambda m, x: m.det(x), _square_samples([(3, 3)]), rtol=1e-4),
    OpInfo("linalg.slogdet", lambda m, x: m.linalg.slogdet(x), _square_samples(),
           gradgrad=True, atol=1e-5),
    OpInfo("slogdet", lambda m, x: m.slogdet(x), _square_samples([(2, 3, 3)]), atol=1e-5),
    OpInfo("linalg.solve", lambda m, a, b, **kw: m.linalg.solve(a, b, **kw), _solve_samples,
           gradgrad=True, atol=1e-5, gradcheck_samples=6),
    OpInfo("linalg.matrix_power", lambda m, x, n: m.linalg.matrix_power(x, n),
           _matrix_power_samples, rtol=1e-4, atol=1e-4, gradgrad=True, gradcheck_samples=6),
    OpInfo("matrix_power", lambda m, x, n: m.matrix_power(x, n),
           lambda rng: [SampleInput((make_array(rng, (3, 3), np.int64, -2, 2),), {"n": 3})],
           differentiable=False),
    OpInfo("linalg.cholesky", _symmetrized_cholesky,
           lambda rng: [SampleInput((_spd(rng, s),), kw)
                        for s, kw in [((3, 3), {}), ((2, 4, 4), {}), ((3, 3), {"upper": True}),
                                      ((1, 1), {}), ((0, 0), {})]],
           gradgrad=True, atol=1e-5, gradcheck_samples=3),
    OpInfo("cholesky", _cholesky,
           lambda rng: [SampleInput((_spd(rng, (3, 3)),), {"upper": True})], atol=1e-5),
    OpInfo("linalg.norm", lambda m, x, **kw: m.linalg.norm(x, **kw), _norm_samples,
           atol=1e-5, gradcheck_samples=12),
    OpInfo("linalg.vector_norm", lambda m, x, **kw: m.linalg.vector_norm(x, **kw),
           _vector_norm_samples, atol=1e-5, gradcheck_samples=9),
    OpInfo("linalg.matrix_norm", lambda m, x, **kw: m.linalg.matrix_norm(x, **kw),
           _matrix_norm_samples, atol=1e-5, gradcheck_samples=6),
    OpInfo("linalg.cross", lambda m, a, b, **kw: m.linalg.cross(a, b, **kw),
           lambda rng: [SampleInput((make_array(rng, (4, 3)), make_array(rng, (4, 3)))),
                        SampleInput((make_array(rng, (3, 2)), make_array(rng, (3, 2))),
                                    {"dim": 0})]),
    OpInfo("linalg.diagonal", lambda m, x, **kw: m.linalg.diagonal(x, **kw),
           lambda rng: [SampleInput((make_array(rng, (2, 3, 4)),)),
                        SampleInput((make_array(rng, (2, 3, 4)),),
                                    {"offset": 1, "dim1": 0, "dim2": 2})]),
    OpInfo("linalg.matmul", lambda m, a, b: m.linalg.matmul(a, b),
           lambda rng: [SampleInput((make_array(rng, (2, 3, 4)), make_array(rng, (4, 2))))],
           atol=1e-5),
]
