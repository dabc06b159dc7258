"""Timing side by side: the same workload in tessera and PyTorch, in one process, on the
same thread count, several repetitions after warm-up, reported as medians and ratios."""

import dataclasses
import json
import os
import platform
import statistics
import time

import numpy as np

__all__ = ["Case", "time_call", "run_cases", "print_table", "write_json", "thread_count",
           "machine_info"]


def thread_count():
    """The BLAS thread count NumPy uses; torch is set to the same."""
    try:
        from threadpoolctl import threadpool_info
        counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
        if counts:
            return counts[0]
    except ImportError:
        pass
    return os.cpu_count() or 1


def machine_info():
    import torch
    return {"python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(), "cpu": _cpu_model(),
            "cores": os.cpu_count(), "threads": thread_count(), "blas": _blas(),
            "numpy": np.__version__, "torch": torch.__version__}


def _cpu_model():
    """The CPU's marketing name where the OS tells it (Linux), else the processor field."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas():
    """NumPy's BLAS library, version and kernel architecture, as threadpoolctl reports them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown"
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            return " ".join(str(lib[k]) for k in ("internal_api", "version", "architecture")
                            if lib.get(k))
    return "unknown"


def time_call(fn, *, warmup=3, repeats=7, inner=None, min_time=0.05):
    """Median seconds per call of ``fn`` over ``repeats`` timed blocks of ``inner`` calls."""
    for _ in range(warmup):
        fn()
    if inner is None:  # enough calls per block for a measurable block
        t0 = time.perf_counter()
        fn()
        once = max(time.perf_counter() - t0, 1e-7)
        inner = max(1, int(min_time / once))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


@dataclasses.dataclass
class Case:
    """One workload: ``make(lib)`` returns a zero-argument step for ``tessera`` or ``torch``."""

    name: str
    make: object
    flops: float = 0.0  # per step, for GFLOP/s
    repeats: int = 7


def run_cases(cases, *, repeats=None, settle=0.25):
    """Rows of medians for ``cases``; ``settle`` seconds of pause before each timed block let
    the other library's idle worker threads stop spinning (OpenBLAS spins ~0.1 s after a
    call, and PyTorch right after NumPy measured many times slower without the pause)."""
    import torch

    import tessera

    torch.set_num_threads(thread_count())
    rows = []
    for case in cases:
        # Alternate the libraries between blocks so that machine noise hits both alike.
        step_ts, step_th = case.make(tessera), case.make(torch)
        reps = repeats or case.repeats
        ts_times, th_times = [], []
        for _ in range(reps):
            time.sleep(settle)
            ts_times.append(time_call(step_ts, warmup=1, repeats=1))
            time.sleep(settle)
            th_times.append(time_call(step_th, warmup=1, repeats=1))
        t_ts, t_th = statistics.median(ts_times), statistics.median(th_times)
        rows.append({"name": case.name, "tessera_ms": t_ts * 1e3, "torch_ms": t_th * 1e3,
                     "ratio": t_ts / t_th,
                     "tessera_gflops": case.flops / t_ts / 1e9 if case.flops else None})
    return rows


def print_table(rows, title):
    print(f"\n{title}")
    header = f"{'workload':<44} {'tessera':>11} {'torch':>11} {'ratio':>7} {'GFLOP/s':>8}"
    print(header)
    print("-" * len(header))
    for r in rows:
        gf = f"{r['tessera_gflops']:8.1f}" if r.get("tessera_gflops") else " " * 8
        print(f"{r['name']:<44} {_fmt(r['tessera_ms'])} {_fmt(r['torch_ms'])} "
              f"{r['ratio']:7.2f} {gf}")


def _fmt(ms):
    return f"{ms * 1e3:8.1f} us" if ms < 1 else f"{ms:8.2f} ms"


def write_json(rows, path, extra=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    payload = {"machine": machine_info(), "rows": rows, **(extra or {})}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(tmp, path)
