"""OpInfo entries for tessera/ops/shape.py."""

import numpy as np

from ..opinfo import OpInfo, SampleInput, make_array

F32 = np.float32


def _unary(*cases):
    """``cases``: (shape, args, kwargs): the op gets ``(x, *args, **kwargs)``."""
    def samples(rng):
        return [SampleInput((make_array(rng, shape),) + tuple(args), dict(kwargs))
                for shape, args, kwargs in cases]
    return samples


def _arrays(*shapes, dtypes=None, **kwargs):
    """One sample of several arrays (for joins)."""
    def sample(rng):
        kinds = dtypes or (F32,) * len(shapes)
        return SampleInput(tuple(make_array(rng, s, d) for s, d in zip(shapes, kinds)), kwargs)
    return sample


def _joined(*makers):
    return lambda rng: [make(rng) for make in makers]


def _method(name):
    return lambda m, x, *args, **kwargs: getattr(x, name)(*args, **kwargs)


def _function(name):
    return lambda m, x, *args, **kwargs: getattr(m, name)(x, *args, **kwargs)


def _join(name):
    return lambda m, *xs, **kwargs: getattr(m, name)(list(xs), **kwargs)


def _pad(m, x, *args, **kwargs):
    return m.nn.functional.pad(x, *args, **kwargs)


