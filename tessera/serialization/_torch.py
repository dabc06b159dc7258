"""PyTorch checkpoints (``torch.save`` files), read without torch and without running code.

Two layouts exist. Since PyTorch 1.6 a checkpoint is a zip archive: ``<name>/data.pkl``
is the pickled object, whose tensors refer (by persistent id) to raw storages in
``<name>/data/<key>``, and ``<name>/byteorder`` says their byte order. Before, it was
one stream: a magic number, a protocol version, a dict of system info, the pickled
object, the pickled list of storage keys, then each storage as an int64 element count
followed by its raw bytes.

The pickle is read by an allow-listed unpickler: tensors are rebuilt as views of their
storage (so tensors that shared a storage in the file share memory here), and any other
global than containers, NumPy values and torch's tensor, storage, dtype, Size and device
names is refused.
"""

import pickle
import zipfile

import numpy as np

from .._tensor import Size
from ..autograd.function import _make_tensor
from ..backend import as_device, dtypes
from ..backend import device as _device
from ._unpickler import RestrictedUnpickler, builtin_globals, numpy_globals

__all__ = ["load_torch_zip", "load_torch_legacy", "safe_globals"]

OP = "tessera.load"
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "FloatStorage": dtypes.float32, "DoubleStorage": dtypes.float64,
    "HalfStorage": dtypes.float16, "BFloat16Storage": dtypes.bfloat16,
    "LongStorage": dtypes.int64, "IntStorage": dtypes.int32, "ShortStorage": dtypes.int16,
    "CharStorage": dtypes.int8, "ByteStorage": dtypes.uint8, "BoolStorage": dtypes.bool,
    "UntypedStorage": dtypes.uint8,
}
# Storage types tessera has no dtype for: named in the allow-list so the error says why.
_UNSUPPORTED_STORAGES = ("ComplexFloatStorage", "ComplexDoubleStorage", "QInt8Storage",
                         "QUInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage")
_TORCH_DTYPES = {
    "float32": dtypes.float32, "float": dtypes.float32, "float64": dtypes.float64,
    "double": dtypes.float64, "float16": dtypes.float16, "half": dtypes.float16,
    "bfloat16": dtypes.bfloat16, "int64": dtypes.int64, "long": dtypes.int64,
    "int32": dtypes.int32, "int": dtypes.int32, "int16": dtypes.int16, "short": dtypes.int16,
    "int8": dtypes.int8, "uint8": dtypes.uint8, "bool": dtypes.bool,
}


class _StorageType:
    """What a pickle's ``torch.FloatStorage`` (etc.) resolves to."""

    def __init__(self, name, dtype):
        self.name = name
        self.dtype = dtype


