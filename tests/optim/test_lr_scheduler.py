"""tessera.optim.lr_scheduler against torch.optim.lr_scheduler: the lr sequences are equal."""

import copy
import math
import warnings

import pytest

import tessera as ts
from tessera import optim
from tessera.optim import lr_scheduler

torch = pytest.importorskip("torch")

STEPS = 25


def _decay(epoch):
    return 0.95 ** epoch


def _half_every_3(epoch):
    return 0.5 ** (epoch // 3)


def _mul(epoch):
    return 0.9 if epoch % 2 else 1.0


def _optimizers(kind="SGD"):
    """A tessera optimizer and a torch one with the same two parameter groups."""
    def groups(lib):
        a = lib.zeros(2, requires_grad=True)
        b = lib.zeros(3, requires_grad=True)
        return [{"params": [a]}, {"params": [b], "lr": 0.05}]
    if kind == "SGD":
        return (optim.SGD(groups(ts), lr=0.1, momentum=0.9),
                torch.optim.SGD(groups(torch), lr=0.1, momentum=0.9))
    return optim.Adam(groups(ts), lr=0.1), torch.optim.Adam(groups(torch), lr=0.1)


def _momenta(opt):
    return [(g.get("momentum"), tuple(g["betas"]) if "betas" in g else None)
            for g in opt.param_groups]


CASES = [
    ("StepLR", lambda s, o: s.StepLR(o, step_size=3, gamma=0.5), "SGD"),
    ("MultiStepLR", lambda s, o: s.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3), "SGD"),
    ("ExponentialLR", lambda s, o: s.ExponentialLR(o, gamma=0.9), "SGD"),
    ("CosineAnnealingLR", lambda s, o: s.CosineAnnealingLR(o, T_max=7, eta_min=0.01), "SGD"),
    ("LinearLR", lambda s, o: s.LinearLR(o, start_factor=0.25, end_factor=0.9,
                                         total_iters=6), "SGD"),
    ("ConstantLR", lambda s, o: s.ConstantLR(o, factor=0.5, total_iters=4), "SGD"),
    ("PolynomialLR", lambda s, o: s.PolynomialLR(o, total_iters=10, power=2.0), "SGD"),
    ("LambdaLR", lambda s, o: s.LambdaLR(o, lr_lambda=_decay), "SGD"),
    ("LambdaLR-list", lambda s, o: s.LambdaLR(o, lr_lambda=[_decay, _half_every_3]), "SGD"),
    ("MultiplicativeLR", lambda s, o: s.MultiplicativeLR(o, lr_lambda=_mul), "SGD"),
    ("CosineAnnealingWarmRestarts",
     lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2, eta_min=0.001), "SGD"),
    ("CyclicLR-triangular2", lambda s, o: s.CyclicLR(o, base_lr=0.01, max_lr=0.1,
                                                     step_size_up=4, mode="triangular2"), "SGD"),
    ("CyclicLR-exp_range", lambda s, o: s.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.1,
                                                   step_size_up=3, step_size_down=5,
                                                   mode="exp_range", gamma=0.97), "Adam"),
    ("OneCycleLR-cos", lambda s, o: s.OneCycleLR(o, max_lr=0.5, total_steps=30), "SGD"),
    ("OneCycleLR-linear-adam", lambda s, o: s.OneCycleLR(o, max_lr=[0.5, 0.2], epochs=3,
                                                         steps_per_epoch=10,
                                                         anneal_strategy="linear"), "Adam"),
    ("OneCycleLR-three_phase", lambda s, o: s.OneCycleLR(o, max_lr=0.5, total_steps=30,
                                                         three_phase=True, pct_start=0.25,
                                                         div_factor=10.0), "Adam"),
    ("OneCycleLR-no-momentum", lambda s, o: s.OneCycleLR(o, max_lr=0.5, total_steps=30,
                                                         cycle_momentum=False), "SGD"),
    ("SequentialLR", lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.1, total_iters=5), s.ExponentialLR(o, gamma=0.9)],
        milestones=[5]), "SGD"),
    ("SequentialLR-three", lambda s, o: s.SequentialLR(
        o, [s.ConstantLR(o, factor=0.5, total_iters=3), s.CosineAnnealingLR(o, T_max=6),
            s.StepLR(o, step_size=2, gamma=0.5)], milestones=[4, 12]), "SGD"),
    ("ChainedScheduler", lambda s, o: s.ChainedScheduler(
        [s.ExponentialLR(o, gamma=0.95), s.StepLR(o, step_size=4, gamma=0.5)]), "SGD"),
    ("LinearLR+CosineAnnealingLR", lambda s, o: s.ChainedScheduler(
        [s.LinearLR(o, start_factor=0.5, total_iters=4),
         s.CosineAnnealingLR(o, T_max=10, eta_min=0.001)]), "SGD"),
]


