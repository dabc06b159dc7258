"""DataLoader: batching, shuffling, lengths, and worker processes that give exactly the
batches of the single-process loader for the same seed."""

import math
import os

import numpy as np
import pytest

import tessera as ts
from tessera.data import (BatchSampler, DataLoader, Dataset, IterableDataset, SequentialSampler,
                          TensorDataset, default_collate, get_worker_info)
from tessera.data import transforms as T
from tessera.testing import assert_close


class Squares(Dataset):
    """Samples built from Python values, so collation rules are exercised."""

    def __init__(self, n=10):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": ts.tensor([float(i), float(i * i)]), "y": i, "name": f"s{i}"}


class NoisyImages(Dataset):
    """Applies a random transform, so workers' generator seeding shows."""

    def __init__(self, n=8):
        self.n = n
        self.transform = T.Compose([T.RandomCrop(4, padding=1), T.RandomHorizontalFlip()])

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        img = ts.arange(16, dtype=ts.float32).reshape(1, 4, 4) + i
        return self.transform(img), float(ts.rand(1).item())


class Failing(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 3:
            raise ValueError("sample 3 is corrupt")
        return i


class Crashing(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 2 and get_worker_info() is not None:
            os._exit(3)
        return i


class Stream(IterableDataset):
    """0 .. n-1, split between workers."""

    def __init__(self, n=10):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        per = math.ceil(self.n / info.num_workers)
        return iter(range(info.id * per, min(self.n, (info.id + 1) * per)))

    def __len__(self):
        return self.n


def _flat(batches):
    out = []
    for b in batches:
        if isinstance(b, dict):
            out.append({k: v.numpy().tolist() if isinstance(v, ts.Tensor) else v
                        for k, v in b.items()})
        elif isinstance(b, (list, tuple)):
            out.append([v.numpy().tolist() if isinstance(v, ts.Tensor) else v for v in b])
        else:
            out.append(b.numpy().tolist() if isinstance(b, ts.Tensor) else b)
    return out


def test_batches_in_order_and_collated():
    batches = list(DataLoader(Squares(), batch_size=4))
    assert len(batches) == 3
    first = batches[0]
    assert_close(first["x"], ts.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 4.0], [3.0, 9.0]]))
    assert first["y"].dtype is ts.int64 and first["y"].tolist() == [0, 1, 2, 3]
    assert first["name"] == ["s0", "s1", "s2", "s3"]
    assert batches[-1]["y"].tolist() == [8, 9]
    assert [b["y"].tolist() for b in DataLoader(Squares(), batch_size=4, drop_last=True)] == \
        [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_lengths():
    assert len(DataLoader(Squares(10), batch_size=4)) == 3
    assert len(DataLoader(Squares(10), batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(Squares(10), batch_size=None)) == 10
    assert len(DataLoader(Stream(10), batch_size=3)) == 4
    assert len(DataLoader(Stream(10), batch_size=3, drop_last=True)) == 3
    sampler = BatchSampler(SequentialSampler(range(7)), 2, False)
    assert len(DataLoader(Squares(7), batch_sampler=sampler)) == 4


def test_batch_size_none_converts_only():
    ds = TensorDataset(ts.arange(6).reshape(3, 2))
    items = list(DataLoader(ds, batch_size=None))
    assert len(items) == 3 and items[1][0].tolist() == [2, 3]
    arrays = list(DataLoader([np.ones(2), np.zeros(2)], batch_size=None))
    assert isinstance(arrays[0], ts.Tensor) and arrays[0].dtype is ts.float64


def test_tensor_dataset_batches_equal_default_collate():
    x, y = ts.randn(10, 3), ts.arange(10)
    ds = TensorDataset(x, y)
    fast = list(DataLoader(ds, batch_size=4, shuffle=False))
    # A collate_fn other than default_collate itself takes the sample-by-sample path.
    slow = list(DataLoader(ds, batch_size=4, collate_fn=lambda b: default_collate(b)))
    assert isinstance(fast[0], list) and len(fast[0]) == 2
    for a, b in zip(fast, slow):
        assert_close(a[0], b[0])
        assert_close(a[1], b[1])


def test_shuffle_is_seeded_and_reshuffles_each_epoch():
    loader = DataLoader(Squares(12), batch_size=12, shuffle=True)
    ts.manual_seed(3)
    first, second = [next(iter(loader))["y"].tolist() for _ in range(2)]
    ts.manual_seed(3)
    again = next(iter(loader))["y"].tolist()
    assert first == again and first != second
    assert sorted(first) == list(range(12))
    gen = ts.Generator().manual_seed(5)
    with_gen = DataLoader(Squares(12), batch_size=12, shuffle=True, generator=gen)
    a = next(iter(with_gen))["y"].tolist()
    gen.manual_seed(5)
    assert next(iter(with_gen))["y"].tolist() == a


@pytest.mark.parametrize("dataset", [Squares(11), TensorDataset(ts.randn(11, 2), ts.arange(11))],
                         ids=["python-samples", "tensor-dataset"])
def test_workers_give_the_same_batches(dataset):
    def epochs(num_workers):
        ts.manual_seed(7)
        loader = DataLoader(dataset, batch_size=3, shuffle=True, num_workers=num_workers)
        return [_flat(loader) for _ in range(2)]

    single = epochs(0)
    assert single[0] != single[1]
    assert epochs(2) == single


def test_persistent_workers_match_single_process():
    def run(**kw):
        ts.manual_seed(11)
        loader = DataLoader(Squares(9), batch_size=2, shuffle=True, **kw)
        return [_flat(loader) for _ in range(3)]

    assert run(num_workers=2, persistent_workers=True) == run()


def test_persistent_workers_after_early_break():
    loader = DataLoader(Squares(9), batch_size=2, num_workers=2, persistent_workers=True)
    for _ in loader:
        break  # leaves batches in flight: the next epoch must not see them
    assert [b["y"].tolist() for b in loader] == [[0, 1], [2, 3], [4, 5], [6, 7], [8]]
    workers = list(loader._iterator._workers)
    assert all(w.is_alive() for w in workers)
    assert len(loader._iterator) == 5
    del loader  # the loader owns its persistent workers: they go with it
    for w in workers:
        w.join(timeout=5)
    assert not any(w.is_alive() for w in workers)


def test_worker_random_transforms_are_reproducible():
    def run():
        ts.manual_seed(1)
        loader = DataLoader(NoisyImages(), batch_size=2, num_workers=2)
        return [(b[0].numpy().copy(), b[1].numpy().copy()) for b in loader]

    a, b = run(), run()
    for (x1, r1), (x2, r2) in zip(a, b):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(r1, r2)
    # Each worker has its own stream: the two workers' first batches differ.
    assert not np.array_equal(a[0][1], a[1][1])


def _record_worker(worker_id):
    info = get_worker_info()
    assert info.id == worker_id and info.num_workers == 2
    ts.manual_seed(1000 + worker_id)


def test_worker_info_and_init_fn():
    assert get_worker_info() is None

    class WhoAmI(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            info = get_worker_info()
            return info.id, info.seed, ts.rand(1).item()

    batches = list(DataLoader(WhoAmI(), batch_size=1, num_workers=2,
                              worker_init_fn=_record_worker))
    ids = [b[0].tolist()[0] for b in batches]
    assert ids == [0, 1, 0, 1]  # round-robin, returned in order
    seeds = {b[0].tolist()[0]: b[1].tolist()[0] for b in batches}
    assert seeds[1] == seeds[0] + 1  # base_seed + worker_id
    ts.manual_seed(1000)
    assert batches[0][2].tolist()[0] == pytest.approx(ts.rand(1).item())


def test_iterable_dataset_sharded_between_workers():
    batches = list(DataLoader(Stream(10), batch_size=3, num_workers=2))
    items = sorted(v for b in batches for v in b.tolist())
    assert items == list(range(10))
    single = [b.tolist() for b in DataLoader(Stream(10), batch_size=3)]
    assert single == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    dropped = list(DataLoader(Stream(10), batch_size=3, num_workers=2, drop_last=True))
    assert all(len(b) == 3 for b in dropped)


def test_worker_exception_is_reraised_naming_the_worker():
    loader = DataLoader(Failing(), batch_size=1, num_workers=2)
    with pytest.raises(ValueError, match=r"Caught ValueError in DataLoader worker process 1"
                                         r"(.|\n)*sample 3 is corrupt"):
        list(loader)
    with pytest.raises(ValueError, match="sample 3 is corrupt"):
        list(DataLoader(Failing(), batch_size=1))


def test_worker_crash_is_reported():
    it = iter(DataLoader(Crashing(), batch_size=1, num_workers=2))
    with pytest.raises(RuntimeError, match=r"DataLoader worker 0 \(pid \d+\) exited "
                                           r"unexpectedly with exit code 3"):
        list(it)
    assert not any(w.is_alive() for w in it._workers)


def test_workers_shut_down_at_end_and_on_delete():
    it = iter(DataLoader(Squares(6), batch_size=2, num_workers=2))
    workers = list(it._workers)
    assert len(list(it)) == 3
    assert not any(w.is_alive() for w in workers)
    it = iter(DataLoader(Squares(6), batch_size=2, num_workers=2))
    next(it)
    workers = list(it._workers)
    del it
    for w in workers:
        w.join(timeout=5)
    assert not any(w.is_alive() for w in workers)


def test_out_of_order_returns_every_batch():
    loader = DataLoader(Squares(9), batch_size=2, num_workers=2, in_order=False)
    assert sorted(v for b in loader for v in b["y"].tolist()) == list(range(9))


def test_spawn_context():
    ds = TensorDataset(ts.arange(6).reshape(6, 1))
    loader = DataLoader(ds, batch_size=4, num_workers=1, multiprocessing_context="spawn")
    assert [b[0].reshape(-1).tolist() for b in loader] == [[0, 1, 2, 3], [4, 5]]


def test_argument_errors():
    ds = Squares()
    cases = [
        (dict(num_workers=-1), "num_workers option should be non-negative"),
        (dict(timeout=-1), "timeout option should be non-negative"),
        (dict(prefetch_factor=2), "prefetch_factor option could only be specified"),
        (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
        (dict(sampler=SequentialSampler(ds), shuffle=True), "mutually exclusive with shuffle"),
        (dict(batch_sampler=BatchSampler(SequentialSampler(ds), 2, False), batch_size=2),
         "batch_sampler option is mutually exclusive"),
        (dict(batch_size=None, drop_last=True), "disables auto-batching"),
        (dict(batch_size=0), "batch_size should be a positive integer"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            DataLoader(ds, **kwargs)
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(), shuffle=True)
    loader = DataLoader(ds)
    with pytest.raises(ValueError, match="batch_size attribute should not be set"):
        loader.batch_size = 3
    with pytest.raises(TypeError):
        len(DataLoader(type("NoLen", (IterableDataset,), {"__iter__": lambda s: iter([])})()))


def test_timeout():
    class Slow(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            import time
            time.sleep(3)
            return i

    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.2))


def test_pytorch_style_import_path():
    from tessera.utils.data import DataLoader as Loader
    from tessera.utils.data import get_worker_info as info

    assert Loader is DataLoader and info is get_worker_info
