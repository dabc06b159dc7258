"""Intra-operator threads (tessera/backend/parallel.py) and the operators that use them."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tessera as ts
from tessera.backend import parallel, threads
from tessera.optim import optimizer


@pytest.fixture
def split_everything(monkeypatch):
    """Every parallel_for splits, whatever the size and the process's BLAS settings."""
    monkeypatch.setattr(parallel, "MIN_CHUNK_NS", 1e-9)
    monkeypatch.setattr(parallel, "_can_share", True)
    monkeypatch.setattr(threads, "_num_threads", 2)
    monkeypatch.setattr(threads, "blas_is_controllable", lambda: True)
    monkeypatch.setattr(optimizer, "_MIN_LANE_NS", 1e-9)


def test_chunks_cover_the_range_in_order(split_everything):
    seen = []
    results = parallel.parallel_for(10, lambda a, b: seen.append((a, b)) or (a, b), 1.0)
    assert results == [(0, 5), (5, 10)]
    assert sorted(seen) == results


def test_chunks_run_on_two_threads_at_once(split_everything):
    barrier = threading.Barrier(2, timeout=10)  # deadlocks (times out) if run one by one
    idents = parallel.parallel_for(2, lambda a, b: (barrier.wait(), threading.get_ident())[1],
                                   1.0)
    assert len(set(idents)) == 2


def test_small_work_and_nested_regions_stay_on_the_caller(split_everything, monkeypatch):
    monkeypatch.setattr(parallel, "MIN_CHUNK_NS", 1e9)
    assert parallel.parallel_for(8, lambda a, b: (a, b), 1.0) == [(0, 8)]
    monkeypatch.setattr(parallel, "MIN_CHUNK_NS", 1e-9)
    inner = parallel.parallel_for(
        4, lambda a, b: parallel.parallel_for(b - a, lambda c, d: (c, d), 1.0), 1.0)
    assert inner == [[(0, 2)], [(0, 2)]]


def test_an_error_in_a_chunk_propagates_after_all_chunks_finish(split_everything):
    finished = []

    def body(a, b):
        if a > 0:
            raise ValueError("chunk failed")
        finished.append(a)
    with pytest.raises(ValueError, match="chunk failed"):
        parallel.parallel_for(4, body, 1.0)
    assert finished == [0]
    # The pool still works afterwards.
    assert parallel.parallel_for(4, lambda a, b: b - a, 1.0) == [2, 2]


def test_one_thread_means_no_split(split_everything, monkeypatch):
    monkeypatch.setattr(threads, "_num_threads", 1)
    assert parallel.parallel_for(100, lambda a, b: (a, b), 1.0) == [(0, 100)]


def test_run_together_runs_every_body_at_once_with_single_threaded_blas(split_everything):
    barrier = threading.Barrier(3, timeout=10)  # times out unless all three run at once
    seen = []

    def body(i):
        seen.append([b.num_threads for b in threads.blas_controllers()])
        barrier.wait()
        return i, threading.get_ident()
    results = parallel.run_together(3, body)
    assert [i for i, _ in results] == [0, 1, 2]
    assert results[0][1] == threading.get_ident() and len({t for _, t in results}) == 3
    assert all(counts == [1] * len(counts) for counts in seen)
    assert parallel.run_together(1, lambda i: threading.get_ident()) == [threading.get_ident()]


def test_threads_together_stays_within_the_usable_cores(split_everything, monkeypatch):
    monkeypatch.setattr(threads, "_num_threads", 8)
    monkeypatch.setattr(parallel, "_usable_cores", lambda: 2)
    assert parallel.threads_together(1e9) == 2
    monkeypatch.setattr(parallel, "MIN_CHUNK_NS", 1e9)
    assert parallel.threads_together(1e3) == 1


def test_single_threaded_blas_restores_the_count_it_found(monkeypatch):
    # Asked for the first time inside the block, the count used to be read as 1.
    controllers = threads.blas_controllers()
    assert controllers    # threadpoolctl (a dependency) finds NumPy's OpenBLAS
    before = [c.num_threads for c in controllers]
    monkeypatch.setattr(threads, "_num_threads", None)
    with threads.single_threaded_blas():
        assert [c.num_threads for c in controllers] == [1] * len(controllers)
    assert [c.num_threads for c in controllers] == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_a_fresh_pool(split_everything):
    parallel.parallel_for(4, lambda a, b: None, 1.0)  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # the child: its pool's threads were not copied; a new pool must serve it
        ok = parallel.parallel_for(4, lambda a, b: b - a, 1.0) == [2, 2]
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _pair(shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return ts.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("padding,stride", [(1, 1), (0, 2)])
def test_split_convolution_matches_torch(split_everything, padding, stride):
    (x, tx), (w, tw), (b, tb) = _pair((5, 4, 9, 9)), _pair((6, 4, 3, 3), 1), _pair((6,), 2)
    y = ts.nn.functional.conv2d(x, w, b, stride=stride, padding=padding)
    ty = TF.conv2d(tx, tw, tb, stride=stride, padding=padding)
    g = np.random.default_rng(3).standard_normal(ty.shape).astype(np.float32)
    y.backward(ts.tensor(g))
    ty.backward(torch.tensor(g))
    for mine, theirs in [(y, ty), (x.grad, tx.grad), (w.grad, tw.grad), (b.grad, tb.grad)]:
        np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=1e-4,
                                   atol=1e-5)


