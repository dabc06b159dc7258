"""OpInfo entries for tessera/ops/loss.py."""

import numpy as np

from ..opinfo import OpInfo, SampleInput, make_array


def _F(m):
    return m.nn.functional


def _loss(name):
    return lambda m, *args, **kwargs: getattr(_F(m), name)(*args, **kwargs)


def _targets(rng, shape, classes, ignored=()):
    t = rng.integers(0, classes, shape).astype(np.int64)
    for index in ignored:
        t[index] = -100
    return t


def _cross_entropy_samples(rng):
    return [
        SampleInput((make_array(rng, (5, 4)), _targets(rng, (5,), 4))),
        SampleInput((make_array(rng, (5, 4)), _targets(rng, (5,), 4, ignored=[1]),
                     make_array(rng, (4,), positive=True)), {"reduction": "sum"},
                    no_grad_args=(2,)),
        SampleInput((make_array(rng, (5, 4)), _targets(rng, (5,), 4, ignored=[0, 3])),
                    {"reduction": "none", "label_smoothing": 0.2}),
        SampleInput((make_array(rng, (5, 4)), _targets(rng, (5,), 4, ignored=[2]),
                     make_array(rng, (4,), positive=True)), {"label_smoothing": 0.1},
                    no_grad_args=(2,)),
        SampleInput((make_array(rng, (2, 3, 4, 2)), _targets(rng, (2, 4, 2), 3))),
        SampleInput((make_array(rng, (2, 3, 4)), _targets(rng, (2, 4), 3)),
                    {"reduction": "none", "ignore_index": 1}),
        SampleInput((make_array(rng, (6,)), np.array(4, np.int64))),
        SampleInput((make_array(rng, (0, 3)), _targets(rng, (0,), 3)), {"reduction": "sum"}),
    ]


def _cross_entropy_prob_samples(rng):
    def probs(shape, axis=1):
        p = rng.uniform(0.1, 1.0, shape)
        return (p / p.sum(axis=axis, keepdims=True)).astype(np.float32)
    return [
        SampleInput((make_array(rng, (4, 3)), probs((4, 3)))),
        SampleInput((make_array(rng, (2, 3, 4)), probs((2, 3, 4)),
                     make_array(rng, (3,), positive=True)), {"reduction": "none"},
                    no_grad_args=(2,)),
        SampleInput((make_array(rng, (3, 4)), probs((3, 4))),
                    {"reduction": "sum", "label_smoothing": 0.3}),
        SampleInput((make_array(rng, (5,)), probs((5,), axis=0))),
    ]


def _nll_samples(rng):
    return [
        SampleInput((make_array(rng, (5, 4)), _targets(rng, (5,), 4))),
        SampleInput((make_array(rng, (5, 4)), _targets(rng, (5,), 4, ignored=[1]),
                     make_array(rng, (4,), positive=True)), {"reduction": "none"},
                    no_grad_args=(2,)),
        SampleInput((make_array(rng, (2, 3, 2, 2)), _targets(rng, (2, 2, 2), 3),
                     make_array(rng, (3,), positive=True)), no_grad_args=(2,)),
        SampleInput((make_array(rng, (3, 4)), _targets(rng, (3,), 4)),
                    {"reduction": "sum", "ignore_index": 2}),
        SampleInput((make_array(rng, (4,)), np.array(1, np.int64))),
    ]


def _pair_samples(low=-2.0, high=2.0, weight=False):
    def samples(rng):
        out = [
            SampleInput((make_array(rng, (3, 4), low=low, high=high),
                         make_array(rng, (3, 4), low=low, high=high))),
            SampleInput((make_array(rng, (5,), low=low, high=high),
                         make_array(rng, (5,), low=low, high=high)), {"reduction": "sum"}),
            SampleInput((make_array(rng, (2, 3), low=low, high=high),
                         make_array(rng, (2, 3), low=low, high=high)), {"reduction": "none"}),
            SampleInput((make_array(rng, (), low=low, high=high),
                         make_array(rng, (), low=low, high=high))),
            SampleInput((make_array(rng, (0, 2), low=low, high=high),
                         make_array(rng, (0, 2), low=low, high=high)), {"reduction": "sum"}),
        ]
        if weight:
            out.append(SampleInput((make_array(rng, (3, 4)), make_array(rng, (3, 4))),
                                   {"weight": make_array(rng, (3, 4), positive=True)}))
        return out
    return samples


def _weighted_pair(name):
    """mse/l1/huber with an optional weight passed as a keyword array (no gradient)."""
    def fn(m, a, b, weight=None, **kwargs):
        if weight is not None:
            weight = m.tensor(weight)
        return getattr(_F(m), name)(a, b, weight=weight, **kwargs)
    return fn


def _broadcast_mse_samples(rng):
    return [SampleInput((make_array(rng, (3, 4)), make_array(rng, (4,))))]


