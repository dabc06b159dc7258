"""Convolution, pooling and interpolation speed against PyTorch, side by side.

Run: ``python -m benchmarks.bench_conv`` (add ``--quick`` for fewer repetitions).
Every step is a forward and a backward with an explicit all-ones cotangent, so that
the backward kernels see a plain contiguous gradient in both libraries.
"""

import sys

import numpy as np

from .harness import Case, print_table, run_cases, write_json


def _step(lib, fn, *arrays):
    leaves = [lib.tensor(a, requires_grad=True) for a in arrays]
    probe = fn(lib, *leaves)
    cotangent = lib.ones(tuple(probe.shape))

    def step():
        for t in leaves:
            t.grad = None
        fn(lib, *leaves).backward(cotangent)
    return step


def conv2d(n, c_in, c_out, hw, k=3, stride=1, groups=1):
    def make(lib):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c_in, hw, hw)).astype(np.float32)
        w = (rng.standard_normal((c_out, c_in // groups, k, k)) * 0.1).astype(np.float32)
        b = rng.standard_normal(c_out).astype(np.float32)
        return _step(lib, lambda m, x, w, b: m.nn.functional.conv2d(
            x, w, b, stride=stride, padding=k // 2, groups=groups), x, w, b)
    return make


def conv2d_forward(n, c_in, c_out, hw, k=3):
    def make(lib):
        rng = np.random.default_rng(0)
        x = lib.tensor(rng.standard_normal((n, c_in, hw, hw)).astype(np.float32))
        w = lib.tensor((rng.standard_normal((c_out, c_in, k, k)) * 0.1).astype(np.float32))
        return lambda: lib.nn.functional.conv2d(x, w, padding=k // 2)
    return make


def conv_transpose2d(n, c_in, c_out, hw):
    def make(lib):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c_in, hw, hw)).astype(np.float32)
        w = (rng.standard_normal((c_in, c_out, 4, 4)) * 0.1).astype(np.float32)
        return _step(lib, lambda m, x, w: m.nn.functional.conv_transpose2d(
            x, w, stride=2, padding=1), x, w)
    return make


def pool(name, shape, **kwargs):
    def make(lib):
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        return _step(lib, lambda m, x: getattr(m.nn.functional, name)(x, **kwargs), x)
    return make


def cases():
    conv_flops = lambda n, ci, co, hw, k=3: 3 * 2 * n * co * hw * hw * ci * k * k  # noqa: E731
    return [
        Case("conv2d 64x3x32x32 -> 32, 3x3 fwd+bwd", conv2d(64, 3, 32, 32),
             conv_flops(64, 3, 32, 32)),
        Case("conv2d 64x32x16x16 -> 64, 3x3 fwd+bwd", conv2d(64, 32, 64, 16),
             conv_flops(64, 32, 64, 16)),
        Case("conv2d 64x32x16x16 -> 64, 3x3 forward", conv2d_forward(64, 32, 64, 16),
             conv_flops(64, 32, 64, 16) / 3),
        Case("conv2d 64x64x8x8 -> 128, 3x3 s2 fwd+bwd", conv2d(64, 64, 128, 8, stride=2)),
        Case("conv2d 64x64x16x16 -> 128, 1x1 fwd+bwd", conv2d(64, 64, 128, 16, k=1),
             conv_flops(64, 64, 128, 16, k=1)),
        Case("conv2d depthwise 64x32x16x16, 3x3 fwd+bwd", conv2d(64, 32, 32, 16, groups=32)),
        Case("conv_transpose2d 64x32x8x8 -> 16, 4x4 s2 fwd+bwd", conv_transpose2d(64, 32, 16, 8)),
        Case("max_pool2d 2x2 on 64x32x32x32 fwd+bwd", pool("max_pool2d", (64, 32, 32, 32),
                                                           kernel_size=2)),
        Case("max_pool2d 3x3 s2 p1 on 64x32x32x32 fwd+bwd",
             pool("max_pool2d", (64, 32, 32, 32), kernel_size=3, stride=2, padding=1)),
        Case("avg_pool2d 2x2 on 64x32x32x32 fwd+bwd", pool("avg_pool2d", (64, 32, 32, 32),
                                                           kernel_size=2)),
        Case("adaptive_avg_pool2d 1 on 64x256x7x7 fwd+bwd",
             pool("adaptive_avg_pool2d", (64, 256, 7, 7), output_size=1)),
        Case("interpolate bilinear x2 on 16x32x32x32 fwd+bwd",
             pool("interpolate", (16, 32, 32, 32), scale_factor=2, mode="bilinear")),
        Case("interpolate nearest x2 on 16x32x32x32 fwd+bwd",
             pool("interpolate", (16, 32, 32, 32), scale_factor=2)),
    ]


def main():
    quick = "--quick" in sys.argv
    rows = run_cases(cases(), repeats=3 if quick else None)
    print_table(rows, "convolution and pooling: median time per step, tessera / PyTorch")
    if not quick:
        write_json(rows, "benchmarks/results/bench_conv.json")


if __name__ == "__main__":
    main()
