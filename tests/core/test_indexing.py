"""Indexing and linear algebra beyond what the OpInfo runner checks: setitem's in-place
semantics and autograd, views, error messages, embedding's options, double backward."""

import numpy as np
import pytest
import torch

import tessera as ts
from tessera.testing import assert_close


def _pair(array, requires_grad=False):
    return (ts.tensor(array, requires_grad=requires_grad),
            torch.tensor(array, requires_grad=requires_grad))


# -- setitem ------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value_shape", [
    (0, (4,)), (0, (1, 4)), ((slice(None), 1), (3,)), ([0, 2], (2, 4)),
    ((Ellipsis, [1, 3]), (1, 2)), ((1, slice(1, 3)), ()),
])
def test_setitem_gradients_match_torch(key, value_shape):
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((3, 4)).astype(np.float32)
    b_np = rng.standard_normal(value_shape).astype(np.float32)
    grads = []
    for lib in (ts, torch):
        a = lib.tensor(a_np, requires_grad=True)
        b = lib.tensor(b_np, requires_grad=True)
        x = a * 1
        x[key] = b
        (x * lib.tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4))).sum().backward()
        grads.append((x, a.grad, b.grad))
    (x, ga, gb), (tx, tga, tgb) = grads
    assert_close(x.detach(), tx.detach().numpy())
    assert_close(ga, tga.numpy())
    assert_close(gb, tgb.numpy())
    assert not x.is_leaf and x.requires_grad


def test_setitem_mask_and_number_gradients():
    a_np = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    out = []
    for lib in (ts, torch):
        a = lib.tensor(a_np, requires_grad=True)
        x = a * 2
        x[x > 0] = 0.5
        x.sum().backward()
        out.append((x.detach(), a.grad))
    assert_close(out[0][0], out[1][0].numpy())
    assert_close(out[0][1], out[1][1].numpy())


def test_setitem_into_leaf_that_does_not_require_grad():
    b = ts.tensor([1.0, 2.0], requires_grad=True)
    x = ts.zeros(3, 2)
    x[1] = b
    assert x.requires_grad and x.grad_fn is not None
    x.sum().backward()
    assert_close(b.grad, np.array([1.0, 1.0], np.float32))


def test_setitem_on_leaf_requiring_grad_raises():
    a = ts.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        a[0] = 2.0
    with ts.no_grad():
        a[0] = 2.0
    assert a.tolist() == [2.0, 1.0, 1.0]


def test_setitem_bumps_version_and_invalidates_saved_outputs():
    a = ts.tensor([0.5, 1.0], requires_grad=True)
    y = a.exp()
    version = y._version[0]
    y[0] = 1.0
    assert y._version[0] == version + 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_setitem_values_casts_and_broadcasts():
    x = ts.zeros(2, 3, dtype=ts.int64)
    x[0] = 2.7
    x[1, [0, 2]] = ts.tensor([5.0, 6.0])
    x[:, 1] = [7, 8]
    assert x.dtype is ts.int64
    assert x.tolist() == [[2, 7, 2], [5, 8, 6]]
    y = ts.zeros(2, 2)
    y[ts.tensor([[True, False], [False, True]])] = ts.tensor([1.0, 2.0])
    assert y.tolist() == [[1.0, 0.0], [0.0, 2.0]]


def test_setitem_shape_mismatch_message():
    x = ts.zeros(3, 4)
    with pytest.raises(RuntimeError, match=r"setitem: shape mismatch: value tensor of shape "
                                           r"\[3, 4\] cannot be broadcast to indexing result of "
                                           r"shape \[2, 4\]"):
        x[[0, 1]] = ts.ones(3, 4)
    with pytest.raises(RuntimeError, match=r"shape \[5\] .* shape \[4\]"):
        x[0] = ts.ones(5)


def test_setitem_overlapping_source():
    x = ts.arange(5)
    x[1:] = x[:-1]
    assert x.tolist() == [0, 0, 1, 2, 3]


# -- getitem: views, copies, errors -------------------------------------------------------------

def test_basic_index_is_a_view_and_advanced_a_copy():
    x = ts.zeros(3, 4)
    v = x[1:, ::2]
    v[0, 0] = 5.0
    assert x[1, 0].item() == 5.0
    assert v._base is x and v._version is x._version
    c = x[[0, 1]]
    c[0, 0] = 7.0
    assert x[0, 0].item() == 0.0
    d = x.diagonal()
    d[1] = 3.0
    assert x[1, 1].item() == 3.0


