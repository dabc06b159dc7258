"""ts.compile: the API, guards and recompiles, fallbacks, autograd through a replay."""

import warnings

import numpy as np
import pytest
import torch

import tessera as ts
from tessera import nn
from tessera.testing import assert_close


def _replays(compiled):
    """How many graphs a compiled function (or module) holds."""
    compiled = getattr(compiled, "_compiled_forward", compiled)
    return len(compiled.graphs())


def _calls(fn, *args, n=3, **kwargs):
    """Call ``fn`` n times, returning the results and the warnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [fn(*args, **kwargs) for _ in range(n)]
    return results, [str(w.message) for w in caught]


# -- the API ---------------------------------------------------------------------------

def test_decorator_with_and_without_arguments():
    @ts.compile
    def f(x):
        return x * 2

    @ts.compile(fullgraph=True, mode="reduce-overhead")
    def g(x):
        return x + 1

    x = ts.ones(3)
    for _ in range(2):
        assert f(x).tolist() == [2.0] * 3
        assert g(x).tolist() == [2.0] * 3
    assert f.__name__ == "f" and _replays(f) == 1


def test_torch_names_are_accepted_and_unknown_ones_rejected():
    fn = lambda x: x  # noqa: E731
    for backend in ("inductor", "eager", "aot_eager", "cudagraphs"):
        ts.compile(fn, backend=backend)
    for mode in ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"):
        ts.compile(fn, mode=mode)
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        ts.compile(fn, backend="nope")
    with pytest.raises(ValueError, match="unknown mode 'fast'"):
        ts.compile(fn, mode="fast")
    with pytest.raises(ValueError, match="custom backends"):
        ts.compile(fn, backend=lambda gm, inputs: gm)
    with pytest.raises(RuntimeError, match="Either mode or options"):
        ts.compile(fn, mode="default", options={})
    with pytest.raises(TypeError, match="expected a function or an nn.Module"):
        ts.compile(3)
    assert ts.compile(fn, disable=True) is fn


def test_the_signature_is_torch_compile_s():
    import inspect
    ours = inspect.signature(ts.compile).parameters
    theirs = inspect.signature(torch.compile).parameters
    assert list(ours) == list(theirs)
    assert all(ours[k].default == theirs[k].default for k in ours)


def test_compiled_module_shares_state_and_forwards_modes_and_hooks():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))
    compiled = ts.compile(model)
    assert isinstance(compiled, ts.compiler.OptimizedModule) and compiled._orig_mod is model
    assert list(compiled.state_dict()) == list(model.state_dict())
    assert list(compiled.parameters())[0] is model[0].weight
    compiled.eval()
    assert not model.training and not model[2].training and not compiled.training
    compiled.train()
    assert model[2].training
    seen = []
    model.register_forward_hook(lambda module, args, out: seen.append(module is model))
    x = ts.randn(3, 4)
    for _ in range(3):
        ts.manual_seed(5)
        out = compiled(x)
    ts.manual_seed(5)
    assert_close(out, model(x))
    assert seen == [True] * 4
    state = {k: v * 0 for k, v in model.state_dict().items()}
    compiled.load_state_dict(state)
    assert float(model[0].weight.abs().sum()) == 0.0


def test_module_compile_compiles_forward_in_place():
    model = nn.Linear(3, 2)
    assert model.compile() is None  # in place, as PyTorch's Module.compile
    x = ts.randn(4, 3)
    for _ in range(2):
        out = model(x)
    assert out.grad_fn.name() == "CompiledFunctionBackward"
    assert_close(out, x @ model.weight.T + model.bias)


# -- guards ----------------------------------------------------------------------------

def test_a_new_input_shape_or_dtype_traces_again():
    f = ts.compile(lambda x: (x * x).sum(0))
    for shape in [(2, 3), (2, 3), (4, 3), (2, 3)]:
        x = ts.randn(*shape)
        assert_close(f(x), (x * x).sum(0))
    assert _replays(f) == 2
    x = ts.randn(2, 3, dtype=ts.float64)
    assert f(x).dtype is ts.float64 and _replays(f) == 3


def test_train_eval_and_no_grad_are_guarded():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    compiled = ts.compile(model)
    x = ts.randn(8, 4)
    ts.manual_seed(0)
    train = [compiled(x) for _ in range(3)]
    assert train[-1].grad_fn.name() == "CompiledFunctionBackward"
    assert not np.array_equal(train[1].detach().numpy(), train[2].detach().numpy())
    compiled.eval()
    for _ in range(2):
        assert_close(compiled(x), model(x))
    with ts.no_grad():
        for _ in range(2):
            out = compiled(x)
    assert not out.requires_grad and out.grad_fn is None
    assert _replays(compiled) == 3


def test_a_replaced_parameter_is_seen():
    model = nn.Linear(3, 2)
    compiled = ts.compile(model)
    x = ts.randn(4, 3)
    compiled(x), compiled(x)
    model.weight = nn.Parameter(ts.zeros(2, 3))
    for _ in range(2):
        assert_close(compiled(x), model.bias.expand(4, 2))
    model.weight.requires_grad_(False)
    for _ in range(2):
        out = compiled(x)
        out.sum().backward()
    assert model.weight.grad is None and model.bias.grad is not None


def test_parameters_updated_in_place_or_rebound_are_read_at_each_call():
    w = ts.ones(3)
    f = ts.compile(lambda x: x * w)
    x = ts.ones(3)
    f(x), f(x)
    w._data += 1                  # an in-place update, as the optimizers make
    assert f(x).tolist() == [2.0] * 3
    w._data = np.full(3, 5.0, np.float32)  # a rebound array
    assert f(x).tolist() == [5.0] * 3


def test_non_tensor_arguments_are_constants_of_the_key():
    f = ts.compile(lambda x, dim, scale=1.0: (x * scale).sum(dim))
    x = ts.randn(3, 4)
    for dim, scale in [(0, 1.0), (1, 1.0), (0, 2.0), (0, 1.0), (1, 1.0)]:
        assert_close(f(x, dim, scale=scale), (x * scale).sum(dim))
    assert _replays(f) == 3
    for scale in (np.float32(2.0), np.float32(3.0), np.float32(2.0)):  # by value, not id
        assert_close(f(x, 0, scale=scale), (x * scale).sum(0))


def test_the_recompile_limit_falls_back_to_eager_with_one_warning():
    f = ts.compile(lambda x: x + 1, recompile_limit=2)
    results, messages = _calls(lambda: [f(ts.ones(n)) for n in range(1, 6)], n=2)
    assert all(r.tolist() == [2.0] * r.shape[0] for r in results[-1])
    assert len(messages) == 1 and "recompile_limit (2)" in messages[0]


# -- fallbacks ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda x: x * x.sum().item(),                  # a value read into Python
    lambda x: x + ts.randn(3),                      # a random factory inside
    lambda x: x * 2 if x.sum() > 0 else x * 3,     # a branch on data
    lambda x: x * ts.tensor(x._data > 0),           # a mask made outside the operators
])
def test_data_dependent_functions_run_eagerly_with_one_warning(fn):
    f = ts.compile(fn)
    for _ in range(3):
        x = ts.randn(3)
        ts.manual_seed(1)
        _, messages = _calls(f, x, n=1)
        ts.manual_seed(1)
        expected = fn(x)
        ts.manual_seed(1)
        assert_close(f(x), expected)
    f2 = ts.compile(fn)
    _, messages = _calls(f2, ts.randn(3), n=4)
    assert len(messages) == 1 and "runs eagerly" in messages[0]
    assert _replays(f2) == 0


@pytest.mark.parametrize("fn", [
    lambda x: x * (x > 0),                                  # a mask made by an operator
    lambda x: x * ((x > -0.5) & ~x.isnan()).float(),
    lambda x: (x.sum(1) * x.argmax(1)).sum() + x.max(0).values * x.max(0).indices,
    lambda x: x * x.any(1, keepdim=True) + x.sign() + x.floor() + x.round(),
    lambda x: x.sort(1).values * x.topk(2, dim=1).indices.sum() + x.argsort(0),
    lambda x: ts.nn.functional.one_hot(x.argmax(1), 4) * x,
    lambda x: x[x > 0].sum() + x.nonzero().sum() + x.relu().long().clamp(0, 1).sum(),
])
def test_functions_with_index_and_mask_operators_replay_on_new_values(fn):
    f = ts.compile(fn)
    for _ in range(5):
        x = ts.randn(3, 4)
        results, messages = _calls(f, x, n=1)
        assert not messages
        assert_close(results[0], fn(x))
    assert _replays(f) == 1


def test_fullgraph_raises_instead():
    f = ts.compile(lambda x: x * x.sum().item(), fullgraph=True)
    with pytest.raises(RuntimeError, match="fullgraph=True.*item"):
        f(ts.randn(3))


# -- what a replay computes --------------------------------------------------------------

def test_in_place_operations_inside_are_replayed():
    def f(x, y):
        z = x * 2
        z += y                  # in place on an intermediate
        z = nn.functional.relu(z, inplace=True)
        w = z * 1.0
        w[:, 0] = 5.0           # setitem while recording gradients
        return (w * z).sum()

    compiled = ts.compile(f)
    y = ts.randn(3, 4)
    for _ in range(3):
        x = ts.randn(3, 4, requires_grad=True)
        out = compiled(x, y)
        (gx,) = ts.autograd.grad(out, x)
        (ex,) = ts.autograd.grad(f(x, y), x)
        assert_close(out, f(x, y))
        assert_close(gx, ex)
    assert _replays(compiled) == 1


def test_in_place_writes_that_cannot_be_replayed_fall_back():
    def writes_input(x):
        x.mul_(2)
        return x + 1

    def writes_without_grad(x):
        z = x * 1.0
        z[0] = 0.0          # no gradient recorded: a write on the array itself
        return z

    for fn in (writes_input, writes_without_grad):
        f = ts.compile(fn)
        x = ts.ones(3)
        _, messages = _calls(f, x, n=2)
        assert len(messages) == 1
        assert x.tolist() == ([4.0] * 3 if fn is writes_input else [1.0] * 3)


def test_multiple_outputs_keep_their_structure():
    def f(x, y):
        return {"sum": x + y, "parts": [x * y, (x - y).sum()], "n": 3, "x": x}

    compiled = ts.compile(f)
    x, y = ts.randn(2, 3, requires_grad=True), ts.randn(2, 3)
    for _ in range(3):
        out = compiled(x, y)
    ref = f(x, y)
    assert out["n"] == 3 and out["x"] is x
    assert_close(out["sum"], ref["sum"])
    assert_close(out["parts"][0], ref["parts"][0])
    assert_close(out["parts"][1], ref["parts"][1])
    (out["sum"].sum() + out["parts"][1]).backward()
    gx = x.grad.clone()
    x.grad = None
    (ref["sum"].sum() + ref["parts"][1]).backward()
    assert_close(gx, x.grad)
    tup = ts.compile(lambda a: (a.sin(), a.cos()))
    for _ in range(2):
        s, c = tup(x)
    assert_close(s, x.sin())
    assert_close(c, x.cos())


def test_gradients_match_eager_and_pytorch():
    def gelu(lib, x, w):
        # a composite GELU (tanh form) from primitives, then a matrix product
        h = x @ w
        return 0.5 * h * (1 + lib.tanh(0.7978845608 * (h + 0.044715 * h ** 3)))

    compiled = ts.compile(lambda x, w: gelu(ts, x, w))
    rng = np.random.default_rng(0)
    for _ in range(3):
        xa, wa = rng.standard_normal((4, 5)), rng.standard_normal((5, 3))
        x = ts.tensor(xa, dtype=ts.float64, requires_grad=True)
        w = ts.tensor(wa, dtype=ts.float64, requires_grad=True)
        out = compiled(x, w)
        g = ts.randn(4, 3, dtype=ts.float64)
        gx, gw = ts.autograd.grad(out, (x, w), g)
        tx = torch.tensor(xa, requires_grad=True)
        tw = torch.tensor(wa, requires_grad=True)
        tout = gelu(torch, tx, tw)
        tgx, tgw = torch.autograd.grad(tout, (tx, tw), torch.tensor(g.numpy()))
        assert_close(out, tout.detach().numpy())
        assert_close(gx, tgx.numpy())
        assert_close(gw, tgw.numpy())


def test_second_order_gradients_through_a_replay():
    def f(x):
        return (x.tanh() * x ** 2).sum()

    compiled = ts.compile(f)
    for _ in range(3):
        x = ts.randn(5, dtype=ts.float64, requires_grad=True)
        (g,) = ts.autograd.grad(compiled(x), x, create_graph=True)
        (gg,) = ts.autograd.grad((g * g).sum(), x)
        (eg,) = ts.autograd.grad(f(x), x, create_graph=True)
        (egg,) = ts.autograd.grad((eg * eg).sum(), x)
        assert_close(g, eg)
        assert_close(gg, egg)
    assert ts.autograd.gradgradcheck(compiled, (ts.randn(4, dtype=ts.float64,
                                                         requires_grad=True),))


def test_backward_twice_needs_retain_graph():
    f = ts.compile(lambda x: (x.exp() * x).sum())
    x = ts.randn(3, requires_grad=True)
    f(x)
    out = f(x)
    (g1,) = ts.autograd.grad(out, x, retain_graph=True)
    (g2,) = ts.autograd.grad(out, x)
    assert_close(g1, g2)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        ts.autograd.grad(out, x)


def test_a_modified_input_is_caught_at_backward():
    f = ts.compile(lambda x, w: (x * w).sum())
    x, w = ts.randn(3), ts.randn(3, requires_grad=True)
    f(x, w)
    out = f(x, w)
    x.add_(1)  # Mul saved x for the gradient of w
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_dropout_is_redrawn_at_each_replay_with_the_seed_of_eager():
    def f(x):
        return nn.functional.dropout(x, 0.5, training=True) * 2

    compiled = ts.compile(f)
    x = ts.randn(64)
    ts.manual_seed(3)
    ours = [compiled(x).tolist() for _ in range(4)]
    ts.manual_seed(3)
    eager = [f(x).tolist() for _ in range(4)]
    assert ours == eager
    assert ours[2] != ours[3]


def test_a_compiled_function_called_inside_another_is_inlined():
    inner = ts.compile(lambda x: x * 3)
    outer = ts.compile(lambda x: inner(x) + 1)
    x = ts.ones(2)
    for _ in range(3):
        assert outer(x).tolist() == [4.0, 4.0]
    assert ts.compiler.trace(lambda x: inner(x) + 1, x).op_names() == ["Mul", "Add"]


# -- backward captured as arrays ---------------------------------------------------------

def _plan(compiled):
    return next(e for e in compiled._cache.values() if hasattr(e, "plan")).plan


def test_backward_programs_are_captured_checked_then_used_alone():
    def f(x, w, b):
        return ((x * w + b).tanh() * 2.0).sum()

    compiled = ts.compile(f)
    for _ in range(6):
        x, w, b = (ts.randn(*s, requires_grad=True) for s in ((4, 5), (4, 5), (5,)))
        grads = ts.autograd.grad(compiled(x, w, b), (x, w, b))
        for g, e in zip(grads, ts.autograd.grad(f(x, w, b), (x, w, b))):
            assert_close(g, e)
    plan = _plan(compiled)
    assert all(p.verified for p in plan.programs) and plan.merged is not None
    assert plan.merged.plan.graph.op_names() == ["Expand", "Mul", "TanhBackward", "Sum",
                                                 "Mul", "Mul"]


class _SignedScale(ts.autograd.function.Function):
    """x * 2 where the sum of x is positive, else x * 3: a backward that branches on an
    attribute set from the data in forward."""

    def forward(self, x):
        self.positive = bool(x.sum() > 0)
        return x * (2 if self.positive else 3)

    def backward(self, g):
        return g * (2.0 if self.positive else 3.0)


class _BakedMask(ts.autograd.function.Function):
    """x * (x > 0), whose backward copies its mask into a new array by item assignment,
    which a trace cannot tell from a constant."""

    def forward(self, x):
        self.mask = (x > 0).astype(x.dtype)
        return x * self.mask

    def backward(self, g):
        mask = np.empty_like(self.mask)
        mask[...] = self.mask
        return g * ts.autograd.function._make_tensor(mask)


@pytest.mark.parametrize("op", [_SignedScale, _BakedMask])
def test_backward_programs_fall_back_where_they_would_be_wrong(op):
    def f(x):
        return (op.apply(x * 1.0) * 1.0).sum()

    compiled = ts.compile(f)
    for i in range(6):
        x = ts.randn(6, requires_grad=True) * (1 if i % 2 else -1) + (2 if i % 3 else -2)
        x = x.detach().requires_grad_()
        (g,) = ts.autograd.grad(compiled(x), x)
        (e,) = ts.autograd.grad(f(x), x)
        assert_close(g, e)


def test_a_modified_saved_tensor_is_caught_by_a_backward_program():
    f = ts.compile(lambda x, w: (x * w).sum())
    w = ts.randn(3, requires_grad=True)
    for _ in range(4):
        f(ts.randn(3), w).backward()
    assert _plan(f).merged is not None
    x = ts.randn(3)
    out = f(x, w)
    x.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()
