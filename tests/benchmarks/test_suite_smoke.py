"""The speed suite's machinery end to end, at its smallest settings (no timing is asserted)."""

import json
import os
import sys

import pytest

pytest.importorskip("torch")

# benchmarks/ is not an installed package: import it from the checkout this file belongs to.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from benchmarks import suite  # noqa: E402
from benchmarks.workloads import Workload, all_workloads, get, register  # noqa: E402

_FAST = {"repeats": 1, "warmup": 1, "min_time": 0.0, "settle": 0.0}


def test_registry_holds_the_issue_workloads():
    names = [w.name for w in all_workloads()]
    assert names == ["mlp", "mlp-compiled", "cnn", "transformer", "lstm", "cnn-infer",
                     "overhead", "overhead-compiled"]
    for w in all_workloads():
        assert (w.flops > 0) == (not w.name.startswith("overhead"))
    assert get("cnn").trains and not get("cnn-infer").trains
    with pytest.raises(KeyError, match="no workload named 'resnet'"):
        get("resnet")
    with pytest.raises(ValueError, match="already exists"):
        register(Workload("mlp", "again", get("mlp").build))


def test_timing_rows_and_table():
    rows = suite.run_suite([get("overhead"), get("mlp")], memory_steps=0, gemm_gflops=100.0,
                           log=lambda *_: None, **_FAST)
    assert [r["name"] for r in rows] == ["overhead", "mlp"]
    for r in rows:
        assert "error" not in r, r.get("error")
        assert r["tessera_ms"] > 0 and r["torch_ms"] > 0 and r["ratio"] > 0
        assert len(r["tessera_samples_ms"]) == len(r["torch_samples_ms"]) == 1
    overhead, mlp = rows
    assert overhead["tessera_gflops"] is None
    assert mlp["tessera_gflops"] > 0 and mlp["torch_gflops"] > 0
    assert mlp["tessera_peak_pct"] == pytest.approx(mlp["tessera_gflops"])  # peak 100 GFLOP/s
    table = suite.format_table(rows, 100.0)
    assert "MLP 784-256-256-10" in table and "100.0 GFLOP/s" in table


def test_save_results_writes_latest_and_a_timestamped_copy(tmp_path):
    rows = [{"name": "mlp", "tessera_ms": 1.0, "torch_ms": 2.0, "ratio": 0.5}]
    paths = suite.save_results(rows, str(tmp_path), extra={"gemm_peak_gflops": 1.0})
    assert sorted(os.listdir(tmp_path))[-1] == "latest.json" and len(paths) == 2
    for path in paths:
        with open(path) as f:
            payload = json.load(f)
        assert payload["rows"] == rows and payload["gemm_peak_gflops"] == 1.0
        assert "timestamp" in payload and "cpu" in payload["machine"]


def test_failing_workload_gives_an_error_row():
    def build(lib):
        if lib.__name__ == "tessera":
            raise NotImplementedError("layer missing")
        return lambda: None

    rows = suite.run_suite([Workload("broken", "broken", build)], memory_steps=0,
                           log=lambda *_: None, **_FAST)
    assert rows[0]["error"] == "NotImplementedError: layer missing"
    assert "error in broken: NotImplementedError: layer missing" in suite.format_table(rows)


def test_memory_in_a_fresh_process():
    result = suite.measure_memory("mlp", "tessera", steps=1)
    assert result["workload"] == "mlp" and result["lib"] == "tessera"
    assert result["peak_mib"] >= result["baseline_mib"] > 0
    assert result["rise_mib"] >= 0


def test_main_writes_json(tmp_path, capsys):
    code = suite.main(["--quick", "--only", "overhead", "--repeats", "1", "--out",
                       str(tmp_path)])
    assert code == 0
    assert "overhead: 4 ops fwd+bwd on 8x8" in capsys.readouterr().out
    # A partial run keeps latest.json (the reference of full runs) untouched.
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0] != "latest.json"
    with open(tmp_path / files[0]) as f:
        payload = json.load(f)
    assert payload["machine"]["threads"] >= 1 and payload["gemm_peak_gflops"] > 0
    assert payload["complete"] is False and payload["rows"][0]["name"] == "overhead"


def test_both_libraries_start_from_the_same_model_and_data():
    import torch

    import tessera
    from benchmarks.workloads import mlp
    from benchmarks.workloads._common import normal, same_weights

    outputs = []
    for lib in (tessera, torch):
        with lib.no_grad():
            outputs.append(same_weights(mlp.make_model, lib)(normal(lib, (4, 784))).numpy())
    assert abs(outputs[0] - outputs[1]).max() < 1e-5
