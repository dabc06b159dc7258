"""Devices: where a tensor's storage lives. Only "cpu" exists for now."""

__all__ = ["device", "as_device", "cpu"]

_KNOWN_TYPES = ("cpu", "cuda")


class device:
    """A device like ``ts.device("cpu")``; compares equal to its string form."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):  # noqa: A002 - PyTorch's parameter name
        if isinstance(type, device):
            type, index = type.type, type.index
        if ":" in type:
            type, _, idx = type.partition(":")
            index = int(idx)
        if type not in _KNOWN_TYPES:
            raise RuntimeError(f"unknown device type {type!r}; expected one of {_KNOWN_TYPES}")
        self.type = type
        self.index = index

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else \
            f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index or 0) == \
            (other.type, other.index or 0)

    def __hash__(self):
        return hash((self.type, self.index or 0))


cpu = device("cpu")


def as_device(dev):
    if dev is None or dev is cpu:
        return cpu
    if isinstance(dev, device):
        d = dev
    else:
        d = device(dev)
    if d.type != "cpu":
        raise RuntimeError(f"device '{d}' is not available: tessera has only the 'cpu' "
                           "backend so far")
    return cpu
