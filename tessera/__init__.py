"""tessera: a deep learning framework with define-by-run automatic differentiation.

>>> import tessera as ts
>>> x = ts.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4., 6.])
"""

from . import backend  # first: it sets process-wide options that must precede NumPy's loading
from . import autograd, ops
from ._tensor import Size, Tensor
from .autograd import (enable_grad, inference_mode, is_grad_enabled, no_grad,
                       set_grad_enabled)
from .autograd.grad_mode import is_inference_mode_enabled
from .backend import (Generator, default_generator, device, get_num_threads, initial_seed,
                      manual_seed, seed, set_num_threads)
from .backend.dtypes import (bfloat16, bool, dtype, float16, float32, float64,
                             get_default_dtype, int8, int16, int32, int64, promote_types,
                             result_type, set_default_dtype, uint8)
from .ops import *  # noqa: F401,F403

from . import data, func, nn, optim, profiler, serialization, utils  # noqa: E402 - built on the above
from . import keras, training  # noqa: E402
from . import linalg  # noqa: E402
from . import compiler  # noqa: E402 - traces and replays all of the above
from .compiler import compile  # noqa: E402
from .serialization import load, save  # noqa: E402

half = float16
float = float32  # noqa: A001 - PyTorch's aliases
double = float64
long = int64
int = int32  # noqa: A001
short = int16

__version__ = "0.1.0"


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


__all__ = ["Tensor", "Size", "autograd", "backend", "ops", "nn", "func", "optim", "profiler",
           "data", "utils", "serialization", "save", "load", "training", "keras", "linalg",
           "compiler", "compile",
           "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled",
           "device", "Generator", "default_generator", "manual_seed", "seed", "initial_seed",
           "set_num_threads", "get_num_threads",
           "dtype", "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16",
           "float32", "float64", "half", "float", "double", "long", "int", "short",
           "get_default_dtype", "set_default_dtype", "promote_types", "result_type", "is_tensor",
           "numel", "__version__"] + ops.__all__
