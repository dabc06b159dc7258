"""Keras's backend settings as far as tessera has them: the float type, epsilon, the image
layout, and the per-session layer-name counters that ``clear_session`` resets."""

import collections

__all__ = ["floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format",
           "set_image_data_format", "clear_session", "get_uid", "backend"]

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"
_UIDS = collections.defaultdict(int)


def floatx():
    """The default float type of weights and inputs ("float32")."""
    return _FLOATX


def set_floatx(value):
    global _FLOATX
    if value not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(f"set_floatx: unknown float type {value!r}; expected float16, "
                         "bfloat16, float32 or float64")
    _FLOATX = value


def epsilon():
    """The fuzz factor of losses and metrics (1e-7)."""
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    _EPSILON = float(value)


def image_data_format():
    """"channels_last" (NHWC, Keras's default) or "channels_first"."""
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    global _IMAGE_DATA_FORMAT
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"set_image_data_format: expected 'channels_last' or "
                         f"'channels_first', got {data_format!r}")
    _IMAGE_DATA_FORMAT = data_format


def standardize_data_format(data_format):
    if data_format is None:
        return _IMAGE_DATA_FORMAT
    data_format = str(data_format).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got "
                         f"{data_format!r}")
    return data_format


def get_uid(prefix=""):
    """1, 2, 3 ... per prefix: layer names are ``dense``, ``dense_1``, ``dense_2`` ..."""
    _UIDS[prefix] += 1
    return _UIDS[prefix]


def clear_session():
    """Reset the layer-name counters (names start again from ``dense``, ``conv2d`` ...)."""
    _UIDS.clear()


def backend():
    return "tessera"
