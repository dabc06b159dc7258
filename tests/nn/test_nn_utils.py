"""nn.utils: gradient clipping against PyTorch, parameter vectors, sequence padding."""

import math

import numpy as np
import pytest
import torch

import tessera as ts
from tessera import nn
from tessera.testing import assert_close


def _grads_pair(seed=0, shapes=((3, 4), (5,), (2, 2, 2))):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ts_params, th_params = [], []
    for a in arrays:
        p = nn.Parameter(ts.zeros(*a.shape))
        p.grad = ts.tensor(a * 3)
        q = torch.nn.Parameter(torch.zeros(*a.shape))
        q.grad = torch.tensor(a * 3)
        ts_params.append(p)
        th_params.append(q)
    return ts_params, th_params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ps, qs = _grads_pair()
    total = nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ref = torch.nn.utils.clip_grad_norm_(qs, max_norm, norm_type=norm_type)
    assert isinstance(total, ts.Tensor) and total.ndim == 0 and total.dtype == ts.float32
    assert_close(total, ref, rtol=1e-5)
    for p, q in zip(ps, qs):
        assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_single_tensor_skips_missing_grads_and_nonfinite():
    p = nn.Parameter(ts.zeros(2))
    p.grad = ts.tensor([3.0, 4.0])
    q = nn.Parameter(ts.zeros(2))  # no grad: ignored
    total = nn.utils.clip_grad_norm_([p, q], 1.0)
    assert abs(total.item() - 5.0) < 1e-6
    assert_close(p.grad, ts.tensor([0.6, 0.8]), rtol=1e-5)
    assert nn.utils.clip_grad_norm_(p, 10.0).item() == pytest.approx(1.0, rel=1e-5)
    p.grad = ts.tensor([math.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([], 1.0).item() == 0.0


def test_clip_grad_value_matches_torch():
    ps, qs = _grads_pair(seed=1)
    nn.utils.clip_grad_value_(ps, 0.7)
    torch.nn.utils.clip_grad_value_(qs, 0.7)
    for p, q in zip(ps, qs):
        assert_close(p.grad, q.grad)


def test_parameters_to_vector_and_back():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    vec = nn.utils.parameters_to_vector(model.parameters())
    assert vec.shape == (3 * 2 + 2 + 2 + 1,)
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    assert_close(vec, torch.nn.utils.parameters_to_vector(tmodel.parameters()))
    nn.utils.vector_to_parameters(ts.arange(11, dtype=ts.float32), model.parameters())
    assert model[0].weight.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert model[1].bias.tolist() == [10.0]
    assert isinstance(model[0].weight, nn.Parameter)
    with pytest.raises(TypeError, match="expected tessera.Tensor"):
        nn.utils.vector_to_parameters([1.0], model.parameters())


def test_pad_sequence_matches_torch():
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((n, 3)).astype(np.float32) for n in (4, 2, 3)]
    for batch_first in (False, True):
        for side in ("right", "left"):
            out = nn.utils.rnn.pad_sequence([ts.tensor(s) for s in seqs], batch_first, -1.0,
                                            side)
            ref = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first,
                                                  -1.0, side)
            assert_close(out, ref)
    back = nn.utils.rnn.unpad_sequence(out, ts.tensor([4, 2, 3]), batch_first=True)
    assert [tuple(b.shape) for b in back] == [(4, 3), (2, 3), (3, 3)]
