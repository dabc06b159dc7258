"""Every layer against the same torch layer with the same weights: forward, input and
parameter gradients, buffers after the call (running statistics), and repr."""

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
import torch

import tessera as ts
from tessera import nn
from tessera.testing import assert_close

from nn_helpers import compare_modules, load_from_torch


@dataclasses.dataclass
class Case:
    id: str
    build: Callable          # build(lib_nn, to_tensor) -> module
    inputs: Callable         # inputs(rng) -> list of arrays / values
    modes: tuple = ("train",)
    kwargs: dict = dataclasses.field(default_factory=dict)
    rtol: float = 1e-5
    atol: float = 1e-6
    grad_inputs: object = True     # True, False or the indices of inputs that need grad


def f32(rng, *shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, shape).astype(np.float32)


def ints(rng, high, *shape):
    return rng.integers(0, high, shape).astype(np.int64)


def log_probs(rng, *shape):
    x = rng.standard_normal(shape)
    return (x - np.log(np.exp(x).sum(1, keepdims=True))).astype(np.float32)


def probs(rng, *shape):
    return rng.uniform(0.05, 0.95, shape).astype(np.float32)


def _x(*shape):
    return lambda rng: [f32(rng, *shape)]


CASES = [
    # -- linear and shape -------------------------------------------------------------------
    Case("Linear", lambda n, T: n.Linear(4, 3), _x(2, 4)),
    Case("Linear_nobias_3d", lambda n, T: n.Linear(4, 3, bias=False), _x(2, 5, 4)),
    Case("Linear_1d", lambda n, T: n.Linear(4, 3), _x(4)),
    Case("Bilinear", lambda n, T: n.Bilinear(3, 4, 2), lambda r: [f32(r, 5, 3), f32(r, 5, 4)]),
    Case("Identity", lambda n, T: n.Identity(7, key=1), _x(2, 3)),
    Case("Flatten", lambda n, T: n.Flatten(), _x(2, 3, 4)),
    Case("Flatten_0_1", lambda n, T: n.Flatten(0, 1), _x(2, 3, 4)),
    Case("Unflatten", lambda n, T: n.Unflatten(1, (2, 3)), _x(4, 6)),
    # -- convolution ------------------------------------------------------------------------
    Case("Conv1d", lambda n, T: n.Conv1d(2, 4, 3), _x(2, 2, 7)),
    Case("Conv1d_strided", lambda n, T: n.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2,
                                                 groups=2), _x(2, 4, 9)),
    Case("Conv1d_same_reflect", lambda n, T: n.Conv1d(2, 3, 4, padding="same",
                                                      padding_mode="reflect"), _x(2, 2, 8)),
    Case("Conv2d", lambda n, T: n.Conv2d(3, 4, 3, padding=1), _x(2, 3, 5, 5)),
    Case("Conv2d_rect", lambda n, T: n.Conv2d(4, 4, (3, 2), stride=(2, 1), groups=4,
                                              bias=False), _x(2, 4, 6, 5)),
    Case("Conv2d_circular", lambda n, T: n.Conv2d(2, 2, 3, padding=1, padding_mode="circular"),
         _x(1, 2, 4, 5)),
    Case("Conv2d_replicate_valid", lambda n, T: n.Conv2d(2, 2, 3, padding=(1, 2),
                                                         padding_mode="replicate"),
         _x(1, 2, 4, 5)),
    Case("Conv2d_unbatched", lambda n, T: n.Conv2d(2, 3, 2), _x(2, 4, 4)),
    Case("ConvTranspose1d", lambda n, T: n.ConvTranspose1d(3, 2, 3, stride=2, padding=1,
                                                           output_padding=1), _x(2, 3, 5)),
    Case("ConvTranspose2d", lambda n, T: n.ConvTranspose2d(4, 2, 3, stride=2, groups=2,
                                                           dilation=1), _x(1, 4, 3, 3)),
    Case("ConvTranspose2d_output_size", lambda n, T: n.ConvTranspose2d(2, 3, 3, stride=2,
                                                                       padding=1),
         _x(1, 2, 3, 3), kwargs={"output_size": [6, 6]}),
    # -- pooling ----------------------------------------------------------------------------
    Case("MaxPool1d", lambda n, T: n.MaxPool1d(3, stride=2, padding=1), _x(2, 3, 9)),
    Case("MaxPool2d", lambda n, T: n.MaxPool2d(2), _x(2, 3, 6, 6)),
    Case("MaxPool2d_ceil_dilation", lambda n, T: n.MaxPool2d(3, 2, padding=1, dilation=1,
                                                             ceil_mode=True), _x(1, 2, 6, 7)),
    Case("MaxPool2d_indices", lambda n, T: n.MaxPool2d(2, return_indices=True), _x(1, 2, 4, 4)),
    Case("AvgPool1d", lambda n, T: n.AvgPool1d(3, 2, padding=1, count_include_pad=False),
         _x(2, 3, 8)),
    Case("AvgPool2d", lambda n, T: n.AvgPool2d(2), _x(2, 3, 6, 6)),
    Case("AvgPool2d_opts", lambda n, T: n.AvgPool2d(3, 2, padding=1, ceil_mode=True,
                                                    divisor_override=5), _x(1, 2, 7, 6)),
    Case("AdaptiveAvgPool1d", lambda n, T: n.AdaptiveAvgPool1d(3), _x(2, 3, 7)),
    Case("AdaptiveAvgPool2d", lambda n, T: n.AdaptiveAvgPool2d((2, None)), _x(2, 3, 5, 4)),
    Case("AdaptiveAvgPool2d_1", lambda n, T: n.AdaptiveAvgPool2d(1), _x(2, 3, 5, 4)),
    Case("AdaptiveMaxPool1d", lambda n, T: n.AdaptiveMaxPool1d(4), _x(2, 3, 9)),
    Case("AdaptiveMaxPool2d", lambda n, T: n.AdaptiveMaxPool2d((3, 2), return_indices=True),
         _x(1, 2, 7, 5)),
    Case("LPPool1d", lambda n, T: n.LPPool1d(2, 3, 2), _x(2, 3, 8)),
    Case("LPPool2d", lambda n, T: n.LPPool2d(1.5, 2), lambda r: [f32(r, 1, 2, 4, 4, low=0.1)]),
    Case("Upsample_nearest", lambda n, T: n.Upsample(scale_factor=2), _x(1, 2, 3, 3)),
    Case("Upsample_bilinear", lambda n, T: n.Upsample(size=(5, 4), mode="bilinear",
                                                      align_corners=True), _x(1, 2, 3, 3)),
    Case("Upsample_linear", lambda n, T: n.Upsample(scale_factor=1.5, mode="linear"),
         _x(1, 2, 4)),
    Case("Unfold", lambda n, T: n.Unfold((2, 3), dilation=(1, 2), padding=1, stride=2),
         _x(2, 3, 5, 6)),
    Case("Fold", lambda n, T: n.Fold((4, 5), 2, padding=(1, 0)), _x(2, 12, 20)),
    # -- normalisation ----------------------------------------------------------------------
    Case("BatchNorm1d", lambda n, T: n.BatchNorm1d(3), _x(4, 3), modes=("train", "eval")),
    Case("BatchNorm1d_3d", lambda n, T: n.BatchNorm1d(3, momentum=0.3), _x(4, 3, 5),
         modes=("train", "eval")),
    Case("BatchNorm2d", lambda n, T: n.BatchNorm2d(3), _x(2, 3, 4, 4), modes=("train", "eval")),
    Case("BatchNorm2d_cumulative", lambda n, T: n.BatchNorm2d(2, momentum=None),
         _x(2, 2, 3, 3)),
    Case("BatchNorm2d_no_stats", lambda n, T: n.BatchNorm2d(2, track_running_stats=False),
         _x(2, 2, 3, 3), modes=("train", "eval")),
    Case("BatchNorm1d_no_affine", lambda n, T: n.BatchNorm1d(3, affine=False), _x(5, 3),
         modes=("train", "eval")),
    Case("BatchNorm3d", lambda n, T: n.BatchNorm3d(2), _x(2, 2, 2, 3, 3),
         modes=("train", "eval")),
    Case("InstanceNorm3d", lambda n, T: n.InstanceNorm3d(2, affine=True), _x(2, 2, 2, 3, 3)),
    Case("InstanceNorm1d", lambda n, T: n.InstanceNorm1d(3), _x(2, 3, 6)),
    Case("InstanceNorm2d_affine_stats", lambda n, T: n.InstanceNorm2d(
        2, affine=True, track_running_stats=True), _x(2, 2, 3, 4), modes=("train", "eval")),
    Case("InstanceNorm2d_unbatched", lambda n, T: n.InstanceNorm2d(2), _x(2, 3, 4)),
    Case("LayerNorm", lambda n, T: n.LayerNorm(5), _x(2, 3, 5)),
    Case("LayerNorm_2d_nobias", lambda n, T: n.LayerNorm((3, 5), eps=1e-3, bias=False),
         _x(2, 3, 5)),
    Case("LayerNorm_no_affine", lambda n, T: n.LayerNorm([5], elementwise_affine=False),
         _x(4, 5)),
    Case("GroupNorm", lambda n, T: n.GroupNorm(2, 4), _x(2, 4, 3, 3)),
    Case("GroupNorm_no_affine", lambda n, T: n.GroupNorm(3, 6, affine=False), _x(2, 6, 5)),
    Case("RMSNorm", lambda n, T: n.RMSNorm(5), _x(2, 3, 5)),
    Case("RMSNorm_eps", lambda n, T: n.RMSNorm([3, 5], eps=1e-4), _x(2, 3, 5)),
    Case("LocalResponseNorm", lambda n, T: n.LocalResponseNorm(3), _x(2, 5, 3, 3)),
    # -- dropout: the identity with p=0 in training and with any p in eval --------------------
    Case("Dropout_p0", lambda n, T: n.Dropout(0.0), _x(3, 4)),
    Case("Dropout_eval", lambda n, T: n.Dropout(0.7).eval(), _x(3, 4)),
    Case("Dropout1d_eval", lambda n, T: n.Dropout1d(0.5).eval(), _x(2, 3, 4)),
    Case("Dropout2d_p0", lambda n, T: n.Dropout2d(0.0), _x(2, 3, 4, 4)),
    Case("AlphaDropout_eval", lambda n, T: n.AlphaDropout(0.3).eval(), _x(3, 4)),
    # -- embedding --------------------------------------------------------------------------
    Case("Embedding", lambda n, T: n.Embedding(10, 4), lambda r: [ints(r, 10, 2, 3)]),
    Case("Embedding_padding", lambda n, T: n.Embedding(6, 3, padding_idx=-1),
         lambda r: [np.array([[0, 5, 5], [2, 5, 1]])]),
    Case("Embedding_max_norm_freq", lambda n, T: n.Embedding(6, 3, max_norm=1.0,
                                                             scale_grad_by_freq=True),
         lambda r: [np.array([[0, 1, 1], [4, 5, 0]])]),
    Case("Embedding_pretrained", lambda n, T: n.Embedding.from_pretrained(
        T(np.arange(12, dtype=np.float32).reshape(4, 3)), freeze=False),
         lambda r: [ints(r, 4, 5)]),
    # -- activations ------------------------------------------------------------------------
    *[Case(f"act_{name}", (lambda a, k: lambda n, T: getattr(n, a)(**k))(name, kw), _x(3, 5))
      for name, kw in [("ReLU", {}), ("ReLU6", {}), ("LeakyReLU", {"negative_slope": 0.2}),
                       ("ELU", {"alpha": 0.5}), ("CELU", {"alpha": 1.5}), ("SELU", {}),
                       ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}),
                       ("Mish", {}), ("Sigmoid", {}), ("Tanh", {}), ("Softmax", {"dim": 1}),
                       ("LogSoftmax", {"dim": 0}), ("Softplus", {"beta": 2.0, "threshold": 1.5}),
                       ("Hardtanh", {"min_val": -0.5, "max_val": 1.0}), ("Hardswish", {}),
                       ("Hardsigmoid", {}), ("LogSigmoid", {}), ("Softsign", {}),
                       ("Tanhshrink", {}), ("Softmin", {"dim": 1}),
                       ("Hardshrink", {"lambd": 0.7}), ("Softshrink", {}),
                       ("Threshold", {"threshold": 0.3, "value": -1.0}), ("PReLU", {})]],
    Case("act_GLU", lambda n, T: n.GLU(), _x(3, 4)),
    Case("act_GLU_dim0", lambda n, T: n.GLU(0), _x(4, 3)),
    Case("act_PReLU_channels", lambda n, T: n.PReLU(3, init=0.1), _x(2, 3, 4)),
    Case("act_Softmax2d", lambda n, T: n.Softmax2d(), _x(2, 3, 2, 2)),
    Case("act_RReLU_eval", lambda n, T: n.RReLU().eval(), _x(3, 5)),
    # -- losses -----------------------------------------------------------------------------
    Case("CrossEntropyLoss", lambda n, T: n.CrossEntropyLoss(),
         lambda r: [f32(r, 4, 5), ints(r, 5, 4)]),
    Case("CrossEntropyLoss_opts", lambda n, T: n.CrossEntropyLoss(
        weight=T(np.array([1.0, 2.0, 0.5], np.float32)), ignore_index=1, label_smoothing=0.1),
         lambda r: [f32(r, 4, 3, 2), np.array([[0, 1], [2, 2], [1, 0], [2, 0]])]),
    Case("CrossEntropyLoss_probs", lambda n, T: n.CrossEntropyLoss(reduction="sum"),
         lambda r: [f32(r, 4, 3), probs(r, 4, 3)], grad_inputs=False),
    Case("NLLLoss", lambda n, T: n.NLLLoss(reduction="none"),
         lambda r: [log_probs(r, 4, 3), ints(r, 3, 4)]),
    Case("MSELoss", lambda n, T: n.MSELoss(), lambda r: [f32(r, 3, 4), f32(r, 3, 4)]),
    Case("L1Loss_sum", lambda n, T: n.L1Loss(reduction="sum"),
         lambda r: [f32(r, 3, 4), f32(r, 3, 4)]),
    Case("SmoothL1Loss", lambda n, T: n.SmoothL1Loss(beta=0.5),
         lambda r: [f32(r, 3, 4), f32(r, 3, 4)]),
    Case("HuberLoss", lambda n, T: n.HuberLoss(delta=0.7),
         lambda r: [f32(r, 3, 4), f32(r, 3, 4)]),
    Case("BCELoss", lambda n, T: n.BCELoss(weight=T(np.array([1.0, 0.5, 2.0], np.float32))),
         lambda r: [probs(r, 2, 3), probs(r, 2, 3)]),
    Case("BCEWithLogitsLoss", lambda n, T: n.BCEWithLogitsLoss(
        pos_weight=T(np.array([1.0, 3.0, 0.5], np.float32))),
         lambda r: [f32(r, 2, 3), probs(r, 2, 3)]),
    Case("KLDivLoss", lambda n, T: n.KLDivLoss(reduction="batchmean"),
         lambda r: [log_probs(r, 3, 4), probs(r, 3, 4)]),
    Case("KLDivLoss_log_target", lambda n, T: n.KLDivLoss(reduction="sum", log_target=True),
         lambda r: [log_probs(r, 3, 4), log_probs(r, 3, 4)]),
    Case("PoissonNLLLoss", lambda n, T: n.PoissonNLLLoss(),
         lambda r: [f32(r, 3, 4), probs(r, 3, 4)]),
    Case("GaussianNLLLoss", lambda n, T: n.GaussianNLLLoss(),
         lambda r: [f32(r, 3, 4), f32(r, 3, 4), probs(r, 3, 4)]),
    Case("HingeEmbeddingLoss", lambda n, T: n.HingeEmbeddingLoss(margin=0.5),
         lambda r: [f32(r, 3, 4), np.sign(f32(r, 3, 4))]),
    Case("SoftMarginLoss", lambda n, T: n.SoftMarginLoss(),
         lambda r: [f32(r, 3, 4), np.sign(f32(r, 3, 4))], grad_inputs=(0,)),
    Case("MultiLabelSoftMarginLoss", lambda n, T: n.MultiLabelSoftMarginLoss(),
         lambda r: [f32(r, 3, 4), (f32(r, 3, 4) > 0).astype(np.float32)]),
    Case("CosineEmbeddingLoss", lambda n, T: n.CosineEmbeddingLoss(margin=0.2),
         lambda r: [f32(r, 3, 4), f32(r, 3, 4), np.array([1.0, -1.0, 1.0], np.float32)]),
    Case("MarginRankingLoss", lambda n, T: n.MarginRankingLoss(margin=0.1),
         lambda r: [f32(r, 5), f32(r, 5), np.sign(f32(r, 5))]),
    Case("TripletMarginLoss", lambda n, T: n.TripletMarginLoss(margin=0.5, p=1.5),
         lambda r: [f32(r, 3, 4), f32(r, 3, 4), f32(r, 3, 4)]),
    Case("PairwiseDistance", lambda n, T: n.PairwiseDistance(p=3.0, keepdim=True),
         lambda r: [f32(r, 3, 4), f32(r, 3, 4)]),
    Case("CosineSimilarity", lambda n, T: n.CosineSimilarity(dim=0),
         lambda r: [f32(r, 3, 4), f32(r, 3, 4)]),
    # -- padding ----------------------------------------------------------------------------
    Case("ZeroPad2d", lambda n, T: n.ZeroPad2d((1, 0, 2, 1)), _x(1, 2, 3, 3)),
    Case("ConstantPad1d", lambda n, T: n.ConstantPad1d(2, 3.5), _x(2, 3, 4)),
    Case("ReflectionPad2d", lambda n, T: n.ReflectionPad2d(1), _x(1, 2, 3, 4)),
    Case("ReplicationPad1d", lambda n, T: n.ReplicationPad1d((2, 1)), _x(1, 2, 4)),
    Case("ReflectionPad3d", lambda n, T: n.ReflectionPad3d(1), _x(1, 1, 2, 3, 3)),
    Case("ZeroPad3d", lambda n, T: n.ZeroPad3d((1, 0, 0, 1, 1, 0)), _x(1, 1, 2, 2, 2)),
    Case("Dropout3d_p0", lambda n, T: n.Dropout3d(0.0), _x(1, 2, 2, 2, 2)),
    Case("TripletMarginWithDistanceLoss", lambda n, T: n.TripletMarginWithDistanceLoss(
        margin=0.5, swap=True), lambda r: [f32(r, 3, 4), f32(r, 3, 4), f32(r, 3, 4)]),
    Case("CircularPad2d", lambda n, T: n.CircularPad2d((1, 1, 0, 2)), _x(1, 1, 3, 3)),
]


