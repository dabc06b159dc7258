"""Image transforms against torchvision's definitions, written out with torch ops."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tessera as ts
from tessera.backend import default_generator
from tessera.data import transforms as T
from tessera.testing import assert_close


def _image(h=5, w=6, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def test_to_tensor():
    img = _image()
    out = T.ToTensor()(img)
    expected = torch.from_numpy(img.transpose(2, 0, 1).copy()).float().div(255)
    assert out.dtype is ts.float32 and out.shape == (3, 5, 6)
    assert_close(out, expected, rtol=0, atol=0)
    gray = T.ToTensor()(img[:, :, 0])
    assert gray.shape == (1, 5, 6)
    floats = T.ToTensor()(np.full((2, 2, 1), 7.5, dtype=np.float32))
    assert floats.dtype is ts.float32 and floats.numpy().max() == 7.5  # not rescaled
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional. Got 4 dimensions"):
        T.ToTensor()(np.zeros((1, 2, 2, 1), np.uint8))
    with pytest.raises(TypeError, match="pic should be a NumPy array"):
        T.ToTensor()([[1, 2]])


def test_normalize():
    x = T.ToTensor()(_image())
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    out = T.Normalize(mean, std)(x)
    ref = torch.from_numpy(x.numpy().copy())
    ref = ref.sub_(torch.tensor(mean).view(-1, 1, 1)).div_(torch.tensor(std).view(-1, 1, 1))
    assert_close(out, ref, rtol=0, atol=0)
    assert_close(x, T.ToTensor()(_image()))  # not modified
    batch = ts.tensor(np.stack([x.numpy(), x.numpy()]))
    assert_close(ts.tensor(T.Normalize(mean, std)(batch).numpy()[1]), out)  # (N, C, H, W)
    inplace = T.Normalize(mean, std, inplace=True)(x)
    assert inplace is x
    assert_close(x, out)
    g = ts.rand(3, 2, 2, requires_grad=True)
    T.Normalize(0.5, 0.5)(g).sum().backward()
    assert_close(g.grad, ts.full((3, 2, 2), 2.0))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0.1,), (0.0,))(x)
    with pytest.raises(TypeError, match="should be a float tensor"):
        T.Normalize((0.1,), (1.0,))(ts.zeros(1, 2, 2, dtype=ts.int64))
    with pytest.raises(ValueError, match=r"size \(\.\.\., C, H, W\)"):
        T.Normalize((0.1,), (1.0,))(ts.zeros(2, 2))


@pytest.mark.parametrize("mode,torch_mode", [("constant", "constant"), ("edge", "replicate"),
                                             ("reflect", "reflect")])
def test_random_crop_padding_matches_torch(mode, torch_mode):
    img = ts.tensor(np.random.default_rng(1).random((2, 4, 5), dtype=np.float32))
    crop = T.RandomCrop((4 + 2 * 2, 5 + 2 * 1), padding=(1, 2), padding_mode=mode, fill=0)
    out = crop(img)  # the crop is the whole padded image: no randomness
    ref = F.pad(torch.from_numpy(img.numpy().copy())[None], (1, 1, 2, 2), mode=torch_mode)[0]
    assert_close(out, ref, rtol=0, atol=0)


def test_random_crop_symmetric_fill_and_arrays():
    arr = _image(3, 3, 2)
    out = T.RandomCrop(7, padding=2, padding_mode="symmetric")(arr)
    np.testing.assert_array_equal(out, np.pad(arr, ((2, 2), (2, 2), (0, 0)), mode="symmetric"))
    filled = T.RandomCrop(5, padding=1, fill=(9, 7))(arr)
    assert (filled[0, :, 0] == 9).all() and (filled[0, :, 1] == 7).all()
    np.testing.assert_array_equal(filled[1:4, 1:4], arr)
    t = T.RandomCrop((2, 8), padding=(0, 0, 3, 0), fill=-1.0)(ts.zeros(1, 2, 5))
    assert t.shape == (1, 2, 8) and (t.numpy()[..., 5:] == -1).all()


def test_random_crop_window_comes_from_the_default_generator():
    img = ts.arange(1 * 6 * 7, dtype=ts.float32).reshape(1, 6, 7)
    ts.manual_seed(5)
    out = T.RandomCrop((3, 4))(img)
    ts.manual_seed(5)
    rng = default_generator.numpy
    i, j = int(rng.integers(0, 4)), int(rng.integers(0, 4))
    np.testing.assert_array_equal(out.numpy(), img.numpy()[:, i:i + 3, j:j + 4])
    ts.manual_seed(5)
    assert T.RandomCrop.get_params(img, (3, 4)) == (i, j, 3, 4)


def test_random_crop_pad_if_needed_and_errors():
    out = T.RandomCrop(6, pad_if_needed=True)(ts.ones(1, 4, 3))
    assert out.shape == (1, 6, 6)
    with pytest.raises(ValueError, match=r"required crop size \(6, 6\) is larger than input "
                                         r"image size \(4, 3\)"):
        T.RandomCrop(6)(ts.ones(1, 4, 3))
    with pytest.raises(ValueError, match="padding must be an int or a 1, 2, or 4 element"):
        T.RandomCrop(3, padding=(1, 2, 3))
    with pytest.raises(ValueError, match="padding mode should be either"):
        T.RandomCrop(3, padding_mode="wrap")
    with pytest.raises(ValueError, match="two dimensions"):
        T.RandomCrop((1, 2, 3))


def test_random_horizontal_flip():
    img = ts.arange(6, dtype=ts.float32).reshape(1, 2, 3)
    assert_close(T.RandomHorizontalFlip(p=1.0)(img), ts.tensor([[[2.0, 1, 0], [5, 4, 3]]]))
    assert T.RandomHorizontalFlip(p=0.0)(img) is img
    arr = _image(2, 3, 1)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(arr), arr[:, ::-1])
    ts.manual_seed(0)
    flips = [T.RandomHorizontalFlip()(img) is not img for _ in range(200)]
    assert 60 < sum(flips) < 140
    ts.manual_seed(0)
    assert [T.RandomHorizontalFlip()(img) is not img for _ in range(200)] == flips


def test_compose_lambda_and_repr():
    pipeline = T.Compose([T.RandomCrop(4, padding=1), T.RandomHorizontalFlip(0.5), T.ToTensor(),
                          T.Lambda(lambda x: x * 2), T.Normalize((0.5,), (0.25,))])
    out = pipeline(_image(4, 4, 1))
    assert out.shape == (1, 4, 4) and out.dtype is ts.float32
    text = repr(pipeline)
    assert text.startswith("Compose(\n    RandomCrop(size=(4, 4), padding=1")
    assert "RandomHorizontalFlip(p=0.5)" in text and "ToTensor()" in text
    assert "Normalize(mean=(0.5,), std=(0.25,))" in text and "Lambda()" in text
    with pytest.raises(TypeError, match="lambd should be callable"):
        T.Lambda(3)
