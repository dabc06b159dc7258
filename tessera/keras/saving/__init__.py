"""Saving and loading: ``.keras`` archives, weight files and the custom-object registry."""

from .saving_lib import load_model, load_weights, model_from_json, save_model, save_weights
from .serialization_lib import (CustomObjectScope, custom_object_scope,
                                deserialize_keras_object, get_custom_objects,
                                get_registered_name, get_registered_object,
                                register_keras_serializable, serialize_keras_object)

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_from_json",
           "register_keras_serializable", "get_registered_name", "get_registered_object",
           "get_custom_objects", "custom_object_scope", "CustomObjectScope",
           "serialize_keras_object", "deserialize_keras_object"]
