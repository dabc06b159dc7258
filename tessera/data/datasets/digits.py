"""The UCI handwritten digits that scikit-learn ships (1,797 8x8 images, values 0-16)."""

import functools

import numpy as np

from ...autograd.function import _make_tensor
from ._utils import VisionDataset

__all__ = ["load_digits", "Digits"]

# The digits have no official split: the first 80% train, the rest test, always the same.
_TRAIN_FRACTION = 0.8


@functools.cache
def _sklearn_digits(n_class):
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise ImportError("tessera.data.datasets.load_digits needs scikit-learn, which ships "
                          "these digits: pip install 'tessera[data]' (or pip install "
                          "scikit-learn)") from None
    bunch = sk_load_digits(n_class=n_class)
    bunch.images.flags.writeable = False  # cached: callers get copies
    bunch.target.flags.writeable = False
    return bunch.images, bunch.target


def load_digits(n_class=10):
    """All digits as ``(images, targets)``: float32 ``(N, 8, 8)`` with values 0-16, and
    int64 ``(N,)`` labels in ``[0, n_class)``."""
    if not 1 <= n_class <= 10:
        raise ValueError(f"load_digits: n_class must be in [1, 10], got {n_class}")
    images, targets = _sklearn_digits(n_class)
    return (_make_tensor(np.ascontiguousarray(images, dtype=np.float32)),
            _make_tensor(np.array(targets, dtype=np.int64)))


class Digits(VisionDataset):
    """The scikit-learn digits as a dataset of ``(image, target)``.

    The image is a float32 ``(1, 8, 8)`` tensor with values 0-16 (one channel, ready for
    a convolution; divide by 16 to scale to [0, 1]); the target an int. The train split
    is the first 80% of the 1,797 digits, the test split the rest.

    Args:
        root: unused (scikit-learn ships the data); accepted like every dataset's.
        train: the train or the test split.
        transform, target_transform: applied to each image / target.
        download: unused, for the same reason.
    """

    classes = [str(i) for i in range(10)]

    def __init__(self, root=None, train=True, transform=None, target_transform=None,
                 download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        images, targets = load_digits()
        cut = int(round(len(targets) * _TRAIN_FRACTION))
        part = slice(0, cut) if train else slice(cut, None)
        self._images = np.ascontiguousarray(images._data[part])
        self._targets = targets._data[part].copy()
        self.data = _make_tensor(self._images)
        self.targets = _make_tensor(self._targets)

    def __getitem__(self, index):
        return self._apply(_make_tensor(self._images[index][None]), int(self._targets[index]))

    def __len__(self):
        return len(self._targets)
