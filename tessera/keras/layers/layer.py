"""The Keras ``Layer``: an ``nn.Module`` whose weights are created from the first input's
shape (the symbolic tensors and graph nodes live in ``symbolic.py``).

A layer's lifecycle, as in Keras: ``__init__`` stores settings; the first call (or an
explicit ``build(input_shape)``) creates the weights with ``add_weight``; ``call`` computes.
Calling a layer on :class:`KerasTensor` s (from ``keras.Input``) records a :class:`Node`
instead of computing, which is how ``keras.Model(inputs, outputs)`` learns its graph.
"""

import functools
import inspect
import threading

import numpy as np

from ... import autograd
from ..._tensor import Tensor
from ...autograd.function import _make_tensor
from ...nn import Module, Parameter
from .. import backend, constraints, initializers, regularizers
from .symbolic import (InputSpec, KerasTensor, Node, _check_input_spec, _flatten,
                       _has_symbolic, _map, _snake_case, is_keras_tensor, standardize_shape,
                       unique_name)

__all__ = ["Layer", "KerasTensor", "Node", "InputSpec", "is_keras_tensor"]

_state = threading.local()


def _context_training():
    return getattr(_state, "training", None)


# -- the layer ---------------------------------------------------------------------------

class Layer(Module):
    """Base class of Keras layers (a ``tessera.nn.Module``).

    Subclasses create weights in ``build(input_shape)`` with :meth:`add_weight` and compute
    in ``call(inputs, ...)`` (which may accept ``training``). ``get_config`` returns the
    constructor arguments so the layer can be saved.

    Args:
        trainable: whether the weights are updated by training.
        dtype: the dtype of the weights ("float32" by default).
        name: the layer's name (unique names such as ``dense_1`` by default).
        activity_regularizer: a penalty on the layer's output, added to the loss.
        input_shape: (first layer of a Sequential) the shape of one sample; the model
            builds at once.
    """

    _keeps_input_dtype = False  # shape-only layers pass integer inputs through
    call_super_init = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            cls.build = _marking_built(build)
        call = cls.__dict__.get("call")
        if call is not None:
            params = inspect.signature(call).parameters
            cls._call_has_training = "training" in params or any(
                p.kind is p.VAR_KEYWORD for p in params.values())

    _call_has_training = False

    def __init__(self, *, activity_regularizer=None, trainable=True, dtype=None,
                 autocast=True, name=None, **kwargs):
        Module.__init__(self)

        def setattr_(name, value):
            object.__setattr__(self, name, value)
        input_shape = kwargs.pop("input_shape", None)
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        input_dim = kwargs.pop("input_dim", None)
        batch_size = kwargs.pop("batch_size", None)
        kwargs.pop("input_length", None)  # Keras 2's Embedding argument; the shape decides
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: "
                            f"{kwargs}")
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            batch_input_shape = standardize_shape(batch_input_shape)
        elif input_shape is not None:
            batch_input_shape = (batch_size,) + standardize_shape(input_shape)
        if name is not None and (not isinstance(name, str) or "." in name or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string without "
                             f"'.', got {name!r}")
        setattr_("name", name or unique_name(_snake_case(type(self).__name__)))
        setattr_("_batch_input_shape_arg", batch_input_shape)
        setattr_("built", False)
        setattr_("_trainable", bool(trainable))
        setattr_("_dtype", _dtype_name(dtype))
        setattr_("autocast", autocast)
        setattr_("_inbound_nodes", [])
        setattr_("_build_shapes", None)
        setattr_("_output_shape_seen", None)
        setattr_("_weight_regularizers", [])
        setattr_("_weight_constraints", [])
        setattr_("_activity_losses", [])
        setattr_("activity_regularizer", regularizers.get(activity_regularizer))
        setattr_("input_spec", None)
        # Keras layers run in inference mode unless fit (or training=True) says otherwise.
        setattr_("training", False)

    # -- dtype and trainability -----------------------------------------------------------

    @property
    def dtype(self):
        return self._dtype

    @property
    def compute_dtype(self):
        return self._dtype

    @property
    def variable_dtype(self):
        return self._dtype

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        for layer in self._flatten_modules():
            if isinstance(layer, Layer):
                object.__setattr__(layer, "_trainable", value)
            for p in layer._parameters.values():
                if p is not None:
                    p.requires_grad_(value)

    def _flatten_modules(self):
        return [m for _, m in self.named_modules()]

    # -- weights ----------------------------------------------------------------------------

    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True,
                   autocast=True, regularizer=None, constraint=None, aggregation="none",
                   overwrite_with_gradient=False, name=None):
        """Create and track a weight; returns it (a Parameter, or for ``trainable=False`` a
        buffer Tensor, such as BatchNormalization's moving statistics).

        Args:
            shape: the weight's shape.
            initializer: a name ("glorot_uniform"), an Initializer or a callable
                ``f(shape, dtype)``; glorot_uniform for floats by default, else zeros.
            dtype: the dtype (the layer's by default).
            trainable: whether training updates it.
            regularizer: a penalty added to the loss.
            constraint: a projection applied after each optimizer step.
            name: the attribute (and state_dict) name.
        """
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.add_weight: call super().__init__() "
                               "in __init__ first")
        shape = () if shape is None else standardize_shape(shape)
        if any(s is None or s < 0 for s in shape):
            raise ValueError(f"{self.name}.add_weight: the shape must be fully defined, got "
                             f"{shape}")
        dtype = _dtype_name(dtype or self._dtype)
        if initializer is None:
            initializer = "glorot_uniform" if "float" in dtype else "zeros"
        init = initializers.get(initializer)
        value = init(shape, dtype=dtype)
        if isinstance(value, Tensor):
            value = value._data
        value = np.array(value, dtype=dtype, copy=True).reshape(shape)
        name = self._free_weight_name(name or "variable")
        if trainable:
            weight = Parameter(_make_tensor(value), requires_grad=self._trainable)
            self.register_parameter(name, weight)
        else:
            weight = _make_tensor(value)
            self.register_buffer(name, weight)
        if regularizer is not None:
            self._weight_regularizers.append((weight, regularizers.get(regularizer)))
        if constraint is not None:
            self._weight_constraints.append((weight, constraints.get(constraint)))
        return weight

    def _free_weight_name(self, base):
        taken = set(self._parameters) | set(self._buffers) | set(self._modules)
        taken |= set(type(self).__dict__) | set(self.__dict__)
        if base not in taken and not hasattr(type(self), base):
            return base
        i = 1
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    def __setattr__(self, name, value):
        # ``self.w = self.add_weight(...)``: track the weight under the attribute's name, so
        # attribute names equal state_dict keys.
        if isinstance(value, Tensor):
            d = self.__dict__
            params, buffers = d.get("_parameters"), d.get("_buffers")
            if params is not None and name not in params and name not in buffers:
                for table in (params, buffers):
                    old = next((k for k, v in table.items() if v is value), None)
                    if old is not None:
                        items = [(name if k == old else k, v) for k, v in table.items()]
                        table.clear()
                        table.update(items)
                        break
        super().__setattr__(name, value)

    def _own_weights(self):
        own = [p for p in self._parameters.values() if p is not None]
        own += [b for n, b in self._buffers.items()
                if b is not None and n not in self._non_persistent_buffers_set]
        return own

    @property
    def weights(self):
        """All weights: this layer's (trainable first), then its sublayers'."""
        out, seen = [], set()
        for m in self._flatten_modules():
            own = m._own_weights() if isinstance(m, Layer) else (
                [p for p in m._parameters.values() if p is not None]
                + [b for n, b in m._buffers.items()
                   if b is not None and n not in m._non_persistent_buffers_set])
            for w in own:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def trainable_weights(self):
        return [w for w in self.weights if isinstance(w, Parameter) and w.requires_grad]

    @property
    def non_trainable_weights(self):
        return [w for w in self.weights if not (isinstance(w, Parameter) and w.requires_grad)]

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def get_weights(self):
        """The weights as a list of NumPy arrays (copies)."""
        return [np.array(w._data, copy=True) for w in self.weights]

    def set_weights(self, weights):
        """Set the weights from a list of arrays, in the order of :meth:`get_weights`."""
        own = self.weights
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(f'You called `set_weights(weights)` on layer "{self.name}" with '
                             f"a weight list of length {len(weights)}, but the layer was "
                             f"expecting {len(own)} weights")
        arrays = []
        for w, v in zip(own, weights):
            a = v._data if isinstance(v, Tensor) else np.asarray(v)
            if a.shape != w._data.shape:
                raise ValueError(f'Layer "{self.name}" weight shape {w._data.shape} is not '
                                 f"compatible with provided weight shape {a.shape}")
            arrays.append(a)
        for w, a in zip(own, arrays):
            w._data[...] = a
            w._version[0] += 1

    def count_params(self):
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on layer '{self.name}', but "
                             "the layer isn't built. You can build it manually via: "
                             f"`{self.name}.build(batch_input_shape)`.")
        return int(sum(w._data.size for w in self.weights))

    @property
    def losses(self):
        """Regularization penalties of this layer and its sublayers (scalar Tensors)."""
        out = []
        for m in self._flatten_modules():
            if isinstance(m, Layer):
                out.extend(reg(w) for w, reg in m._weight_regularizers)
                out.extend(m._activity_losses)
        return out

    def _apply_constraints(self):
        for m in self._flatten_modules():
            if isinstance(m, Layer):
                for w, c in m._weight_constraints:
                    w._data[...] = c(w._data)

    # -- building -----------------------------------------------------------------------------

    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (no weights by default)."""

    def build_from_config(self, config):
        if not config:
            return
        if "input_shape" in config:
            shape = config["input_shape"]
            self.build(_shape_struct(shape))
        elif "shapes_dict" in config:
            self.build(**{k: _shape_struct(v) for k, v in config["shapes_dict"].items()})

    def get_build_config(self):
        if not self.built or self._build_shapes is None:
            return None
        kind, shapes = self._build_shapes
        if kind == "input_shape":
            return {"input_shape": _jsonable_shape(shapes)}
        return {"shapes_dict": {k: _jsonable_shape(v) for k, v in shapes.items()}}

    def _maybe_build(self, args, kwargs):
        params = [p for p in inspect.signature(self.build).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        shapes = _map(_shape_of, args[0] if args else next(iter(kwargs.values())))
        if len(params) <= 1:
            self.build(shapes)
        else:
            call_params = [p for p in inspect.signature(self.call).parameters]
            bound = dict(zip(call_params, args))
            bound.update(kwargs)
            given = {}
            for p in params:
                arg = p.name[:-6] if p.name.endswith("_shape") else p.name
                if arg in bound and bound[arg] is not None:
                    given[p.name] = _map(_shape_of, bound[arg])
            self.build(**given)
        if not self.built:
            object.__setattr__(self, "built", True)

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape`` (None for unknown sizes)."""
        raise NotImplementedError

    def compute_output_spec(self, *args, **kwargs):
        """Symbolic outputs for symbolic inputs: from ``compute_output_shape`` when the
        layer defines it, otherwise by running the layer on a small batch of zeros."""
        first = args[0] if args else next(iter(kwargs.values()))
        if type(self).compute_output_shape is not Layer.compute_output_shape:
            shapes = _map(lambda t: t.shape, first)
            out_shape = self.compute_output_shape(shapes)
            dtype = _flatten(first)[0].dtype if self._keeps_input_dtype else self._dtype
            return _shapes_to_tensors(out_shape, dtype)
        return _spec_by_running(self, args, kwargs)

    # -- calling ------------------------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        if _has_symbolic(args, kwargs):
            return self._symbolic_call(args, kwargs)
        if not args and not kwargs:
            raise TypeError(f'layer "{self.name}" was called without inputs')
        spec = self.input_spec
        if spec is not None and args:
            first = args[0]
            if isinstance(first, Tensor):
                if isinstance(spec, InputSpec):
                    _check_input_spec(self, spec, first)
            elif isinstance(first, (list, tuple)) and isinstance(spec, (list, tuple)):
                for i, (s, x) in enumerate(zip(spec, first)):
                    if s is not None and isinstance(x, Tensor):
                        _check_input_spec(self, s, x, i)
        just_built = False
        if not self.built:
            self._maybe_build(args, kwargs)
            just_built = True
        training = kwargs.get("training")
        if self._call_has_training:
            if training is None:
                ctx = _context_training()
                kwargs["training"] = self.training if ctx is None else ctx
        elif "training" in kwargs:
            del kwargs["training"]
        if training is not None and training != _context_training():
            previous = _context_training()
            _state.training = bool(training)
            try:
                out = Module.__call__(self, *args, **kwargs)
            finally:
                _state.training = previous
        else:
            out = Module.__call__(self, *args, **kwargs)
        if self.activity_regularizer is not None:
            self._activity_losses = [self.activity_regularizer(o) / max(1, o.shape[0])
                                     for o in _flatten(out) if isinstance(o, Tensor)]
        if just_built:
            object.__setattr__(self, "_output_shape_seen",
                               _map(lambda t: (None,) + tuple(t.shape[1:])
                                    if isinstance(t, Tensor) and t.ndim else None, out))
        return out

    def forward(self, *args, **kwargs):
        return self.call(*args, **kwargs)

    def call(self, *args, **kwargs):
        raise NotImplementedError(f"Layer {type(self).__name__} does not have a `call()` "
                                  "method implemented.")

    def _symbolic_call(self, args, kwargs):
        if not self.built:
            first = args[0] if args else next(iter(kwargs.values()))
            shapes = _map(lambda t: t.shape if isinstance(t, KerasTensor) else _shape_of(t),
                          first)
            params = [p for p in inspect.signature(self.build).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            if len(params) <= 1:
                self.build(shapes)
            else:
                call_params = list(inspect.signature(self.call).parameters)
                bound = dict(zip(call_params, args))
                bound.update(kwargs)
                given = {}
                for p in params:
                    arg = p.name[:-6] if p.name.endswith("_shape") else p.name
                    if arg in bound and bound[arg] is not None:
                        given[p.name] = _map(lambda t: t.shape, bound[arg])
                self.build(**given)
            if not self.built:
                object.__setattr__(self, "built", True)
        outputs = self.compute_output_spec(*args, **kwargs)
        Node(self, args, kwargs, outputs)
        object.__setattr__(self, "_output_shape_seen", _map(lambda t: t.shape, outputs))
        return outputs

    # -- the functional-API view of a layer ------------------------------------------------

    def _single_node(self, what):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name} has never been called on symbolic inputs "
                                 f"and thus has no defined {what}.")
        if len(self._inbound_nodes) > 1:
            raise AttributeError(f"Layer {self.name} has multiple inbound nodes; its {what} "
                                 "is ambiguous (use get_output_at / the node's tensors)")
        return self._inbound_nodes[0]

    @property
    def input(self):
        node = self._single_node("input")
        ts = node.input_tensors
        return ts[0] if len(ts) == 1 else ts

    @property
    def output(self):
        node = self._single_node("output")
        return node.outputs

    @property
    def output_shape(self):
        seen = self._output_shape_seen
        if seen is None:
            raise AttributeError(f"The layer {self.name} has never been called and thus has "
                                 "no defined output shape.")
        return seen

    # -- config -------------------------------------------------------------------------------

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self._dtype}
        if self._batch_input_shape_arg is not None:
            config["batch_input_shape"] = list(self._batch_input_shape_arg)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):  # a Keras 3 DTypePolicy
            config["dtype"] = config["dtype"].get("config", {}).get("name", "float32")
        return cls(**config)

    def _get_name(self):
        return type(self).__name__

    def extra_repr(self):
        return f"name={self.name}, built={self.built}"

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _marking_built(build):
    @functools.wraps(build)
    def wrapped(self, *args, **kwargs):
        build(self, *args, **kwargs)
        d = self.__dict__
        if not d.get("built"):
            object.__setattr__(self, "built", True)
        if d.get("_build_shapes") is None:
            if args and not kwargs:
                shapes = ("input_shape", _map_shapes(_batchless, args[0]))
            else:
                named = dict(kwargs)
                params = [p for p in inspect.signature(build).parameters][1:]
                named.update(zip(params, args))
                shapes = ("shapes_dict", {k: _map_shapes(_batchless, v)
                                          for k, v in named.items()})
            object.__setattr__(self, "_build_shapes", shapes)
    wrapped._marks_built = True
    return wrapped


