"""Image transforms with torchvision's names and semantics, without PIL.

Images are tessera tensors laid out ``(..., C, H, W)`` or NumPy arrays laid out
``(H, W)`` / ``(H, W, C)`` as PIL would give them (what the datasets here return).
Random transforms draw from tessera's default generator, so ``tessera.manual_seed``
(and, in DataLoader workers, the per-worker seed) makes them reproducible. Crops and
flips rearrange the data of input images and record no autograd history.

>>> from tessera.data import transforms as T
>>> t = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(), T.ToTensor(),
...                T.Normalize((0.1307,), (0.3081,))])
"""

import numbers

import numpy as np

from .._tensor import Tensor
from ..autograd.function import _make_tensor
from ..backend import default_generator, dtypes

__all__ = ["Compose", "ToTensor", "Normalize", "RandomCrop", "RandomHorizontalFlip", "Lambda"]

_PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


class Compose:
    """Apply ``transforms`` one after the other."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        lines = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({lines}\n)"


def _to_array(pic, name):
    """A NumPy image from an array or a PIL image (converted without importing PIL)."""
    if isinstance(pic, np.ndarray):
        return pic
    if type(pic).__module__.startswith("PIL.") and hasattr(pic, "mode"):
        arr = np.asarray(pic)
        return arr.astype(np.uint8) * 255 if pic.mode == "1" else arr
    raise TypeError(f"{name}: pic should be a NumPy array (H x W or H x W x C) or a PIL image, "
                    f"got {type(pic).__name__}")


class ToTensor:
    """An ``(H, W[, C])`` uint8 image in ``[0, 255]`` to a ``(C, H, W)`` float tensor in
    ``[0, 1]``. Images of other dtypes keep their values (and dtype), as in torchvision."""

    def __call__(self, pic):
        arr = _to_array(pic, "ToTensor")
        if arr.ndim not in (2, 3):
            raise ValueError(f"ToTensor: pic should be 2/3 dimensional. Got {arr.ndim} "
                             "dimensions.")
        if arr.ndim == 2:
            arr = arr[:, :, None]
        chw = arr.transpose(2, 0, 1)
        if arr.dtype == np.uint8:
            out = np.empty(chw.shape, dtypes.get_default_dtype().np_dtype)
            np.divide(chw, out.dtype.type(255), out=out)  # torchvision divides, in float
            return _make_tensor(out)
        return _make_tensor(_tensor_array(np.ascontiguousarray(chw), "ToTensor"))

    def __repr__(self):
        return f"{type(self).__name__}()"


def _tensor_array(arr, name):
    if arr.dtype in dtypes._BY_NUMPY:
        return arr
    try:
        return arr.astype(dtypes.from_numpy_dtype(arr.dtype).np_dtype)
    except TypeError:
        raise TypeError(f"{name}: images of dtype {arr.dtype} are not supported") from None


class Normalize:
    """``(x - mean[c]) / std[c]`` for each channel ``c`` of a ``(..., C, H, W)`` float tensor.

    Args:
        mean, std: sequences with one value per channel (or one value for all).
        inplace: write the result into the input tensor.
    """

    def __init__(self, mean, std, inplace=False):
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, tensor):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"Normalize: input should be a tensor image, got "
                            f"{type(tensor).__name__}")
        if not tensor.is_floating_point():
            raise TypeError(f"Normalize: input tensor should be a float tensor. Got "
                            f"{tensor.dtype}.")
        if tensor.ndim < 3:
            raise ValueError("Normalize: expected tensor to be a tensor image of size "
                             f"(..., C, H, W). Got tensor.size() = {tuple(tensor.shape)}")
        dt = tensor._data.dtype
        mean = np.asarray(self.mean, dtype=dt).reshape(-1, 1, 1)
        std = np.asarray(self.std, dtype=dt).reshape(-1, 1, 1)
        if (std == 0).any():
            raise ValueError(f"Normalize: std evaluated to zero after conversion to "
                             f"{tensor.dtype}, leading to division by zero.")
        channels = tensor.shape[-3]
        if mean.shape[0] not in (1, channels) or std.shape[0] not in (1, channels):
            raise ValueError(f"Normalize: mean and std need 1 or {channels} values for an image "
                             f"with {channels} channels, got {mean.shape[0]} and {std.shape[0]}")
        if self.inplace:
            return tensor.sub_(_make_tensor(mean)).div_(_make_tensor(std))
        if tensor.requires_grad:
            return (tensor - _make_tensor(mean)) / _make_tensor(std)
        out = np.subtract(tensor._data, mean)
        np.divide(out, std, out=out)
        return _make_tensor(out)

    def __repr__(self):
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


def _pair(size, name, what):
    if isinstance(size, numbers.Integral):
        return int(size), int(size)
    if isinstance(size, (tuple, list)) and len(size) == 1:
        return int(size[0]), int(size[0])
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"{name}: please provide only two dimensions (h, w) for {what}, got "
                     f"{size!r}")


def _image_axes(img):
    """The array of an image and the axes of its height and width."""
    if isinstance(img, Tensor):
        if img.ndim < 2:
            raise ValueError(f"RandomCrop: expected a tensor image of size (..., H, W), got "
                             f"shape {tuple(img.shape)}")
        return img._data, img.ndim - 2, img.ndim - 1
    arr = _to_array(img, "RandomCrop")
    if arr.ndim not in (2, 3):
        raise ValueError(f"RandomCrop: expected an (H, W) or (H, W, C) array image, got shape "
                         f"{arr.shape}")
    return arr, 0, 1


def _pad(arr, h_axis, w_axis, left, top, right, bottom, fill, mode):
    widths = [(0, 0)] * arr.ndim
    widths[h_axis] = (top, bottom)
    widths[w_axis] = (left, right)
    if mode != "constant":
        return np.pad(arr, widths, mode=mode)
    if isinstance(fill, (tuple, list)):
        # One fill value per channel: the axis that is neither height nor width.
        channel_axis = 0 if h_axis > 0 else 2
        out = np.pad(arr, widths, mode="constant")
        border = np.ones(out.shape, dtype=bool)
        inner = [slice(None)] * arr.ndim
        inner[h_axis] = slice(top, top + arr.shape[h_axis])
        inner[w_axis] = slice(left, left + arr.shape[w_axis])
        border[tuple(inner)] = False
        shape = [1] * arr.ndim
        shape[channel_axis] = len(fill)
        values = np.broadcast_to(np.asarray(fill, dtype=arr.dtype).reshape(shape), out.shape)
        out[border] = values[border]
        return out
    return np.pad(arr, widths, mode="constant", constant_values=fill)


class RandomCrop:
    """Crop a random ``size`` region, optionally after padding the borders.

    Args:
        size: output ``(h, w)``, or one int for a square.
        padding: pixels added to the borders first: one int for all, ``(lr, tb)``, or
            ``(left, top, right, bottom)``.
        pad_if_needed: pad images smaller than ``size`` so a crop always fits.
        fill: value of constant padding (one per channel as a tuple).
        padding_mode: "constant", "edge", "reflect" or "symmetric".
    """

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = _pair(size, "RandomCrop", "size")
        if padding is not None:
            if isinstance(padding, numbers.Integral):
                padding = int(padding)
            elif not (isinstance(padding, (tuple, list)) and len(padding) in (1, 2, 4)):
                raise ValueError("RandomCrop: padding must be an int or a 1, 2, or 4 element "
                                 f"tuple, not {padding!r}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError("RandomCrop: padding mode should be either constant, edge, reflect "
                             f"or symmetric, got {padding_mode!r}")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    @staticmethod
    def get_params(img, output_size):
        """Random ``(top, left, height, width)`` of a crop of ``output_size``."""
        arr, h_axis, w_axis = _image_axes(img)
        return _crop_params(arr.shape[h_axis], arr.shape[w_axis], output_size)

    def __call__(self, img):
        arr, h_axis, w_axis = _image_axes(img)
        mode, fill = self.padding_mode, self.fill
        if self.padding is not None:
            p = self.padding
            if isinstance(p, int):
                p = (p,)
            left, top, right, bottom = (p * 4 if len(p) == 1 else
                                        (p[0], p[1], p[0], p[1]) if len(p) == 2 else p)
            arr = _pad(arr, h_axis, w_axis, left, top, right, bottom, fill, mode)
        th, tw = self.size
        if self.pad_if_needed and arr.shape[w_axis] < tw:
            d = tw - arr.shape[w_axis]
            arr = _pad(arr, h_axis, w_axis, d, 0, d, 0, fill, mode)
        if self.pad_if_needed and arr.shape[h_axis] < th:
            d = th - arr.shape[h_axis]
            arr = _pad(arr, h_axis, w_axis, 0, d, 0, d, fill, mode)
        i, j, h, w = _crop_params(arr.shape[h_axis], arr.shape[w_axis], self.size)
        index = [slice(None)] * arr.ndim
        index[h_axis] = slice(i, i + h)
        index[w_axis] = slice(j, j + w)
        out = arr[tuple(index)]
        if isinstance(img, Tensor):
            return _make_tensor(np.ascontiguousarray(out))
        return out

    def __repr__(self):
        return (f"{type(self).__name__}(size={self.size}, padding={self.padding}, "
                f"pad_if_needed={self.pad_if_needed}, fill={self.fill}, "
                f"padding_mode={self.padding_mode})")


def _crop_params(h, w, output_size):
    th, tw = output_size
    if h < th or w < tw:
        raise ValueError(f"RandomCrop: required crop size {(th, tw)} is larger than input image "
                         f"size {(h, w)}")
    if h == th and w == tw:
        return 0, 0, h, w
    rng = default_generator.numpy
    return int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1)), th, tw


class RandomHorizontalFlip:
    """Mirror the image left-right with probability ``p``."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        if default_generator.numpy.random() >= self.p:
            return img
        if isinstance(img, Tensor):
            if img.ndim < 2:
                raise ValueError(f"RandomHorizontalFlip: expected a tensor image of size "
                                 f"(..., H, W), got shape {tuple(img.shape)}")
            return _make_tensor(np.ascontiguousarray(img._data[..., ::-1]))
        arr = _to_array(img, "RandomHorizontalFlip")
        if arr.ndim not in (2, 3):
            raise ValueError(f"RandomHorizontalFlip: expected an (H, W) or (H, W, C) array "
                             f"image, got shape {arr.shape}")
        return np.ascontiguousarray(arr[:, ::-1])

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p})"


class Lambda:
    """Apply a user function as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Lambda: argument lambd should be callable, got "
                            f"{type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"{type(self).__name__}()"
