"""tessera.optim against torch.optim: trajectories, state_dict round trips, in-place updates."""

import copy
import tracemalloc

import numpy as np
import pytest

import tessera as ts
from tessera import optim
from tessera.backend import jit
from tessera.testing import assert_close

torch = pytest.importorskip("torch")

STEPS = 20
RTOL, ATOL = 1e-5, 1e-6


# -- the problem: a small broadcasting model whose gradients both autograds compute ------------

def _initial_values(dtype=np.float32):
    rng = np.random.default_rng(1)
    return {"W": rng.standard_normal((3, 4)).astype(dtype),
            "b": rng.standard_normal(4).astype(dtype),
            "s": np.array(1.3, dtype=dtype),       # a 0-d parameter
            "e": np.zeros((0, 3), dtype=dtype)}     # an empty one


_RNG = np.random.default_rng(2)
_X = _RNG.standard_normal((5, 3, 4)).astype(np.float32)
_Y = _RNG.standard_normal((5, 3, 4)).astype(np.float32)


def _loss(lib, params):
    W, b, s, e = params
    x = lib.tensor(_X.astype(W.detach().numpy().dtype))
    y = lib.tensor(_Y.astype(W.detach().numpy().dtype))
    pred = lib.tanh(x * W + b) * s
    return ((pred - y) ** 2).mean() + (W ** 2).sum() * 0.01 + e.sum()


def _ts_params(values):
    return [ts.tensor(values[k].copy(), requires_grad=True) for k in "Wbse"]


def _torch_params(values):
    return [torch.tensor(values[k].copy(), requires_grad=True) for k in "Wbse"]


def _ts_step(opt, params):
    opt.zero_grad()
    _loss(ts, params).backward()
    opt.step()


def _torch_step(opt, params):
    opt.zero_grad()
    _loss(torch, params).backward()
    opt.step()


def _assert_params_close(ts_params, torch_params, msg):
    for name, p, q in zip("Wbse", ts_params, torch_params):
        assert_close(p.detach(), q.detach(), rtol=RTOL, atol=ATOL, msg=f"{msg}, param {name}")


CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "dampening": 0.3, "weight_decay": 0.1,
             "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.9), "maximize": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.5, "maximize": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1, "maximize": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.1}),
    ("Adagrad", {"lr": 0.1, "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
    ("RAdam", {"lr": 0.01}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
]


def _case_id(case):
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_trajectory_matches_torch(case):
    name, kwargs = case
    values = _initial_values()
    tp, qp = _ts_params(values), _torch_params(values)
    opt = getattr(optim, name)(tp, **kwargs)
    ref = getattr(torch.optim, name)(qp, **kwargs)
    for i in range(STEPS):
        _ts_step(opt, tp)
        _torch_step(ref, qp)
        _assert_params_close(tp, qp, f"{name} step {i + 1}")
    for p in tp:
        assert p.dtype == ts.float32
        for value in opt.state[p].values():
            if isinstance(value, ts.Tensor):
                assert value.dtype == ts.float32, "state must stay float32"


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in ("Adam", "AdamW")],
                         ids=[_case_id(c) for c in CASES if c[0] in ("Adam", "AdamW")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_adam_update_is_the_numpy_update_bit_for_bit(case, dtype):
    # With numba, float32/float64 Adam(W) runs optim/_kernels.py (amsgrad keeps NumPy).
    name, kwargs = case

    def trajectory():
        tp = _ts_params(_initial_values(dtype))
        opt = getattr(optim, name)(tp, **kwargs)
        for _ in range(5):
            _ts_step(opt, tp)
        return [p.detach().numpy().copy() for p in tp] + \
            [v.numpy().copy() for p in tp for v in opt.state[p].values()
             if isinstance(v, ts.Tensor)]

    compiled = trajectory()
    with jit.disabled():
        numpy_path = trajectory()
    for a, b in zip(compiled, numpy_path, strict=True):
        np.testing.assert_array_equal(a, b)


def test_compiled_adam_takes_the_numpy_path_where_it_does_not_apply():
    # float16 and non-contiguous gradients: the NumPy update, the same result as float32's.
    results = []
    for dtype, strided in [(np.float32, False), (np.float16, False), (np.float32, True)]:
        p = ts.tensor(np.linspace(-1, 1, 12, dtype=dtype).reshape(3, 4), requires_grad=True)
        grad = np.linspace(2, -2, 24, dtype=dtype).reshape(3, 8)
        p.grad = ts.tensor(grad)[:, ::2] if strided else ts.tensor(grad[:, ::2])
        assert p.grad.numpy().flags.c_contiguous != strided
        opt = optim.Adam([p], lr=0.1)
        for _ in range(3):
            opt.step()
        results.append(p.detach().numpy().astype(np.float32))
    np.testing.assert_allclose(results[1], results[0], rtol=2e-3, atol=2e-3)
    np.testing.assert_array_equal(results[2], results[0])


def test_adam_updates_moments_held_in_strided_arrays():
    # A loaded state may hold non-contiguous moments; the update must still reach them.
    def param():
        q = ts.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)
        q.grad = ts.tensor(np.linspace(2, -2, 12, dtype=np.float32).reshape(3, 4))
        return q

    p, q = param(), param()
    opt, ref = optim.Adam([p], lr=0.1), optim.Adam([q], lr=0.1)
    opt.step()
    ref.step()
    for key in ("exp_avg", "exp_avg_sq"):
        strided = np.zeros((4, 3), np.float32).T     # (3, 4), Fortran-ordered
        strided[...] = opt.state[p][key].numpy()
        opt.state[p][key] = ts.tensor(strided)
        opt.state[p][key]._data = strided
    opt.step()
    ref.step()
    np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    for key in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_array_equal(opt.state[p][key].numpy(), ref.state[q][key].numpy())


def test_float64_parameters_keep_float64():
    values = _initial_values(np.float64)
    tp, qp = _ts_params(values), _torch_params(values)
    opt = optim.Adam(tp, lr=0.01, amsgrad=True)
    ref = torch.optim.Adam(qp, lr=0.01, amsgrad=True)
    for _ in range(5):
        _ts_step(opt, tp)
        _torch_step(ref, qp)
    _assert_params_close(tp, qp, "Adam float64")
    assert tp[0].dtype == ts.float64
    assert opt.state[tp[0]]["exp_avg"].dtype == ts.float64


def test_param_groups_match_torch():
    values = _initial_values()
    tp, qp = _ts_params(values), _torch_params(values)
    opt = optim.SGD([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.01, "momentum": 0.5}],
                    lr=0.1, momentum=0.9)
    ref = torch.optim.SGD([{"params": qp[:2]}, {"params": qp[2:], "lr": 0.01, "momentum": 0.5}],
                          lr=0.1, momentum=0.9)
    for _ in range(10):
        _ts_step(opt, tp)
        _torch_step(ref, qp)
    _assert_params_close(tp, qp, "SGD groups")
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]


