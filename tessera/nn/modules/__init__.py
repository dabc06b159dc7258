"""Layers, one file per family; every public name is re-exported by ``tessera.nn``."""

from . import (activation, attention, batchnorm, container, conv, distance, dropout, flatten,
               fold, linear, loss, module, normalization, padding, pooling, rnn, sparse,
               transformer, upsampling)
from .activation import *
from .attention import MultiheadAttention
from .batchnorm import *
from .container import *
from .conv import *
from .distance import *
from .dropout import *
from .flatten import *
from .fold import *
from .linear import *
from .loss import *
from .module import Module
from .normalization import *
from .padding import *
from .pooling import *
from .rnn import *
from .sparse import *
from .transformer import *
from .upsampling import *

__all__ = (["Module", "MultiheadAttention"] + activation.__all__ + batchnorm.__all__
           + container.__all__ + conv.__all__ + distance.__all__ + dropout.__all__
           + flatten.__all__ + linear.__all__ + loss.__all__ + normalization.__all__
           + padding.__all__ + pooling.__all__ + rnn.__all__ + sparse.__all__
           + transformer.__all__ + upsampling.__all__
           + fold.__all__)
