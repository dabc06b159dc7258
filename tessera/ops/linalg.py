"""(being written)"""

__all__ = ['linear']


def linear(*args, **kwargs):  # placeholder while this family is being written
    raise NotImplementedError("linear")
