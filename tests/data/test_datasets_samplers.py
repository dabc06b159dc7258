"""Datasets, random_split, samplers and default_collate, checked against
torch.utils.data where PyTorch's behaviour is deterministic."""

import collections

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import tessera as ts
from tessera.data import (BatchSampler, ChainDataset, ConcatDataset, Dataset, IterableDataset,
                          RandomSampler, SequentialSampler, StackDataset, Subset,
                          SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                          default_collate, default_convert, random_split)
from tessera.testing import assert_close


class Range(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i >= self.n:
            raise IndexError(i)
        return i


class Stream(IterableDataset):
    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)


def test_tensor_dataset():
    x, y = ts.randn(5, 3), ts.arange(5)
    ds = TensorDataset(x, y)
    assert len(ds) == 5
    xi, yi = ds[2]
    assert_close(xi, ts.tensor(x.numpy()[2]))
    assert yi.tolist() == 2 and yi.shape == ()
    with pytest.raises(ValueError, match="size mismatch between tensors"):
        TensorDataset(ts.zeros(3), ts.zeros(4))
    with pytest.raises(TypeError, match="must be a Tensor"):
        TensorDataset(np.zeros(3))


def test_subset_concat_stack_chain():
    base = Range(10)
    sub = Subset(base, [7, 2, 5])
    assert [sub[i] for i in range(len(sub))] == [7, 2, 5]
    assert sub.__getitems__([0, 2]) == [7, 5]
    cat = ConcatDataset([Range(3), Range(2)])
    assert len(cat) == 5 and [cat[i] for i in range(5)] == [0, 1, 2, 0, 1]
    assert cat[-1] == 1 and cat.cumulative_sizes == [3, 5]
    assert len(Range(3) + Range(4)) == 7
    with pytest.raises(ValueError, match="should not exceed dataset length"):
        cat[-6]
    with pytest.raises(IndexError, match="out of range"):
        cat[5]
    with pytest.raises(ValueError, match="empty iterable"):
        ConcatDataset([])
    with pytest.raises(TypeError, match="does not support IterableDataset"):
        ConcatDataset([Stream([1])])
    stack = StackDataset(a=Range(3), b=Range(3))
    assert stack[1] == {"a": 1, "b": 1}
    assert StackDataset(Range(2), Range(2))[1] == (1, 1)
    with pytest.raises(ValueError, match="size mismatch"):
        StackDataset(Range(2), Range(3))
    assert list(Stream([1, 2]) + Stream([3])) == [1, 2, 3]
    assert isinstance(Stream([]) + Stream([]), ChainDataset)


def test_random_split_lengths_and_fractions():
    for n, fractions in [(10, [0.3, 0.7]), (11, [0.5, 0.25, 0.25]), (7, [0.1, 0.9])]:
        ours = [len(s) for s in random_split(Range(n), fractions)]
        theirs = [len(s) for s in tud.random_split(range(n), fractions)]
        assert ours == theirs
    ts.manual_seed(4)
    a, b = random_split(Range(10), [4, 6])
    assert sorted(list(a.indices) + list(b.indices)) == list(range(10))
    ts.manual_seed(4)
    a2, _ = random_split(Range(10), [4, 6])
    assert a.indices == a2.indices
    gen = ts.Generator().manual_seed(1)
    c, _ = random_split(Range(10), [5, 5], generator=gen)
    gen.manual_seed(1)
    assert random_split(Range(10), [5, 5], generator=gen)[0].indices == c.indices
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(Range(10), [3, 3])
    with pytest.raises(ValueError, match="not between 0 and 1"):
        random_split(Range(10), [1.5, -0.5])
    with pytest.warns(UserWarning, match="length of split at index 1 is 0"):
        random_split(Range(2), [0.9, 0.1])


def test_sequential_and_random_samplers():
    assert list(SequentialSampler(Range(4))) == [0, 1, 2, 3]
    ts.manual_seed(0)
    perm = list(RandomSampler(Range(8)))
    assert sorted(perm) == list(range(8))
    ts.manual_seed(0)
    assert list(RandomSampler(Range(8))) == perm
    more = list(RandomSampler(Range(4), num_samples=10))
    assert len(more) == 10 and sorted(more[:4]) == [0, 1, 2, 3]
    repl = RandomSampler(Range(3), replacement=True, num_samples=50)
    drawn = list(repl)
    assert len(repl) == 50 and len(drawn) == 50 and set(drawn) <= {0, 1, 2}
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(Range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(Range(3), replacement=1)


def test_subset_and_weighted_samplers():
    ts.manual_seed(2)
    got = list(SubsetRandomSampler([10, 20, 30]))
    assert sorted(got) == [10, 20, 30]
    weights = [0.0, 1.0, 3.0, 0.0]
    drawn = list(WeightedRandomSampler(weights, 200))
    assert set(drawn) <= {1, 2} and drawn.count(2) > drawn.count(1)
    unique = list(WeightedRandomSampler([1, 1, 1, 0], 3, replacement=False))
    assert sorted(unique) == [0, 1, 2]
    assert len(WeightedRandomSampler(ts.tensor([1.0, 2.0]), 5)) == 5
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        WeightedRandomSampler([[1.0]], 1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        WeightedRandomSampler([1.0], 0)


@pytest.mark.parametrize("n,size,drop_last", [(10, 3, False), (10, 3, True), (9, 3, True),
                                               (0, 2, False), (2, 5, False)])
def test_batch_sampler_matches_torch(n, size, drop_last):
    ours = BatchSampler(SequentialSampler(Range(n)), size, drop_last)
    theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), size, drop_last)
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs)


