"""Checkpoints: :func:`save` writes tessera's format (safetensors with a JSON description
of the saved object), :func:`load` reads it and PyTorch's ``torch.save`` files (zip and
legacy formats) without importing torch and without running code from the file."""

import os
import pickle

from . import _torch
from ._native import is_safetensors, load_native, read_head, save_native, seekable

__all__ = ["save", "load", "add_safe_globals", "get_safe_globals", "clear_safe_globals"]


def save(obj, f):
    """Save a tensor or a nested structure of them (state dicts, optimizer state dicts).

    The file is a safetensors file: each tensor stored under its path in ``obj``
    (``"fc.weight"``), plus a JSON description of the dicts, lists, tuples, numbers,
    strings and None around them. Writing to a path is atomic: a temporary file in the
    same directory is written, fsync'ed and renamed, so a failure mid-write leaves the
    previous file intact.

    Args:
        obj: Tensors, NumPy arrays, dicts, lists, tuples, sets, numbers, strings, bytes,
            None, tessera dtypes, sizes and devices, nested in any way.
        f: a path, or a binary file-like object with ``write``.
    """
    save_native(obj, f)


def load(f, map_location=None, *, weights_only=True):
    """Load what :func:`save` wrote, any safetensors file (as a dict of tensors), or a
    PyTorch checkpoint written by ``torch.save`` (.pt/.pth/.bin, zip or legacy format).

    PyTorch's pickles are read with an allow-list of globals (tensors, storages, dtypes,
    ``torch.Size``, ``torch.device``, ``OrderedDict``, NumPy arrays and scalars, sets,
    slices, complex numbers); any other global is refused with
    ``pickle.UnpicklingError``, so loading never runs code from the file. Tensors that
    shared a storage in the file share memory after loading.

    Args:
        f: a path or a binary file-like object.
        map_location: where storages go; tessera keeps tensors on the CPU, so a device,
            a string or a dict of locations must name the CPU. A callable is called as
            ``map_location(storage, location)`` and may return a replacement tensor.
        weights_only: accepted for PyTorch compatibility. tessera always loads with the
            allow-list, whatever its value; trusted globals can be added with
            :func:`add_safe_globals`.
    """
    if isinstance(f, (str, os.PathLike)):
        source = os.fspath(f)
        if not os.path.exists(source):
            raise FileNotFoundError(f"tessera.load: no such file: {source!r}")
        with open(source, "rb") as fh:
            head = read_head(fh)
            if is_safetensors(head):
                fh.close()
                return load_native(source, source)
            return _load_pickled(fh, head, source, map_location)
    source = getattr(f, "name", None) or "<file-like object>"
    f = seekable(f)
    head = read_head(f)
    if is_safetensors(head):
        return load_native(f, source)
    return _load_pickled(f, head, source, map_location)


def _load_pickled(f, head, source, map_location):
    if head.startswith(b"PK\x03\x04"):
        return _torch.load_torch_zip(f, source, map_location)
    if head[:1] == b"\x80":
        return _torch.load_torch_legacy(f, source, map_location)
    if not head:
        raise EOFError(f"tessera.load: {source} is empty")
    raise pickle.UnpicklingError(f"tessera.load: {source} is neither a tessera (safetensors) "
                                 "checkpoint nor a PyTorch one (zip or legacy format)")


def add_safe_globals(safe_globals):
    """Allow more globals in the PyTorch pickles that :func:`load` reads.

    Each item is a class or function (allowed under its ``__module__`` and
    ``__qualname__``) or a pair ``(obj, "module.name")``. Only add what you trust: an
    allowed global can be called by the file with any arguments.
    """
    for item in safe_globals:
        if isinstance(item, tuple):
            obj, full_name = item
            module, _, name = full_name.rpartition(".")
        else:
            obj, module, name = item, item.__module__, item.__qualname__
        if not module or not name:
            raise ValueError(f"add_safe_globals: cannot tell the module and name of {item!r}; "
                             "pass (obj, 'module.name')")
        _torch._user_globals[(module, name)] = obj


def get_safe_globals():
    """The globals added with :func:`add_safe_globals`, as ``{"module.name": obj}``."""
    return {f"{m}.{n}": obj for (m, n), obj in _torch._user_globals.items()}


def clear_safe_globals():
    """Forget the globals added with :func:`add_safe_globals`."""
    _torch._user_globals.clear()