def _perturb(th_module, rng):
    """Move torch's parameters and running statistics off their tidy initial values."""
    with torch.no_grad():
        for p in th_module.parameters():
            p.add_(torch.tensor(rng.normal(0, 0.2, tuple(p.shape)).astype(np.float32)))
        for name, b in th_module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.tensor(rng.normal(0, 0.5, tuple(b.shape)).astype(np.float32)))
            elif name.endswith("running_var"):
                b.copy_(torch.tensor(rng.uniform(0.5, 1.5, tuple(b.shape)).astype(np.float32)))


def _to_torch(a):
    return torch.tensor(a)


def _to_ts(a):
    return ts.tensor(a)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_layer_matches_torch(case):
    rng = np.random.default_rng(0)
    for mode in case.modes:
        torch.manual_seed(0)
        th_module = case.build(torch.nn, _to_torch)
        ts_module = case.build(nn, _to_ts)
        assert repr(ts_module) == repr(th_module)
        assert [(k, tuple(v.shape)) for k, v in ts_module.state_dict().items()] == \
            [(k, tuple(v.shape)) for k, v in th_module.state_dict().items()]
        _perturb(th_module, rng)
        load_from_torch(ts_module, th_module)
        ts_module.train(mode == "train" and ts_module.training)
        th_module.train(mode == "train" and th_module.training)
        inputs = case.inputs(rng)
        compare_modules(ts_module, th_module, inputs, case.kwargs, rtol=case.rtol,
                        atol=case.atol, grad_inputs=case.grad_inputs)
        th_state = th_module.state_dict()
        for k, v in ts_module.state_dict().items():  # running statistics after the call
            assert_close(v, th_state[k], rtol=1e-5, atol=1e-6, msg=k)