def test_split_max_pool_and_relu_match_torch(split_everything):
    x, tx = _pair((5, 3, 32, 32))  # ReLU's rows of 4096 and a tail in each chunk
    y = ts.nn.functional.max_pool2d(ts.relu(x), 2)
    ty = TF.max_pool2d(torch.relu(tx), 2)
    g = np.random.default_rng(4).standard_normal(ty.shape).astype(np.float32)
    y.backward(ts.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_process_settings_come_before_numpy_loads():
    """Imported first, tessera sets OpenBLAS's idle timeout (unless the user did), and
    TESSERA_TUNE_PROCESS=0 leaves the process alone."""
    code = ("import os, tessera.backend.process as p; "
            "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), p.blas_threads_sleep_when_idle())")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    env.pop("TESSERA_TUNE_PROCESS", None)

    def run(code, **extra):
        out = subprocess.run([sys.executable, "-c", code], env={**env, **extra},
                             capture_output=True, text=True, check=True)
        return out.stdout.split()
    assert run(code) == ["20", "True"]
    assert run("import numpy; " + code) == ["None", "False"]
    assert run(code, OPENBLAS_THREAD_TIMEOUT="8") == ["8", "True"]
    assert run(code, TESSERA_TUNE_PROCESS="0") == ["None", "False"]


@pytest.mark.parametrize("name", ["Adam", "AdamW", "SGD"])
def test_split_optimizer_step_matches_torch(split_everything, name):
    """Parameters dealt to two lanes (each with its own scratch) update as PyTorch's do."""
    shapes = [(30, 20), (20,), (7, 30), (7,), (1,)]
    ours = [ts.nn.Parameter(ts.tensor(_pair(s, i)[1].detach().numpy()))
            for i, s in enumerate(shapes)]
    theirs = [torch.nn.Parameter(torch.tensor(p.detach().numpy())) for p in ours]
    kwargs = {"lr": 0.01, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    opt, topt = getattr(ts.optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs,
                                                                                  **kwargs)
    for step in range(3):
        for p, tp in zip(ours, theirs):
            g = np.random.default_rng(step).standard_normal(p.shape).astype(np.float32)
            p.grad, tp.grad = ts.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("case", [
    dict(q=(4, 2, 5, 8), k=(4, 2, 6, 8), v=(4, 2, 6, 3)),
    dict(q=(4, 2, 5, 8), k=(1, 2, 6, 8), v=(2, 6, 3), mask=(4, 1, 5, 6)),   # broadcast k, v
    dict(q=(3, 5, 8), k=(3, 5, 8), v=(3, 5, 8), causal=True),
    dict(q=(2, 5, 8), k=(2, 6, 8), v=(2, 6, 3), mask=(5, 6)),
    dict(q=(4, 4, 5, 8), k=(4, 2, 6, 8), v=(4, 2, 6, 3), gqa=True),
    dict(q=(4, 2, 5, 8), k=(4, 2, 6, 8), v=(4, 2, 6, 3), bool_mask=(4, 1, 5, 6)),
])
def test_split_attention_matches_torch(split_everything, case):
    """Attention split over its first batch dim, with broadcast inputs and masks, GQA and
    rows that attend to nothing, forward and backward."""
    (q, tq), (k, tk), (v, tv) = (_pair(case[name], seed) for seed, name in enumerate("qkv"))
    kwargs = {"is_causal": case.get("causal", False), "enable_gqa": case.get("gqa", False)}
    mask = tmask = None
    if "mask" in case:
        mask, tmask = _pair(case["mask"], 3)
    if "bool_mask" in case:
        allowed = np.random.default_rng(5).random(case["bool_mask"]) > 0.4
        allowed[0, 0, 1] = False  # a query that attends to nothing
        mask, tmask = ts.tensor(allowed), torch.tensor(allowed)
    y = ts.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, **kwargs)
    ty = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=tmask, **kwargs)
    g = np.random.default_rng(6).standard_normal(ty.shape).astype(np.float32)
    y.backward(ts.tensor(g))
    ty.backward(torch.tensor(g))
    pairs = [(y, ty), (q.grad, tq.grad), (k.grad, tk.grad), (v.grad, tv.grad)]
    if "mask" in case:
        pairs.append((mask.grad, tmask.grad))
    for mine, theirs in pairs:
        np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=1e-4,
                                   atol=1e-5)
