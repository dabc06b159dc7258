"""OpInfo entries for tessera/ops/normalization.py."""

import numpy as np

from ..opinfo import OpInfo, SampleInput, make_array


def _F(m):
    return m.nn.functional


def _layer_norm_samples(rng):
    return [
        SampleInput((make_array(rng, (3, 5)), make_array(rng, (5,)), make_array(rng, (5,))),
                    {"normalized_shape": (5,)}),
        SampleInput((make_array(rng, (2, 3, 4)), make_array(rng, (3, 4)),
                     make_array(rng, (3, 4))), {"normalized_shape": (3, 4), "eps": 1e-3}),
        SampleInput((make_array(rng, (6,)), None, None), {"normalized_shape": (6,)}),
        SampleInput((make_array(rng, (2, 1, 4)), make_array(rng, (4,)), None),
                    {"normalized_shape": [4]}),
        SampleInput((make_array(rng, (0, 4)), make_array(rng, (4,)), make_array(rng, (4,))),
                    {"normalized_shape": (4,)}),
    ]


def _layer_norm(m, x, w, b, normalized_shape, eps=1e-5):
    return _F(m).layer_norm(x, normalized_shape, w, b, eps)


def _rms_norm_samples(rng):
    return [
        SampleInput((make_array(rng, (3, 5)), make_array(rng, (5,))),
                    {"normalized_shape": (5,)}),
        SampleInput((make_array(rng, (2, 3, 4)), None), {"normalized_shape": (3, 4)}),
        SampleInput((make_array(rng, (2, 4)), make_array(rng, (4,))),
                    {"normalized_shape": [4], "eps": 1e-2}),
    ]


def _rms_norm(m, x, w, normalized_shape, eps=None):
    return _F(m).rms_norm(x, normalized_shape, w, eps)


def _channel_stats(rng, c):
    """Running statistics (no gradient) for c channels: a mean and a positive variance."""
    return make_array(rng, (c,)), make_array(rng, (c,), positive=True)


def _batch_norm_samples(rng):
    out = []
    for shape in [(4, 3), (2, 3, 5), (2, 3, 2, 2)]:
        c = shape[1]
        mean, var = _channel_stats(rng, c)
        out.append(SampleInput((make_array(rng, shape), mean, var, make_array(rng, (c,)),
                                make_array(rng, (c,))), {"training": True},
                               no_grad_args=(1, 2)))
    mean, var = _channel_stats(rng, 3)
    out.append(SampleInput((make_array(rng, (2, 3, 4)), mean, var, None, None),
                           {"training": True, "momentum": 0.3, "eps": 1e-3},
                           no_grad_args=(1, 2)))
    mean, var = _channel_stats(rng, 3)
    out.append(SampleInput((make_array(rng, (2, 3, 4)), None, None, make_array(rng, (3,)),
                            None), {"training": True}))
    return out


def _batch_norm_eval_samples(rng):
    out = []
    for shape in [(4, 3), (2, 3, 5), (2, 3, 2, 2)]:
        c = shape[1]
        mean, var = _channel_stats(rng, c)
        out.append(SampleInput((make_array(rng, shape), mean, var, make_array(rng, (c,)),
                                make_array(rng, (c,))), no_grad_args=(1, 2)))
    mean, var = _channel_stats(rng, 3)
    out.append(SampleInput((make_array(rng, (2, 3)), mean, var, None, None), {"eps": 0.1},
                           no_grad_args=(1, 2)))
    return out


def _batch_norm(m, x, running_mean, running_var, w, b, **kwargs):
    """The output and the running statistics (updated in place in training) are compared."""
    out = _F(m).batch_norm(x, running_mean, running_var, w, b, **kwargs)
    return out, running_mean, running_var


