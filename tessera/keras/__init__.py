"""tessera's Keras-style API: code written for Keras runs with its import lines changed.

>>> import numpy as np
>>> from tessera import keras
>>> from tessera.keras import layers
>>> model = keras.Sequential([layers.Dense(16, activation="relu", input_shape=(4,)),
...                           layers.Dense(3, activation="softmax")])
>>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
...               metrics=["accuracy"])
>>> x = np.random.rand(64, 4).astype("float32"); y = np.random.randint(0, 3, 64)
>>> history = model.fit(x, y, epochs=2, verbose=0)
>>> sorted(history.history)
['accuracy', 'loss']

Every layer and model is a ``tessera.nn.Module``, so Keras models and PyTorch-style
modules nest in each other. Training runs on :mod:`tessera.training`.
"""

from . import (activations, backend, callbacks, constraints, initializers, layers, losses,
               metrics, models, optimizers, regularizers, saving, utils)
from .layers import Input, InputSpec, KerasTensor, Layer
from .models import Model, Sequential
from .saving import load_model

__version__ = "3.0-tessera"

__all__ = ["Model", "Sequential", "Input", "Layer", "InputSpec", "KerasTensor", "load_model",
           "activations", "backend", "callbacks", "constraints", "initializers", "layers",
           "losses", "metrics", "models", "optimizers", "regularizers", "saving", "utils"]