OP_INFOS = [
    OpInfo("reshape", _method("reshape"), _unary(
        ((3, 4), ((2, 6),), {}), ((3, 4), (-1,), {}), ((2, 3, 4), (4, -1, 2), {}),
        ((), ((1,),), {}), ((0, 3), (3, 0), {}), ((1,), ((),), {}))),
    OpInfo("reshape_noncontiguous", lambda m, x: x.t().reshape(-1), _unary(((3, 4), (), {}))),
    OpInfo("reshape_function", lambda m, x: m.reshape(x, (4, 3)), _unary(((3, 4), (), {}))),
    OpInfo("view", _method("view"), _unary(
        ((3, 4), (4, 3), {}), ((2, 3, 4), (-1, 4), {}), ((), (1, 1), {}))),
    OpInfo("view_as", lambda m, x, y: x.view_as(y),
           _joined(_arrays((3, 4), (2, 6)), _arrays((6,), (2, 1, 3))), gradcheck=False),
    OpInfo("flatten", _function("flatten"), _unary(
        ((2, 3, 4), (), {}), ((2, 3, 4), (1,), {}), ((2, 3, 4, 5), (1, 2), {}),
        ((2, 3, 4), (), {"start_dim": -2, "end_dim": -1}), ((), (), {}), ((3, 4), (1, 1), {}))),
    OpInfo("flatten_noncontiguous", lambda m, x: x.transpose(0, 2).flatten(1),
           _unary(((2, 3, 4), (), {}))),
    OpInfo("unflatten", _function("unflatten"), _unary(
        ((3, 6), (1, (2, 3)), {}), ((3, 6), (-1, (3, -1)), {}), ((6,), (0, (1, 6, 1)), {}))),
    OpInfo("expand", _method("expand"), _unary(
        ((3, 1), (3, 4), {}), ((4,), (2, 3, 4), {}), ((), (2, 2), {}), ((3, 1), (-1, 5), {}),
        ((1, 3), ((0, 3),), {}))),
    OpInfo("expand_as", lambda m, x, y: x.expand_as(y),
           _joined(_arrays((3, 1), (2, 3, 4))), gradcheck=False),
    OpInfo("broadcast_to", _function("broadcast_to"), _unary(((3, 1), ((2, 3, 5),), {}))),
    OpInfo("permute", _method("permute"), _unary(
        ((2, 3, 4), (2, 0, 1), {}), ((2, 3, 4), ((1, -1, 0),), {}), ((), ((),), {}))),
    OpInfo("transpose", _function("transpose"), _unary(
        ((2, 3, 4), (0, 2), {}), ((3, 4), (-1, -2), {}), ((5,), (0, 0), {}))),
    OpInfo("swapaxes", _function("swapaxes"), _unary(((2, 3, 4), (0, -1), {}))),
    OpInfo("t", _function("t"), _unary(((3, 4), (), {}), ((5,), (), {}), ((), (), {}))),
    OpInfo("movedim", _function("movedim"), _unary(
        ((2, 3, 4), (0, 2), {}), ((2, 3, 4, 5), ((0, 1), (3, 0)), {}), ((2, 3, 4), (-1, 0), {}))),
    OpInfo("moveaxis", _function("moveaxis"), _unary(((2, 3, 4), (1, 2), {}))),
    OpInfo("squeeze", _function("squeeze"), _unary(
        ((3, 1, 4, 1), (), {}), ((3, 1, 4), (1,), {}), ((3, 1, 4), (0,), {}),
        ((3, 1, 1), ((1, 2),), {}), ((1,), (), {}), ((), (), {}), ((1, 3), (-2,), {}))),
    OpInfo("unsqueeze", _function("unsqueeze"), _unary(
        ((3, 4), (0,), {}), ((3, 4), (-1,), {}), ((), (0,), {}), ((3, 4), (1,), {}))),
    OpInfo("cat", _join("cat"), _joined(
        _arrays((3, 4), (2, 4)), _arrays((3, 4), (3, 2), (3, 1), dim=1),
        _arrays((2, 3, 4), (2, 1, 4), dim=-2), _arrays((0, 4), (3, 4)),
        _arrays((3, 4), (3, 4), dtypes=(F32, np.float64)), _arrays((3,), (0,), (2,)),
        _arrays((2, 3), (0,)), _arrays((3,), (2,), dtypes=(np.int64, np.int32)),
        _arrays((2, 2), (2, 2), dtypes=(np.int64, F32))), gradgrad=True),
    OpInfo("concat", _join("concat"), _joined(_arrays((3, 4), (3, 2), dim=1))),
    OpInfo("concatenate", _join("concatenate"), _joined(_arrays((3, 4), (2, 4), axis=0))),
    OpInfo("stack", _join("stack"), _joined(
        _arrays((3, 4), (3, 4)), _arrays((3, 4), (3, 4), (3, 4), dim=2),
        _arrays((2,), (2,), dim=-1), _arrays((), ()), _arrays((0, 2), (0, 2), dim=1),
        _arrays((3,), (3,), dtypes=(F32, np.float64))), gradgrad=True),
    OpInfo("hstack", _join("hstack"), _joined(
        _arrays((3, 4), (3, 2)), _arrays((3,), (2,)), _arrays((), (2,)),
        _arrays((2, 3, 4), (2, 1, 4)))),
    OpInfo("vstack", _join("vstack"), _joined(
        _arrays((3, 4), (2, 4)), _arrays((3,), (3,)), _arrays((), ()), _arrays((2, 4), (4,)))),
    OpInfo("split", _function("split"), _unary(
        ((5, 4), (2,), {}), ((3, 6), (3, 1), {}), ((5, 4), ([1, 3, 1],), {}),
        ((3, 4), ([4, 0], -1), {}), ((4, 3), (5,), {}), ((0, 3), (2,), {}),
        ((6,), ((2, 4),), {"dim": 0})), gradgrad=True),
    OpInfo("split_method", lambda m, x: x.split([1, 2], 1), _unary(((2, 3), (), {}))),
    OpInfo("chunk", _function("chunk"), _unary(
        ((5, 4), (3,), {}), ((6, 4), (3,), {}), ((3, 6), (4, 1), {}), ((2, 5), (2,), {"dim": -1}),
        ((0, 4), (3,), {}), ((2, 3), (7, 1), {}))),
    OpInfo("unbind", _function("unbind"), _unary(
        ((3, 4), (), {}), ((2, 3, 4), (1,), {}), ((2, 3), (-1,), {}), ((1, 3), (), {}),
        ((0, 3), (0,), {}))),
    OpInfo("narrow", _function("narrow"), _unary(
        ((5, 4), (0, 1, 3), {}), ((3, 6), (1, -4, 2), {}), ((3, 6), (-1, 6, 0), {}),
        ((4,), (0, 0, 4), {})), gradgrad=True),
    OpInfo("repeat", _method("repeat"), _unary(
        ((2, 3), (2, 1), {}), ((2, 3), (3, 2, 2), {}), ((3,), ((2, 2),), {}), ((), (3,), {}),
        ((2, 3), (0, 2), {}), ((0, 2), (2, 2), {})), gradgrad=True),
    OpInfo("tile", _function("tile"), _unary(
        ((2, 3), ((2,),), {}), ((2, 3), ((2, 1, 2),), {}), ((3,), ((2, 2),), {}),
        ((2, 3), (), {"dims": (1, 2)}))),
    OpInfo("tile_method", lambda m, x: x.tile(2, 1, 2), _unary(((2, 3), (), {}))),
    OpInfo("flip", _function("flip"), _unary(
        ((3, 4), ((0,),), {}), ((2, 3, 4), ((0, 2),), {}), ((5,), ((-1,),), {}),
        ((), ((),), {}), ((3, 4), ((),), {}))),
    OpInfo("flip_method", lambda m, x: x.flip(0, 1), _unary(((3, 4), (), {}))),
    OpInfo("roll", _function("roll"), _unary(
        ((3, 4), (1,), {}), ((3, 4), (-2, 1), {}), ((2, 3, 4), ((1, -1), (0, 2)), {}),
        ((5,), (7,), {"dims": 0}), ((2, 3), (4,), {}))),
    OpInfo("pad_constant", _pad, _unary(
        ((3, 4), ((1, 2),), {}), ((2, 3, 4), ((1, 0, 2, 1),), {"value": 0.5}),
        ((2, 3, 4), ((-1, 2, 0, -1, 1, 1),), {}), ((3,), ((0, 0),), {}),
        ((2, 3), ((2, 2, 1, 1),), {"mode": "constant", "value": -1.0}),
        ((0, 3), ((1, 1, 1, 1),), {})), gradgrad=True),
    OpInfo("pad_reflect", _pad, _unary(
        ((2, 5), ((2, 3),), {"mode": "reflect"}), ((2, 3, 4), ((1, 3),), {"mode": "reflect"}),
        ((1, 2, 4, 5), ((1, 2, 3, 0),), {"mode": "reflect"}),
        ((2, 3, 4), ((2, 1, 1, 2),), {"mode": "reflect"}),
        ((1, 1, 3, 4, 5), ((1, 1, 2, 2, 1, 0),), {"mode": "reflect"}),
        ((2, 5), ((-1, 2),), {"mode": "reflect"})), gradgrad=True),
    OpInfo("pad_replicate", _pad, _unary(
        ((2, 5), ((2, 3),), {"mode": "replicate"}),
        ((1, 2, 4, 5), ((1, 2, 3, 0),), {"mode": "replicate"}),
        ((2, 3, 4, 5), ((1, 1, 6, 1, 2, 3),), {"mode": "replicate"}),
        ((2, 5), ((-1, 2),), {"mode": "replicate"}), ((1, 5), ((20, 1),), {"mode": "replicate"}))),
    OpInfo("pad_circular", _pad, _unary(
        ((2, 5), ((2, 3),), {"mode": "circular"}),
        ((1, 2, 4, 5), ((1, 2, 3, 4),), {"mode": "circular"}),
        ((2, 1, 3, 4, 5), ((1, 1, 2, 2, 3, 0),), {"mode": "circular"}),
        ((2, 5), ((5, 5),), {"mode": "circular"}), ((2, 5), ((-1, 2),), {"mode": "circular"}),
        ((2, 5), ((2, -1),), {"mode": "circular"}), ((1, 3, 4), ((-2, -1, 1, 2),),
                                                     {"mode": "circular"}))),
]

OP_INFOS += [
    OpInfo("tensor_unfold", lambda m, x: x.unfold(1, 3, 2), _unary(
        ((2, 7), (), {}), ((3, 3, 2), (), {}), ((1, 8, 2, 2), (), {})), gradgrad=True),
    OpInfo("tensor_unfold_args", lambda m, x, *args: x.unfold(*args), _unary(
        ((4, 5), (1, 2, 1), {}), ((4, 5), (0, 2, 3), {}), ((3, 6), (-1, 6, 1), {}),
        ((4, 5), (1, 0, 2), {}), ((), (0, 1, 1), {}), ((0, 4), (1, 2, 1), {}),
        ((3, 9), (1, 4, 2), {})), gradgrad=True),
]
