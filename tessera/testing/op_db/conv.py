"""OpInfo entries for tessera/ops/conv.py."""

from ..opinfo import OpInfo, SampleInput, make_array


def _conv(name):
    return lambda m, x, w, b=None, **kw: getattr(m.nn.functional, name)(x, w, b, **kw)


def _conv2d_samples(rng):
    a = lambda *s: make_array(rng, s)
    return [
        SampleInput((a(1, 2, 4, 5), a(3, 2, 3, 2), a(3)), {"padding": 1}),
        SampleInput((a(2, 4, 5, 5), a(4, 2, 2, 3)),
                    {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2}),
        SampleInput((a(2, 3, 7, 8), a(5, 3, 3, 3), a(5)), {}),
        SampleInput((a(2, 3, 9, 8), a(4, 3, 3, 3), a(4)), {"stride": 2, "padding": 2}),
        SampleInput((a(2, 4, 6, 7), a(8, 1, 3, 3), a(8)), {"groups": 4, "padding": 1}),
        SampleInput((a(2, 6, 5, 4), a(4, 6, 1, 1), a(4)), {}),
        SampleInput((a(2, 6, 5, 4), a(4, 3, 1, 1)), {"groups": 2, "stride": 2}),
        SampleInput((a(2, 3, 6, 7), a(4, 3, 4, 2), a(4)), {"padding": "same"}),
        SampleInput((a(2, 3, 6, 7), a(4, 3, 3, 2)), {"padding": "same", "dilation": (2, 1)}),
        SampleInput((a(2, 3, 6, 7), a(4, 3, 3, 3)), {"padding": "valid"}),
        SampleInput((a(3, 6, 7), a(4, 3, 3, 3), a(4)), {"padding": 1}),
        SampleInput((a(0, 3, 5, 5), a(4, 3, 3, 3), a(4)), {}),
        SampleInput((a(2, 3, 5, 5), a(4, 3, 5, 5), a(4)), {}),
        # Many channels on small images: the pixel-major im2col layout.
        SampleInput((a(3, 8, 4, 5), a(6, 8, 3, 3), a(6)), {"padding": 1}),
        SampleInput((a(2, 8, 5, 4), a(6, 4, 3, 2)), {"groups": 2, "stride": (1, 2),
                                                     "dilation": (2, 1), "padding": (2, 0)}),
    ]


def _conv1d_samples(rng):
    a = lambda *s: make_array(rng, s)
    return [
        SampleInput((a(2, 2, 7), a(3, 2, 3), a(3)), {"padding": 1}),
        SampleInput((a(2, 4, 9), a(4, 2, 2)), {"stride": 2, "dilation": 3, "groups": 2}),
        SampleInput((a(2, 3, 10), a(5, 3, 4), a(5)), {"padding": "same"}),
        SampleInput((a(2, 4, 10), a(4, 1, 3)), {"groups": 4, "padding": 2, "stride": 3}),
        SampleInput((a(2, 3, 10), a(5, 3, 1), a(5)), {}),
        SampleInput((a(3, 10), a(5, 3, 3), a(5)), {"padding": "valid"}),
        SampleInput((a(0, 3, 10), a(5, 3, 3), a(5)), {}),
    ]


