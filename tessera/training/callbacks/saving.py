"""Callbacks that write files: ModelCheckpoint, BackupAndRestore (resume an interrupted
run) and CSVLogger."""

import csv
import math
import os
import shutil

from ..checkpoint import has_training_state
from .base import Callback
from .monitor import check_monitor, resolve_mode

__all__ = ["ModelCheckpoint", "BackupAndRestore", "CSVLogger"]

WEIGHTS_SUFFIX = ".weights.safetensors"
MODEL_SUFFIX = ".keras"


class ModelCheckpoint(Callback):
    """Save the model (or its weights) every epoch, every ``save_freq`` batches, or only
    when ``monitor`` improves (Keras semantics).

    Args:
        filepath: the file; may hold ``{epoch:02d}`` and log keys such as
            ``{val_loss:.2f}``. Ends in ".keras" (whole model) or, with
            ``save_weights_only``, in ".weights.safetensors".
        monitor: the quantity compared with ``save_best_only`` (checked when fit starts).
        verbose: 1 prints each save.
        save_best_only: save only when ``monitor`` beats the best value so far.
        save_weights_only: save the weights alone.
        mode: "min", "max" or "auto".
        save_freq: "epoch", or an integer number of batches.
        initial_value_threshold: the value ``monitor`` must beat for the first save.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        filepath = os.fspath(filepath)
        if save_weights_only and not filepath.endswith(WEIGHTS_SUFFIX):
            raise ValueError(f"ModelCheckpoint: with save_weights_only=True the filepath must "
                             f"end in '{WEIGHTS_SUFFIX}', got {filepath!r}")
        if not save_weights_only and not filepath.endswith(MODEL_SUFFIX):
            raise ValueError(f"ModelCheckpoint: the filepath must end in '{MODEL_SUFFIX}' (or "
                             f"pass save_weights_only=True and end it in '{WEIGHTS_SUFFIX}'), "
                             f"got {filepath!r}")
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive "
                             f"integer, got {save_freq!r}")
        self.filepath = filepath
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = mode
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        resolve_mode("ModelCheckpoint", monitor, mode)
        self.best = initial_value_threshold
        self._batches_since_save = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        if self.save_best_only:
            check_monitor("ModelCheckpoint", self.monitor, self.params)
        self._mode = resolve_mode("ModelCheckpoint", self.monitor, self.mode, self.model)
        if self.best is None:
            self.best = math.inf if self._mode == "min" else -math.inf
        needed = "save_weights" if self.save_weights_only else "save"
        if not hasattr(self.model, needed):
            raise TypeError(f"ModelCheckpoint: {type(self.model).__name__} has no {needed}() "
                            "method")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches_since_save += 1
            if self._batches_since_save >= self.save_freq:
                self._batches_since_save = 0
                self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint: the filepath {self.filepath!r} names {e}, which "
                           f"is not in the logs ({', '.join(logs)})") from None

    def _improves(self, value):
        return value < self.best if self._mode == "min" else value > self.best

    def _save(self, epoch, batch, logs):
        path = self._path(epoch, batch, logs)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                return
            current = float(current)
            if not self._improves(current):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                      f"{current:.5f}, saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)


class BackupAndRestore(Callback):
    """Back up the training state every epoch, and resume from the backup when fit is run
    again after an interruption.

    Weights, optimizer state and the epoch counter go to ``backup_dir`` (safetensors +
    JSON, written atomically). When training finishes the backup is deleted, unless
    ``delete_checkpoint=False``.

    Args:
        backup_dir: the folder of the backup.
        save_freq: "epoch", or an integer number of batches.
        delete_checkpoint: remove the backup once training completes.
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir must not be empty")
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' or a positive "
                             f"integer, got {save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self._batches = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        for name in ("save_training_checkpoint", "load_training_checkpoint"):
            if not hasattr(self.model, name):
                raise TypeError(f"BackupAndRestore: {type(self.model).__name__} does not run "
                                "on the tessera training engine")
        if has_training_state(self.backup_dir):
            loop = self.model.load_training_checkpoint(self.backup_dir)
            done = int(loop.get("epoch", -1))
            # A backup taken mid-epoch repeats that epoch; an end-of-epoch one goes on.
            self.model._initial_epoch = done if loop.get("partial") else done + 1

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches >= self.save_freq:
                self._batches = 0
                self.model.save_training_checkpoint(self.backup_dir, self._epoch,
                                                    partial=True)

    def on_epoch_end(self, epoch, logs=None):
        self.model.save_training_checkpoint(self.backup_dir, epoch, partial=False)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)


def _cell(v):
    if isinstance(v, str):
        return v
    if hasattr(v, "__len__") and not isinstance(v, str):
        return '"[' + ", ".join(str(e) for e in v) + ']"'
    return v


class CSVLogger(Callback):
    """Write the logs of every epoch as a row of a CSV file (columns: epoch, then the
    sorted log keys).

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: add to an existing file instead of overwriting it.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self._file = None
        self._writer = None
        self._write_header = True

    def on_train_begin(self, logs=None):
        self._write_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                self._write_header = not bool(f.readline())
        folder = os.path.dirname(self.filename)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys,
                                          delimiter=self.sep)
            if self._write_header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, _cell(logs.get(k, "NA"))) for k in self.keys)
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None
        self._writer = None
