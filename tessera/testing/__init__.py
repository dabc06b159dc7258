"""Testing tools that ship with tessera: closeness checks, gradient checks, and the
operator database of sample inputs used by tessera's own tests (PyTorch's OpInfo idea).

Users writing custom operators use the same tools::

    from tessera.testing import assert_close, gradcheck
"""

from ..autograd.gradcheck import gradcheck, gradgradcheck
from .comparison import assert_close
from .opinfo import OpInfo, SampleInput, all_op_infos

__all__ = ["assert_close", "gradcheck", "gradgradcheck", "OpInfo", "SampleInput",
           "all_op_infos"]
