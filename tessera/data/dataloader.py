"""DataLoader: batches from a dataset, in the main process or in worker processes.

The order of keys comes from the sampler, iterated in the main process; workers only
fetch and collate the keys they are sent, and batches are handed back in order. So
``num_workers`` changes the speed, never the batches: the same seed gives the same
epoch with 0 or 2 workers.
"""

import functools
import itertools
import math
import multiprocessing
import multiprocessing.connection
import numbers

from ..backend import Generator, default_generator
from . import _worker
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader"]

_FROZEN_AFTER_INIT = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                      "persistent_workers")


class _InfiniteConstantSampler(Sampler):
    """The 'keys' of an IterableDataset: None, forever (the dataset decides when to stop)."""

    def __iter__(self):
        return itertools.repeat(None)


class DataLoader:
    """Iterate over a dataset in batches.

    Args:
        dataset: a map-style :class:`Dataset` or an :class:`IterableDataset`.
        batch_size: samples per batch (default 1); None disables batching, so each
            sample is only converted (arrays to tensors) by ``collate_fn``.
        shuffle: reshuffle the keys every epoch (map-style datasets only).
        sampler: yields the keys to load (exclusive with ``shuffle``).
        batch_sampler: yields lists of keys (exclusive with batch_size, shuffle,
            sampler and drop_last).
        num_workers: worker processes loading batches (0: load in the main process).
        collate_fn: merges a list of samples into a batch (default: :func:`default_collate`).
        pin_memory: accepted for PyTorch compatibility; CPU tensors need no pinning.
        drop_last: drop the last incomplete batch.
        timeout: seconds to wait for a batch from the workers (0: no limit).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after it
            is seeded.
        multiprocessing_context: a start method name or context (default: "fork" where
            available, else "spawn").
        generator: the :class:`tessera.Generator` for shuffling and worker seeds
            (default: the default generator, seeded by ``tessera.manual_seed``).
        prefetch_factor: batches loaded in advance per worker (default 2 with workers).
        persistent_workers: keep the workers alive between epochs.
        in_order: hand batches back in sampler order (default True); False returns
            whichever batch is ready first.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError("DataLoader: num_workers option should be non-negative; use "
                             f"num_workers=0 to disable multiprocessing (got {num_workers!r})")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative (got {timeout})")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified in "
                             "multiprocessing. Let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (not isinstance(prefetch_factor, numbers.Integral)
                                            or prefetch_factor < 1):
            raise ValueError(f"DataLoader: prefetch_factor should be a positive integer (got "
                             f"{prefetch_factor!r})")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None and num_workers == 0:
            raise ValueError("DataLoader: multiprocessing_context can only be used with "
                             "multi-process loading (num_workers > 0), but got num_workers=0")
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(f"DataLoader: generator must be a tessera.Generator, got "
                            f"{type(generator).__name__}")

        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in (False, None):
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is "
                             "mutually exclusive with drop_last")
        if sampler is None:
            if iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._iterable = iterable
        self._auto_collation = batch_sampler is not None
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator = None
        self._initialized = True

    def __setattr__(self, name, value):
        if name in _FROZEN_AFTER_INIT and self.__dict__.get("_initialized"):
            raise ValueError(f"DataLoader: {name} attribute should not be set after DataLoader "
                             "is initialized")
        super().__setattr__(name, value)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if not self.persistent_workers:
            return _MultiProcessIter(self)
        if self._iterator is None or self._iterator._shutdown:
            self._iterator = _MultiProcessIter(self)
        else:
            self._iterator._reset(self)
        return self._iterator

    def __len__(self):
        return self._length_fn()()

    def _length_fn(self):
        """``len(self)`` as a function that does not hold the loader (iterators keep it:
        a persistent loader holds its iterator, and a cycle would delay the shutdown)."""
        return functools.partial(_length, self._iterable, self.dataset, self.batch_size,
                                 self.drop_last, self._index_sampler)


def _length(iterable, dataset, batch_size, drop_last, index_sampler):
    if not iterable:
        return len(index_sampler)
    length = len(dataset)  # TypeError when the stream has no length
    if batch_size is not None:
        length = length // batch_size if drop_last else math.ceil(length / batch_size)
    return length


def _draw_seed(generator):
    """One seed from the loader's generator, drawn every epoch whatever the number of
    workers, so that the generator advances identically with or without workers."""
    return int((generator or default_generator).numpy.integers(0, 2**62))


class _SingleProcessIter:
    def __init__(self, loader):
        _draw_seed(loader.generator)
        self._fetcher = _worker.make_fetcher(loader._iterable, loader.dataset,
                                             loader._auto_collation, loader.collate_fn,
                                             loader.drop_last)
        self._sampler_iter = iter(loader._index_sampler)
        self._len = loader._length_fn()

    def __iter__(self):
        return self

    def __next__(self):
        return self._fetcher.fetch(next(self._sampler_iter))

    def __len__(self):
        return self._len()


def _context(spec):
    if spec is None:
        return multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    if isinstance(spec, str):
        return multiprocessing.get_context(spec)
    return spec


class _MultiProcessIter:
    """Workers fed by pipes: keys go out round-robin, batches come back and are put in
    order, at most ``prefetch_factor`` outstanding tasks per worker."""

    def __init__(self, loader):
        self._shutdown = True  # until the workers exist, there is nothing to shut down
        n = loader.num_workers
        self._num_workers = n
        self._prefetch = loader.prefetch_factor
        self._persistent = loader.persistent_workers
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._generator = loader.generator
        self._len = loader._length_fn()
        self._index_sampler = loader._index_sampler
        base_seed = _draw_seed(loader.generator)
        ctx = _context(loader.multiprocessing_context)
        forked = ctx.get_start_method() == "fork"
        self._task_conns, self._result_conns, self._workers = [], [], []
        self._shutdown = False
        try:
            main_ends = []
            for worker_id in range(n):
                task_r, task_w = ctx.Pipe(duplex=False)
                result_r, result_w = ctx.Pipe(duplex=False)
                main_ends += [task_w, result_r]
                self._task_conns.append(task_w)
                self._result_conns.append(result_r)
                w = ctx.Process(
                    target=_worker.worker_loop,
                    args=(loader._iterable, loader.dataset, task_r, result_w,
                          list(main_ends) if forked else [], loader._auto_collation,
                          loader.collate_fn, loader.drop_last, base_seed, loader.worker_init_fn,
                          worker_id, n),
                    daemon=True)
                w.start()
                self._workers.append(w)
                task_r.close()
                result_w.close()
            self._reset(loader, first=True)
        except BaseException:
            self._shutdown_workers()
            raise

    def __iter__(self):
        return self

    def __len__(self):
        return self._len()

    def _reset(self, loader, first=False):
        if not first:
            _draw_seed(self._generator)
        self._sampler_iter = iter(self._index_sampler)
        self._send_idx = 0
        self._rcvd_idx = 0
        self._tasks = {}  # task idx -> [worker_id] or [worker_id, batch] once it arrived
        self._outstanding = 0
        self._active = [True] * self._num_workers
        self._cycle = itertools.cycle(range(self._num_workers))
        if not first:
            # Persistent workers: drop what the last epoch left in flight, restart streams.
            for conn in self._task_conns:
                conn.send(_worker.ResumeIteration())
            waiting = self._num_workers
            while waiting:
                idx, _ = self._get_data()
                if isinstance(idx, _worker.ResumeIteration):
                    waiting -= 1
        for _ in range(self._prefetch * self._num_workers):
            self._try_put_index()

    def _try_put_index(self):
        try:
            keys = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            worker_id = next(self._cycle)
            if self._active[worker_id]:
                break
        else:
            return
        try:
            self._task_conns[worker_id].send((self._send_idx, keys))
        except OSError:  # the worker is gone and its end of the pipe with it
            self._worker_died(worker_id)
        self._tasks[self._send_idx] = [worker_id]
        self._outstanding += 1
        self._send_idx += 1

    def _get_data(self):
        """The next ``(task_idx, data)`` message from any worker."""
        interval = _worker.STATUS_CHECK_INTERVAL
        waited = 0.0
        sentinels = {w.sentinel: i for i, w in enumerate(self._workers)}
        readers = {c: i for i, c in enumerate(self._result_conns)}
        while True:
            step = interval if not self._timeout else min(interval, self._timeout - waited)
            ready = multiprocessing.connection.wait(list(readers) + list(sentinels), step)
            for obj in ready:
                if obj in readers:
                    return self._receive(obj, readers[obj])
            for obj in ready:  # a worker exited while tasks were outstanding
                worker_id = sentinels[obj]
                if not self._result_conns[worker_id].poll():
                    self._worker_died(worker_id)
            waited += step
            if self._timeout and waited >= self._timeout:
                self._shutdown_workers(grace=0.1)  # a stuck worker will not answer
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    def _receive(self, conn, worker_id):
        try:
            return conn.recv()
        except (EOFError, OSError):
            self._worker_died(worker_id)
        except Exception as exc:
            self._shutdown_workers()
            raise RuntimeError(f"DataLoader: could not unpickle a batch from worker "
                               f"{worker_id}: {exc}") from exc

    def _worker_died(self, worker_id):
        w = self._workers[worker_id]
        w.join(timeout=1.0)
        code = w.exitcode
        self._shutdown_workers(grace=0.1)
        raise RuntimeError(f"DataLoader worker {worker_id} (pid {w.pid}) exited unexpectedly "
                           f"with exit code {code}")

    def __next__(self):
        while True:
            while self._rcvd_idx < self._send_idx:
                task = self._tasks.get(self._rcvd_idx)
                if task is not None and (len(task) == 2 or self._active[task[0]]):
                    break
                # Returned out of order already, or its worker's stream has ended.
                self._tasks.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if len(task) == 2:
                del self._tasks[self._rcvd_idx]
                return self._process(task[1])
            idx, data = self._get_data()
            if isinstance(idx, _worker.ResumeIteration):
                continue
            self._outstanding -= 1
            if isinstance(data, _worker.IterableDatasetStop):
                self._active[data.worker_id] = False
                self._try_put_index()
                continue
            if idx == self._rcvd_idx or not self._in_order:
                self._tasks.pop(idx, None)
                return self._process(data)
            self._tasks[idx].append(data)

    def _process(self, data):
        self._try_put_index()
        if isinstance(data, _worker.ExceptionWrapper):
            data.reraise()
        return data

    def _shutdown_workers(self, grace=_worker.STATUS_CHECK_INTERVAL):
        """Stop the workers: ask, wait up to ``grace`` seconds, then terminate."""
        if self._shutdown:
            return
        self._shutdown = True
        for conn in self._task_conns:
            try:
                conn.send(None)
            except OSError:
                pass
        for conn in self._result_conns:
            conn.close()  # a worker blocked on sending a batch sees the hang-up and exits
        for w in self._workers:
            w.join(timeout=grace)
        for w in self._workers:
            if w.is_alive():
                w.terminate()
                w.join()
        for conn in self._task_conns:
            conn.close()

    def __del__(self):
        try:
            self._shutdown_workers()
        except Exception:  # interpreter shutdown: the modules may already be gone
            pass
