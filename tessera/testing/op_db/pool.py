"""OpInfo entries for tessera/ops/pool.py (pooling and interpolation)."""

import numpy as np

from ..opinfo import OpInfo, SampleInput, make_array


def _f(name):
    return lambda m, x, *args, **kw: getattr(m.nn.functional, name)(x, *args, **kw)


def _samples(*calls, ties=True):
    """Samples from (shape, args, kwargs); with ``ties`` also one with many equal values."""
    def samples(rng):
        out = [SampleInput((make_array(rng, shape),) + tuple(args), dict(kwargs))
               for shape, args, kwargs in calls]
        if ties:
            shape, args, kwargs = calls[0]
            x = np.maximum(make_array(rng, shape), 0)  # ReLU-like: whole windows of zeros
            out.append(SampleInput((x,) + tuple(args), dict(kwargs), name="ties"))
        return out
    return samples


def _int_samples(*calls):
    def samples(rng):
        return [SampleInput((make_array(rng, shape, np.int64, -9, 9),) + tuple(args),
                            dict(kwargs)) for shape, args, kwargs in calls]
    return samples


_MAX_POOL2D = _samples(
    ((2, 2, 5, 6), (2,), {}),
    ((2, 2, 7, 8), (3, 2, 1), {"ceil_mode": True}),
    ((2, 3, 8, 9), ((2, 3),), {"stride": (1, 2), "padding": (1, 1), "dilation": (2, 1),
                               "return_indices": True}),
    ((2, 3, 7, 7), (3,), {"stride": 2, "padding": 1, "ceil_mode": True,
                          "return_indices": True}),
    ((3, 5, 6), (2,), {"stride": 1, "return_indices": True}),
    ((0, 3, 4, 4), (2,), {}),
    ((1, 1, 3, 3), (3,), {"stride": 3, "padding": 1}),
)

_MAX_POOL1D = _samples(
    ((2, 2, 9), (2,), {}),
    ((2, 3, 11), (3, 2, 1), {"ceil_mode": True, "return_indices": True}),
    ((2, 3, 11), (2,), {"stride": 1, "dilation": 3, "return_indices": True}),
    ((3, 10), (4,), {"return_indices": True}),
)

_AVG_POOL2D = _samples(
    ((2, 2, 5, 6), (2,), {}),
    ((2, 2, 7, 8), (3, 2, 1), {"ceil_mode": True}),
    ((2, 2, 7, 8), (3, 2, 1), {"ceil_mode": True, "count_include_pad": False}),
    ((2, 3, 8, 9), ((2, 3),), {"stride": (1, 2), "padding": (1, 1), "divisor_override": 5}),
    ((3, 5, 6), (2,), {"stride": 1}),
    ((0, 3, 4, 4), (2,), {}),
    ((2, 2, 6, 6), (6,), {}),
    ties=False,
)

_AVG_POOL1D = _samples(
    ((2, 2, 9), (2,), {}),
    ((2, 3, 11), (4, 3, 2), {"ceil_mode": True, "count_include_pad": False}),
    ((2, 3, 11), (3, 2, 1), {}),
    ((3, 10), (4,), {}),
    ties=False,
)

_ADAPTIVE_AVG2D = _samples(
    ((2, 2, 7, 9), ((3, 4),), {}),
    ((2, 3, 8, 9), ((4, 3),), {}),
    ((2, 3, 7, 9), ((None, 4),), {}),
    ((2, 3, 5, 6), (1,), {}),
    ((2, 3, 4, 5), ((6, 7),), {}),
    ((3, 7, 9), (3,), {}),
    ((0, 3, 7, 9), (3,), {}),
    ties=False,
)

_ADAPTIVE_AVG1D = _samples(
    ((2, 2, 11), (4,), {}),
    ((2, 3, 12), (4,), {}),
    ((2, 3, 5), (8,), {}),
    ((3, 7), (1,), {}),
    ties=False,
)

