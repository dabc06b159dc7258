"""What runs inside a DataLoader worker process, and what it sends back.

Each worker takes ``(task_idx, keys)`` from its own index queue, fetches and collates
the samples, and puts ``(task_idx, batch)`` on the shared result queue; the main
process puts the batches back in order. Errors travel as :class:`ExceptionWrapper`.
"""

import os
import pickle
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

from ..autograd.function import _make_tensor
from ..backend import default_generator
from .collate import default_collate
from .dataset import TensorDataset

__all__ = ["WorkerInfo", "get_worker_info"]

# How often a waiting worker checks that the main process is still alive, and a waiting
# main process checks that its workers are (seconds).
STATUS_CHECK_INTERVAL = 1.0

_worker_info = None


@dataclass(frozen=True)
class WorkerInfo:
    """Describes the current worker process: its ``id`` (``0 .. num_workers - 1``), the
    number of workers, the ``seed`` its generators were seeded with, and its copy of
    the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info():
    """The :class:`WorkerInfo` of this DataLoader worker, or None in the main process.

    Use it in ``IterableDataset.__iter__`` or ``worker_init_fn`` to give each worker its
    own share of the data.
    """
    return _worker_info


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process with its traceback."""

    def __init__(self, exc_info, where):
        self.exc_type = exc_info[0]
        self.exc_name = exc_info[0].__name__
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where
        try:
            pickle.dumps(self.exc_type)
        except Exception:  # a class the main process could not import: re-raise as RuntimeError
            self.exc_type = RuntimeError

    def reraise(self):
        msg = f"Caught {self.exc_name} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)  # KeyError would repr() the message
        try:
            exc = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exc


class _KeyErrorMessage(str):
    def __repr__(self):
        return self


@dataclass(frozen=True)
class IterableDatasetStop:
    """Sent by a worker whose copy of an IterableDataset is exhausted."""

    worker_id: int


@dataclass(frozen=True)
class ResumeIteration:
    """Sent to persistent workers at the start of a new epoch, and echoed back."""


class MapFetcher:
    def __init__(self, dataset, auto_collation, collate_fn):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        getitems = getattr(dataset, "__getitems__", None)
        self.getitems = getitems if callable(getitems) else None

    def fetch(self, keys):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[keys])
        if self.getitems is not None:
            return self.collate_fn(self.getitems(keys))
        dataset = self.dataset
        return self.collate_fn([dataset[k] for k in keys])


class IterableFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.iterator = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, keys):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.iterator))
        data = []
        for _ in keys:
            try:
                data.append(next(self.iterator))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < len(keys)):
            raise StopIteration
        return self.collate_fn(data)


class TensorDatasetFetcher:
    """Gathers a whole batch of rows with one indexing per tensor: the result equals
    ``default_collate`` of the samples, without building them one by one."""

    def __init__(self, dataset):
        self.arrays = [t._data for t in dataset.tensors]

    def fetch(self, keys):
        idx = np.asarray(keys, dtype=np.intp)
        try:
            return [_make_tensor(a[idx]) for a in self.arrays]
        except IndexError:
            n = len(self.arrays[0]) if self.arrays else 0
            raise IndexError(f"TensorDataset: index out of range in batch {list(keys)} for a "
                             f"dataset of length {n}") from None


def make_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last):
    if iterable:
        return IterableFetcher(dataset, auto_collation, collate_fn, drop_last)
    if (type(dataset) is TensorDataset and auto_collation and collate_fn is default_collate
            and not any(t.requires_grad for t in dataset.tensors)):
        return TensorDatasetFetcher(dataset)
    return MapFetcher(dataset, auto_collation, collate_fn)


def seed_worker(base_seed, worker_id):
    """Seed tessera's, Python's and NumPy's global generators for one worker."""
    seed = base_seed + worker_id
    default_generator.manual_seed(seed)
    random.seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, base_seed]).generate_state(4))
    return seed


def worker_loop(iterable, dataset, task_conn, result_conn, close_in_child, auto_collation,
                collate_fn, drop_last, base_seed, init_fn, worker_id, num_workers):
    """The body of a worker process (see the module docstring).

    ``close_in_child`` are the main process's pipe ends that a forked child inherits:
    closing them lets each side see the other hang up.
    """
    global _worker_info
    for conn in close_in_child:
        conn.close()
    try:
        seed = seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        where = f"in DataLoader worker process {worker_id}"
        init_error = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = make_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_error = ExceptionWrapper(sys.exc_info(), where)
        parent = os.getppid()
        exhausted = False
        while True:
            if not task_conn.poll(STATUS_CHECK_INTERVAL):
                if os.getppid() != parent:
                    break  # the main process is gone
                continue
            task = task_conn.recv()
            if task is None:
                break
            if isinstance(task, ResumeIteration):
                exhausted = False
                if init_error is None:
                    try:
                        fetcher = make_fetcher(iterable, dataset, auto_collation, collate_fn,
                                               drop_last)
                    except Exception:
                        init_error = ExceptionWrapper(sys.exc_info(), where)
                result_conn.send((task, None))
                continue
            task_idx, keys = task
            if init_error is not None:
                data, init_error = init_error, None
            elif exhausted:
                data = IterableDatasetStop(worker_id)
            else:
                try:
                    data = fetcher.fetch(keys)
                except StopIteration:
                    if iterable:
                        data = IterableDatasetStop(worker_id)
                        exhausted = True
                    else:
                        data = ExceptionWrapper(sys.exc_info(), where)
                except Exception:
                    data = ExceptionWrapper(sys.exc_info(), where)
            try:
                result_conn.send((task_idx, data))
            except (BrokenPipeError, EOFError, ConnectionResetError):
                break  # the main process stopped listening
            except Exception:  # e.g. a batch that cannot be pickled: report, do not die
                result_conn.send((task_idx, ExceptionWrapper(sys.exc_info(), where)))
            del data, keys, task
    except (KeyboardInterrupt, BrokenPipeError, EOFError, ConnectionResetError):
        pass
    finally:
        task_conn.close()
        result_conn.close()
