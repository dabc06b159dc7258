"""(being written)"""

__all__ = ['one_hot', 'embedding']


def one_hot(*args, **kwargs):  # placeholder while this family is being written
    raise NotImplementedError("one_hot")


def embedding(*args, **kwargs):  # placeholder while this family is being written
    raise NotImplementedError("embedding")
