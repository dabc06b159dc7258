"""Nested arguments and results as flat leaves plus a hashable description of the nesting.

Tuples, lists, dicts (and their subclasses, named tuples included) are walked; anything
else is a leaf. ``flatten`` and ``unflatten`` are inverse: the compile mode flattens the
arguments to find the tensors and key its cache, and rebuilds the function's result.
"""

__all__ = ["flatten", "unflatten", "leaf_paths"]


def flatten(obj):
    """``(leaves, spec)``: the leaves in order and the nesting as a hashable ``spec``."""
    leaves = []
    return leaves, _flatten(obj, leaves)


def _flatten(obj, leaves):
    t = type(obj)
    if isinstance(obj, (tuple, list)):
        return (t, tuple([_flatten(x, leaves) for x in obj]))
    if isinstance(obj, dict):
        return (t, tuple(obj.keys()), tuple([_flatten(x, leaves) for x in obj.values()]))
    leaves.append(obj)
    return None


def unflatten(spec, leaves):
    """Rebuild the nested object that :func:`flatten` described (``leaves`` in order)."""
    it = iter(leaves)
    return _build(spec, it)


def _build(spec, it):
    if spec is None:
        return next(it)
    t = spec[0]
    if len(spec) == 3:  # a dict
        values = [_build(s, it) for s in spec[2]]
        return t(zip(spec[1], values))
    items = [_build(s, it) for s in spec[1]]
    if t is tuple or t is list:
        return t(items)
    if hasattr(t, "_fields"):
        return t(*items)
    return t(items)


def leaf_paths(obj, prefix):
    """A readable path per leaf, in :func:`flatten`'s order (``x``, ``batch[0]``)."""
    paths = []
    _paths(obj, prefix, paths)
    return paths


def _paths(obj, prefix, paths):
    if isinstance(obj, (tuple, list)):
        for i, x in enumerate(obj):
            _paths(x, f"{prefix}[{i}]", paths)
    elif isinstance(obj, dict):
        for k, x in obj.items():
            _paths(x, f"{prefix}[{k!r}]", paths)
    else:
        paths.append(prefix)