# -- state_dict -----------------------------------------------------------------------------------

STATE_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1}),
    ("Adamax", {}),
    ("NAdam", {}),
    ("RAdam", {"lr": 0.01}),
]


def _to_tessera(obj):
    """A torch state_dict with its tensors converted to tessera tensors."""
    if isinstance(obj, torch.Tensor):
        return ts.tensor(obj.detach().numpy().copy())
    if isinstance(obj, dict):
        return {k: _to_tessera(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_tessera(v) for v in obj]
    return obj


@pytest.mark.parametrize("case", STATE_CASES, ids=[_case_id(c) for c in STATE_CASES])
def test_state_dict_matches_torch_layout(case):
    name, kwargs = case
    values = _initial_values()
    tp, qp = _ts_params(values), _torch_params(values)
    opt = getattr(optim, name)(tp, **kwargs)
    ref = getattr(torch.optim, name)(qp, **kwargs)
    assert opt.state_dict()["state"].keys() == ref.state_dict()["state"].keys()
    for _ in range(3):
        _ts_step(opt, tp)
        _torch_step(ref, qp)
    sd, ref_sd = opt.state_dict(), ref.state_dict()
    assert sd["param_groups"] == ref_sd["param_groups"]
    assert sd["state"].keys() == ref_sd["state"].keys()
    for index, ref_state in ref_sd["state"].items():
        state = sd["state"][index]
        assert list(state) == list(ref_state)
        for key, ref_value in ref_state.items():
            assert_close(state[key], ref_value, rtol=RTOL, atol=ATOL, msg=f"{name} {key}")


@pytest.mark.parametrize("case", STATE_CASES, ids=[_case_id(c) for c in STATE_CASES])
def test_state_dict_round_trip_continues_the_trajectory(case):
    name, kwargs = case
    values = _initial_values()
    full = _ts_params(values)
    full_opt = getattr(optim, name)(full, **kwargs)
    for _ in range(STEPS):
        _ts_step(full_opt, full)

    part = _ts_params(values)
    part_opt = getattr(optim, name)(part, **kwargs)
    for _ in range(STEPS // 2):
        _ts_step(part_opt, part)
    saved = copy.deepcopy(part_opt.state_dict())
    resumed = [ts.tensor(p.detach().numpy().copy(), requires_grad=True) for p in part]
    # Built with other options: the loaded param_groups must bring back the saved ones.
    resumed_opt = getattr(optim, name)(resumed, lr=123.0)
    resumed_opt.load_state_dict(saved)
    assert resumed_opt.param_groups[0]["lr"] == full_opt.param_groups[0]["lr"]
    for _ in range(STEPS - STEPS // 2):
        _ts_step(resumed_opt, resumed)
    for p, q in zip(resumed, full):
        assert_close(p.detach(), q.detach(), rtol=0, atol=0)


@pytest.mark.parametrize("case", STATE_CASES, ids=[_case_id(c) for c in STATE_CASES])
def test_loads_a_torch_state_dict(case):
    name, kwargs = case
    values = _initial_values()
    qp = _torch_params(values)
    ref = getattr(torch.optim, name)(qp, **kwargs)
    for _ in range(STEPS // 2):
        _torch_step(ref, qp)
    tp = [ts.tensor(q.detach().numpy().copy(), requires_grad=True) for q in qp]
    opt = getattr(optim, name)(tp, **kwargs)
    opt.load_state_dict(_to_tessera(ref.state_dict()))
    for i in range(STEPS - STEPS // 2):
        _ts_step(opt, tp)
        _torch_step(ref, qp)
        _assert_params_close(tp, qp, f"{name} after loading torch's state, step {i + 1}")


def test_step_is_a_float32_tensor_in_state_dict():
    p = ts.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([p])
    p.grad = ts.tensor([0.5, -0.5])
    opt.step()
    opt.step()
    step = opt.state_dict()["state"][0]["step"]
    assert isinstance(step, ts.Tensor) and step.dtype == ts.float32 and step.shape == ()
    assert step.item() == 2.0


def test_load_state_dict_rejects_mismatched_groups():
    a, b = ts.zeros(2, requires_grad=True), ts.zeros(3, requires_grad=True)
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)


# -- in place, no allocations ---------------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs", [("SGD", {"momentum": 0.9, "nesterov": True,
                                                  "weight_decay": 0.1}),
                                         ("Adam", {"amsgrad": True, "weight_decay": 0.1}),
                                         ("AdamW", {}),
                                         ("RMSprop", {"centered": True, "momentum": 0.9}),
                                         ("Adagrad", {"maximize": True}),
                                         ("Adamax", {}), ("NAdam", {}), ("RAdam", {})])
