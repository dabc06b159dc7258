"""``keras.Sequential``: a plain stack of layers, each feeding the next."""

import numpy as np

from ... import autograd
from ...autograd.function import _make_tensor
from ...nn import Module
from ..layers.input_layer import InputLayer
from ..layers.layer import KerasTensor, Layer, standardize_shape
from ..saving import serialization_lib
from .model import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """A stack of layers (Keras layers or any ``tessera.nn.Module``).

    >>> from tessera import keras
    >>> from tessera.keras import layers
    >>> model = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
    ...                           layers.Dense(2)])
    >>> model.count_params()
    58

    When the input shape is known (``keras.Input`` first, or ``input_shape=`` on the first
    layer) the model is built at once; otherwise on its first call.
    """

    def __init__(self, layers=None, trainable=True, name=None, **kwargs):
        super().__init__(trainable=trainable, name=name, **kwargs)
        object.__setattr__(self, "_stack", [])
        object.__setattr__(self, "_input_layer", None)
        object.__setattr__(self, "_pass_nodes", [])
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._build_if_shape_known()

    # -- the stack --------------------------------------------------------------------------

    def add(self, layer, rebuild=True):
        """Append a layer (or a ``keras.Input`` tensor first, to fix the input shape)."""
        if isinstance(layer, KerasTensor):
            origin = layer._keras_history[0] if layer._keras_history else None
            if not isinstance(origin, InputLayer):
                raise ValueError("Sequential.add: only a keras.Input tensor can be added, not "
                                 "the output of another layer")
            layer = origin
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError("Sequential.add: an InputLayer can only be the first layer")
            object.__setattr__(self, "_input_layer", layer)
            return
        if not isinstance(layer, Module):
            raise TypeError(f"The added layer must be an instance of class Layer (or a "
                            f"tessera.nn.Module). Received: layer={layer!r} of type "
                            f"{type(layer).__name__}.")
        name = getattr(layer, "name", None)
        if name is not None and any(getattr(m, "name", None) == name for m in self._stack):
            raise ValueError(f'All layers added to a Sequential model should have unique '
                             f'names. Name "{name}" is already the name of a layer in this '
                             "model.")
        self.add_module(str(len(self._stack)), layer)
        self._stack.append(layer)
        if rebuild:
            if self.built:
                object.__setattr__(self, "built", False)
            self._build_if_shape_known()

    def pop(self, rebuild=True):
        """Remove the last layer and return it."""
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        del self._modules[str(len(self._stack))]
        if rebuild and self._stack:
            object.__setattr__(self, "built", False)
            self._build_if_shape_known()
        return layer

    @property
    def layers(self):
        return list(self._stack)

    def _layer_list(self, include_input=True):
        return list(self._stack)

    def _input_shape(self):
        if self._input_layer is not None:
            return self._input_layer.batch_shape
        if self._stack:
            shape = getattr(self._stack[0], "_batch_input_shape_arg", None)
            if shape is not None:
                return shape
        if self._build_shapes is not None and self._build_shapes[0] == "input_shape":
            return self._build_shapes[1]
        return None

    def _build_if_shape_known(self):
        shape = self._input_shape()
        if shape is not None and self._stack and not self.built:
            self.build(shape)

    # -- building and calling ---------------------------------------------------------------

    def build(self, input_shape=None):
        """Build every layer for inputs of ``input_shape`` (with the batch dimension), by
        passing a symbolic tensor through the stack."""
        if input_shape is None:
            input_shape = self._input_shape()
        if input_shape is None:
            raise ValueError("You must provide an `input_shape` argument to build a "
                             "Sequential model.")
        shape = (None,) + tuple(standardize_shape(input_shape))[1:]
        if not self._stack:
            raise ValueError(f"Sequential model {self.name} has no layers to build")
        # Forget the symbolic calls of an earlier build, so layer.output stays unambiguous.
        for layer, node in self._pass_nodes:
            if node in layer._inbound_nodes:
                layer._inbound_nodes.remove(node)
        self._pass_nodes.clear()
        if self._input_layer is None:
            object.__setattr__(self, "_input_layer",
                               InputLayer(batch_shape=shape, dtype=self._input_dtype()))
        elif tuple(self._input_layer.batch_shape[1:]) != shape[1:]:
            raise ValueError(f"Sequential {self.name}: cannot build for inputs of shape "
                             f"{shape}; the model's input shape is "
                             f"{self._input_layer.batch_shape}")
        x = self._input_layer.output
        for layer in self._stack:
            if isinstance(layer, Layer):
                before = len(layer._inbound_nodes)
                x = layer(x)
                for node in layer._inbound_nodes[before:]:
                    self._pass_nodes.append((layer, node))
            else:
                x = _run_module(layer, x)
        object.__setattr__(self, "_output_shape_seen",
                           x.shape if isinstance(x, KerasTensor) else None)
        object.__setattr__(self, "_symbolic_output", x)

    def _input_dtype(self):
        first = self._stack[0] if self._stack else None
        from ..layers.core import Embedding
        return "int64" if isinstance(first, Embedding) else "float32"

    def _maybe_build(self, args, kwargs):
        first = args[0] if args else next(iter(kwargs.values()))
        self.build(tuple(first.shape))

    def call(self, inputs, training=None, mask=None):
        x = inputs
        for layer in self._stack:
            x = layer(x)
        return x

    @property
    def inputs(self):
        return [self._input_layer.output] if self._input_layer is not None and self.built \
            else None

    @property
    def outputs(self):
        out = self.__dict__.get("_symbolic_output")
        return [out] if out is not None and self.built else None

    @property
    def input(self):
        inputs = self.inputs
        if inputs is None:
            raise AttributeError(f"Sequential model {self.name} is not built, so it has no "
                                 "input yet")
        return inputs[0]

    @property
    def output(self):
        outputs = self.outputs
        if outputs is None:
            raise AttributeError(f"Sequential model {self.name} is not built, so it has no "
                                 "output yet")
        return outputs[0]

    @property
    def input_shape(self):
        return self._input_shape()

    @property
    def output_names(self):
        return ["output_0"]

    # -- config -------------------------------------------------------------------------------

    def get_config(self):
        layers = []
        if self._input_layer is not None:
            layers.append(serialization_lib.serialize_keras_object(self._input_layer))
        for layer in self._stack:
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential {self.name}: the module {type(layer).__name__} is "
                                "not a keras layer and cannot be saved in a model config; "
                                "save the weights (state_dict) instead")
            entry = serialization_lib.serialize_keras_object(layer)
            entry.pop("build_config", None)  # the stack is rebuilt from its input shape
            layers.append(entry)
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype,
                  "layers": layers}
        shape = self._input_shape()
        if shape is not None:
            config["build_input_shape"] = [None if s is None else int(s) for s in shape]
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config.get("layers", []):
            layer = serialization_lib.deserialize_keras_object(
                entry, custom_objects=custom_objects, default_module="keras.layers")
            model.add(layer, rebuild=False)
        shape = config.get("build_input_shape")
        if shape is not None and not model.built:
            model.build(tuple(shape))
        else:
            model._build_if_shape_known()
        return model

    def get_build_config(self):
        return None  # build_input_shape in the config rebuilds the stack


def _run_module(module, x):
    """The symbolic output of a plain nn.Module: run it once on zeros (batch of 2)."""
    shape = tuple(2 if s is None else s for s in x.shape)
    with autograd.no_grad():
        was = module.training
        module.train(False)
        try:
            out = module(_make_tensor(np.zeros(shape, np.dtype(x.dtype))))
        finally:
            module.train(was)
    out_shape = (None,) + tuple(out.shape[1:])
    object.__setattr__(module, "_output_shape_seen", out_shape)
    return KerasTensor(out_shape, out.dtype.name if hasattr(out.dtype, "name") else "float32")
