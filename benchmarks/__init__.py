"""Side-by-side speed benchmarks of tessera and PyTorch (run ``python -m benchmarks``)."""

# tessera first, as in a program that uses it: its process settings (OpenBLAS's idle-thread
# timeout) only take effect before NumPy loads; see tessera/backend/process.py.
import tessera  # noqa: F401
