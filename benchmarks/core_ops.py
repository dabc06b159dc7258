"""Core operator speed against PyTorch: per-operator overhead, matmul and conv2d.

Run: ``python -m benchmarks.core_ops``.
"""

import numpy as np

from .harness import Case, print_table, run_cases, write_json


def _leaf(lib, array):
    return lib.tensor(array, requires_grad=True)


def overhead(lib, compiled=False):
    """Four small operators forward and backward: the per-operator Python cost. With
    ``compiled``, tessera runs them through ``ts.compile`` (PyTorch stays eager)."""
    rng = np.random.default_rng(0)
    x = _leaf(lib, rng.standard_normal((8, 8)).astype(np.float32))
    w = _leaf(lib, rng.standard_normal((8, 8)).astype(np.float32))
    b = _leaf(lib, rng.standard_normal(8).astype(np.float32))

    def f(x, w, b):
        return (x * w + b).tanh().sum()
    if compiled and lib.__name__ != "torch":
        f = lib.compile(f)

    def step():
        x.grad = w.grad = b.grad = None
        f(x, w, b).backward()
    return step


def matmul(n, batch=None):
    def make(lib):
        rng = np.random.default_rng(0)
        shape = (batch, n, n) if batch else (n, n)
        a = _leaf(lib, rng.standard_normal(shape).astype(np.float32))
        b = _leaf(lib, rng.standard_normal(shape).astype(np.float32))

        def step():
            a.grad = b.grad = None
            (a @ b).sum().backward()
        return step
    return make


def conv2d(n, c_in, c_out, hw, k=3):
    def make(lib):
        rng = np.random.default_rng(0)
        x = _leaf(lib, rng.standard_normal((n, c_in, hw, hw)).astype(np.float32))
        w = _leaf(lib, rng.standard_normal((c_out, c_in, k, k)).astype(np.float32) * 0.1)
        b = _leaf(lib, rng.standard_normal(c_out).astype(np.float32))

        def step():
            x.grad = w.grad = b.grad = None
            lib.nn.functional.conv2d(x, w, b, padding=k // 2).sum().backward()
        return step
    return make


def cases():
    mm_flops = lambda n, batch=1: 3 * 2 * n ** 3 * batch  # noqa: E731 - forward + two grads
    conv_flops = lambda n, ci, co, hw, k=3: 3 * 2 * n * co * hw * hw * ci * k * k  # noqa: E731
    return [
        Case("overhead: 4 ops fwd+bwd on 8x8", overhead, repeats=9),
        Case("matmul 256x256 fwd+bwd", matmul(256), mm_flops(256)),
        Case("matmul 1024x1024 fwd+bwd", matmul(1024), mm_flops(1024)),
        Case("bmm 32x128x128 fwd+bwd", matmul(128, 32), mm_flops(128, 32)),
        Case("conv2d 64x3x32x32 -> 32, 3x3 fwd+bwd", conv2d(64, 3, 32, 32),
             conv_flops(64, 3, 32, 32)),
        Case("conv2d 64x32x16x16 -> 64, 3x3 fwd+bwd", conv2d(64, 32, 64, 16),
             conv_flops(64, 32, 64, 16)),
    ]


def main():
    rows = run_cases(cases())
    print_table(rows, "core operators: median time per step, tessera / PyTorch")
    write_json(rows, "benchmarks/results/core_ops.json")


if __name__ == "__main__":
    main()