_ADAPTIVE_MAX2D = _samples(
    ((2, 2, 7, 9), ((3, 4),), {}),
    ((2, 3, 8, 9), ((4, 3),), {"return_indices": True}),
    ((2, 3, 7, 9), ((None, 4),), {"return_indices": True}),
    ((2, 3, 5, 6), (1,), {"return_indices": True}),
    ((2, 3, 4, 5), ((6, 7),), {"return_indices": True}),
    ((3, 7, 9), (3,), {"return_indices": True}),
    ((0, 3, 7, 9), (3,), {}),
)

_ADAPTIVE_MAX1D = _samples(
    ((2, 2, 11), (4,), {}),
    ((2, 3, 12), (4,), {"return_indices": True}),
    ((2, 3, 5), (8,), {"return_indices": True}),
    ((3, 7), (3,), {"return_indices": True}),
)


def _interp(**kwargs):
    return lambda m, x: m.nn.functional.interpolate(x, **kwargs)


def _interp_samples(rank, ties=False):
    shapes = {3: [(2, 3, 7), (1, 2, 4)], 4: [(2, 2, 5, 6), (1, 3, 4, 7)],
              5: [(1, 2, 3, 4, 5)]}[rank]

    def samples(rng):
        return [SampleInput((make_array(rng, s),)) for s in shapes]
    return samples


_SCALES = {"x2": {"scale_factor": 2}, "x1.7": {"scale_factor": 1.7},
           "x0.6": {"scale_factor": 0.6}, "size": {"size": 9},
           "recompute": {"scale_factor": 1.7, "recompute_scale_factor": True}}


def _interp_infos():
    infos = []
    for mode, rank in [("nearest", 4), ("nearest", 3), ("nearest-exact", 4),
                       ("nearest-exact", 3), ("linear", 3), ("bilinear", 4)]:
        corners = [None, True] if mode in ("linear", "bilinear") else [None]
        for tag, kwargs in _SCALES.items():
            for ac in corners:
                name = f"interpolate_{mode}_{rank - 2}d_{tag}" + ("_align" if ac else "")
                infos.append(OpInfo(name, _interp(mode=mode, align_corners=ac, **kwargs),
                                    _interp_samples(rank), gradcheck_samples=1))
    infos += [
        OpInfo("interpolate_bilinear_2d_tuple", _interp(mode="bilinear",
                                                        scale_factor=(1.3, 2.1)),
               _interp_samples(4), gradgrad=True, gradcheck_samples=1),
        OpInfo("interpolate_bilinear_2d_size_tuple", _interp(mode="bilinear", size=(3, 11),
                                                             align_corners=False),
               _interp_samples(4), gradcheck_samples=1),
        OpInfo("interpolate_nearest_2d_size_tuple", _interp(size=(3, 11)),
               _interp_samples(4), gradgrad=True, gradcheck_samples=1),
        OpInfo("interpolate_trilinear", _interp(mode="trilinear", scale_factor=(2, 1.5, 0.7)),
               _interp_samples(5), gradcheck_samples=1),
        OpInfo("interpolate_nearest_3d", _interp(scale_factor=(2, 1.5, 0.7)),
               _interp_samples(5), gradcheck_samples=1),
        OpInfo("interpolate_area", _interp(mode="area", size=(3, 4)), _interp_samples(4),
               gradcheck_samples=1),
        OpInfo("interpolate_nearest_uint8", _interp(scale_factor=1.5),
               lambda rng: [SampleInput((make_array(rng, (1, 2, 3, 4), np.uint8, 0, 200),))],
               differentiable=False),
        OpInfo("upsample", lambda m, x: m.nn.functional.upsample(x, scale_factor=2),
               _interp_samples(4), gradcheck_samples=1),
        OpInfo("upsample_nearest", lambda m, x: m.nn.functional.upsample_nearest(x, size=(3, 8)),
               _interp_samples(4), gradcheck_samples=1),
        OpInfo("upsample_bilinear", lambda m, x: m.nn.functional.upsample_bilinear(
            x, scale_factor=2), _interp_samples(4), gradcheck_samples=1),
    ]
    return infos


