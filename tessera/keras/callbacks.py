"""Keras callbacks: the training engine's callbacks under Keras's module name."""

from ..training.callbacks import (BackupAndRestore, Callback, CallbackList, CSVLogger,
                                  EarlyStopping, History, LambdaCallback,
                                  LearningRateScheduler, ModelCheckpoint, ProgbarLogger,
                                  ReduceLROnPlateau, TensorBoard, TerminateOnNaN)

__all__ = ["Callback", "CallbackList", "History", "LambdaCallback", "TerminateOnNaN",
           "EarlyStopping", "LearningRateScheduler", "ReduceLROnPlateau", "ProgbarLogger",
           "BackupAndRestore", "CSVLogger", "ModelCheckpoint", "TensorBoard"]