Layer.build = _marking_built(Layer.build)


def _is_shape(s):
    return isinstance(s, tuple) and all(d is None or isinstance(d, (int, np.integer))
                                        for d in s)


def _map_shapes(fn, struct):
    """Apply ``fn`` to each shape tuple of a structure of shapes."""
    if struct is None or _is_shape(struct):
        return fn(struct)
    if isinstance(struct, (list, tuple)):
        if all(d is None or isinstance(d, (int, np.integer)) for d in struct):
            return fn(tuple(struct))
        return type(struct)(_map_shapes(fn, s) for s in struct)
    if isinstance(struct, dict):
        return {k: _map_shapes(fn, v) for k, v in struct.items()}
    return fn(struct)


def _dtype_name(dtype):
    if dtype is None:
        return backend.floatx()
    if isinstance(dtype, dict):
        return dtype.get("config", {}).get("name", backend.floatx())
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    return str(np.dtype(dtype))


def _shape_of(x):
    if isinstance(x, KerasTensor):
        return x.shape
    if isinstance(x, (Tensor, np.ndarray)):
        return tuple(x.shape)
    if x is None:
        return None
    return tuple(np.shape(x))


def _batchless(shape):
    if shape is None or (isinstance(shape, tuple) and not shape):
        return shape
    if isinstance(shape, tuple) and all(s is None or isinstance(s, int) for s in shape):
        return (None,) + tuple(shape[1:])
    return shape


