"""The examples run end to end (briefly)."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_two_apis_cnn_runs_on_the_digits(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "two_apis_cnn.py"),
                          "--epochs", "2", "--cifar-root", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    for row in ("lines of model code", "training time", "test accuracy"):
        assert row in run.stdout
