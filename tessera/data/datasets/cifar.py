"""CIFAR-10 and CIFAR-100 from the "python version" batches: pickled dicts of a uint8
``data`` array (N, 3072) and label lists, read with an allow-listed unpickler so that a
tampered file cannot run code."""

import os

import numpy as np

from ...serialization._unpickler import RestrictedUnpickler, builtin_globals, numpy_globals
from ._utils import VisionDataset, download_url, extract_archive, missing_files_error

__all__ = ["CIFAR10", "CIFAR100"]

_ALLOWED = {**builtin_globals(), **numpy_globals()}


def load_batch(path):
    """The dict in one CIFAR batch file (string keys, as the files were written by Python 2)."""
    with open(path, "rb") as f:
        entry = RestrictedUnpickler(f, _ALLOWED, path, "CIFAR", encoding="latin1").load()
    if not isinstance(entry, dict):
        raise ValueError(f"CIFAR: {path} does not hold a dict (got {type(entry).__name__})")
    return entry


class CIFAR10(VisionDataset):
    """CIFAR-10: 32x32 colour images in 10 classes (50,000 train, 10,000 test).

    Samples are ``(image, target)``: the image a ``(32, 32, 3)`` uint8 NumPy array (HWC,
    as PIL holds it; :class:`~tessera.data.transforms.ToTensor` makes it ``(3, 32, 32)``
    floats), the target an int. ``data`` is the whole split as an (N, 32, 32, 3) array and
    ``targets`` a list of ints, as in torchvision.

    Args:
        root: directory holding ``cifar-10-batches-py/``.
        train: the training batches or the test batch.
        transform, target_transform: applied to each image / target.
        download: fetch and extract the archive first (checked against its MD5 sum).
    """

    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [["data_batch_1", "c99cafc152244af753f735de768cd75f"],
                  ["data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"],
                  ["data_batch_3", "54ebc095f3ab1f0389bbae665268c751"],
                  ["data_batch_4", "634d18415352ddfa80567beed471001a"],
                  ["data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"]]
    test_list = [["test_batch", "40351d587109b95175f43aff81a1287e"]]
    meta = {"filename": "batches.meta", "key": "label_names",
            "md5": "5ff9c542aee3614f3951f8cda6e48888"}
    label_key = "labels"

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        folder = os.path.join(self.root, self.base_folder)
        files = [name for name, _ in (self.train_list if train else self.test_list)]
        needed = files + [self.meta["filename"]]
        if not all(os.path.isfile(os.path.join(folder, f)) for f in needed):
            raise missing_files_error(type(self).__name__, folder, needed)
        data, targets = [], []
        for name in files:
            entry = load_batch(os.path.join(folder, name))
            try:
                data.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                labels = entry[self.label_key] if self.label_key in entry else entry["labels"]
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{type(self).__name__}: {name} is not a CIFAR batch: "
                                 f"{exc}") from None
            targets.extend(int(t) for t in labels)
        self.data = np.ascontiguousarray(np.concatenate(data).transpose(0, 2, 3, 1))  # HWC
        self.targets = targets
        if len(self.data) != len(targets):
            raise ValueError(f"{type(self).__name__}: {len(self.data)} images but "
                             f"{len(targets)} labels")
        meta = load_batch(os.path.join(folder, self.meta["filename"]))
        self.classes = list(meta[self.meta["key"]])
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def download(self):
        """Fetch the archive (unless the batches are there) and extract it under ``root``."""
        folder = os.path.join(self.root, self.base_folder)
        names = [n for n, _ in self.train_list + self.test_list] + [self.meta["filename"]]
        if all(os.path.isfile(os.path.join(folder, n)) for n in names):
            return
        archive = os.path.join(self.root, self.filename)
        download_url(self.url, archive, md5=self.tgz_md5)
        extract_archive(archive, self.root)

    def __getitem__(self, index):
        return self._apply(self.data[index], self.targets[index])

    def __len__(self):
        return len(self.data)


class CIFAR100(CIFAR10):
    """CIFAR-100: 32x32 colour images in 100 fine classes (``root/cifar-100-python/``);
    targets are the fine labels, ``classes`` the fine label names."""

    base_folder = "cifar-100-python"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    filename = "cifar-100-python.tar.gz"
    tgz_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_list = [["train", "16019d7e3df5f24257cddd939b257f8d"]]
    test_list = [["test", "f0ef6b0ae62326f3e7ffdfab6717acfc"]]
    meta = {"filename": "meta", "key": "fine_label_names",
            "md5": "7973b15100ade9c7d40fb424638fde48"}
    label_key = "fine_labels"
