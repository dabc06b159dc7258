"""Peak memory of one workload's steps in one library, measured in a fresh process.

Run: ``python -m benchmarks.memory WORKLOAD LIB [--steps N]`` (LIB: ``tessera`` or ``torch``);
prints one JSON line. The peak is the rise of the resident-set high-water mark during N steps
over the resident set right after setup (imports, model, data and one warm-up step, which
creates the optimizer state), so the size of the libraries themselves does not count. Free
heap pages are handed back to the OS before the baseline is read (glibc's malloc_trim): memory
that malloc kept from the warm-up step would otherwise be reused unseen, and the rise of a
library whose arrays come from the heap (PyTorch's do) would read near zero.
"""

import argparse
import ctypes
import ctypes.util
import gc
import importlib
import json
import resource
import sys

from .harness import thread_count

__all__ = ["measure", "main"]

_MIB = 1024 * 1024


def _proc_status_mib(field):
    """``VmRSS`` or ``VmHWM`` of this process in MiB, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024 / _MIB
    except OSError:
        pass
    return None


def _reset_high_water_mark():
    """Reset VmHWM to the current resident set (Linux >= 4.0); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _release_free_memory():
    """Give the C heap's free pages back to the OS (glibc), so that memory the warm-up step
    freed but malloc kept does not sit in the baseline, hiding the next steps' rise."""
    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass  # not glibc: the baseline keeps whatever the allocator retains


def _maxrss_mib():
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / _MIB


def measure(workload, lib, steps=3):
    """Rise of the resident-set high-water mark over ``steps`` steps of ``workload`` in ``lib``.

    Only meaningful in a process that has run nothing else. Returns a dict of MiB values;
    ``exact`` is False where the high-water mark could not be reset after setup, and the
    rise is then measured from the process's lifetime peak (it can only read low).
    """
    if lib.__name__ == "torch":
        lib.set_num_threads(thread_count())
    step = workload.build(lib)
    step()
    _release_free_memory()
    exact = _reset_high_water_mark()
    baseline = _proc_status_mib("VmRSS") if exact else _maxrss_mib()
    for _ in range(steps):
        step()
    peak = _proc_status_mib("VmHWM") if exact else _maxrss_mib()
    return {"workload": workload.name, "lib": lib.__name__, "steps": steps,
            "baseline_mib": round(baseline, 2), "peak_mib": round(peak, 2),
            "rise_mib": round(max(peak - baseline, 0.0), 2), "exact": exact}


def main(argv=None):
    from .workloads import get

    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("workload", help="a workload name (python -m benchmarks --list)")
    parser.add_argument("lib", choices=["tessera", "torch"])
    parser.add_argument("--steps", type=int, default=3, help="steps measured after warm-up")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    try:
        workload = get(args.workload)
    except KeyError as e:
        parser.error(e.args[0])
    result = measure(workload, importlib.import_module(args.lib), args.steps)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
