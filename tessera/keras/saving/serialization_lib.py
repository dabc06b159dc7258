"""Objects to and from JSON-able configs, in Keras 3's format, with the registry of
custom classes (``register_keras_serializable``) that loading consults.

A serialized object is ``{"module", "class_name", "config", "registered_name"}``; layers
add ``"build_config"`` (the input shape they were built for). Functions (activations,
custom losses) serialize by their registered name. Nothing is pickled.
"""

import importlib
import inspect
import threading

__all__ = ["register_keras_serializable", "get_registered_name", "get_registered_object",
           "get_custom_objects", "custom_object_scope", "CustomObjectScope",
           "serialize_keras_object", "deserialize_keras_object"]

_GLOBAL_CUSTOM_OBJECTS = {}
_GLOBAL_CUSTOM_NAMES = {}
_scope = threading.local()

# The tessera.keras modules that hold the built-in classes of each public module name.
_MODULES = {
    "keras.layers": "tessera.keras.layers",
    "keras.models": "tessera.keras.models",
    "keras.src.models.functional": "tessera.keras.models",
    "keras.src.models.sequential": "tessera.keras.models",
    "keras.initializers": "tessera.keras.initializers",
    "keras.regularizers": "tessera.keras.regularizers",
    "keras.constraints": "tessera.keras.constraints",
    "keras.activations": "tessera.keras.activations",
    "keras.losses": "tessera.keras.losses",
    "keras.metrics": "tessera.keras.metrics",
    "keras.optimizers": "tessera.keras.optimizers",
    "keras.optimizers.schedules": "tessera.keras.optimizers",
}


def register_keras_serializable(package="Custom", name=None):
    """Decorator registering a class or function under ``"package>name"`` so that saved
    models using it load back (``name`` defaults to the object's ``__name__``)."""
    def decorator(arg):
        class_name = name if name is not None else arg.__name__
        registered = f"{package}>{class_name}"
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError(f"register_keras_serializable: {arg.__name__} must implement "
                             "get_config()")
        _GLOBAL_CUSTOM_OBJECTS[registered] = arg
        _GLOBAL_CUSTOM_NAMES[arg] = registered
        return arg
    return decorator


def get_registered_name(obj):
    """The name ``obj`` is registered under, or its ``__name__``."""
    return _GLOBAL_CUSTOM_NAMES.get(obj, getattr(obj, "__name__", type(obj).__name__))


def get_custom_objects():
    """The global dict of custom objects (``{name: class or function}``), editable."""
    return _GLOBAL_CUSTOM_OBJECTS


class CustomObjectScope:
    """``with custom_object_scope({"MyLayer": MyLayer}): load_model(...)``."""

    def __init__(self, *custom_objects):
        self.custom_objects = {}
        for objs in custom_objects:
            self.custom_objects.update(objs or {})

    def __enter__(self):
        stack = getattr(_scope, "stack", None)
        if stack is None:
            stack = _scope.stack = []
        stack.append(self.custom_objects)
        return self

    def __exit__(self, *exc):
        _scope.stack.pop()


custom_object_scope = CustomObjectScope


def _scoped_objects():
    merged = {}
    for objs in getattr(_scope, "stack", None) or []:
        merged.update(objs)
    return merged


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The class or function for ``name`` among the scoped, given, registered and
    module objects (None when absent)."""
    for table in (_scoped_objects(), custom_objects or {}, _GLOBAL_CUSTOM_OBJECTS,
                  module_objects or {}):
        if name in table:
            return table[name]
    return None


def _public_module(obj):
    module = getattr(obj, "__module__", "") or ""
    if module.startswith("tessera.keras."):
        part = module.split(".")[2]
        return "keras." + part
    return module


def serialize_keras_object(obj):
    """A JSON-able description of ``obj`` (see the module docstring)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(v) for v in obj]
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):
        return obj.tolist()
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        registered = _GLOBAL_CUSTOM_NAMES.get(obj)
        return {"module": _public_module(obj), "class_name": "function",
                "config": obj.__name__, "registered_name": registered or obj.__name__}
    if inspect.isclass(obj):
        raise TypeError(f"cannot serialize the class {obj.__name__}; serialize an instance")
    if not hasattr(obj, "get_config"):
        raise TypeError(f"cannot serialize {type(obj).__name__}: it has no get_config(); "
                        "implement get_config() (and register the class with "
                        "keras.saving.register_keras_serializable)")
    cls = type(obj)
    config = {"module": _public_module(obj), "class_name": cls.__name__,
              "config": obj.get_config(),
              "registered_name": _GLOBAL_CUSTOM_NAMES.get(cls, cls.__name__)}
    build_config = getattr(obj, "get_build_config", None)
    if build_config is not None:
        bc = build_config()
        if bc is not None:
            config["build_config"] = bc
    return config


def _builtin_objects(module_name):
    target = _MODULES.get(module_name)
    if target is None:
        return {}
    module = importlib.import_module(target)
    table = getattr(module, "_SERIALIZABLE", None)
    if table is None:
        table = {k: v for k, v in vars(module).items() if not k.startswith("_")}
    return table


def deserialize_keras_object(config, module_objects=None, custom_objects=None,
                             default_module=None):
    """The object described by ``config`` (what :func:`serialize_keras_object` made)."""
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, str):
        obj = get_registered_object(config, custom_objects, module_objects)
        if obj is None and default_module:
            obj = _builtin_objects(default_module).get(config)
        if obj is None:
            raise ValueError(f"Could not interpret serialized object {config!r}")
        return obj() if inspect.isclass(obj) else obj
    if isinstance(config, list):
        return [deserialize_keras_object(c, module_objects, custom_objects, default_module)
                for c in config]
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret serialized object: expected a dict with "
                         f"'class_name' and 'config', got {config!r}")
    class_name = config["class_name"]
    inner = config.get("config")
    module = config.get("module") or default_module
    module_table = dict(_builtin_objects(module)) if module else {}
    module_table.update(module_objects or {})
    if class_name == "function":
        name = config.get("registered_name") or inner
        fn = (get_registered_object(name, custom_objects, module_table)
              or get_registered_object(inner, custom_objects, module_table))
        if fn is None:
            raise ValueError(f"Unknown function {name!r} in a saved config; register it with "
                             "keras.saving.register_keras_serializable or pass it in "
                             "custom_objects")
        return fn
    registered = config.get("registered_name") or class_name
    cls = (get_registered_object(registered, custom_objects, module_table)
           or get_registered_object(class_name, custom_objects, module_table))
    if cls is None:
        raise TypeError(f"Could not locate class {class_name!r} (module {module!r}). Make "
                        "sure custom classes are decorated with "
                        "@keras.saving.register_keras_serializable() or passed in "
                        "custom_objects")
    if hasattr(cls, "from_config"):
        try:
            obj = cls.from_config(inner, custom_objects=custom_objects) \
                if _accepts_custom_objects(cls.from_config) else cls.from_config(inner)
        except TypeError as e:
            raise TypeError(f"{class_name}.from_config could not rebuild the object from its "
                            f"config: {e}") from e
    else:
        obj = cls(**(inner or {}))
    build_config = config.get("build_config")
    if build_config and hasattr(obj, "build_from_config"):
        obj.build_from_config(build_config)
    return obj


def _accepts_custom_objects(fn):
    try:
        return "custom_objects" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
