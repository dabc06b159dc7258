"""The TensorBoard callback: event files that TensorBoard reads, laid out as Keras lays
them out (``log_dir/train`` and ``log_dir/validation``, tags ``epoch_loss``,
``batch_loss`` ..., weight histograms)."""

import os
import time

import numpy as np

from .base import Callback

__all__ = ["TensorBoard"]


def _summary_writer():
    try:
        from tensorboardX import SummaryWriter
    except ImportError as e:
        raise ImportError("the TensorBoard callback writes event files with tensorboardX: "
                          "pip install 'tessera[train]' (or pip install tensorboardX)") from e
    return SummaryWriter


class TensorBoard(Callback):
    """Log scalars (per epoch, and per batch with ``update_freq``) and weight histograms
    for TensorBoard.

    Args:
        log_dir: the folder of the runs; events go to ``log_dir/train`` and
            ``log_dir/validation``.
        histogram_freq: write histograms of the weights every this many epochs (0: never).
        write_graph, write_images, profile_batch, embeddings_freq, embeddings_metadata:
            accepted for Keras compatibility; tessera writes no graph, images, profiles or
            embeddings.
        write_steps_per_second: also log the training speed.
        update_freq: "epoch", "batch", or an integer: log batch scalars every this many
            batches.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and not (isinstance(update_freq, int) and update_freq > 0):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive "
                             f"integer, got {update_freq!r}")
        if not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be a non-negative integer, got "
                             f"{histogram_freq!r}")
        _summary_writer()  # fail at construction when tensorboardX is missing
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq
        self._writers = {}
        self._train_step = 0
        self._epoch_start = None

    def _writer(self, name):
        writer = self._writers.get(name)
        if writer is None:
            writer = _summary_writer()(logdir=os.path.join(self.log_dir, name))
            self._writers[name] = writer
        return writer

    def on_train_begin(self, logs=None):
        self._train_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._train_step += 1
        self._epoch_steps = batch + 1
        if self.update_freq == "epoch" or self._train_step % self.update_freq:
            return
        writer = self._writer("train")
        for k, v in (logs or {}).items():
            if np.ndim(v) == 0:
                writer.add_scalar("batch_" + k, float(v), self._train_step)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train, val = self._writer("train"), None
        for k, v in logs.items():
            if np.ndim(v) != 0:
                continue
            if k.startswith("val_"):
                val = val or self._writer("validation")
                val.add_scalar("epoch_" + k[4:], float(v), epoch)
            else:
                train.add_scalar("epoch_" + k, float(v), epoch)
        if self.write_steps_per_second and self._epoch_start is not None:
            elapsed = time.perf_counter() - self._epoch_start
            if elapsed > 0:
                train.add_scalar("epoch_steps_per_second", self._epoch_steps / elapsed, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(train, epoch)
        for writer in self._writers.values():
            writer.flush()

    def _log_weights(self, writer, epoch):
        model = self.model
        if hasattr(model, "_weights_for_logging"):
            weights = model._weights_for_logging()
        else:
            module = model._engine_module() if hasattr(model, "_engine_module") else model
            weights = [(n.replace(".", "/"), p._data) for n, p in module.named_parameters()]
        for tag, array in weights:
            array = np.asarray(array, dtype=np.float64)
            if array.size:
                writer.add_histogram(tag, array, epoch)

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
