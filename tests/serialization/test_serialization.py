"""tessera.save / tessera.load: round trips of nested state, atomic writes, and PyTorch
checkpoints read without torch (in a subprocess that never imports it) and without
running code from the file."""

import collections
import io
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile

import ml_dtypes
import numpy as np
import pytest
import safetensors
import safetensors.numpy
import torch

import tessera as ts
from tessera.serialization import add_safe_globals, clear_safe_globals, load, save
from tessera.testing import assert_close

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _optimizer_like_state():
    return {
        "state": {0: {"step": ts.tensor(3.0), "exp_avg": ts.randn(2, 3),
                      "exp_avg_sq": ts.rand(2, 3)},
                  1: {"step": ts.tensor(3.0), "exp_avg": ts.randn(4).bfloat16(),
                      "exp_avg_sq": ts.zeros(0, 2)}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                          "amsgrad": False, "foreach": None, "maximize": False,
                          "params": [0, 1], "name": "encoder", "inf": float("inf"),
                          "ninf": float("-inf")}],
        "extra": collections.OrderedDict(mask=ts.tensor([True, False]), count=ts.tensor(7),
                                         i8=ts.tensor([1, -2], dtype=ts.int8)),
        "numpy": {"array": np.arange(6, dtype=np.int32).reshape(2, 3), "scalar": np.float64(2.5)},
        "misc": {"dtype": ts.float16, "size": ts.Size([2, 3]), "bytes": b"\x00\xff",
                 "set": {1, 2}, (1, "a"): "tuple key", "nan": float("nan")},
    }


def _assert_same(a, b, path="obj"):
    assert type(a) is type(b), f"{path}: {type(a)} vs {type(b)}"
    if isinstance(a, ts.Tensor):
        assert a.dtype is b.dtype and a.shape == b.shape, path
        assert a.requires_grad == b.requires_grad, path
        assert_close(a, b, rtol=0, atol=0, msg=path)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b), path
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), path
    else:
        assert a == b, path


@pytest.mark.parametrize("target", ["path", "pathlike", "buffer"])
def test_round_trip_nested_state(tmp_path, target):
    state = _optimizer_like_state()
    if target == "buffer":
        f = io.BytesIO()
        save(state, f)
        f.seek(0)
    else:
        f = tmp_path / "opt.pt"
        save(state, f if target == "pathlike" else str(f))
    loaded = load(f)
    _assert_same(state, loaded)
    assert loaded["state"][1]["exp_avg"].dtype is ts.bfloat16
    assert loaded["extra"]["count"].shape == ()
    assert isinstance(loaded["numpy"]["scalar"], np.float64)


def test_round_trip_tensor_flags_and_sharing(tmp_path):
    w = ts.randn(3, 2, requires_grad=True)
    obj = {"w": w, "again": w, "plain": ts.tensor(5)}
    save(obj, tmp_path / "t.ts")
    loaded = load(tmp_path / "t.ts")
    assert loaded["w"].requires_grad and not loaded["plain"].requires_grad
    assert loaded["w"] is loaded["again"]  # one object saved once, loaded once
    loaded_t = load(_saved(ts.arange(4).reshape(2, 2).transpose(0, 1)))  # a non-contiguous view
    assert_close(loaded_t, ts.tensor([[0, 2], [1, 3]]))


def _saved(obj):
    f = io.BytesIO()
    save(obj, f)
    f.seek(0)
    return f


def test_file_is_plain_safetensors_named_by_path(tmp_path):
    sd = {"fc.weight": ts.randn(4, 3), "fc.bias": ts.zeros(4), "bn": {"running_mean": ts.ones(4)}}
    save(sd, tmp_path / "model.safetensors")
    arrays = safetensors.numpy.load_file(str(tmp_path / "model.safetensors"))
    assert sorted(arrays) == ["bn.running_mean", "fc.bias", "fc.weight"]
    np.testing.assert_array_equal(arrays["fc.weight"], sd["fc.weight"].numpy())
    with safetensors.safe_open(str(tmp_path / "model.safetensors"), framework="np") as f:
        assert f.metadata()["format"] == "pt"


def test_load_foreign_safetensors_as_dict(tmp_path):
    arrays = {"a": np.arange(3, dtype=np.float32), "b": np.ones((2, 2), dtype=np.int64)}
    safetensors.numpy.save_file(arrays, str(tmp_path / "x.safetensors"))
    for source in (tmp_path / "x.safetensors", open(tmp_path / "x.safetensors", "rb")):
        loaded = load(source)
        assert sorted(loaded) == ["a", "b"]
        assert_close(loaded["a"], ts.tensor([0.0, 1.0, 2.0]))
        assert loaded["b"].dtype is ts.int64
        if hasattr(source, "close"):
            source.close()