def test_batchnorm_running_stats_over_steps_and_eval():
    rng = np.random.default_rng(1)
    th = torch.nn.BatchNorm1d(3, momentum=None)
    tm = load_from_torch(nn.BatchNorm1d(3, momentum=None), th)
    for _ in range(3):
        x = f32(rng, 6, 3)
        th(torch.tensor(x))
        tm(ts.tensor(x))
    assert tm.num_batches_tracked.item() == 3
    for k, v in tm.state_dict().items():
        assert_close(v, th.state_dict()[k], rtol=1e-5, atol=1e-6, msg=k)
    x = f32(rng, 4, 3)
    assert_close(tm.eval()(ts.tensor(x)), th.eval()(torch.tensor(x)), rtol=1e-5, atol=1e-6)


def test_dropout_in_training_zeroes_and_scales():
    ts.manual_seed(0)
    x = ts.ones(1000)
    y = nn.Dropout(0.25)(x).numpy()
    kept = y != 0
    assert 0.65 < kept.mean() < 0.85
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    z = nn.Dropout2d(0.5)(ts.ones(4, 8, 3, 3)).numpy()
    assert set(np.unique(z.reshape(4, 8, -1).std(-1))) == {0.0}  # whole channels


def test_rrelu_in_training_draws_slopes_between_bounds():
    x = -ts.ones(2000)
    y = -nn.RReLU(0.1, 0.3)(x).numpy()
    assert 0.1 <= y.min() and y.max() <= 0.3 and abs(y.mean() - 0.2) < 0.01
    assert nn.RReLU()(ts.ones(3)).tolist() == [1.0, 1.0, 1.0]


