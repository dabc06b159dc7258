"""Side-by-side speed benchmarks of tessera and PyTorch (run ``python -m benchmarks``)."""
