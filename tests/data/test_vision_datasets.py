"""MNIST, Fashion-MNIST, CIFAR and the scikit-learn digits read from small files written
here in the real formats; downloads served by a local HTTP server on 127.0.0.1."""

import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading

import numpy as np
import pytest

import tessera as ts
from tessera.data import DataLoader
from tessera.data import transforms as T
from tessera.data.datasets import (CIFAR10, CIFAR100, MNIST, Digits, FashionMNIST, download_url,
                                   load_digits, read_idx)


def _idx_bytes(arr):
    codes = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C}
    header = bytes([0, 0, codes[arr.dtype.type], arr.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _mnist_arrays(n, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, n, dtype=np.uint8))


def _write_mnist(raw, compress):
    os.makedirs(raw, exist_ok=True)
    arrays = {}
    for prefix, n, seed in (("train", 6, 0), ("t10k", 3, 1)):
        images, labels = _mnist_arrays(n, seed)
        arrays[prefix] = images, labels
        for name, arr in ((f"{prefix}-images-idx3-ubyte", images),
                          (f"{prefix}-labels-idx1-ubyte", labels)):
            data = _idx_bytes(arr)
            if compress:
                with open(os.path.join(raw, name + ".gz"), "wb") as f:
                    f.write(gzip.compress(data))
            else:
                with open(os.path.join(raw, name), "wb") as f:
                    f.write(data)
    return arrays


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST])
@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reads_idx_files(tmp_path, cls, compress):
    arrays = _write_mnist(tmp_path / cls.__name__ / "raw", compress)
    train = cls(tmp_path)
    test = cls(str(tmp_path), train=False)
    assert len(train) == 6 and len(test) == 3
    img, target = train[4]
    np.testing.assert_array_equal(img, arrays["train"][0][4])
    assert img.dtype == np.uint8 and img.shape == (28, 28)
    assert target == int(arrays["train"][1][4]) and isinstance(target, int)
    assert train.data.dtype is ts.uint8 and train.data.shape == (6, 28, 28)
    assert train.targets.dtype is ts.int64
    assert test[0][1] == int(arrays["t10k"][1][0])
    assert "Split: Test" in repr(test) and f"Dataset {cls.__name__}" in repr(test)


def test_mnist_with_transforms_and_loader(tmp_path):
    arrays = _write_mnist(tmp_path / "MNIST" / "raw", compress=True)
    ds = MNIST(tmp_path, transform=T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))]),
               target_transform=lambda t: t + 100)
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 1, 28, 28) and x.dtype is ts.float32
    expected = (arrays["train"][0][:4].astype(np.float32) / 255 - 0.5) / 0.5
    np.testing.assert_allclose(x.numpy()[:, 0], expected, rtol=1e-6, atol=1e-6)
    assert y.tolist() == (arrays["train"][1][:4].astype(int) + 100).tolist()


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(np.zeros((2, 2), np.uint8))[:-1])
    with pytest.raises(ValueError, match="holds 3 bytes of data, expected 4"):
        read_idx(tmp_path / "short")
    (tmp_path / "i32").write_bytes(_idx_bytes(np.array([1, -70000], np.int32)))
    assert read_idx(tmp_path / "i32").tolist() == [1, -70000]


