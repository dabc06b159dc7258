"""The ``.keras`` archive and weight files.

A ``.keras`` file is a zip archive of ``config.json`` (the model's config, Keras 3's
layout, plus ``compile_config``), ``metadata.json`` and ``model.weights.safetensors``
(the model's ``state_dict``). Weights alone go to ``.weights.safetensors`` files. Nothing
is pickled, and every file is written to a temporary name and renamed.
"""

import datetime
import json
import os
import zipfile

import numpy as np

from ...training.checkpoint import load_tensors, save_tensors, write_atomic
from .serialization_lib import deserialize_keras_object, serialize_keras_object

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_from_json"]

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "model.weights.safetensors"
MODEL_SUFFIX = ".keras"
WEIGHTS_SUFFIX = ".weights.safetensors"
FORMAT_VERSION = "3.0-tessera"


def _safetensors():
    try:
        from safetensors import numpy as st
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("saving keras models needs safetensors: pip install "
                          "'tessera[train]' (or pip install safetensors)") from e
    return st


def _state_arrays(model):
    return {k: np.ascontiguousarray(v._data) for k, v in model.state_dict().items()}


def save_model(model, filepath, overwrite=True, **kwargs):
    """Write ``model`` to a ``.keras`` archive at ``filepath``."""
    filepath = os.fspath(filepath)
    if kwargs:
        raise TypeError(f"save_model: unexpected arguments {sorted(kwargs)}")
    if not filepath.endswith(MODEL_SUFFIX):
        raise ValueError(f"Invalid filepath extension for saving: {filepath!r}. Please add a "
                         f"`{MODEL_SUFFIX}` extension (for weights only, use save_weights with "
                         f"a `{WEIGHTS_SUFFIX}` file)")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_model: {filepath} exists and overwrite=False")
    if not model.built:
        raise ValueError(f"save_model: model {model.name} is not built yet; call it on data "
                         "or build() it before saving")
    config = serialize_keras_object(model)
    compile_config = getattr(model, "_compile_config", None)
    if getattr(model, "compiled", False) and compile_config is not None:
        config["compile_config"] = compile_config
    metadata = {"keras_version": FORMAT_VERSION, "framework": "tessera",
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights = _safetensors().save(_state_arrays(model))

    def write(tmp):
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(METADATA, json.dumps(metadata))
            zf.writestr(CONFIG, json.dumps(config))
            zf.writestr(WEIGHTS, weights)
    write_atomic(filepath, write)


def _read_archive(filepath):
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"File not found: filepath={filepath}. Please ensure the "
                                "file is an accessible `.keras` zip file.")
    if not zipfile.is_zipfile(filepath):
        raise ValueError(f"{filepath} is not a `.keras` zip archive")
    with zipfile.ZipFile(filepath) as zf:
        names = set(zf.namelist())
        for needed in (CONFIG, WEIGHTS):
            if needed not in names:
                raise ValueError(f"{filepath} is not a tessera `.keras` archive: it has no "
                                 f"{needed} (found {sorted(names)})")
        config = json.loads(zf.read(CONFIG))
        weights = _safetensors().load(zf.read(WEIGHTS))
    return config, weights


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved with ``model.save("x.keras")``: rebuild it from its config, load its
    weights, and compile it again when it was compiled (and ``compile`` is True)."""
    config, weights = _read_archive(filepath)
    compile_config = config.pop("compile_config", None)
    model = deserialize_keras_object(config, custom_objects=custom_objects,
                                     default_module="keras.models")
    if not getattr(model, "built", False):
        raise ValueError(f"load_model: the model rebuilt from {os.fspath(filepath)} is not "
                         "built; subclassed models need get_build_config() to record their "
                         "input shape")
    _load_state(model, weights, os.fspath(filepath), skip_mismatch=False)
    if compile and compile_config is not None:
        model.compile(**_compile_args(compile_config, custom_objects))
    return model


def _compile_args(config, custom_objects):
    from .. import losses, metrics, optimizers

    def de(spec, module):
        if spec is None or isinstance(spec, str):
            return spec
        if isinstance(spec, list):
            return [de(s, module) for s in spec]
        if isinstance(spec, dict) and "class_name" not in spec:
            return {k: de(v, module) for k, v in spec.items()}
        return module.deserialize(spec, custom_objects=custom_objects)
    return {"optimizer": de(config.get("optimizer"), optimizers),
            "loss": de(config.get("loss"), losses),
            "loss_weights": config.get("loss_weights"),
            "metrics": de(config.get("metrics"), metrics),
            "weighted_metrics": de(config.get("weighted_metrics"), metrics)}


def _load_state(model, arrays, source, skip_mismatch):
    state = model.state_dict(keep_vars=True)
    missing = [k for k in state if k not in arrays]
    unexpected = [k for k in arrays if k not in state]
    if (missing or unexpected) and not skip_mismatch:
        raise ValueError(f"cannot load weights from {source} into model {model.name}: "
                         f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                         f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''} "
                         "(the architectures differ)")
    for key, tensor in state.items():
        if key not in arrays:
            continue
        value = arrays[key]
        if value.shape != tensor._data.shape:
            if skip_mismatch:
                continue
            raise ValueError(f"cannot load weights from {source}: '{key}' has shape "
                             f"{value.shape} in the file but {tensor._data.shape} in the "
                             "model")
        tensor._data[...] = value
        tensor._version[0] += 1


def save_weights(model, filepath, overwrite=True):
    filepath = os.fspath(filepath)
    if not filepath.endswith(WEIGHTS_SUFFIX):
        raise ValueError(f"The filename must end in `{WEIGHTS_SUFFIX}`. Received: "
                         f"filepath={filepath}")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_weights: {filepath} exists and overwrite=False")
    if not model.built:
        raise ValueError(f"save_weights: model {model.name} is not built yet")
    save_tensors(filepath, _state_arrays(model), metadata={"format": "tessera.keras"})


def load_weights(model, filepath, skip_mismatch=False):
    filepath = os.fspath(filepath)
    if filepath.endswith(MODEL_SUFFIX):
        _, arrays = _read_archive(filepath)
    elif filepath.endswith(WEIGHTS_SUFFIX):
        arrays = load_tensors(filepath)
    else:
        raise ValueError(f"load_weights: expected a `{WEIGHTS_SUFFIX}` or `{MODEL_SUFFIX}` "
                         f"file, got {filepath!r}")
    if not model.built:
        raise ValueError(f"load_weights: build model {model.name} (call it on data or give it "
                         "an input shape) before loading weights into it")
    _load_state(model, arrays, filepath, skip_mismatch)


def model_from_json(json_string, custom_objects=None):
    """A new (untrained) model from ``model.to_json()``."""
    config = json.loads(json_string)
    return deserialize_keras_object(config, custom_objects=custom_objects,
                                    default_module="keras.models")