def _nan_windows(rng):
    """NaN wins its window (PyTorch's rule), on the fast path (kernel == stride) and off it."""
    x = make_array(rng, (2, 2, 6, 6))
    x[0, 0, 1, 1] = np.nan
    x[1, 1, 4, 5] = np.nan
    return [SampleInput((x, 2), {"return_indices": True}),
            SampleInput((x, (3, 2)), {"stride": 2, "return_indices": True})]


OP_INFOS = [
    OpInfo("max_pool2d", _f("max_pool2d"), _MAX_POOL2D, gradgrad=True),
    OpInfo("max_pool2d_nan", _f("max_pool2d"), _nan_windows, gradcheck=False),
    OpInfo("max_pool2d_uneven", _f("max_pool2d"), _samples(
        ((2, 3, 7, 9), ((3, 2),), {"return_indices": True})), gradcheck_samples=1),
    OpInfo("max_pool1d", _f("max_pool1d"), _MAX_POOL1D, gradgrad=True),
    OpInfo("max_pool2d_with_indices", _f("max_pool2d_with_indices"), _samples(
        ((2, 2, 5, 6), (3,), {"stride": 2, "padding": 1})), gradcheck_samples=1),
    OpInfo("max_pool1d_with_indices", _f("max_pool1d_with_indices"), _samples(
        ((2, 2, 9), (2,), {})), gradcheck_samples=1),
    OpInfo("max_pool2d_int", _f("max_pool2d"), _int_samples(
        ((2, 2, 5, 6), (2,), {"return_indices": True}),
        ((2, 2, 5, 6), (3, 2, 1), {"ceil_mode": True})), differentiable=False),
    OpInfo("avg_pool2d", _f("avg_pool2d"), _AVG_POOL2D, gradgrad=True),
    OpInfo("avg_pool1d", _f("avg_pool1d"), _AVG_POOL1D, gradgrad=True),
    OpInfo("avg_pool2d_int", _f("avg_pool2d"), _int_samples(
        ((2, 2, 5, 6), (2,), {}), ((2, 2, 5, 6), (3, 2, 1), {"count_include_pad": False})),
        differentiable=False),
    OpInfo("adaptive_avg_pool2d", _f("adaptive_avg_pool2d"), _ADAPTIVE_AVG2D, gradgrad=True),
    OpInfo("adaptive_avg_pool1d", _f("adaptive_avg_pool1d"), _ADAPTIVE_AVG1D),
    OpInfo("adaptive_max_pool2d", _f("adaptive_max_pool2d"), _ADAPTIVE_MAX2D, gradgrad=True),
    OpInfo("adaptive_max_pool1d", _f("adaptive_max_pool1d"), _ADAPTIVE_MAX1D),
    OpInfo("adaptive_max_pool2d_with_indices", _f("adaptive_max_pool2d_with_indices"),
           _samples(((2, 2, 7, 9), ((3, 4),), {})), gradcheck_samples=1),
    OpInfo("lp_pool2d", _f("lp_pool2d"), lambda rng: [
        SampleInput((make_array(rng, (2, 2, 5, 6), positive=True), 2, (2, 3)),
                    {"ceil_mode": True}),
        SampleInput((make_array(rng, (2, 2, 5, 6), positive=True), 3, 2), {"stride": 1})]),
    OpInfo("lp_pool1d", _f("lp_pool1d"), lambda rng: [
        SampleInput((make_array(rng, (2, 2, 9), positive=True), 2, 3), {"stride": 2}),
        SampleInput((make_array(rng, (2, 2, 9), positive=True), 1.5, 2), {})]),
] + _interp_infos()
