"""tessera's own checkpoint format: a safetensors file whose metadata holds a JSON
description of the saved object (nested dicts, lists, tuples, numbers, strings, None)
and whose tensors are the arrays it refers to.

Tensors are named by their path in the object (``"fc.weight"``, ``"state.0.exp_avg"``),
so a saved state dict is also a plain safetensors file that other tools read.
"""

import base64
import collections
import io
import json
import math
import os

import numpy as np

from .._tensor import Size, Tensor
from ..autograd.function import _make_tensor
from ..backend import device as _device
from ..backend import dtypes
from ._atomic import atomic_path

__all__ = ["save_native", "load_native", "STRUCTURE_KEY"]

STRUCTURE_KEY = "tessera_structure"
ZERO_DIM_KEY = "tessera_0d"
FORMAT_VERSION = "1"
# safetensors names dtypes in its header like this; bfloat16 comes from ml_dtypes.
_FILE_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16,
                "BF16": dtypes.bfloat16.np_dtype, "I64": np.int64, "I32": np.int32,
                "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
                "U16": np.uint16, "U32": np.uint32, "U64": np.uint64}
_SUPPORTED = ("Tensor, numpy array or scalar, dict, OrderedDict, list, tuple, set, int, float, "
              "bool, str, bytes, None, tessera dtype, Size or device")


class _Encoder:
    """Turns an object into JSON, collecting its arrays under unique names."""

    def __init__(self):
        self.arrays = {}
        self._names = {}  # id(tensor or array) -> name, so one object is stored once
        self._keep = []   # the objects behind those ids stay alive while we encode
        self.zero_dim = []  # names of 0-d arrays, stored with shape (1,) (see save_native)

    def _store(self, obj, array, path):
        name = self._names.get(id(obj))
        if name is None:
            name = path or "tensor"
            base, n = name, 1
            while name in self.arrays:
                name = f"{base}#{n}"
                n += 1
            if array.ndim == 0:
                self.zero_dim.append(name)
                array = array.reshape(1)
            self.arrays[name] = np.ascontiguousarray(array)
            self._names[id(obj)] = name
            self._keep.append(obj)
        return name

    def encode(self, obj, path=""):
        if isinstance(obj, np.generic):  # before float: np.float64 is a float subclass
            return {"__npscalar__": self._store(obj, _storable(np.asarray(obj), path), path)}
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj) if math.isfinite(obj) else {"__float__": repr(float(obj))}
        if isinstance(obj, Tensor):
            entry = {"__tensor__": self._store(obj, obj._data, path)}
            if obj.requires_grad:
                entry["requires_grad"] = True
            if type(obj).__name__ == "Parameter":
                entry["parameter"] = True
            return entry
        if isinstance(obj, np.ndarray):
            return {"__ndarray__": self._store(obj, _storable(obj, path), path)}
        if isinstance(obj, dtypes.dtype):
            return {"__dtype__": obj.name}
        if isinstance(obj, Size):
            return {"__size__": list(obj)}
        if isinstance(obj, _device):
            return {"__device__": str(obj)}
        if isinstance(obj, (bytes, bytearray)):
            return {"__bytes__": base64.b64encode(bytes(obj)).decode("ascii")}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, _join(path, i)) for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, _join(path, i)) for i, v in enumerate(obj)]
        if isinstance(obj, (set, frozenset)):
            tag = "__set__" if isinstance(obj, set) else "__frozenset__"
            return {tag: [self.encode(v, path) for v in obj]}
        if isinstance(obj, dict):
            tag = "__odict__" if isinstance(obj, collections.OrderedDict) else "__dict__"
            return {tag: [[self.encode(k, path), self.encode(v, _join(path, k))]
                          for k, v in obj.items()]}
        raise TypeError(f"tessera.save: cannot save an object of type {type(obj).__name__} at "
                        f"{path or 'the top level'}; supported: {_SUPPORTED}")


def _join(path, key):
    return f"{path}.{key}" if path else str(key)


def _storable(arr, path):
    if arr.dtype not in dtypes._BY_NUMPY:
        raise TypeError(f"tessera.save: cannot save a numpy array of dtype {arr.dtype} at "
                        f"{path or 'the top level'}")
    return arr


def _safetensors(op):
    """The safetensors package, imported where it is used: it is an optional dependency."""
    try:
        import safetensors
    except ImportError:
        raise ImportError(f"{op} needs the safetensors package: pip install 'tessera[train]' "
                          "(or pip install safetensors)") from None
    return safetensors


def _spec(safetensors, arr):
    if hasattr(safetensors, "TensorSpec"):  # safetensors >= 0.7 takes pointers
        return safetensors.TensorSpec(dtype=arr.dtype.name, shape=list(arr.shape),
                                      data_ptr=arr.ctypes.data, data_len=arr.nbytes)
    return {"dtype": arr.dtype.name, "shape": list(arr.shape), "data": arr.tobytes()}


