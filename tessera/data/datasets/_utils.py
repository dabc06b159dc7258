"""What the file-backed datasets share: a base class, checksums, and downloads that
never leave a half-written or unverified file behind."""

import hashlib
import os
import tarfile
import tempfile
import urllib.error
import urllib.request

from ..dataset import Dataset

__all__ = ["VisionDataset", "check_integrity", "download_url", "extract_archive"]

_CHUNK = 1 << 20


class VisionDataset(Dataset):
    """Base of the image datasets: root directory, transforms and a readable repr."""

    def __init__(self, root, transform=None, target_transform=None):
        self.root = os.path.expanduser(os.fspath(root)) if root is not None else None
        self.transform = transform
        self.target_transform = target_transform

    def _apply(self, img, target):
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def extra_repr(self):
        return f"Split: {'Train' if self.train else 'Test'}"

    def __repr__(self):
        lines = [f"Number of datapoints: {len(self)}"]
        if self.root is not None:
            lines.append(f"Root location: {self.root}")
        lines += self.extra_repr().splitlines()
        if self.transform is not None:
            lines.append(f"Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"Target transform: {self.target_transform!r}")
        body = "\n".join("    " + line for line in lines)
        return f"Dataset {type(self).__name__}\n{body}"


def _file_digest(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _checksum(md5=None, sha256=None):
    if sha256 is not None:
        return "sha256", sha256.lower()
    if md5 is not None:
        return "md5", md5.lower()
    return None, None


def check_integrity(path, md5=None, sha256=None):
    """True if ``path`` exists and (when a checksum is given) matches it."""
    if not os.path.isfile(path):
        return False
    algorithm, expected = _checksum(md5, sha256)
    return algorithm is None or _file_digest(path, algorithm) == expected


def missing_files_error(name, directory, expected, hint=True):
    """The FileNotFoundError of a dataset whose files are not all in ``directory``."""
    listing = "\n".join(f"    {f}" for f in expected)
    msg = f"{name}: dataset not found in {directory}; expected these files:\n{listing}"
    if hint:
        msg += "\nPass download=True to download them."
    return FileNotFoundError(msg)


def download_url(urls, path, md5=None, sha256=None, timeout=60):
    """Fetch ``path`` from the first of ``urls`` that serves it with the right checksum.

    The bytes go to a temporary file in the target directory, are verified, then renamed
    onto ``path``, so an interrupted or corrupt download never leaves a file that looks
    complete. Skips the download if ``path`` already matches the checksum.
    """
    if isinstance(urls, str):
        urls = [urls]
    algorithm, expected = _checksum(md5, sha256)
    if check_integrity(path, md5, sha256) and algorithm is not None:
        return path
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    errors = []
    for url in urls:
        try:
            _fetch(url, path, directory, algorithm, expected, timeout)
            return path
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"    {url}: {exc}")
    raise RuntimeError(f"download of {os.path.basename(path)} failed from every URL:\n"
                       + "\n".join(errors))


def _fetch(url, path, directory, algorithm, expected, timeout):
    h = hashlib.new(algorithm) if algorithm else None
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                out.write(chunk)
                if h is not None:
                    h.update(chunk)
            out.flush()
            os.fsync(out.fileno())
        if h is not None and h.hexdigest() != expected:
            raise ValueError(f"checksum mismatch: expected {algorithm} {expected}, got "
                             f"{h.hexdigest()}")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def extract_archive(archive, directory):
    """Extract a tar archive (optionally gzip'ed) into ``directory``, refusing members
    that would land outside it (absolute paths, ``..``, links, devices)."""
    with tarfile.open(archive, "r:*") as tar:
        try:
            tar.extractall(directory, filter="data")
        except TypeError:  # a Python without extraction filters: check members ourselves
            root = os.path.realpath(directory)
            for member in tar.getmembers():
                target = os.path.realpath(os.path.join(directory, member.name))
                if (os.path.commonpath([root, target]) != root
                        or not (member.isfile() or member.isdir())):
                    raise ValueError(f"extract_archive: refusing unsafe member {member.name!r} "
                                     f"in {archive}") from None
            tar.extractall(directory)
