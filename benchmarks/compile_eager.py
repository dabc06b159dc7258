"""Eager against compiled: step time and peak memory of benchmark workloads.

Run from the repository root, single-threaded::

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.compile_eager [--reps 15]

Variants alternate within each repetition (the machine may be shared and noisy); the
table shows the median time per step and the ratio compiled / eager. Peak memory is the
tracemalloc peak of one step after warm-up, with the model's own state excluded.
"""

import argparse
import statistics
import time
import tracemalloc

import numpy as np

import tessera as ts

from .workloads import cnn, mlp
from .workloads._common import labels, normal, same_weights, train_step


def overhead(compiled):
    """benchmarks/core_ops.overhead: four operators forward and backward on 8x8."""
    rng = np.random.default_rng(0)
    x, w = (ts.tensor(rng.standard_normal((8, 8)).astype(np.float32), requires_grad=True)
            for _ in range(2))
    b = ts.tensor(rng.standard_normal(8).astype(np.float32), requires_grad=True)

    def f(x, w, b):
        return (x * w + b).tanh().sum()
    f = ts.compile(f) if compiled else f

    def step():
        x.grad = w.grad = b.grad = None
        f(x, w, b).backward()
    return step


def training(module, make_optimizer, inputs, target, compiled):
    """A training step of a benchmark model (benchmarks/workloads/_common.train_step)."""
    model = same_weights(module.make_model, ts)
    optimizer = make_optimizer(model)
    run = ts.compile(model) if compiled else model
    return train_step(run, optimizer, ts.nn.functional.cross_entropy, inputs, target)


def inference(module, inputs, compiled):
    model = same_weights(module.make_model, ts).eval()
    run = ts.compile(model) if compiled else model

    def step():
        with ts.no_grad():
            run(inputs)
    return step


WORKLOADS = {
    "overhead: 4 ops fwd+bwd on 8x8": (overhead, 2000),
    "MLP 784-256-256-10 b128 Adam": (lambda c: training(
        mlp, lambda m: ts.optim.Adam(m.parameters(), lr=1e-3), normal(ts, (128, 784)),
        labels(ts, 128, 10), c), 40),
    "MLP inference b128": (lambda c: inference(mlp, normal(ts, (128, 784)), c), 200),
    "CNN 32x32x3 b64 SGD-momentum": (lambda c: training(
        cnn, lambda m: ts.optim.SGD(m.parameters(), lr=0.01, momentum=0.9),
        normal(ts, (64, 3, 32, 32)), labels(ts, 64, 10), c), 3),
}


def time_steps(steps, n, reps):
    """Median seconds per step of each variant, alternating the variants."""
    for step in steps.values():
        for _ in range(max(3, n // 10)):
            step()
    times = {name: [] for name in steps}
    for _ in range(reps):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(n):
                step()
            times[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(t) for name, t in times.items()}


def peak_memory(step):
    for _ in range(3):
        step()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--only", default=None, help="a substring of the workload names")
    args = parser.parse_args()
    print(f"{'workload':34} {'eager':>11} {'compiled':>11} {'ratio':>6}   "
          f"{'peak eager':>10} {'peak comp.':>10}")
    for title, (make, n) in WORKLOADS.items():
        if args.only and args.only not in title:
            continue
        steps = {"eager": make(False), "compiled": make(True)}
        t = time_steps(steps, n, args.reps)
        mem = {name: peak_memory(make(name == "compiled")) for name in steps}
        print(f"{title:34} {_time(t['eager']):>11} {_time(t['compiled']):>11} "
              f"{t['compiled'] / t['eager']:6.2f}   {mem['eager'] / 2**20:8.2f}MB "
              f"{mem['compiled'] / 2**20:8.2f}MB")


def _time(seconds):
    return f"{seconds * 1e6:.1f}us" if seconds < 1e-3 else f"{seconds * 1e3:.2f}ms"


if __name__ == "__main__":
    main()