def save_native(obj, f):
    enc = _Encoder()
    structure = enc.encode(obj)
    # "format": "pt" is what the Hugging Face loaders require of a safetensors file;
    # the tensors are plain little-endian arrays, as PyTorch writes them.
    # Some safetensors versions write a 0-d tensor's shape as [1]: the names of the 0-d
    # ones travel in the metadata, and load gives them their shape back.
    metadata = {"format": "pt", "tessera_format": FORMAT_VERSION,
                STRUCTURE_KEY: json.dumps(structure, separators=(",", ":")),
                ZERO_DIM_KEY: json.dumps(enc.zero_dim)}
    safetensors = _safetensors("tessera.save")
    specs = {name: _spec(safetensors, arr) for name, arr in enc.arrays.items()}
    if isinstance(f, (str, os.PathLike)):
        with atomic_path(f, "tessera.save") as tmp:
            safetensors.serialize_file(specs, tmp, metadata=metadata)
    else:
        f.write(bytes(safetensors.serialize(specs, metadata=metadata)))
    del enc  # the arrays behind the pointers in specs lived until here


def is_safetensors(head):
    """Whether the first bytes of a file look like a safetensors header."""
    return len(head) >= 9 and head[8:9] == b"{"


def load_native(f, source):
    """The object saved by :func:`save_native`, or a dict of the tensors of any other
    safetensors file. ``f`` is a path or a binary file positioned at its start."""
    safetensors = _safetensors("tessera.load")
    if isinstance(f, (str, os.PathLike)):
        with safetensors.safe_open(os.fspath(f), framework="np") as sf:
            metadata = sf.metadata() or {}
            arrays = {name: sf.get_tensor(name) for name in sf.keys()}
    else:
        data = f.read()
        metadata = _header(data, source).get("__metadata__") or {}
        arrays = {name: np.frombuffer(info["data"], dtype=_file_dtype(info["dtype"], source))
                  .reshape(info["shape"]) for name, info in safetensors.deserialize(data)}
    arrays = {name: _native_array(a) for name, a in arrays.items()}
    if STRUCTURE_KEY not in metadata:
        return {name: _make_tensor(a) for name, a in arrays.items()}
    try:
        structure = json.loads(metadata[STRUCTURE_KEY])
        for name in json.loads(metadata.get(ZERO_DIM_KEY, "[]")):
            if name in arrays and arrays[name].size == 1:
                arrays[name] = arrays[name].reshape(())
    except ValueError as exc:
        raise ValueError(f"tessera.load: the structure stored in {source} is not valid JSON: "
                         f"{exc}") from None
    return _Decoder(arrays, source).decode(structure)


def _native_array(a):
    if a.dtype in dtypes._BY_NUMPY:
        return a
    return a.astype(dtypes.from_numpy_dtype(a.dtype).np_dtype)


def _header(data, source):
    n = int.from_bytes(data[:8], "little")
    try:
        return json.loads(bytes(data[8:8 + n]))
    except ValueError:
        raise ValueError(f"tessera.load: {source} has a corrupt safetensors header") from None


def _file_dtype(code, source):
    try:
        return _FILE_DTYPES[code]
    except KeyError:
        raise TypeError(f"tessera.load: {source} holds a tensor of safetensors dtype {code}, "
                        "which tessera does not support") from None


class _Decoder:
    def __init__(self, arrays, source):
        self.arrays = arrays
        self.source = source
        self.tensors = {}  # one Tensor per stored name, so shared entries stay shared

    def _array(self, name):
        try:
            return self.arrays[name]
        except KeyError:
            raise ValueError(f"tessera.load: {self.source} refers to a missing tensor "
                             f"{name!r}") from None

    def _tensor(self, entry):
        name = entry["__tensor__"]
        t = self.tensors.get(name)
        if t is None:
            t = _make_tensor(self._array(name))
            if entry.get("parameter"):
                t = _as_parameter(t, bool(entry.get("requires_grad")))
            elif entry.get("requires_grad"):
                t.requires_grad_(True)
            self.tensors[name] = t
        return t

    def decode(self, node):
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "__tensor__" in node:
            return self._tensor(node)
        (tag, value), = node.items()
        if tag == "__dict__":
            return {self.decode(k): self.decode(v) for k, v in value}
        if tag == "__odict__":
            return collections.OrderedDict((self.decode(k), self.decode(v)) for k, v in value)
        if tag == "__tuple__":
            return tuple(self.decode(v) for v in value)
        if tag == "__float__":
            return float(value)
        if tag == "__ndarray__":
            return self._array(value)
        if tag == "__npscalar__":
            return self._array(value)[()]
        if tag == "__dtype__":
            return dtypes.as_dtype(value)
        if tag == "__size__":
            return Size(value)
        if tag == "__device__":
            return _device(value)
        if tag == "__bytes__":
            return base64.b64decode(value)
        if tag == "__set__":
            return {self.decode(v) for v in value}
        if tag == "__frozenset__":
            return frozenset(self.decode(v) for v in value)
        raise ValueError(f"tessera.load: unknown entry {tag!r} in the structure of "
                         f"{self.source}")


def _as_parameter(t, requires_grad):
    try:
        from ..nn.parameter import Parameter
    except ImportError:
        return t.requires_grad_(requires_grad) if requires_grad else t
    return Parameter(t, requires_grad=requires_grad)


def read_head(f, n=16):
    """The first ``n`` bytes of a seekable binary file, leaving its position unchanged."""
    pos = f.tell()
    head = f.read(n)
    f.seek(pos)
    return head


def seekable(f):
    """``f`` itself if it can seek, else its remaining content in memory."""
    try:
        if f.seekable():
            return f
    except AttributeError:
        pass
    return io.BytesIO(f.read())
