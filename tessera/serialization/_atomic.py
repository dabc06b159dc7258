"""Write a file so that readers see the old content or the new one, never a mix."""

import contextlib
import os
import tempfile

__all__ = ["atomic_path"]

_umask = None


def _default_mode():
    global _umask
    if _umask is None:  # os.umask can only be read by setting it; do it once
        _umask = os.umask(0o022)
        os.umask(_umask)
    return 0o666 & ~_umask


@contextlib.contextmanager
def atomic_path(path, op):
    """Yield a temporary path next to ``path``; on success it is fsync'ed and renamed
    onto ``path``, on failure removed (an existing ``path`` is left untouched)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{op}: directory {directory!r} does not exist")
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = _default_mode()
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # Make the rename itself durable; not every platform can open a directory.
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