def test_batch_sampler_errors():
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(SequentialSampler(Range(2)), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        BatchSampler(SequentialSampler(Range(2)), 1, 1)


Point = collections.namedtuple("Point", "x y")


def _to_torch(sample):
    if isinstance(sample, ts.Tensor):
        return torch.from_numpy(sample.numpy().copy())
    if isinstance(sample, dict):
        return type(sample)((k, _to_torch(v)) for k, v in sample.items())
    if isinstance(sample, Point):
        return Point(*(_to_torch(v) for v in sample))
    if isinstance(sample, (list, tuple)):
        return type(sample)(_to_torch(v) for v in sample)
    return sample


def _assert_like_torch(ours, theirs, path="batch"):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, ts.Tensor), path
        assert ours.dtype.name == str(theirs.dtype).split(".")[-1], path
        assert_close(ours, theirs, rtol=0, atol=0, msg=path)
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs), path
        for k in theirs:
            _assert_like_torch(ours[k], theirs[k], f"{path}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _assert_like_torch(a, b, f"{path}[{i}]")
    else:
        assert ours == theirs, path


BATCHES = {
    "tensors": [ts.tensor([1.0, 2.0]), ts.tensor([3.0, 4.0])],
    "0d-tensors": [ts.tensor(1), ts.tensor(2)],
    "arrays": [np.arange(3, dtype=np.float32), np.ones(3, dtype=np.float32)],
    "int-arrays": [np.arange(2, dtype=np.int32), np.arange(2, dtype=np.int32)],
    "numpy-scalars": [np.float32(1), np.float32(2)],
    "floats": [1.5, 2.5],
    "ints": [1, 2],
    "bools": [True, False],
    "mixed-numbers": [1, 2.5],
    "strings": ["a", "b"],
    "dicts": [{"x": ts.tensor([1]), "n": 1}, {"x": ts.tensor([2]), "n": 2}],
    "ordered": [collections.OrderedDict(a=1.0), collections.OrderedDict(a=2.0)],
    "tuples": [(ts.tensor([1.0]), 1, "a"), (ts.tensor([2.0]), 2, "b")],
    "lists": [[1, 2], [3, 4]],
    "namedtuples": [Point(1, 2.0), Point(3, 4.0)],
    "nested": [{"p": [ts.zeros(2), {"q": 1}]}, {"p": [ts.ones(2), {"q": 2}]}],
}


@pytest.mark.parametrize("name", list(BATCHES))
def test_default_collate_matches_torch(name):
    batch = BATCHES[name]
    theirs = tud.default_collate([_to_torch(s) for s in batch])
    _assert_like_torch(default_collate(batch), theirs)


def test_default_collate_errors_and_dtypes():
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal"):
        default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but got "
                                           r"\[2\] at entry 0 and \[3\] at entry 1"):
        default_collate([ts.zeros(2), ts.zeros(3)])
    promoted = default_collate([ts.zeros(2), ts.zeros(2, dtype=ts.float64)])
    assert promoted.dtype is ts.float64
    assert default_collate([np.zeros(2, np.uint16)] * 2).dtype is ts.int64
    assert default_collate([ts.zeros(2, 3)] * 4).shape == (4, 2, 3)


def test_default_collate_keeps_the_graph():
    a = ts.ones(2, requires_grad=True)
    batch = default_collate([a, a * 2])
    assert batch.requires_grad
    batch.sum().backward()
    assert_close(a.grad, ts.full((2,), 3.0))


def test_default_convert():
    out = default_convert((np.zeros(2), 1, "s", {"a": np.int32(3)}))
    assert isinstance(out, list)
    assert isinstance(out[0], ts.Tensor) and out[0].dtype is ts.float64
    assert out[1:3] == [1, "s"]
    assert out[3]["a"].dtype is ts.int32 and out[3]["a"].shape == ()
    assert default_convert(np.array(["x"]))[0] == "x"