def _jsonable_shape(shape):
    if isinstance(shape, tuple) and all(s is None or isinstance(s, int) for s in shape):
        return list(shape)
    if isinstance(shape, (list, tuple)):
        return [_jsonable_shape(s) for s in shape]
    if isinstance(shape, dict):
        return {k: _jsonable_shape(v) for k, v in shape.items()}
    return shape


def _shape_struct(shape):
    """A JSON shape back to tuples: ``[None, 3]`` -> ``(None, 3)``, lists of shapes kept."""
    if isinstance(shape, list) and all(s is None or isinstance(s, int) for s in shape):
        return tuple(shape)
    if isinstance(shape, list):
        return [_shape_struct(s) for s in shape]
    if isinstance(shape, dict):
        return {k: _shape_struct(v) for k, v in shape.items()}
    return shape


def _shapes_to_tensors(shape, dtype):
    if isinstance(shape, tuple) and all(s is None or isinstance(s, (int, np.integer))
                                        for s in shape):
        return KerasTensor(shape, dtype)
    if isinstance(shape, (list, tuple)):
        return type(shape)(_shapes_to_tensors(s, dtype) for s in shape)
    if isinstance(shape, dict):
        return {k: _shapes_to_tensors(v, dtype) for k, v in shape.items()}
    raise TypeError(f"compute_output_shape returned {shape!r}; expected a shape tuple or a "
                    "structure of them")


