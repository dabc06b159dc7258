"""MNIST and Fashion-MNIST from their IDX files, laid out as torchvision lays them out:
``root/<Name>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``."""

import gzip
import os

import numpy as np

from ...autograd.function import _make_tensor
from ._utils import VisionDataset, download_url, missing_files_error

__all__ = ["MNIST", "FashionMNIST", "read_idx"]

# IDX type codes: https://yann.lecun.com/exdb/mnist/ (data are big-endian).
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """The array stored in an IDX file (gzip-compressed or not)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _IDX_TYPES:
        raise ValueError(f"read_idx: {path} is not an IDX file (bad magic number "
                         f"{data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"read_idx: {path} is truncated (header of {ndim} dims)")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"read_idx: {path} holds {len(data) - header} bytes of data, expected "
                         f"{expected} for shape {shape} of {dtype}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))  # native order, and a writable copy


class MNIST(VisionDataset):
    """The MNIST handwritten digits: 28x28 uint8 images, labels 0-9.

    Samples are ``(image, target)``: the image an ``(28, 28)`` uint8 NumPy array (what a
    PIL image of mode "L" holds; :class:`~tessera.data.transforms.ToTensor` makes it a
    ``(1, 28, 28)`` float tensor), the target an int. ``data`` and ``targets`` hold the
    whole split as tensors.

    Args:
        root: directory holding ``<Name>/raw/`` (as torchvision lays it out).
        train: the training split (60,000) or the test split (10,000).
        transform, target_transform: applied to each image / target.
        download: fetch the files from ``mirrors`` first (checked against MD5 sums).
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        prefix = "train" if train else "t10k"
        images = read_idx(self._find(f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(self._find(f"{prefix}-labels-idx1-ubyte"))
        name = type(self).__name__
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{name}: expected images (N, H, W) and labels (N,), got shapes "
                             f"{images.shape} and {labels.shape}")
        self._images = images.astype(np.uint8, copy=False)
        self._labels = labels.astype(np.int64)
        self.data = _make_tensor(self._images)
        self.targets = _make_tensor(self._labels)

    @property
    def raw_folder(self):
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    def _find(self, stem):
        for name in (stem, stem + ".gz"):
            path = os.path.join(self.raw_folder, name)
            if os.path.isfile(path):
                return path
        prefix = "train" if self.train else "t10k"
        expected = [f"{prefix}-images-idx3-ubyte[.gz]", f"{prefix}-labels-idx1-ubyte[.gz]"]
        raise missing_files_error(type(self).__name__, self.raw_folder, expected)

    def _exists(self):
        return all(os.path.isfile(os.path.join(self.raw_folder, f)) or
                   os.path.isfile(os.path.join(self.raw_folder, f.removesuffix(".gz")))
                   for f, _ in self.resources)

    def download(self):
        """Fetch every file of ``resources`` that is missing, trying each mirror in turn."""
        if self._exists():
            return
        for filename, md5 in self.resources:
            target = os.path.join(self.raw_folder, filename)
            download_url([m + filename for m in self.mirrors], target, md5=md5)

    def __getitem__(self, index):
        return self._apply(self._images[index], int(self._labels[index]))

    def __len__(self):
        return len(self._labels)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 grayscale clothing images in 10 classes, in
    MNIST's file format and layout (``root/FashionMNIST/raw/``)."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
