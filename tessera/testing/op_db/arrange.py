"""OpInfo entries for tessera/ops/arrange.py and the searching half of ops/sorting.py."""

import numpy as np

from ..opinfo import OpInfo, SampleInput, make_array


def _one(*shapes, **kwargs):
    return lambda rng: [SampleInput((make_array(rng, s),), dict(kwargs)) for s in shapes]


def _two(*pairs):
    return lambda rng: [SampleInput((make_array(rng, a), make_array(rng, b))) for a, b in pairs]


def _sorted_boundaries(rng):
    b = np.sort(make_array(rng, (5,)))
    return [SampleInput((b, make_array(rng, (3, 4)))), SampleInput((b, make_array(rng, (7,))))]


OP_INFOS = [
    OpInfo("repeat_interleave", lambda m, x: m.repeat_interleave(x, 2), _one((3,), (2, 3))),
    OpInfo("repeat_interleave_dim", lambda m, x: m.repeat_interleave(x, m.tensor([1, 0, 2]),
                                                                     dim=1), _one((2, 3))),
    OpInfo("diag_vector", lambda m, x: m.diag(x, 1), _one((3,), (1,)), gradgrad=True),
    OpInfo("diag_matrix", lambda m, x: m.diag(x, -1), _one((3, 4), (2, 2))),
    OpInfo("meshgrid_ij", lambda m, a, b: m.meshgrid(a, b, indexing="ij"), _two(((3,), (2,)))),
    OpInfo("meshgrid_xy", lambda m, a, b: m.meshgrid(a, b, indexing="xy"), _two(((3,), (2,)))),
    OpInfo("broadcast_tensors", lambda m, a, b: m.broadcast_tensors(a, b),
           _two(((3, 1), (4,)), ((2, 1, 3), (5, 1)))),
    OpInfo("cartesian_prod", lambda m, a, b: m.cartesian_prod(a, b), _two(((3,), (2,)))),
    OpInfo("block_diag", lambda m, a, b: m.block_diag(a, b), _two(((2, 3), (1, 2)),
                                                                   ((3,), (2, 2)))),
    OpInfo("kron", lambda m, a, b: m.kron(a, b), _two(((2, 3), (2, 2)), ((3,), (2,))),
           gradgrad=True),
    OpInfo("atleast_3d", lambda m, x: m.atleast_3d(x), _one((), (3,), (2, 3))),
    OpInfo("rot90", lambda m, x: m.rot90(x, 1, (0, 1)), _one((2, 3), (2, 3, 4))),
    OpInfo("rot90_k3", lambda m, x: m.rot90(x, -1, (1, 0)), _one((2, 3))),
    OpInfo("diff", lambda m, x: m.diff(x, 2, dim=-1), _one((3, 5), (6,))),
    OpInfo("diff_prepend", lambda m, x, p: m.diff(x, dim=0, prepend=p),
           _two(((3, 4), (1, 4)))),
    OpInfo("searchsorted", lambda m, b, v: m.searchsorted(b, v), _sorted_boundaries,
           differentiable=False),
    OpInfo("searchsorted_right", lambda m, b, v: m.searchsorted(b, v, right=True),
           _sorted_boundaries, differentiable=False),
    OpInfo("bucketize", lambda m, b, v: m.bucketize(v, b), _sorted_boundaries,
           differentiable=False),
    OpInfo("unique", lambda m, x: m.unique(x, return_inverse=True, return_counts=True),
           lambda rng: [SampleInput((make_array(rng, (4, 5), np.int64, 0, 4),))],
           differentiable=False),
]