def test_embedding_padding_row_gets_no_gradient():
    emb = nn.Embedding(5, 2, padding_idx=0)
    assert not emb.weight.numpy(force=True)[0].any()
    emb(ts.tensor([[0, 1, 0, 4]])).sum().backward()
    grad = emb.weight.grad.numpy()
    assert not grad[0].any() and grad[1].tolist() == [1.0, 1.0]
    frozen = nn.Embedding.from_pretrained(ts.ones(3, 2))
    assert not frozen.weight.requires_grad and repr(frozen) == "Embedding(3, 2)"
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(3, 2, padding_idx=3)


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv1d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(2, 2, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(ts.ones(2, 3))
    with pytest.raises(ValueError, match=r"num_channels \(5\) must be divisible"):
        nn.GroupNorm(2, 5)
    with pytest.raises(ValueError, match="requested an output size"):
        nn.ConvTranspose1d(2, 2, 3, stride=2)(ts.ones(1, 2, 4), output_size=[20])
    with pytest.raises(ValueError, match="max_val"):
        nn.Hardtanh(1.0, -1.0)


def test_dtype_conversion_of_layers():
    conv = nn.Conv2d(2, 3, 3).double()
    out = conv(ts.randn(1, 2, 5, 5, dtype=ts.float64))
    assert out.dtype == ts.float64
    lin = nn.Linear(3, 2, dtype=ts.float64)
    assert lin.weight.dtype == ts.float64 and lin(ts.ones(1, 3, dtype=ts.float64)).dtype == \
        ts.float64
