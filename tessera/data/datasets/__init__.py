"""Datasets read from local folders in their published formats (torchvision's layout),
with optional checksummed downloads."""

from ._utils import VisionDataset, check_integrity, download_url, extract_archive
from .cifar import CIFAR10, CIFAR100
from .digits import Digits, load_digits
from .mnist import MNIST, FashionMNIST, read_idx

__all__ = ["VisionDataset", "MNIST", "FashionMNIST", "CIFAR10", "CIFAR100", "Digits",
           "load_digits", "read_idx", "check_integrity", "download_url", "extract_archive"]