def test_getitem_gives_tensors_for_single_elements():
    x = ts.arange(6.0).reshape(2, 3)
    y = x[1, 2]
    assert isinstance(y, ts.Tensor) and y.shape == () and y.item() == 5.0
    assert x[ts.tensor(1)].shape == (3,)
    assert x[...].shape == (2, 3) and x[...] is not x


@pytest.mark.parametrize("key, error, message", [
    (5, IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
    ((slice(None), -5), IndexError, "index -5 is out of bounds for dimension 1 with size 4"),
    ((slice(None), [0, 4]), IndexError, "index 4 is out of bounds for dimension 1 with size 4"),
    ((0, 0, 0), IndexError, "too many indices for tensor of dimension 2"),
    (slice(None, None, -1), ValueError, "step must be greater than zero"),
    ("a", IndexError, "only integers, slices"),
    ((Ellipsis, Ellipsis), IndexError, "single ellipsis"),
])
def test_getitem_errors(key, error, message):
    x = ts.zeros(3, 4)
    with pytest.raises(error, match=message):
        x[key]


def test_getitem_index_tensor_errors():
    x = ts.zeros(3, 4)
    with pytest.raises(IndexError, match="long, int, byte or bool"):
        x[ts.tensor([0.5])]
    with pytest.raises(IndexError, match=r"the shape of the mask \[2\] at index 0 does not match"):
        x[ts.tensor([True, False])]


def test_getitem_list_of_sequences_is_a_tuple():
    x = ts.arange(24).reshape(2, 3, 4)
    assert x[[[0, 1], [1, 2]]].shape == (2, 4)          # read as x[[0, 1], [1, 2]]
    assert x[[0, 1]].shape == (2, 3, 4)
    assert x[np.array([[0, 1], [1, 0]])].shape == (2, 2, 3, 4)


def test_advanced_index_gradient_accumulates_repeats():
    for lib in (ts, torch):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
        x[[0, 2, 0, 0]].sum().backward()
        assert x.grad.tolist() == [[3.0, 3.0], [0.0, 0.0], [1.0, 1.0]]
        x.grad = None
        x[[0, 0], [1, 1]].sum().backward()
        assert x.grad.tolist() == [[0.0, 2.0], [0.0, 0.0], [0.0, 0.0]]


# -- gather / scatter / masks -------------------------------------------------------------------

def test_gather_and_scatter_errors():
    x = ts.zeros(3, 4)
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 0"):
        ts.gather(x, 0, ts.tensor([[5]]))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        ts.gather(x, 0, ts.tensor([1]))
    with pytest.raises(RuntimeError, match="int64 or int32"):
        ts.gather(x, 0, ts.tensor([[1.0]]))
    with pytest.raises(RuntimeError, match="src.dtype"):
        ts.scatter(x, 0, ts.tensor([[0]]), ts.ones(1, 1, dtype=ts.float64))
    with pytest.raises(RuntimeError, match="reduce argument"):
        ts.scatter(x, 0, ts.tensor([[0]]), 1.0, reduce="mean")


def test_scatter_with_reduce_has_no_gradient_as_in_torch():
    x = ts.ones(3, requires_grad=True)
    out = ts.scatter(x * 1, 0, ts.tensor([0, 0]), ts.ones(2), reduce="add")
    assert out.tolist() == [3.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="reduce= is not implemented"):
        out.sum().backward()


def test_inplace_methods_use_these_operators():
    x = ts.zeros(3)
    x.masked_fill_(ts.tensor([True, False, True]), 2.0)
    x.index_add_(0, ts.tensor([1, 1]), ts.tensor([1.0, 2.0]))
    x.scatter_(0, ts.tensor([2]), ts.tensor([9.0]))
    assert x.tolist() == [2.0, 3.0, 9.0]


def test_masked_fill_errors():
    x = ts.zeros(3)
    with pytest.raises(RuntimeError, match="boolean masks"):
        ts.masked_fill(x, ts.tensor([1, 0, 1]), 0.0)
    with pytest.raises(RuntimeError, match="0-dimensional value tensor"):
        ts.masked_fill(x, ts.tensor([True, False, True]), ts.tensor([1.0, 2.0]))


# -- sorting, one_hot ---------------------------------------------------------------------------

def test_sort_and_topk_return_named_tuples():
    x = ts.tensor([3.0, 1.0, 2.0])
    values, indices = ts.sort(x)
    assert ts.sort(x).values.tolist() == values.tolist() == [1.0, 2.0, 3.0]
    assert ts.sort(x).indices.tolist() == indices.tolist() == [1, 2, 0]
    top = x.topk(2)
    assert top.values.tolist() == [3.0, 2.0] and top.indices.tolist() == [0, 2]
    with pytest.raises(RuntimeError, match="k out of range"):
        x.topk(4)


@pytest.mark.parametrize("k, dim", [(3, 0), (7, 1), (20, 1)])  # argmax scans, partition
def test_topk_fast_paths_match_torch(k, dim):
    rng = np.random.default_rng(3)
    a, t = _pair(rng.standard_normal((40, 300)).astype(np.float32))
    for largest in (True, False):
        ours = ts.topk(a, k, dim=dim, largest=largest)
        ref = torch.topk(t, k, dim=dim, largest=largest)
        assert_close(ours.values, ref.values.numpy())
        assert_close(ours.indices, ref.indices.numpy())


def test_one_hot_errors():
    F = ts.nn.functional
    with pytest.raises(RuntimeError, match="LongTensor"):
        F.one_hot(ts.tensor([0, 1], dtype=ts.int32))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(ts.tensor([0, 2]), 2)
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(ts.tensor([0, -1]), 3)
    with pytest.raises(RuntimeError, match="empty tensor"):
        F.one_hot(ts.tensor([], dtype=ts.int64))


# -- embedding ----------------------------------------------------------------------------------

@pytest.mark.parametrize("vocab, tokens", [(10, 7), (2000, 300)])  # one-hot GEMM and add.at paths
def test_embedding_backward_matches_torch(vocab, tokens):
    rng = np.random.default_rng(0)
    w_np = rng.standard_normal((vocab, 8)).astype(np.float32)
    idx = rng.integers(0, vocab, (tokens,))
    cot = rng.standard_normal((tokens, 8)).astype(np.float32)
    grads = []
    for lib in (ts, torch):
        w = lib.tensor(w_np, requires_grad=True)
        out = lib.nn.functional.embedding(lib.tensor(idx), w, padding_idx=1,
                                          scale_grad_by_freq=True)
        (out * lib.tensor(cot)).sum().backward()
        grads.append(w.grad)
    assert_close(grads[0], grads[1].numpy(), rtol=1e-5, atol=1e-5)
    assert not np.any(grads[0]._data[1])


def test_wide_row_accumulation_with_heavy_repeats_matches_torch():
    # Rows of width >= 128 take the grouped path; a token repeated 100 times overflows its
    # groups into np.add.at.
    rng = np.random.default_rng(4)
    idx = np.concatenate([rng.integers(0, 300, 300), np.full(100, 3)])
    rng.shuffle(idx)
    w_np = rng.standard_normal((300, 128)).astype(np.float32)
    cot = rng.standard_normal((idx.size, 128)).astype(np.float32)
    grads = []
    for lib in (ts, torch):
        w = lib.tensor(w_np, requires_grad=True)
        (lib.nn.functional.embedding(lib.tensor(idx), w) * lib.tensor(cot)).sum().backward()
        grads.append(w.grad)
    assert_close(grads[0], grads[1].numpy(), rtol=1e-5, atol=1e-5)
    out = ts.index_add(ts.zeros(300, 128), 0, ts.tensor(idx), ts.tensor(cot))
    assert_close(out, grads[1].numpy(), rtol=1e-5, atol=1e-5)


def test_embedding_max_norm_renormalises_weight_in_place():
    rng = np.random.default_rng(1)
    w_np = (rng.standard_normal((6, 4)) * 3).astype(np.float32)
    idx = np.array([[0, 2], [2, 5]])
    results = []
    for lib in (ts, torch):
        w = lib.tensor(w_np)
        out = lib.nn.functional.embedding(lib.tensor(idx), w, max_norm=1.5, norm_type=3.0)
        results.append((out, w))
    assert_close(results[0][0], results[1][0].numpy(), rtol=1e-5, atol=1e-6)
    assert_close(results[0][1], results[1][1].numpy(), rtol=1e-5, atol=1e-6)


def test_embedding_errors():
    F = ts.nn.functional
    w = ts.zeros(3, 2)
    with pytest.raises(IndexError, match="index 3 is out of range"):
        F.embedding(ts.tensor([0, 3]), w)
    with pytest.raises(RuntimeError, match="int64 or int32"):
        F.embedding(ts.tensor([0.0]), w)
    with pytest.raises(ValueError, match="padding_idx"):
        F.embedding(ts.tensor([0]), w, padding_idx=3)


# -- linear algebra -----------------------------------------------------------------------------

def test_matmul_error_message():
    with pytest.raises(RuntimeError, match=r"^matmul: cannot multiply shapes \(3, 4\) and "
                                           r"\(5, 6\): 4 != 5$"):
        ts.matmul(ts.zeros(3, 4), ts.zeros(5, 6))
    with pytest.raises(RuntimeError, match="same dtype"):
        ts.zeros(3, 4) @ ts.zeros(4, 2, dtype=ts.float64)
    with pytest.raises(RuntimeError, match="at least 1D"):
        ts.matmul(ts.zeros(()), ts.zeros(3))
    with pytest.raises(RuntimeError, match="batch dimensions"):
        ts.matmul(ts.zeros(2, 3, 4), ts.zeros(5, 4, 6))
    with pytest.raises(RuntimeError, match="bmm: batch sizes differ"):
        ts.bmm(ts.zeros(2, 3, 4), ts.zeros(3, 4, 5))
    with pytest.raises(RuntimeError, match=r"linear: input shape \(2, 4\) and weight shape"):
        ts.nn.functional.linear(ts.zeros(2, 4), ts.zeros(3, 5))


def test_einsum_errors():
    with pytest.raises(RuntimeError, match="does not broadcast with previously seen size 3"):
        ts.einsum("ij,jk", ts.zeros(2, 3), ts.zeros(4, 4))
    with pytest.raises(RuntimeError, match="fewer operands"):
        ts.einsum("bi,bi->b", ts.zeros(2, 3))
    with pytest.raises(RuntimeError, match="output subscript k does not appear"):
        ts.einsum("ij->k", ts.zeros(2, 3))
    with pytest.raises(RuntimeError, match="repeated for operand 0"):
        ts.einsum("ii->i", ts.zeros(2, 3))


@pytest.mark.parametrize("dtype", [ts.float32, ts.float64])
def test_gemm_ops_keep_the_dtype(dtype):
    a = ts.ones(2, 3, 4, dtype=dtype)
    w = ts.ones(5, 4, dtype=dtype)
    assert ts.nn.functional.linear(a, w).dtype is dtype
    assert (a @ w.mT).dtype is dtype
    assert ts.einsum("bij,kj->bik", a, w).dtype is dtype
    assert ts.bilinear(a, a, ts.ones(2, 4, 4, dtype=dtype)).dtype is dtype


def test_bfloat16_matmul_stays_bfloat16():
    a = ts.ones(2, 3, dtype=ts.bfloat16)
    assert (a @ a.mT).dtype is ts.bfloat16
    assert ts.nn.functional.linear(a, a).dtype is ts.bfloat16


def test_double_backward_of_linear_and_matmul_match_torch():
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s).astype(np.float64) for s in ((2, 3, 4), (5, 4), (5,))]
    results = []
    for lib in (ts, torch):
        x, w, b = (lib.tensor(a, requires_grad=True) for a in arrays)
        y = lib.nn.functional.linear(x, w, b)
        y = lib.matmul(y, w)                        # (2, 3, 4)
        loss = (y * y).sum()
        gx, gw = lib.autograd.grad(loss, [x, w], create_graph=True)
        (gx.sum() + (gw * gw).sum()).backward()
        results.append([x.grad, w.grad, b.grad])
    for ours, ref in zip(*results):
        assert_close(ours, ref.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_trace_and_diagonal_errors():
    with pytest.raises(RuntimeError, match="trace: expected a matrix"):
        ts.trace(ts.zeros(3))
    with pytest.raises(RuntimeError, match="cannot be identical"):
        ts.diagonal(ts.zeros(3, 3), 0, 1, 1)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        ts.triu(ts.zeros(3))
