"""Training checkpoints: model weights, optimizer state and loop counters in one folder.

Tensors go to ``state.safetensors``, everything else (epoch, step, hyper-parameters) to
``state.json``; nothing is pickled, so loading a checkpoint never runs code. Each file is
written to a temporary name and renamed, so an interrupted save leaves the previous
checkpoint intact.
"""

import json
import os
import tempfile

import numpy as np

from .._tensor import Tensor
from ..autograd.function import _make_tensor

__all__ = ["save_training_state", "load_training_state", "has_training_state",
           "write_atomic", "save_tensors", "load_tensors"]

_TENSORS = "state.safetensors"
_META = "state.json"


def _safetensors():
    try:
        from safetensors import numpy as st
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("tessera checkpoints need safetensors: pip install "
                          "'tessera[train]' (or pip install safetensors)") from e
    return st


def write_atomic(path, write):
    """Call ``write(tmp_path)`` then rename the temporary file to ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_tensors(path, tensors, metadata=None):
    """Write ``{name: Tensor or array}`` to a safetensors file, atomically."""
    st = _safetensors()
    arrays = {}
    for k, v in tensors.items():
        a = v._data if isinstance(v, Tensor) else np.asarray(v)
        arrays[k] = np.ascontiguousarray(a)
    write_atomic(path, lambda tmp: st.save_file(arrays, tmp, metadata=metadata))


def load_tensors(path):
    """Read a safetensors file into ``{name: numpy array}``."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no weights file at {os.fspath(path)!r}")
    return _safetensors().load_file(os.fspath(path))


def _split(obj, prefix, tensors):
    """JSON-able tree of ``obj`` with its tensors moved into ``tensors``."""
    if isinstance(obj, (Tensor, np.ndarray)):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[_key(k), _split(v, f"{prefix}.{k}", tensors)]
                             for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_split(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store a value of type {type(obj).__name__} "
                    f"(at {prefix}); expected tensors, numbers, strings, lists or dicts")


def _key(k):
    # Optimizer state is keyed by parameter index: keep ints as ints.
    return {"__int__": k} if isinstance(k, int) else k


def _join(tree, arrays):
    if isinstance(tree, dict):
        if "__tensor__" in tree:
            return _make_tensor(arrays[tree["__tensor__"]])
        if "__tuple__" in tree:
            return tuple(_join(v, arrays) for v in tree["__tuple__"])
        if "__int__" in tree:
            return tree["__int__"]
        return {_join(k, arrays) if isinstance(k, dict) else k: _join(v, arrays)
                for k, v in tree["__dict__"]}
    if isinstance(tree, list):
        return [_join(v, arrays) for v in tree]
    return tree


def has_training_state(folder):
    return os.path.exists(os.path.join(folder, _META))


def save_training_state(folder, state):
    """Save a dict of states (``{"model": state_dict, "optimizer": ..., "epoch": 3}``)."""
    tensors = {}
    tree = _split(state, "s", tensors)
    os.makedirs(folder, exist_ok=True)
    # Tensors first: the JSON file marks a complete checkpoint.
    save_tensors(os.path.join(folder, _TENSORS), tensors)

    def write_json(tmp):
        with open(tmp, "w") as f:
            json.dump(tree, f)
    write_atomic(os.path.join(folder, _META), write_json)


def load_training_state(folder):
    """The dict that :func:`save_training_state` saved in ``folder``."""
    meta = os.path.join(folder, _META)
    if not os.path.exists(meta):
        raise FileNotFoundError(f"no training checkpoint in {os.fspath(folder)!r}")
    with open(meta) as f:
        tree = json.load(f)
    return _join(tree, load_tensors(os.path.join(folder, _TENSORS)))