def _bce_samples(rng):
    def prob(shape):
        return make_array(rng, shape, low=0.05, high=0.95)
    return [
        SampleInput((prob((3, 4)), prob((3, 4)))),
        SampleInput((prob((3, 4)), prob((3, 4)), make_array(rng, (4,), positive=True)),
                    {"reduction": "sum"}, no_grad_args=(2,)),
        SampleInput((prob((5,)), (rng.random(5) > 0.5).astype(np.float32)),
                    {"reduction": "none"}),
        SampleInput((prob(()), prob(()))),
    ]


def _bce_logits_samples(rng):
    def target(shape):
        return make_array(rng, shape, low=0.0, high=1.0)
    return [
        SampleInput((make_array(rng, (3, 4), low=-4, high=4), target((3, 4)))),
        SampleInput((make_array(rng, (3, 4)), target((3, 4))),
                    {"weight": make_array(rng, (4,), positive=True),
                     "pos_weight": make_array(rng, (4,), positive=True), "reduction": "sum"}),
        SampleInput((make_array(rng, (5,), low=-30, high=30), target((5,))),
                    {"reduction": "none"}),
        SampleInput((make_array(rng, (2, 3)), target((2, 3))),
                    {"pos_weight": make_array(rng, (3,), positive=True)}),
    ]


def _bce_logits(m, x, t, weight=None, pos_weight=None, **kwargs):
    weight = None if weight is None else m.tensor(weight)
    pos_weight = None if pos_weight is None else m.tensor(pos_weight)
    return _F(m).binary_cross_entropy_with_logits(x, t, weight=weight, pos_weight=pos_weight,
                                                  **kwargs)


def _kl_samples(rng):
    def log_probs(shape):
        p = rng.uniform(0.1, 1.0, shape)
        return np.log(p / p.sum(axis=-1, keepdims=True)).astype(np.float32)
    return [
        SampleInput((log_probs((3, 4)), np.exp(log_probs((3, 4)))), {"reduction": "batchmean"}),
        SampleInput((log_probs((3, 4)), np.exp(log_probs((3, 4)))), {"reduction": "sum"}),
        SampleInput((log_probs((2, 5)), log_probs((2, 5))),
                    {"reduction": "none", "log_target": True}),
        SampleInput((log_probs((3, 4)), np.exp(log_probs((3, 4))))),
        SampleInput((log_probs((4,)), np.exp(log_probs((4,)))), {"reduction": "batchmean"}),
    ]


def _cosine_samples(rng):
    return [
        SampleInput((make_array(rng, (3, 4)), make_array(rng, (3, 4)))),
        SampleInput((make_array(rng, (2, 3, 4)), make_array(rng, (4,))), {"dim": -1}),
        SampleInput((make_array(rng, (3, 4)), make_array(rng, (1, 4))),
                    {"dim": 0, "eps": 1e-3}),
        SampleInput((make_array(rng, (5,)), make_array(rng, (5,))), {"dim": 0}),
    ]


def _pairwise_samples(rng):
    return [
        SampleInput((make_array(rng, (3, 4)), make_array(rng, (3, 4)))),
        SampleInput((make_array(rng, (3, 4)), make_array(rng, (4,))), {"p": 1.0}),
        SampleInput((make_array(rng, (2, 3)), make_array(rng, (2, 3))),
                    {"keepdim": True, "eps": 1e-3}),
    ]


def _sign_target(rng, shape):
    return np.where(rng.random(shape) > 0.5, 1.0, -1.0).astype(np.float32)


def _margin_ranking_samples(rng):
    return [
        SampleInput((make_array(rng, (5,)), make_array(rng, (5,)), _sign_target(rng, (5,)))),
        SampleInput((make_array(rng, (2, 3)), make_array(rng, (2, 3)), _sign_target(rng, (2, 3))),
                    {"margin": 0.5, "reduction": "none"}),
    ]


def _hinge_samples(rng):
    return [
        SampleInput((make_array(rng, (5,)), _sign_target(rng, (5,))), no_grad_args=(1,)),
        SampleInput((make_array(rng, (2, 3)), _sign_target(rng, (2, 3))),
                    {"margin": 0.5, "reduction": "none"}, no_grad_args=(1,)),
    ]


def _soft_margin_samples(rng):
    return [
        SampleInput((make_array(rng, (5,)), _sign_target(rng, (5,))), no_grad_args=(1,)),
        SampleInput((make_array(rng, (2, 3)), _sign_target(rng, (2, 3))), {"reduction": "sum"},
                    no_grad_args=(1,)),
    ]


def _cosine_embedding_samples(rng):
    return [
        SampleInput((make_array(rng, (4, 3)), make_array(rng, (4, 3)), _sign_target(rng, (4,))),
                    no_grad_args=(2,)),
        SampleInput((make_array(rng, (4, 3)), make_array(rng, (4, 3)), _sign_target(rng, (4,))),
                    {"margin": 0.2, "reduction": "none"}, no_grad_args=(2,)),
        SampleInput((make_array(rng, (3,)), make_array(rng, (3,)), np.array(-1.0, np.float32)),
                    {"margin": -0.9}, no_grad_args=(2,)),
    ]


