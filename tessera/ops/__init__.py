"""Every operator of tessera, one module per family; each exists once and Tensor
methods and ``tessera.nn.functional`` call into it."""

import sys

from .. import _tensor
from . import (attention, conv, creation, dropout, elementwise, index, linalg, loss, norm, pool,
               reduce, shape)
from .attention import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .creation import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .index import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403

__all__ = (creation.__all__ + elementwise.__all__ + reduce.__all__ + shape.__all__ +
           index.__all__ + linalg.__all__ + conv.__all__ + pool.__all__ + norm.__all__ +
           loss.__all__ + attention.__all__ + dropout.__all__)

_tensor._bind_operator_methods(sys.modules[__name__])