def _conv_transpose2d_samples(rng):
    a = lambda *s: make_array(rng, s)
    return [
        SampleInput((a(1, 2, 3, 4), a(2, 3, 3, 2), a(3)), {"stride": 2, "padding": 1,
                                                           "output_padding": 1}),
        SampleInput((a(2, 4, 3, 3), a(4, 1, 2, 3)),
                    {"stride": (1, 2), "groups": 2, "dilation": (2, 1)}),
        SampleInput((a(2, 3, 4, 5), a(3, 4, 3, 3), a(4)), {}),
        SampleInput((a(2, 3, 4, 5), a(3, 2, 3, 3), a(2)),
                    {"stride": 3, "padding": (2, 1), "output_padding": (2, 0)}),
        SampleInput((a(2, 4, 4, 5), a(4, 2, 3, 3), a(4)),
                    {"groups": 2, "dilation": 2, "output_padding": 1}),
        SampleInput((a(2, 6, 4, 5), a(6, 3, 1, 1), a(3)), {}),
        SampleInput((a(2, 4, 4, 5), a(4, 3, 1, 1)), {"dilation": 2, "output_padding": 1}),
        SampleInput((a(3, 4, 5), a(3, 2, 2, 2), a(2)), {"stride": 2}),
        SampleInput((a(0, 3, 4, 5), a(3, 2, 2, 2), a(2)), {"stride": 2}),
        SampleInput((a(2, 4, 2, 3), a(4, 6, 3, 3), a(6)), {"stride": 2, "padding": 1}),
        SampleInput((a(2, 4, 2, 3), a(4, 4, 2, 2)), {"groups": 2, "output_padding": 1,
                                                     "stride": 2}),
    ]


def _conv_transpose1d_samples(rng):
    a = lambda *s: make_array(rng, s)
    return [
        SampleInput((a(2, 2, 5), a(2, 3, 3), a(3)), {"stride": 2, "padding": 1,
                                                     "output_padding": 1}),
        SampleInput((a(2, 4, 6), a(4, 1, 3)), {"groups": 2, "dilation": 2}),
        SampleInput((a(2, 3, 6), a(3, 5, 4), a(5)), {"stride": 3, "padding": 2}),
        SampleInput((a(3, 6), a(3, 5, 1), a(5)), {}),
    ]


OP_INFOS = [
    OpInfo("conv2d", _conv("conv2d"), _conv2d_samples, gradgrad=True, rtol=1e-4, atol=1e-5),
    OpInfo("conv1d", _conv("conv1d"), _conv1d_samples, gradgrad=True, rtol=1e-4, atol=1e-5),
    OpInfo("conv_transpose2d", _conv("conv_transpose2d"), _conv_transpose2d_samples,
           gradgrad=True, rtol=1e-4, atol=1e-5),
    OpInfo("conv_transpose1d", _conv("conv_transpose1d"), _conv_transpose1d_samples,
           gradgrad=True, rtol=1e-4, atol=1e-5),
]


def _unfold_samples(rng):
    a = lambda *s: make_array(rng, s)
    return [
        SampleInput((a(2, 3, 5, 6), 2), {}),
        SampleInput((a(2, 2, 6, 7), (3, 2)), {"dilation": (2, 1), "padding": (1, 2),
                                              "stride": (2, 1)}),
        SampleInput((a(1, 2, 5, 5), 3), {"padding": 1, "stride": 2}),
        SampleInput((a(3, 4, 5), [2, 3]), {"stride": [1, 2]}),
        SampleInput((a(0, 2, 4, 4), 2), {}),
        SampleInput((a(1, 1, 3, 3), 3), {}),
    ]


def _fold_samples(rng):
    a = lambda *s: make_array(rng, s)
    return [
        # Overlapping blocks (stride 1) are summed.
        SampleInput((a(2, 12, 20), (5, 6), 2), {}),
        SampleInput((a(2, 12, 20), (6, 7), (3, 2)), {"dilation": (2, 1), "padding": (1, 2),
                                                     "stride": (2, 1)}),
        SampleInput((a(1, 18, 9), 5, 3), {"padding": 1, "stride": 2}),
        SampleInput((a(24, 6), (4, 5), (2, 3)), {"stride": (1, 2)}),
        SampleInput((a(0, 8, 9), 4, 2), {}),
        SampleInput((a(2, 4, 4), (4, 4), 2), {"stride": 2}),
    ]


def _unfold(m, x, *args, **kwargs):
    return m.nn.functional.unfold(x, *args, **kwargs)


def _fold(m, x, *args, **kwargs):
    return m.nn.functional.fold(x, *args, **kwargs)


OP_INFOS += [
    OpInfo("unfold", _unfold, _unfold_samples, gradgrad=True),
    OpInfo("fold", _fold, _fold_samples, gradgrad=True),
]