def test_missing_dataset_lists_expected_files(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        MNIST(tmp_path, train=False)
    msg = str(info.value)
    assert os.path.join(str(tmp_path), "MNIST", "raw") in msg
    assert "t10k-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg
    with pytest.raises(FileNotFoundError, match=r"(?s)cifar-10-batches-py.*data_batch_1.*"
                                                r"data_batch_5.*batches.meta"):
        CIFAR10(tmp_path)


def _cifar_batch(n, seed, label_key):
    rng = np.random.default_rng(seed)
    return {"batch_label": "batch", label_key: rng.integers(0, 10, n).tolist(),
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "filenames": [f"img{i}.png" for i in range(n)]}


def _write_cifar(root, cls):
    folder = os.path.join(root, cls.base_folder)
    os.makedirs(folder, exist_ok=True)
    label_key = "fine_labels" if cls is CIFAR100 else "labels"
    batches = {}
    for i, (name, _) in enumerate(cls.train_list + cls.test_list):
        batches[name] = _cifar_batch(3, i, label_key)
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(batches[name], f, protocol=2)
    with open(os.path.join(folder, cls.meta["filename"]), "wb") as f:
        pickle.dump({cls.meta["key"]: [f"class{i}" for i in range(10)]}, f, protocol=2)
    return batches


@pytest.mark.parametrize("cls", [CIFAR10, CIFAR100])
def test_cifar_reads_python_batches(tmp_path, cls):
    batches = _write_cifar(tmp_path, cls)
    train, test = cls(tmp_path), cls(tmp_path, train=False)
    assert len(train) == 3 * len(cls.train_list) and len(test) == 3
    first = batches[cls.train_list[0][0]]
    img, target = train[1]
    np.testing.assert_array_equal(img, first["data"][1].reshape(3, 32, 32).transpose(1, 2, 0))
    label_key = "fine_labels" if cls is CIFAR100 else "labels"
    assert target == first[label_key][1]
    assert train.data.shape == (len(train), 32, 32, 3) and isinstance(train.targets, list)
    assert train.classes[3] == "class3" and train.class_to_idx["class3"] == 3
    x = T.ToTensor()(img)
    assert x.shape == (3, 32, 32)


def test_cifar_refuses_code_in_pickles(tmp_path):
    _write_cifar(tmp_path, CIFAR10)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    with open(tmp_path / CIFAR10.base_folder / "test_batch", "wb") as f:
        pickle.dump({"data": Evil(), "labels": []}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global '\w+\.system'"):
        CIFAR10(tmp_path, train=False)
    assert not marker.exists()


def test_digits():
    sklearn = pytest.importorskip("sklearn.datasets")
    images, targets = load_digits()
    ref = sklearn.load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype is ts.float32
    np.testing.assert_array_equal(images.numpy(), ref.images.astype(np.float32))
    np.testing.assert_array_equal(targets.numpy(), ref.target)
    train, test = Digits(), Digits(train=False)
    assert len(train) + len(test) == 1797
    img, target = test[0]
    assert img.shape == (1, 8, 8) and 0 <= img.numpy().min() and img.numpy().max() <= 16
    np.testing.assert_array_equal(img.numpy()[0], ref.images[len(train)])
    assert target == ref.target[len(train)]
    assert load_digits(n_class=3)[1].numpy().max() == 2


# -- downloads ---------------------------------------------------------------------------------

@pytest.fixture
def http_server(tmp_path):
    """Serves tmp_path/served on 127.0.0.1; yields (base URL, directory)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", served
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def test_mnist_download(tmp_path, http_server, monkeypatch):
    url, served = http_server
    arrays = _write_mnist(served, compress=True)
    resources = [(name, _md5(served / name)) for name in sorted(os.listdir(served))]
    monkeypatch.setattr(MNIST, "mirrors", [url + "missing/", url])  # first mirror 404s
    monkeypatch.setattr(MNIST, "resources", resources)
    ds = MNIST(tmp_path / "root", train=False, download=True)
    np.testing.assert_array_equal(ds[2][0], arrays["t10k"][0][2])
    raw = tmp_path / "root" / "MNIST" / "raw"
    assert sorted(os.listdir(raw)) == [name for name, _ in resources]  # no temporary files
    MNIST(tmp_path / "root", download=True)  # already there: nothing fetched


def test_download_checksum_mismatch(tmp_path, http_server):
    url, served = http_server
    (served / "file.bin").write_bytes(b"payload")
    target = tmp_path / "out" / "file.bin"
    with pytest.raises(RuntimeError, match="checksum mismatch: expected md5 0+, got"):
        download_url(url + "file.bin", str(target), md5="0" * 32)
    assert not target.exists() and os.listdir(tmp_path / "out") == []
    sha = hashlib.sha256(b"payload").hexdigest()
    download_url([url + "nope.bin", url + "file.bin"], str(target), sha256=sha)
    assert target.read_bytes() == b"payload"


def test_cifar_download_and_extract(tmp_path, http_server, monkeypatch):
    url, served = http_server
    staging = tmp_path / "staging"
    batches = _write_cifar(staging, CIFAR10)
    archive = served / "cifar.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(staging / CIFAR10.base_folder, arcname=CIFAR10.base_folder)
    monkeypatch.setattr(CIFAR10, "url", url + "cifar.tar.gz")
    monkeypatch.setattr(CIFAR10, "tgz_md5", _md5(archive))
    ds = CIFAR10(tmp_path / "root", train=False, download=True)
    assert ds.targets == batches["test_batch"]["labels"]
    monkeypatch.setattr(CIFAR10, "tgz_md5", "f" * 32)
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        CIFAR10(tmp_path / "other", download=True)


def test_unsafe_archive_member_is_refused(tmp_path, http_server, monkeypatch):
    url, served = http_server
    archive = served / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"x"
        info = tarfile.TarInfo("../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(CIFAR10, "url", url + "evil.tar.gz")
    monkeypatch.setattr(CIFAR10, "tgz_md5", _md5(archive))
    with pytest.raises(Exception, match="escaped.txt|outside"):
        CIFAR10(tmp_path / "root", download=True)
    assert not (tmp_path / "escaped.txt").exists()
