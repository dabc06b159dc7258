"""Keras layers (``from tessera.keras import layers``), each a ``tessera.nn.Module``."""

from .attention import MultiHeadAttention
from .conv import (Conv1D, Conv2D, Conv2DTranspose, Convolution1D, Convolution2D,
                   Convolution2DTranspose)
from .core import (Activation, Dense, Dropout, Embedding, Flatten, Identity, Lambda, Permute,
                   Rescaling, Reshape)
from .input_layer import Input, InputLayer
from .layer import InputSpec, KerasTensor, Layer
from .merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add,
                      average, concatenate, maximum, minimum, multiply, subtract)
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAvgPool1D,
                      GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPooling1D,
                      GlobalMaxPooling2D, MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D)
from .rnn import GRU, LSTM, Bidirectional, SimpleRNN

__all__ = ["Layer", "InputSpec", "KerasTensor", "Input", "InputLayer", "Dense", "Activation",
           "Dropout", "Flatten", "Reshape", "Permute", "Embedding", "Rescaling", "Lambda",
           "Identity", "Conv1D", "Conv2D", "Conv2DTranspose", "Convolution1D",
           "Convolution2D", "Convolution2DTranspose", "MaxPooling1D", "MaxPooling2D",
           "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D",
           "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "MaxPool1D",
           "MaxPool2D", "AvgPool1D", "AvgPool2D", "GlobalAvgPool1D", "GlobalAvgPool2D",
           "GlobalMaxPool1D", "GlobalMaxPool2D", "BatchNormalization", "LayerNormalization",
           "SimpleRNN", "LSTM", "GRU", "Bidirectional", "MultiHeadAttention", "Add",
           "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "add",
           "subtract", "multiply", "average", "maximum", "minimum", "concatenate"]