def test_save_rejects_unsupported_objects():
    with pytest.raises(TypeError, match=r"tessera.save: cannot save an object of type object "
                                        r"at layer.extra"):
        save({"layer": {"extra": object()}}, io.BytesIO())


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.ts"
    save({"w": ts.ones(3)}, path)
    before = sorted(os.listdir(tmp_path))

    def fail_midway(specs, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors, "serialize_file", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        save({"w": ts.zeros(3)}, path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == before  # no temporary file left behind
    assert_close(load(path)["w"], ts.ones(3))


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(ts.ones(1), tmp_path / "missing" / "x.ts")


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load(tmp_path / "nope.pt")
    (tmp_path / "junk.bin").write_bytes(b"hello world, not a checkpoint")
    with pytest.raises(pickle.UnpicklingError, match="neither a tessera"):
        load(tmp_path / "junk.bin")
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="invalid magic number"):
        load(tmp_path / "plain.pkl")


# -- PyTorch checkpoints ---------------------------------------------------------------------

def _torch_objects():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    misc = {
        "base": base, "view": base[1:, ::2], "t": base.t(), "scalar": torch.tensor(2.5),
        "empty": torch.empty(0, 3), "bf16": torch.randn(5).bfloat16(),
        "half": torch.randn(2, 2).half(), "bool": torch.tensor([True, False]),
        "i8": torch.tensor([-3, 4], dtype=torch.int8), "u8": torch.tensor([200], dtype=torch.uint8),
        "i16": torch.tensor([7], dtype=torch.int16), "i32": torch.tensor([8], dtype=torch.int32),
        "f64": torch.randn(3, dtype=torch.float64), "param": torch.nn.Parameter(torch.ones(2)),
        "grad": torch.ones(2, requires_grad=True), "np": np.arange(3), "np_scalar": np.float32(4),
        "size": torch.Size([2, 3]), "dtype": torch.float16, "device": torch.device("cpu"),
        "od": collections.OrderedDict(x=1), "set": {1, 2}, "bytes": b"ab", "tuple": (1, "a"),
    }
    return {"model": model.state_dict(), "optim": opt.state_dict(), "misc": misc}


_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import tessera as ts
    from tessera.serialization import load, save

    for name in sys.argv[1:]:
        obj = load(name + ".pt")
        misc = obj["misc"]
        # Views share the loaded storage, as they did in the file.
        assert np.shares_memory(misc["view"].numpy(), misc["base"].numpy())
        assert np.shares_memory(misc["t"].numpy(), misc["base"].numpy())
        assert misc["grad"].requires_grad and misc["param"].requires_grad
        assert type(misc["param"]).__name__ == "Parameter"
        save(obj, name + ".ts")
    assert "torch" not in sys.modules, "tessera.load imported torch"
    print("ok")
""")


def _compare_with_torch(t_obj, s_obj, path="obj"):
    if isinstance(t_obj, torch.Tensor):
        assert isinstance(s_obj, ts.Tensor), path
        assert str(s_obj.dtype).split(".")[-1] == str(t_obj.dtype).split(".")[-1], path
        assert s_obj.requires_grad == t_obj.requires_grad, path
        assert_close(s_obj, t_obj.detach(), rtol=0, atol=0, msg=path)
    elif isinstance(t_obj, torch.Size):
        assert isinstance(s_obj, ts.Size) and tuple(s_obj) == tuple(t_obj), path
    elif isinstance(t_obj, torch.dtype):
        assert s_obj is getattr(ts, str(t_obj).split(".")[-1]), path
    elif isinstance(t_obj, torch.device):
        assert str(s_obj) == str(t_obj), path
    elif isinstance(t_obj, dict):
        assert type(s_obj) is type(t_obj) and list(s_obj) == list(t_obj), path
        for k in t_obj:
            _compare_with_torch(t_obj[k], s_obj[k], f"{path}[{k!r}]")
    elif isinstance(t_obj, (list, tuple)):
        assert type(s_obj) is type(t_obj) and len(s_obj) == len(t_obj), path
        for i, (a, b) in enumerate(zip(t_obj, s_obj)):
            _compare_with_torch(a, b, f"{path}[{i}]")
    elif isinstance(t_obj, np.ndarray):
        assert s_obj.dtype == t_obj.dtype and np.array_equal(s_obj, t_obj), path
    else:
        assert type(s_obj) is type(t_obj) and s_obj == t_obj, path


def test_pytorch_checkpoints_load_without_torch(tmp_path):
    objects = _torch_objects()
    torch.save(objects, tmp_path / "zip.pt")
    torch.save(objects, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-c", _CHILD, "zip", "legacy"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for name in ("zip", "legacy"):
        _compare_with_torch(objects, load(tmp_path / f"{name}.ts"), name)


@pytest.mark.parametrize("zip_format", [True, False])
def test_pytorch_checkpoint_from_file_object_and_map_location(zip_format):
    sd = {"w": torch.randn(2, 3), "b": torch.zeros(3)}
    buf = io.BytesIO()
    torch.save(sd, buf, _use_new_zipfile_serialization=zip_format)
    for location in (None, "cpu", ts.device("cpu"), {"cpu": "cpu"}):
        buf.seek(0)
        loaded = load(buf, map_location=location)
        assert_close(loaded["w"], sd["w"])
    seen = []
    buf.seek(0)
    load(buf, map_location=lambda storage, loc: seen.append(loc))
    assert seen == ["cpu", "cpu"]
    buf.seek(0)
    with pytest.raises(RuntimeError, match="not available"):
        load(buf, map_location="cuda")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("zip_format", [True, False])
def test_malicious_checkpoint_does_not_run(tmp_path, zip_format):
    marker = tmp_path / "pwned"
    torch.save({"w": torch.ones(2), "evil": _Evil(marker)}, tmp_path / "evil.pt",
               _use_new_zipfile_serialization=zip_format)
    with pytest.raises(pickle.UnpicklingError,
                       match=r"refusing to load global '(posix|nt|os)\.system' from .*evil\.pt: "
                             r"not in the allow-list"):
        load(tmp_path / "evil.pt", weights_only=False)
    assert not marker.exists()


def test_add_safe_globals(tmp_path):
    torch.save({"when": collections.Counter(a=2)}, tmp_path / "c.pt")
    with pytest.raises(pickle.UnpicklingError, match="collections.Counter"):
        load(tmp_path / "c.pt")
    try:
        add_safe_globals([collections.Counter])
        assert load(tmp_path / "c.pt")["when"] == collections.Counter(a=2)
    finally:
        clear_safe_globals()


class _FakeStorage:
    pass


def _crafted_checkpoint(path, size, stride, offset=0, numel=4, record_numel=None):
    """A zip checkpoint whose one tensor has the given geometry over a 4-float storage."""
    storage = _FakeStorage()

    class Rebuild:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2,
                    (storage, offset, size, stride, False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if obj is storage:
                return ("storage", torch.FloatStorage, "0", "cpu", numel)
            return None

    data = io.BytesIO()
    Pickler(data, protocol=2).dump({"t": Rebuild()})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data.getvalue())
        zf.writestr("archive/byteorder", "little")
        record = np.arange(numel if record_numel is None else record_numel, dtype=np.float32)
        zf.writestr("archive/data/0", record.tobytes())


def test_crafted_tensor_cannot_read_outside_its_storage(tmp_path):
    _crafted_checkpoint(tmp_path / "ok.pt", (2,), (2,), offset=1)
    assert_close(load(tmp_path / "ok.pt")["t"], ts.tensor([1.0, 3.0]))
    _crafted_checkpoint(tmp_path / "bad.pt", (10,), (100,))
    with pytest.raises(pickle.UnpicklingError, match="reaches element 900 of a storage of 4"):
        load(tmp_path / "bad.pt")
    _crafted_checkpoint(tmp_path / "short.pt", (2,), (1,), numel=8, record_numel=4)
    with pytest.raises(pickle.UnpicklingError, match="holds 16 bytes, expected 32"):
        load(tmp_path / "short.pt")


def test_bfloat16_storage_bits_are_kept(tmp_path):
    t = torch.tensor([1.5, -2.25, 3e38], dtype=torch.bfloat16)
    torch.save(t, tmp_path / "bf.pt")
    loaded = load(tmp_path / "bf.pt")
    assert loaded.dtype is ts.bfloat16
    expected = t.view(torch.int16).numpy()
    np.testing.assert_array_equal(loaded.numpy().view(np.int16), expected)
    assert loaded.numpy().dtype == ml_dtypes.bfloat16