@pytest.mark.parametrize("make,kind", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_lr_sequence_matches_torch(make, kind):
    opt, ref = _optimizers(kind)
    sched, ref_sched = make(lr_scheduler, opt), make(torch.optim.lr_scheduler, ref)
    lrs, ref_lrs = [sched.get_last_lr()], [ref_sched.get_last_lr()]
    momenta, ref_momenta = [_momenta(opt)], [_momenta(ref)]
    for _ in range(STEPS):
        opt.step()
        ref.step()
        sched.step()
        ref_sched.step()
        lrs.append(sched.get_last_lr())
        ref_lrs.append(ref_sched.get_last_lr())
        momenta.append(_momenta(opt))
        ref_momenta.append(_momenta(ref))
        assert [g["lr"] for g in opt.param_groups] == lrs[-1]
    flat, ref_flat = [lr for row in lrs for lr in row], [lr for row in ref_lrs for lr in row]
    assert flat == pytest.approx(ref_flat, rel=1e-12, abs=1e-15)
    assert momenta == ref_momenta


PLATEAU_METRICS = [1.0, 0.9, 0.95, 0.96, 0.97, 0.85, 0.9, 0.9, 0.9, 0.9, 0.91, 0.95, 0.84,
                   0.84, 0.8399, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9, 0.7, 0.71, 0.72, 0.73]


@pytest.mark.parametrize("kwargs", [
    {"patience": 2},
    {"mode": "min", "factor": 0.5, "patience": 1, "cooldown": 2, "min_lr": [0.02, 0.001],
     "threshold": 0.05},
    {"mode": "max", "factor": 0.3, "patience": 0, "threshold_mode": "abs", "threshold": 0.01,
     "min_lr": 0.005},
    {"mode": "max", "patience": 1, "threshold_mode": "rel", "eps": 0.05},
], ids=["default", "min-rel-cooldown", "max-abs", "max-rel-eps"])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    opt, ref = _optimizers()
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    ref_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(ref, **kwargs)
    for metric in PLATEAU_METRICS:
        sched.step(ts.tensor(metric) if metric == 0.9 else metric)
        ref_sched.step(metric)
        assert sched.get_last_lr() == pytest.approx(ref_sched.get_last_lr(), rel=1e-12)
        assert sched.num_bad_epochs == ref_sched.num_bad_epochs
    assert sched.last_epoch == ref_sched.last_epoch == len(PLATEAU_METRICS)


def test_closed_form_with_epoch_argument_matches_torch():
    opt, ref = _optimizers()
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    ref_sched = torch.optim.lr_scheduler.CosineAnnealingLR(ref, T_max=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in [3, 7, 2, 15]:
            sched.step(epoch)
            ref_sched.step(epoch)
            assert sched.get_last_lr() == pytest.approx(ref_sched.get_last_lr(), rel=1e-12)


ROUND_TRIP = [c for c in CASES if c[0] in ("StepLR", "CosineAnnealingLR", "LambdaLR",
                                           "OneCycleLR-linear-adam", "SequentialLR",
                                           "CosineAnnealingWarmRestarts", "CyclicLR-exp_range",
                                           "ChainedScheduler")]


@pytest.mark.parametrize("make,kind", [c[1:] for c in ROUND_TRIP], ids=[c[0] for c in ROUND_TRIP])
def test_state_dict_round_trip(make, kind):
    opt, _ = _optimizers(kind)
    sched = make(lr_scheduler, opt)
    for _ in range(8):
        opt.step()
        sched.step()
    saved_opt = copy.deepcopy(opt.state_dict())
    saved = copy.deepcopy(sched.state_dict())
    assert "optimizer" not in saved
    expected = []
    for _ in range(10):
        opt.step()
        sched.step()
        expected.append(sched.get_last_lr())

    opt2, _ = _optimizers(kind)
    sched2 = make(lr_scheduler, opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    resumed = []
    for _ in range(10):
        opt2.step()
        sched2.step()
        resumed.append(sched2.get_last_lr())
    assert resumed == expected


def test_state_dict_keys_match_torch():
    opt, ref = _optimizers()
    sched = lr_scheduler.StepLR(opt, step_size=3)
    ref_sched = torch.optim.lr_scheduler.StepLR(ref, step_size=3)
    assert set(sched.state_dict()) == set(ref_sched.state_dict())
    assert sched.state_dict()["base_lrs"] == ref_sched.state_dict()["base_lrs"]
    assert opt.param_groups[1]["initial_lr"] == 0.05


def test_reduce_lr_on_plateau_round_trip():
    opt, _ = _optimizers()
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=1)
    for metric in PLATEAU_METRICS[:10]:
        sched.step(metric)
    saved, saved_opt = copy.deepcopy(sched.state_dict()), copy.deepcopy(opt.state_dict())
    expected = []
    for metric in PLATEAU_METRICS[10:]:
        sched.step(metric)
        expected.append(sched.get_last_lr())
    opt2, _ = _optimizers()
    sched2 = lr_scheduler.ReduceLROnPlateau(opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    resumed = []
    for metric in PLATEAU_METRICS[10:]:
        sched2.step(metric)
        resumed.append(sched2.get_last_lr())
    assert resumed == expected


def test_warns_when_scheduler_steps_before_optimizer():
    opt, _ = _optimizers()
    sched = lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()


def test_bad_arguments_raise_clear_errors():
    opt, _ = _optimizers()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=2)
    with pytest.raises(ValueError, match="LinearLR: starting multiplicative factor"):
        lr_scheduler.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="factor should be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="total_steps OR"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="expected 2 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, lr_lambda=[_decay])
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(_optimizers()[0], step_size=2, last_epoch=3)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=2)
    opt.step()
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="tried to step 3 times"):
        sched.step()
    assert math.isfinite(opt.param_groups[0]["lr"])