def test_step_updates_in_place_without_parameter_sized_temporaries(name, kwargs):
    n = 1 << 16
    p = ts.tensor(np.linspace(-1, 1, n, dtype=np.float32), requires_grad=True)
    p.grad = ts.tensor(np.linspace(1, -1, n, dtype=np.float32))
    opt = getattr(optim, name)([p], **kwargs)
    data, version = p._data, p._version[0]
    opt.step()  # the first step creates the state and the scratch buffers
    assert p._data is data
    assert p._version[0] == version + 1
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert p._data is data and p._version[0] == version + 2
    assert peak < data.nbytes // 4, f"{name}.step allocated {peak} bytes"


def test_step_runs_outside_autograd_and_saved_tensor_checks_see_it():
    p = ts.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    y = (p * p).sum()            # saves p for backward
    p.grad = ts.tensor([1.0, 1.0])
    opt.step()
    assert p.grad_fn is None and p.is_leaf
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


# -- the rest of the Optimizer API ----------------------------------------------------------------

def test_zero_grad():
    p = ts.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and p.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None


def test_closure_runs_with_grad_enabled():
    p = ts.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with ts.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0
    assert_close(p.detach(), ts.tensor([0.8, 1.6]))


def test_params_without_grad_are_skipped_and_named_params_recorded():
    a, b = ts.tensor([1.0], requires_grad=True), ts.tensor([2.0], requires_grad=True)
    opt = optim.Adam([("a", a), ("b", b)], lr=0.1)
    a.grad = ts.tensor([1.0])
    opt.step()
    assert b.tolist() == [2.0] and b not in opt.state
    assert opt.param_groups[0]["param_names"] == ["a", "b"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["a", "b"]


def test_add_param_group_fills_defaults():
    a, b = ts.zeros(1, requires_grad=True), ts.zeros(1, requires_grad=True)
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_hooks():
    p = ts.tensor([1.0], requires_grad=True)
    p.grad = ts.tensor([1.0])
    opt = optim.SGD([p], lr=0.1)
    calls = []
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    opt.step()
    assert calls == ["pre", "post"]
    pre.remove()
    opt.step()
    assert calls == ["pre", "post", "post"]
    assert opt.state_dict()["extra"] == 1


def test_bad_arguments_raise_clear_errors():
    p = ts.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="SGD: invalid learning rate: -1"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Adam: invalid beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.Adam([np.zeros(2)])
    with pytest.raises(TypeError, match="params should be an iterable"):
        optim.Adam(p)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.Adam([p * 2])
    with pytest.raises(ValueError, match="differentiable=True is not supported"):
        optim.Adam([p], differentiable=True)
    p.grad = ts.zeros(3)
    with pytest.raises(RuntimeError, match="gradient of shape"):
        optim.SGD([p], lr=0.1).step()


def test_repr_lists_the_groups():
    text = repr(optim.SGD([ts.zeros(1, requires_grad=True)], lr=0.1))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "lr: 0.1" in text


def test_a_new_rule_needs_only_init_state_and_update():
    class SignSGD(optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        def _init_state(self, p, state, group):
            state["step"] = 0

        def _update(self, p, g, state, group):
            state["step"] += 1
            tmp = self._scratch(p)
            np.sign(g, out=tmp)
            np.multiply(tmp, group["lr"], out=tmp)
            np.subtract(p, tmp, out=p)

    p = ts.tensor([1.0, -2.0, 0.5], requires_grad=True)
    opt = SignSGD([p], lr=0.25)
    for _ in range(2):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
    assert_close(p.detach(), ts.tensor([0.5, -1.5, 0.0]))
    assert opt.state_dict()["state"][0]["step"].item() == 2.0