def _group_norm_samples(rng):
    return [
        SampleInput((make_array(rng, (2, 6, 4)), make_array(rng, (6,)), make_array(rng, (6,))),
                    {"num_groups": 3}),
        SampleInput((make_array(rng, (2, 4, 3, 3)), None, None), {"num_groups": 2}),
        SampleInput((make_array(rng, (3, 4)), make_array(rng, (4,)), None),
                    {"num_groups": 1, "eps": 1e-3}),
        SampleInput((make_array(rng, (1, 4, 5)), make_array(rng, (4,)), make_array(rng, (4,))),
                    {"num_groups": 4}),
    ]


def _group_norm(m, x, w, b, num_groups, eps=1e-5):
    return _F(m).group_norm(x, num_groups, w, b, eps)


def _instance_norm_samples(rng):
    out = [SampleInput((make_array(rng, (2, 3, 5)), None, None, make_array(rng, (3,)),
                        make_array(rng, (3,)))),
           SampleInput((make_array(rng, (2, 2, 3, 3)), None, None, None, None), {"eps": 1e-3})]
    mean, var = _channel_stats(rng, 3)
    out.append(SampleInput((make_array(rng, (2, 3, 4)), mean, var, make_array(rng, (3,)), None),
                           {"momentum": 0.2}, no_grad_args=(1, 2)))
    mean, var = _channel_stats(rng, 3)
    out.append(SampleInput((make_array(rng, (2, 3, 4)), mean, var, make_array(rng, (3,)),
                            make_array(rng, (3,))), {"use_input_stats": False},
                           no_grad_args=(1, 2)))
    return out


def _instance_norm(m, x, running_mean, running_var, w, b, **kwargs):
    out = _F(m).instance_norm(x, running_mean, running_var, w, b, **kwargs)
    stats = tuple(s for s in (running_mean, running_var) if s is not None)
    return (out,) + stats


def _normalize_samples(rng):
    return [
        SampleInput((make_array(rng, (3, 4)),)),
        SampleInput((make_array(rng, (3, 4)),), {"p": 1.0, "dim": 0}),
        SampleInput((make_array(rng, (2, 3, 4)),), {"dim": -1, "eps": 1e-3}),
        SampleInput((make_array(rng, (2, 3, 4)),), {"p": 3.0, "dim": (1, 2)}),
        SampleInput((np.zeros((2, 3), np.float32),)),
    ]


def _lrn_samples(rng):
    return [
        SampleInput((make_array(rng, (2, 5, 4)),), {"size": 3}),
        SampleInput((make_array(rng, (2, 6, 3, 3)),), {"size": 4, "alpha": 0.1, "beta": 0.5,
                                                        "k": 2.0}),
        SampleInput((make_array(rng, (1, 3, 2, 2, 2)),), {"size": 2, "alpha": 0.3}),
    ]


OP_INFOS = [
    OpInfo("layer_norm", _layer_norm, _layer_norm_samples, gradgrad=True),
    OpInfo("rms_norm", _rms_norm, _rms_norm_samples, gradgrad=True),
    # The running statistics are outputs too (compared after their in-place update), but
    # finite differences would see them change between calls: gradients use the output alone.
    OpInfo("batch_norm_train", _batch_norm, _batch_norm_samples, gradcheck=False),
    OpInfo("batch_norm_train_grad", lambda m, *a, **k: _batch_norm(m, *a, **k)[0],
           _batch_norm_samples, gradgrad=True),
    OpInfo("batch_norm_eval", lambda m, *a, **k: _batch_norm(m, *a, training=False, **k),
           _batch_norm_eval_samples),
    OpInfo("group_norm", _group_norm, _group_norm_samples, gradgrad=True),
    OpInfo("instance_norm", _instance_norm, _instance_norm_samples),
    OpInfo("normalize", lambda m, x, **k: _F(m).normalize(x, **k), _normalize_samples,
           gradcheck_samples=4),
    OpInfo("local_response_norm", lambda m, x, **k: _F(m).local_response_norm(x, **k),
           _lrn_samples),
]
