"""``keras.Input``: the symbolic entry point of a functional model, and its InputLayer."""

from .layer import KerasTensor, Layer, Node, standardize_shape

__all__ = ["InputLayer", "Input"]


class InputLayer(Layer):
    """The layer behind ``keras.Input``: it holds the input's shape and produces the
    symbolic tensor the model's graph starts from.

    Args:
        shape: the shape of one sample (without the batch dimension).
        batch_size: a fixed batch size (None: any).
        dtype: the input dtype ("float32" by default; "int32"/"int64" for token ids).
        batch_shape: the full shape including the batch dimension (instead of ``shape``).
        name: the layer's name.
    """

    _keeps_input_dtype = True

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 input_tensor=None, optional=False, name=None, **kwargs):
        if "input_shape" in kwargs:
            shape = kwargs.pop("input_shape")
        if "batch_input_shape" in kwargs:
            batch_shape = kwargs.pop("batch_input_shape")
        super().__init__(name=name, dtype=dtype or "float32", **kwargs)
        if sparse:
            raise ValueError("InputLayer: sparse inputs are not supported by tessera")
        if shape is not None and batch_shape is not None:
            raise ValueError("InputLayer: give shape or batch_shape, not both")
        if batch_shape is None:
            if shape is None:
                raise ValueError("InputLayer: a shape (or batch_shape) is required")
            batch_shape = (batch_size,) + standardize_shape(shape)
        self.batch_shape = standardize_shape(batch_shape)
        self.sparse = False
        self.optional = optional
        self.built = True
        if input_tensor is not None:
            if not isinstance(input_tensor, KerasTensor):
                raise TypeError(f"InputLayer: input_tensor must be a KerasTensor, got "
                                f"{type(input_tensor).__name__}")
            tensor = input_tensor
        else:
            tensor = KerasTensor(self.batch_shape, dtype=self.dtype, name=self.name)
        Node(self, (), {}, tensor)
        self._output_shape_seen = self.batch_shape

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype,
                "sparse": False, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None, optional=False):
    """A symbolic tensor to build a functional model from.

    >>> from tessera import keras
    >>> x = keras.Input(shape=(784,))
    >>> x.shape
    (None, 784)
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, name=name, input_tensor=tensor,
                       optional=optional)
    return layer.output
