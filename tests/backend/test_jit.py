"""Compiled kernels (tessera/backend/jit.py): switched off cleanly, and as exact as stated."""

import importlib
import os
import sys

import numpy as np
import pytest

from tessera.backend import jit


def test_load_gives_none_when_kernels_are_disabled():
    # The test extra installs numba, so the kernels are in use unless TESSERA_JIT=0.
    in_use = os.environ.get("TESSERA_JIT", "1") != "0"
    assert jit.available() == in_use
    assert (jit.load("tessera.optim._kernels") is not None) == in_use
    with jit.disabled():
        assert not jit.available()
        assert jit.load("tessera.optim._kernels") is None
    assert jit.available() == in_use


def _grid():
    tiny = np.geomspace(1e-38, 1, 2000)
    return np.concatenate([np.linspace(-90, 90, 1_000_001), tiny, -tiny,
                           [0.0, -0.0, np.inf, -np.inf]]).astype(np.float32)


def test_lstm_activations_are_as_accurate_as_stated():
    kernels = importlib.import_module("tessera.nn.modules._rnn_kernels")
    x = _grid()
    exact = x.astype(np.float64)
    tanh, sigmoid = (np.array([f(v) for v in x]) for f in (kernels.tanh, kernels.sigmoid))
    assert np.abs(tanh - np.tanh(exact)).max() <= 1e-7
    assert np.abs(sigmoid - 1 / (1 + np.exp(-exact))).max() <= 1e-7
    small = (np.abs(x) < 1e-3) & (x != 0)    # where tanh(x) ~ x: within 2 ulp, relatively
    assert np.allclose(tanh[small], np.tanh(exact[small]), rtol=2.4e-7, atol=0)
    assert tanh[-2:].tolist() == [1, -1] and sigmoid[-2:].tolist() == [1, 0]
    assert np.signbit(tanh[-3]) and sigmoid[-4] == 0.5
    assert np.isnan(kernels.tanh(np.float32(np.nan)))
    assert np.isnan(kernels.sigmoid(np.float32(np.nan)))
    exp = np.array([kernels.exp(v) for v in x])
    normal = (x >= -87) & (x <= 88)
    assert np.abs(exp[normal] / np.exp(exact[normal]) - 1).max() <= 1.2e-7    # 2 ulp
    assert np.all(exp[x < -87] == 0) and np.all(exp[x > 88] == np.inf)


def test_a_numba_that_fails_to_import_turns_the_kernels_off(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name == "numba" or name.startswith("numba."):
            raise ImportError("Numba needs NumPy 2.3 or less")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(jit, "_modules", {})
    monkeypatch.setattr(jit, "_numba_installed", True)
    monkeypatch.setattr(jit, "_enabled", True)
    monkeypatch.setattr(builtins, "__import__", failing_import)
    for name in [m for m in sys.modules if m.startswith("tessera.ops._norm_kernels")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.warns(RuntimeWarning, match="numba could not be imported"):
        assert jit.load("tessera.ops._norm_kernels") is None
    assert not jit.available()
    assert jit.load("tessera.ops._norm_kernels") is None    # once: no second warning
