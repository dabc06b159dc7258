"""Every operator of tessera, one module per family; each exists once and Tensor
methods and ``tessera.nn.functional`` call into it."""

import sys

from .. import _tensor
from . import activation as _activation
from . import arrange as _arrange
from . import attention as _attention
from . import conv as _conv
from . import creation as _creation
from . import dropout as _dropout
from . import elementwise as _elementwise
from . import index as _index
from . import linalg as _linalg
from . import loss as _loss
from . import matrix as _matrix
from . import normalization as _normalization
from . import pool as _pool
from . import reduce as _reduce
from . import resample as _resample
from . import scatter as _scatter
from . import shape as _shape
from . import sorting as _sorting
from .activation import *  # noqa: F401,F403
from .arrange import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .creation import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .index import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .matrix import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from .resample import *  # noqa: F401,F403
from .scatter import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .sorting import *  # noqa: F401,F403

# Family modules are reached as _name, so that operator names (norm, dropout) stay free.
__all__ = (_creation.__all__ + _elementwise.__all__ + _activation.__all__ + _reduce.__all__ +
           _shape.__all__ + _index.__all__ + _scatter.__all__ + _sorting.__all__ +
           _linalg.__all__ + _conv.__all__ + _pool.__all__ + _normalization.__all__ +
           _loss.__all__ + _attention.__all__ + _dropout.__all__ + _arrange.__all__ +
           _resample.__all__ + _matrix.__all__)

_tensor._bind_operator_methods(sys.modules[__name__])
