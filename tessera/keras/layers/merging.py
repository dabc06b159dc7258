"""Layers that merge a list of inputs: Add, Subtract, Multiply, Average, Maximum,
Minimum, Concatenate."""

import functools

from ... import ops
from .layer import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"]


def _broadcast(a, b, owner):
    if a is None or b is None:
        return a if b is None else b
    a, b = tuple(a), tuple(b)
    if len(a) < len(b):
        a, b = b, a
    b = (1,) * (len(a) - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == 1 or x is None:
            out.append(x if y == 1 else y)
        elif y == 1 or y is None or x == y:
            out.append(x)
        else:
            raise ValueError(f"{owner}: inputs with shapes {a} and {b} cannot be merged "
                             "(they do not broadcast)")
    return tuple(out)


class _Merge(Layer):
    _min_inputs = 2

    def _check_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{type(self).__name__} {self.name}: expected a list of inputs, "
                             f"got a {type(inputs).__name__}")
        if len(inputs) < self._min_inputs:
            raise ValueError(f"{type(self).__name__} {self.name}: expected a list of at least "
                             f"{self._min_inputs} inputs, got {len(inputs)}")

    def build(self, input_shape):
        self._check_inputs(input_shape)

    def call(self, inputs):
        self._check_inputs(inputs)
        return functools.reduce(self._merge, inputs)

    def compute_output_shape(self, input_shape):
        self._check_inputs(input_shape)
        return functools.reduce(lambda a, b: _broadcast(a, b, type(self).__name__),
                                input_shape)


class Add(_Merge):
    """Element-wise sum of a list of inputs (broadcasting)."""

    @staticmethod
    def _merge(a, b):
        return a + b


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    def _check_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"Subtract {self.name}: expected a list of exactly 2 inputs")

    @staticmethod
    def _merge(a, b):
        return a - b


class Multiply(_Merge):
    """Element-wise product of a list of inputs."""

    @staticmethod
    def _merge(a, b):
        return a * b


class Maximum(_Merge):
    @staticmethod
    def _merge(a, b):
        return ops.maximum(a, b)


class Minimum(_Merge):
    @staticmethod
    def _merge(a, b):
        return ops.minimum(a, b)


class Average(_Merge):
    """Element-wise mean of a list of inputs."""

    def call(self, inputs):
        self._check_inputs(inputs)
        return functools.reduce(lambda a, b: a + b, inputs) / len(inputs)


class Concatenate(_Merge):
    """Concatenate a list of inputs along ``axis`` (the last by default)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        self._check_inputs(inputs)
        return ops.cat(list(inputs), self.axis)

    def compute_output_shape(self, input_shape):
        self._check_inputs(input_shape)
        shapes = [tuple(s) for s in input_shape]
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(f"Concatenate {self.name}: inputs must have the same rank, got "
                             f"shapes {shapes}")
        axis = self.axis % rank
        out = list(shapes[0])
        for s in shapes[1:]:
            for i in range(rank):
                if i == axis:
                    out[i] = None if out[i] is None or s[i] is None else out[i] + s[i]
                elif out[i] is not None and s[i] is not None and out[i] != s[i]:
                    raise ValueError(f"Concatenate {self.name}: a `Concatenate` layer "
                                     "requires inputs with matching shapes except for the "
                                     f"concatenation axis; got shapes {shapes}")
                elif out[i] is None:
                    out[i] = s[i]
        return tuple(out)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


def _functional(cls):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)
    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"``{cls.__name__}(**kwargs)(inputs)``."
    return merge


add = _functional(Add)
subtract = _functional(Subtract)
multiply = _functional(Multiply)
average = _functional(Average)
maximum = _functional(Maximum)
minimum = _functional(Minimum)
concatenate = _functional(Concatenate)