def _poisson_samples(rng):
    counts = rng.integers(0, 5, (3, 4)).astype(np.float32)
    return [
        SampleInput((make_array(rng, (3, 4)), counts)),
        SampleInput((make_array(rng, (3, 4), positive=True), counts),
                    {"log_input": False, "reduction": "sum"}),
        SampleInput((make_array(rng, (3, 4)), counts), {"full": True, "reduction": "none"},
                    no_grad_args=(1,)),
    ]


def _gaussian_samples(rng):
    return [
        SampleInput((make_array(rng, (3, 4)), make_array(rng, (3, 4)),
                     make_array(rng, (3, 4), positive=True))),
        SampleInput((make_array(rng, (3, 4)), make_array(rng, (3, 4)),
                     make_array(rng, (3,), positive=True)), {"reduction": "sum", "full": True}),
        SampleInput((make_array(rng, (3, 4)), make_array(rng, (3, 4)),
                     make_array(rng, (3, 1), positive=True)), {"reduction": "none"}),
        SampleInput((make_array(rng, (3, 4)), make_array(rng, (3, 4)), 0.5)),
    ]


def _triplet_samples(rng):
    return [
        SampleInput((make_array(rng, (4, 3)), make_array(rng, (4, 3)), make_array(rng, (4, 3)))),
        SampleInput((make_array(rng, (4, 3)), make_array(rng, (4, 3)), make_array(rng, (4, 3))),
                    {"margin": 2.0, "p": 1, "swap": True, "reduction": "none"}),
        SampleInput((make_array(rng, (3,)), make_array(rng, (3,)), make_array(rng, (3,)))),
    ]


def _multilabel_samples(rng):
    return [
        SampleInput((make_array(rng, (3, 4)), (rng.random((3, 4)) > 0.5).astype(np.float32))),
        SampleInput((make_array(rng, (3, 4)), (rng.random((3, 4)) > 0.5).astype(np.float32),
                     make_array(rng, (4,), positive=True)), {"reduction": "none"},
                    no_grad_args=(2,)),
    ]


def _multilabel(m, x, t, weight=None, **kwargs):
    return _F(m).multilabel_soft_margin_loss(x, t, weight=weight, **kwargs)


OP_INFOS = [
    OpInfo("cross_entropy", _loss("cross_entropy"), _cross_entropy_samples, gradgrad=True),
    OpInfo("cross_entropy_prob", _loss("cross_entropy"), _cross_entropy_prob_samples,
           gradgrad=True),
    OpInfo("nll_loss", _loss("nll_loss"), _nll_samples, gradgrad=True),
    OpInfo("mse_loss", _weighted_pair("mse_loss"), _pair_samples(weight=True), gradgrad=True),
    OpInfo("mse_loss_broadcast", _loss("mse_loss"), _broadcast_mse_samples),
    OpInfo("l1_loss", _weighted_pair("l1_loss"), _pair_samples(weight=True)),
    OpInfo("smooth_l1_loss", lambda m, a, b, **k: _F(m).smooth_l1_loss(a, b, beta=0.5, **k),
           _pair_samples()),
    OpInfo("smooth_l1_loss_beta0", lambda m, a, b, **k: _F(m).smooth_l1_loss(a, b, beta=0.0,
                                                                             **k),
           _pair_samples()),
    OpInfo("huber_loss", _weighted_pair("huber_loss"), _pair_samples(weight=True)),
    OpInfo("huber_loss_delta", lambda m, a, b, **k: _F(m).huber_loss(a, b, delta=0.7, **k),
           _pair_samples()),
    OpInfo("binary_cross_entropy", _loss("binary_cross_entropy"), _bce_samples),
    OpInfo("binary_cross_entropy_with_logits", _bce_logits, _bce_logits_samples),
    OpInfo("kl_div", _loss("kl_div"), _kl_samples),
    OpInfo("cosine_similarity", _loss("cosine_similarity"), _cosine_samples),
    OpInfo("pairwise_distance", _loss("pairwise_distance"), _pairwise_samples),
    OpInfo("margin_ranking_loss", _loss("margin_ranking_loss"), _margin_ranking_samples),
    OpInfo("hinge_embedding_loss", _loss("hinge_embedding_loss"), _hinge_samples),
    OpInfo("soft_margin_loss", _loss("soft_margin_loss"), _soft_margin_samples),
    OpInfo("cosine_embedding_loss", _loss("cosine_embedding_loss"), _cosine_embedding_samples),
    OpInfo("poisson_nll_loss", _loss("poisson_nll_loss"), _poisson_samples),
    OpInfo("gaussian_nll_loss", _loss("gaussian_nll_loss"), _gaussian_samples),
    OpInfo("triplet_margin_loss", _loss("triplet_margin_loss"), _triplet_samples),
    OpInfo("multilabel_soft_margin_loss", _multilabel, _multilabel_samples),
]
