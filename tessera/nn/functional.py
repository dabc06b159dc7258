"""``tessera.nn.functional``: the functional API of layers, as ``torch.nn.functional``.

Every function here is an operator of ``tessera/ops`` (this module only gathers them
under PyTorch's names), so layers, Tensor methods and users share one implementation.
"""

from ..ops.attention import *  # noqa: F401,F403
from ..ops.conv import *  # noqa: F401,F403
from ..ops.conv import fold, unfold  # not top-level names in PyTorch
from ..ops.dropout import *  # noqa: F401,F403
from ..ops.activation import *  # noqa: F401,F403
from ..ops.elementwise import sigmoid, tanh
from ..ops.index import embedding, one_hot
from ..ops.linalg import bilinear, linear
from ..ops.loss import *  # noqa: F401,F403
from ..ops.normalization import *  # noqa: F401,F403
from ..ops.pool import *  # noqa: F401,F403
from ..ops.resample import *  # noqa: F401,F403
from ..ops.reduce import log_softmax, softmax
from ..ops.shape import pad
from ..ops import _activation, _attention, _conv, _dropout, _loss, _pool, _resample
from ..ops import _normalization as _norm

__all__ = (["sigmoid", "tanh", "embedding", "one_hot", "linear", "bilinear", "log_softmax",
            "softmax", "pad", "fold", "unfold"]
           + _activation.__all__ + _attention.__all__ + _conv.__all__ + _dropout.__all__
           + _loss.__all__ + _norm.__all__ + _pool.__all__ + _resample.__all__)
