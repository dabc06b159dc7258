"""Keras models: ``Model`` (functional or subclassed), ``Sequential``, and loading."""

from ..saving.saving_lib import load_model, model_from_json, save_model
from .model import Model
from .sequential import Sequential


def clone_model(model, input_tensors=None, clone_function=None):
    """A new model with the same architecture and freshly initialized weights."""
    if input_tensors is not None or clone_function is not None:
        raise ValueError("clone_model: input_tensors and clone_function are not supported; "
                         "tessera clones from the model's config")
    from ..saving.serialization_lib import deserialize_keras_object, serialize_keras_object
    config = serialize_keras_object(model)
    config.pop("compile_config", None)
    return deserialize_keras_object(config, default_module="keras.models")


Functional = Model  # the class name Keras writes for functional models

_SERIALIZABLE = {"Model": Model, "Functional": Model, "Sequential": Sequential}

__all__ = ["Model", "Sequential", "load_model", "save_model", "model_from_json",
           "clone_model"]
