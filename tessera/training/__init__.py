"""The one training-loop engine under Keras's ``fit``, the transformers ``Trainer`` and
distillation: an epoch iterator over arrays or DataLoaders, ``train_step``/``test_step``/
``predict_step``/``compute_loss`` as override points, callbacks, progress bar, TensorBoard
logging and checkpoint/resume.

>>> import numpy as np
>>> import tessera as ts
>>> from tessera import nn, optim, training
>>> class Regressor(training.Engine, nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.fc = nn.Linear(3, 1)
...         self.optimizer = optim.SGD(self.parameters(), lr=0.1)
...         self.loss_fn = nn.MSELoss()
...     def forward(self, x):
...         return self.fc(x)
>>> x = np.random.rand(64, 3).astype("float32"); y = x.sum(1, keepdims=True)
>>> history = Regressor().fit(x, y, epochs=3, verbose=0)
>>> len(history.history["loss"])
3
"""

from . import callbacks
from .callbacks import (BackupAndRestore, Callback, CallbackList, CSVLogger, EarlyStopping,
                        History, LambdaCallback, LearningRateScheduler, ModelCheckpoint,
                        Progbar, ProgbarLogger, ReduceLROnPlateau, TensorBoard, TerminateOnNaN)
from .checkpoint import load_training_state, save_training_state
from .data import ArrayData, IterableData, make_data, pack_batch, unpack_batch
from .engine import Engine
from .metrics import Mean, Metric

__all__ = ["Engine", "Metric", "Mean", "callbacks", "Callback", "CallbackList", "History",
           "LambdaCallback", "TerminateOnNaN", "EarlyStopping", "LearningRateScheduler",
           "ReduceLROnPlateau", "Progbar", "ProgbarLogger", "BackupAndRestore", "CSVLogger",
           "ModelCheckpoint", "TensorBoard", "ArrayData", "IterableData", "make_data",
           "pack_batch", "unpack_batch", "save_training_state", "load_training_state"]
