"""Callbacks of the training engine, with Keras's names and semantics."""

from .base import Callback, CallbackList, History, LambdaCallback, TerminateOnNaN
from .monitor import EarlyStopping, LearningRateScheduler, ReduceLROnPlateau
from .progbar import Progbar, ProgbarLogger
from .saving import BackupAndRestore, CSVLogger, ModelCheckpoint
from .tensorboard import TensorBoard

__all__ = ["Callback", "CallbackList", "History", "LambdaCallback", "TerminateOnNaN",
           "EarlyStopping", "LearningRateScheduler", "ReduceLROnPlateau", "Progbar",
           "ProgbarLogger", "BackupAndRestore", "CSVLogger", "ModelCheckpoint", "TensorBoard"]
