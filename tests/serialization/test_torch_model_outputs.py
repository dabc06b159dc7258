"""A model trained in PyTorch loads into the same tessera architecture, from a checkpoint
written by ``torch.save``, in a process where torch is never imported, and gives the same
outputs."""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tessera as ts
    from tessera import nn

    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 3))
    result = model.load_state_dict(ts.load(sys.argv[1]))
    model.eval()
    with ts.no_grad():
        out = model(ts.from_numpy(np.load(sys.argv[2])))
    np.save(sys.argv[3], out.numpy())
    assert "torch" not in sys.modules, "tessera imported torch"
    print(result)
""")


@pytest.mark.parametrize("zip_format", [True, False])
def test_torch_state_dict_gives_same_outputs_without_torch(tmp_path, zip_format):
    torch.manual_seed(0)
    tnn = torch.nn
    model = tnn.Sequential(
        tnn.Conv2d(1, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(4 * 4 * 4, 16), tnn.GELU(), tnn.LayerNorm(16),
        tnn.Linear(16, 3))
    model.train()
    for _ in range(3):  # move the BatchNorm running statistics away from their defaults
        model(torch.randn(8, 1, 8, 8))
    model.eval()
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    ckpt, inputs, outputs = tmp_path / "model.pt", tmp_path / "x.npy", tmp_path / "y.npy"
    torch.save(model.state_dict(), ckpt, _use_new_zipfile_serialization=zip_format)
    np.save(inputs, x)
    script = tmp_path / "load.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, str(script), str(ckpt), str(inputs), str(outputs)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    assert "All keys matched successfully" in run.stdout
    np.testing.assert_allclose(np.load(outputs), expected, rtol=1e-5, atol=1e-5)
