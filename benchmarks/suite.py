"""The side-by-side speed suite: every workload in tessera and in PyTorch, one process run.

Run: ``python -m benchmarks`` (``--quick``, ``--only NAME[,NAME]``, ``--repeats N``, ``--list``).

Both libraries get the same shapes, weights (PyTorch's initialisation, copied), data, thread
count and number of steps. After warm-up, each repetition times one block of steps in each
library, alternating which goes first, so that machine noise hits both alike; the table shows
medians per step, the ratio tessera / PyTorch, achieved GFLOP/s against NumPy's float32 GEMM
peak measured at startup, and each workload's peak memory, measured in fresh processes.
"""

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from .harness import machine_info, thread_count, write_json
from .workloads import all_workloads, get

__all__ = ["gemm_peak", "time_pair", "run_workload", "run_suite", "measure_memory",
           "format_table", "save_results", "main", "MEMORY_TARGET"]

MEMORY_TARGET = 1.5  # peak memory tessera / PyTorch that issue 5 asks of training workloads
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Settings of a full run and of --quick (the smoke test's scale).
FULL = {"repeats": 7, "warmup": 2, "min_time": 0.2, "settle": 0.25, "memory_steps": 3,
        "gemm_size": 2048, "gemm_repeats": 5}
# The peak is measured at the full run's size in both: two 1024x1024 products once read
# 104 GFLOP/s in a fresh process, and --quick printed workloads at 150% of the peak.
QUICK = {"repeats": 2, "warmup": 1, "min_time": 0.02, "settle": 0.1, "memory_steps": 1,
         "gemm_size": 2048, "gemm_repeats": 3}


def gemm_peak(n=2048, repeats=5):
    """NumPy's float32 GEMM rate in GFLOP/s on this process's thread count: best of
    ``repeats`` ``n x n`` products (2 n^3 FLOPs each), after one untimed product."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def _time_block(step, steps, settle=0.0):
    # Idle BLAS and OpenMP worker threads spin for a while after their last call (OpenBLAS
    # for ~0.1 s); without a pause, one library's spinning threads slow the other's block
    # (measured: PyTorch's MLP step 2x slower right after tessera's). After the pause, one
    # untimed step wakes the library's sleeping threads: on this VM the first wake-ups of
    # an idle core take milliseconds (the CNN's first step after 0.25 s idle 45-68 ms, the
    # next ones 26 ms), which a training loop running step after step never pays.
    if settle:
        time.sleep(settle)
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def time_pair(step_ts, step_th, *, repeats=7, warmup=2, min_time=0.2, settle=0.25):
    """Seconds per step of two steps, timed in alternation.

    Each repetition runs one block of the same number of steps in each library (enough for
    the slower one to take ``min_time``), the first library alternating between repetitions,
    with an untimed pause of ``settle`` seconds before each block.
    Returns ``(tessera_samples, torch_samples, steps_per_block)``.
    """
    for _ in range(warmup):
        step_ts()
        step_th()
    # Blocks are sized from the slower library's median of three back-to-back steps: a step
    # timed right after a pause can stall (the first steps after one measured 10-35 ms for
    # a 2 ms MLP step, both libraries), which once sized the blocks at 5 steps, each block
    # then dominated by its stalls.
    once = max(statistics.median(_time_block(step, 1) for _ in range(3))
               for step in (step_ts, step_th))
    steps = max(1, math.ceil(min_time / max(once, 1e-7)))
    ts_samples, th_samples = [], []
    for rep in range(repeats):
        if rep % 2 == 0:
            ts_samples.append(_time_block(step_ts, steps, settle))
            th_samples.append(_time_block(step_th, steps, settle))
        else:
            th_samples.append(_time_block(step_th, steps, settle))
            ts_samples.append(_time_block(step_ts, steps, settle))
    return ts_samples, th_samples, steps


def run_workload(workload, *, repeats=7, warmup=2, min_time=0.2, settle=0.25,
                 gemm_gflops=None):
    """One row of the table (without memory): medians, ratio and GFLOP/s of ``workload``."""
    import torch

    import tessera

    step_ts, step_th = workload.build(tessera), workload.build(torch)
    ts_samples, th_samples, steps = time_pair(step_ts, step_th, repeats=repeats, warmup=warmup,
                                              min_time=min_time, settle=settle)
    t_ts, t_th = statistics.median(ts_samples), statistics.median(th_samples)
    row = {"name": workload.name, "title": workload.title, "trains": workload.trains,
           "flops": workload.flops, "target": workload.target, "repeats": repeats,
           "steps_per_block": steps, "tessera_ms": t_ts * 1e3, "torch_ms": t_th * 1e3,
           "ratio": t_ts / t_th,
           "tessera_samples_ms": [s * 1e3 for s in ts_samples],
           "torch_samples_ms": [s * 1e3 for s in th_samples],
           "tessera_gflops": None, "torch_gflops": None, "tessera_peak_pct": None,
           "torch_peak_pct": None}
    if workload.flops:
        row["tessera_gflops"] = workload.flops / t_ts / 1e9
        row["torch_gflops"] = workload.flops / t_th / 1e9
        if gemm_gflops:
            row["tessera_peak_pct"] = 100 * row["tessera_gflops"] / gemm_gflops
            row["torch_peak_pct"] = 100 * row["torch_gflops"] / gemm_gflops
    return row


def measure_memory(name, lib, steps=3, timeout=600):
    """Peak memory rise of workload ``name`` in ``lib`` ('tessera' or 'torch'), in MiB,
    measured by ``python -m benchmarks.memory`` in a fresh process; a dict (see
    :func:`benchmarks.memory.measure`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_REPO_ROOT, env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "benchmarks.memory", name, lib, "--steps", str(steps)]
    proc = subprocess.run(cmd, cwd=_REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no error output"]
        raise RuntimeError(f"memory: {name} in {lib} exited with {proc.returncode}: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _add_memory(row, steps):
    row["memory"] = {lib: measure_memory(row["name"], lib, steps) for lib in ("tessera", "torch")}
    for lib in ("tessera", "torch"):
        row[f"{lib}_mem_mib"] = row["memory"][lib]["rise_mib"]
    # Under 1 MiB the rise is the allocator's page-level noise, and a ratio of it means nothing.
    row["mem_ratio"] = (row["tessera_mem_mib"] / row["torch_mem_mib"]
                        if row["torch_mem_mib"] >= 1 else None)


def run_suite(workloads, *, repeats=7, warmup=2, min_time=0.2, settle=0.25, memory_steps=3,
              gemm_gflops=None, log=print):
    """Rows of the table for ``workloads``; ``memory_steps=0`` skips memory. A workload that
    fails in either library gives a row with ``error`` set, and the suite goes on."""
    import torch

    torch.set_num_threads(thread_count())
    rows = []
    for workload in workloads:
        log(f"  {workload.name} ...")
        try:
            row = run_workload(workload, repeats=repeats, warmup=warmup, min_time=min_time,
                               settle=settle, gemm_gflops=gemm_gflops)
        except Exception as e:  # report and go on: one broken layer must not hide the rest
            rows.append({"name": workload.name, "title": workload.title,
                         "target": workload.target, "error": f"{type(e).__name__}: {e}"})
            continue
        if workload.memory and memory_steps:
            try:
                _add_memory(row, memory_steps)
            except Exception as e:
                row["error"] = f"{type(e).__name__}: {e}"
        rows.append(row)
    return rows


def _ms(ms):
    if ms is None:
        return "-"
    return f"{ms * 1e3:.1f} us" if ms < 1 else f"{ms:.2f} ms"


def _num(x, spec, suffix=""):
    return "-" if x is None else f"{x:{spec}}{suffix}"


_COLUMNS = [("workload", "<", 36), ("tessera", ">", 10), ("torch", ">", 10), ("ratio", ">", 6),
            ("target", ">", 6), ("GF/s ts", ">", 7), ("GF/s th", ">", 7), ("%peak", ">", 6),
            ("mem ts", ">", 9), ("mem th", ">", 9), ("mem x", ">", 5)]


def format_table(rows, gemm_gflops=None):
    """The table as text: medians per step, ratio tessera / PyTorch (and the issue's target),
    GFLOP/s of both, tessera's share of the GEMM peak, peak memory rise (MiB) and its ratio."""
    lines = []
    if gemm_gflops:
        lines.append(f"float32 GEMM peak (NumPy, {thread_count()} threads): "
                     f"{gemm_gflops:.1f} GFLOP/s")
    header = " ".join(f"{name:{align}{width}}" for name, align, width in _COLUMNS)
    lines += [header, "-" * len(header)]
    errors = []
    for r in rows:
        if "tessera_ms" not in r:
            cells = [r["title"], "failed"] + ["-"] * (len(_COLUMNS) - 2)
        else:
            mem_ts, mem_th = r.get("tessera_mem_mib"), r.get("torch_mem_mib")
            cells = [r["title"], _ms(r["tessera_ms"]), _ms(r["torch_ms"]), f"{r['ratio']:.2f}",
                     _num(r["target"], ".1f"), _num(r["tessera_gflops"], ".1f"),
                     _num(r["torch_gflops"], ".1f"), _num(r["tessera_peak_pct"], ".0f", "%"),
                     _num(mem_ts, ".1f", " M"), _num(mem_th, ".1f", " M"),
                     _num(r.get("mem_ratio"), ".2f")]
        if r.get("error"):
            errors.append(f"{r['name']}: {r['error']}")
        lines.append(" ".join(f"{cell:{align}{width}}"
                              for cell, (_, align, width) in zip(cells, _COLUMNS)))
    lines.append("ratio and mem x: tessera / PyTorch (lower is better); memory: rise of the "
                 "resident-set peak over the level after setup, in MiB; target: issue 5's "
                 f"time ratio (memory target {MEMORY_TARGET}x for training)")
    lines += [f"error in {e}" for e in errors]
    return "\n".join(lines)


def save_results(rows, out_dir=RESULTS_DIR, *, latest=True, extra=None):
    """Write the rows with the machine description as ``<out_dir>/<timestamp>.json`` and, if
    ``latest``, as ``<out_dir>/latest.json``; returns the paths written."""
    now = datetime.datetime.now(datetime.UTC)
    extra = {"timestamp": now.isoformat(timespec="seconds"), **(extra or {})}
    paths = [os.path.join(out_dir, now.strftime("%Y%m%d-%H%M%S") + ".json")]
    if latest:
        paths.append(os.path.join(out_dir, "latest.json"))
    for path in paths:
        write_json(rows, path, extra)
    return paths


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="tessera and PyTorch side by side: time per step, GFLOP/s, peak memory.")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions and steps (a noisy check that all runs)")
    parser.add_argument("--only", metavar="NAME[,NAME]",
                        help="run only these workloads (see --list)")
    parser.add_argument("--repeats", type=int, metavar="N",
                        help="timed repetitions per library (default 7, 2 with --quick)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory subprocesses")
    parser.add_argument("--out", default=RESULTS_DIR, metavar="DIR",
                        help="folder of the JSON results (default benchmarks/results)")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    return parser, args


def main(argv=None):
    parser, args = _parse_args(argv)
    if args.list:
        for w in all_workloads():
            print(f"{w.name:<14} {w.title}")
        return 0
    workloads = all_workloads()
    if args.only:
        try:
            workloads = [get(name.strip()) for name in args.only.split(",") if name.strip()]
        except KeyError as e:
            parser.error(e.args[0])
    settings = dict(QUICK if args.quick else FULL)
    if args.repeats:
        settings["repeats"] = args.repeats
    if args.no_memory:
        settings["memory_steps"] = 0

    print("tessera vs PyTorch, side by side" + (" (--quick: noisy)" if args.quick else ""))
    info = machine_info()
    print(", ".join(f"{k} {v}" for k, v in info.items()))
    peak = gemm_peak(settings["gemm_size"], settings["gemm_repeats"])
    rows = run_suite(workloads, repeats=settings["repeats"], warmup=settings["warmup"],
                     min_time=settings["min_time"], settle=settings["settle"],
                     memory_steps=settings["memory_steps"],
                     gemm_gflops=peak)
    print()
    print(format_table(rows, peak))
    # latest.json is the reference that later runs compare with: only a full run replaces it.
    complete = not (args.quick or args.only or args.no_memory)
    paths = save_results(rows, args.out, latest=complete,
                         extra={"gemm_peak_gflops": peak, "settings": settings,
                                "complete": complete})
    print("\nwrote " + ", ".join(paths))
    return 1 if any(r.get("error") for r in rows) else 0