class _Storage:
    """A loaded storage: a 1-d array of its dtype."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


def _error(msg):
    return pickle.UnpicklingError(f"{OP}: {msg}")


def _as_ints(values, what):
    try:
        out = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise _error(f"tensor {what} must be a sequence of ints, got {values!r}") from None
    if any(v < 0 for v in out):
        raise _error(f"tensor {what} must be non-negative, got {out}")
    return out


def _rebuild_tensor(storage, storage_offset, size, stride):
    if not isinstance(storage, _Storage):
        raise _error(f"a tensor must be rebuilt from a storage, got {type(storage).__name__}")
    arr = storage.array
    size = _as_ints(size, "size")
    stride = _as_ints(stride, "stride")
    offset = int(storage_offset)
    if len(size) != len(stride):
        raise _error(f"tensor size {size} and stride {stride} differ in length")
    if 0 in size:
        return _make_tensor(np.empty(size, dtype=arr.dtype))
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if offset < 0 or last >= arr.size:
        # Checked before making a view: a crafted file must not read outside its storage.
        raise _error(f"tensor of size {size}, stride {stride} and offset {offset} reaches "
                     f"element {last} of a storage of {arr.size} elements")
    numel = 1
    for n in size:
        numel *= n
    contiguous, expected = True, 1
    for n, s in zip(reversed(size), reversed(stride)):
        if n != 1 and s != expected:
            contiguous = False
            break
        expected *= n
    if contiguous:
        view = arr[offset:offset + numel].reshape(size)
    else:
        view = np.lib.stride_tricks.as_strided(
            arr[offset:], shape=size, strides=tuple(s * arr.itemsize for s in stride))
    return _make_tensor(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    t = _rebuild_tensor(storage, storage_offset, size, stride)
    if requires_grad and t.is_floating_point():
        t.requires_grad_(True)
    return t


def _rebuild_parameter(data, requires_grad, backward_hooks=None, state=None):
    from ._native import _as_parameter
    return _as_parameter(data.detach_(), bool(requires_grad) and data.is_floating_point())


def _torch_globals():
    allowed = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
               ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
               ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
               ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
               ("torch", "Size"): Size, ("torch", "device"): _device}
    for name, dt in _STORAGE_DTYPES.items():
        allowed[("torch", name)] = _StorageType(name, dt)
    allowed[("torch.storage", "UntypedStorage")] = allowed[("torch", "UntypedStorage")]
    for name in _UNSUPPORTED_STORAGES:
        allowed[("torch", name)] = _StorageType(name, None)
    for name, dt in _TORCH_DTYPES.items():
        allowed[("torch", name)] = dt
    return allowed


_BASE_GLOBALS = {**builtin_globals(), **numpy_globals(), **_torch_globals()}
_user_globals = {}


def safe_globals():
    """The allow-list: ``{(module, name): object}``, with what the user added."""
    return {**_BASE_GLOBALS, **_user_globals}


def _storage_dtype(storage_type):
    if not isinstance(storage_type, _StorageType):
        raise _error(f"expected a torch storage type in a storage reference, got "
                     f"{storage_type!r}")
    if storage_type.dtype is None:
        raise TypeError(f"{OP}: the checkpoint holds a torch.{storage_type.name}; tessera has "
                        "no dtype for it")
    return storage_type.dtype.np_dtype


def _place(array, location, map_location):
    """Apply ``map_location``: tessera keeps every storage on the CPU, so targets are
    checked, and a callable may replace the storage."""
    if map_location is None:
        return array
    if callable(map_location) and not isinstance(map_location, (str, _device)):
        result = map_location(_make_tensor(array), location)
        if result is None:
            return array
        data = getattr(result, "_data", result)
        if not isinstance(data, np.ndarray) or data.shape != array.shape:
            raise TypeError(f"{OP}: map_location returned {type(result).__name__}; expected a "
                            "Tensor like the storage it was given, or None")
        return data
    target = map_location.get(location, location) if isinstance(map_location, dict) \
        else map_location
    as_device(target)  # tessera has only the CPU: anything else is a clear error
    return array


def _check_pid(pid):
    if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
        kind = pid[0] if isinstance(pid, tuple) and pid else pid
        raise _error(f"unsupported persistent id {kind!r} (only storages are loaded; a "
                     "pickled module or other object is not)")


def load_torch_zip(f, source, map_location):
    try:
        zf = zipfile.ZipFile(f)
    except zipfile.BadZipFile as exc:
        raise _error(f"{source} is not a valid zip checkpoint: {exc}") from None
    with zf:
        names = zf.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pickles:
            raise _error(f"{source} is a zip archive without a <name>/data.pkl record: not a "
                         "PyTorch checkpoint")
        prefix = pickles[0][:-len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise _error(f"{source} has an unknown byte order {byteorder!r}")
        storages = {}

        def persistent_load(pid):
            _check_pid(pid)
            if len(pid) != 5:
                raise _error(f"malformed storage reference {pid!r}")
            _, storage_type, key, location, numel = pid
            key = str(key)
            if key in storages:
                return storages[key]
            dtype = np.dtype(_storage_dtype(storage_type))
            record = f"{prefix}data/{key}"
            try:
                info = zf.getinfo(record)
            except KeyError:
                raise _error(f"{source} lacks the storage record {record}") from None
            nbytes = int(numel) * dtype.itemsize
            if info.file_size != nbytes:
                raise _error(f"storage record {record} holds {info.file_size} bytes, expected "
                             f"{nbytes} ({numel} elements of {dtype})")
            buf = np.empty(nbytes, dtype=np.uint8)
            with zf.open(info) as member:
                _read_into(member, buf, record, source)
            arr = buf.view(dtype)
            if byteorder == "big" and dtype.itemsize > 1:
                arr = arr.byteswap()
            storage = _Storage(_place(arr, location, map_location))
            storages[key] = storage
            return storage

        with zf.open(pickles[0]) as pkl:
            return RestrictedUnpickler(pkl, safe_globals(), source, OP,
                                       persistent_load=persistent_load).load()


def _read_into(f, buf, what, source):
    view = memoryview(buf)
    done = 0
    while done < len(view):
        n = f.readinto(view[done:])
        if not n:
            raise _error(f"{source} ends inside {what} ({done} of {len(view)} bytes)")
        done += n


def load_torch_legacy(f, source, map_location):
    plain = {**builtin_globals()}

    def header():
        return RestrictedUnpickler(f, plain, source, OP).load()

    try:
        magic = header()
    except Exception:
        magic = None
    if magic != _LEGACY_MAGIC:
        raise _error(f"{source} is not a PyTorch checkpoint (invalid magic number)")
    protocol = header()
    if protocol != _LEGACY_PROTOCOL:
        raise _error(f"{source} has an unsupported legacy protocol version {protocol!r}")
    sys_info = header()
    little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
    storages = {}  # key -> _Storage, filled after the object is unpickled
    locations = {}
    views = {}

    def persistent_load(pid):
        _check_pid(pid)
        if len(pid) != 6:
            raise _error(f"malformed storage reference {pid!r}")
        _, storage_type, key, location, numel, view_metadata = pid
        key = str(key)
        if key not in storages:
            dtype = _storage_dtype(storage_type)
            storages[key] = _Storage(np.empty(int(numel), dtype=dtype))
            locations[key] = location
        storage = storages[key]
        if view_metadata is None:
            return storage
        view_key, offset, size = view_metadata
        if str(view_key) not in views:
            offset, size = int(offset), int(size)
            if offset < 0 or size < 0 or offset + size > storage.array.size:
                raise _error(f"storage view [{offset}, {offset + size}) is outside its storage "
                             f"of {storage.array.size} elements")
            views[str(view_key)] = _Storage(storage.array[offset:offset + size])
        return views[str(view_key)]

    obj = RestrictedUnpickler(f, safe_globals(), source, OP,
                              persistent_load=persistent_load).load()
    keys = header()
    if not isinstance(keys, list):
        raise _error(f"{source} is corrupt: expected the list of storage keys")
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise _error(f"{source} stores data for an unknown storage {key!r}")
        count = f.read(8)
        if len(count) != 8:
            raise _error(f"{source} ends before the data of storage {key!r}")
        numel = int.from_bytes(count, "little" if little else "big", signed=True)
        arr = storage.array
        if numel != arr.size:
            raise _error(f"storage {key!r} holds {numel} elements, expected {arr.size}")
        _read_into(f, arr.view(np.uint8), f"storage {key!r}", source)
        if not little and arr.itemsize > 1:
            arr.byteswap(inplace=True)
        placed = _place(arr, locations[str(key)], map_location)
        if placed is not arr:  # the tensors are views of arr already: copy the new values in
            arr[...] = placed
    return obj