_PROBE_SIZES = (8, 9)  # stand-ins for unknown non-batch sizes, two to tell which stay free


def _placeholder(kt, probe):
    shape = tuple((2 if i == 0 else _PROBE_SIZES[probe]) if s is None else s
                  for i, s in enumerate(kt.shape))
    dtype = np.dtype(kt.dtype) if kt.dtype != "bfloat16" else np.float32
    return _make_tensor(np.zeros(shape, dtype=dtype))


def _spec_by_running(layer, args, kwargs):
    """Output KerasTensors found by calling ``layer`` on zeros (batch of 2) in inference
    mode; a second probe tells which non-batch sizes follow the inputs' unknown ones."""
    leaves = [t for t in _flatten((args, kwargs)) if isinstance(t, KerasTensor)]
    batch_free = all(t.shape and t.shape[0] is None for t in leaves)
    free_inner = any(s is None for t in leaves for s in t.shape[1:])

    def run(probe):
        def sub(v):
            return _placeholder(v, probe) if isinstance(v, KerasTensor) else v
        a = _map(sub, args)
        k = _map(sub, kwargs)
        if layer._call_has_training:
            k["training"] = False
        with autograd.no_grad():
            previous = _context_training()
            _state.training = False
            try:
                return Module.__call__(layer, *a, **k)
            finally:
                _state.training = previous

    try:
        out = run(0)
        out2 = run(1) if free_inner else None
    except Exception as e:
        raise type(e)(f'Exception encountered when calling layer "{layer.name}" '
                      f"({type(layer).__name__}) on symbolic inputs "
                      f"{[t.shape for t in leaves]}: {e}") from e
    flat = _flatten(out)
    flat2 = _flatten(out2) if out2 is not None else [None] * len(flat)

    def spec(t, t2):
        if not isinstance(t, Tensor):
            return t
        shape = list(t.shape)
        if batch_free and shape:
            shape[0] = None
        if t2 is not None:
            for i in range(1, len(shape)):
                if t2.shape[i] != t.shape[i]:
                    shape[i] = None
        return KerasTensor(tuple(shape), _dtype_name(t.dtype))
    specs = [spec(t, t2) for t, t2 in zip(flat, flat2)]
    it = iter(specs)
    return _map(lambda _: next(it), out)
