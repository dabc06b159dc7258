"""``keras.Model``: a Layer that trains. Built three ways, as in Keras: from a graph of
symbolic tensors (``Model(inputs, outputs)``), as a ``Sequential`` stack, or by
subclassing with a ``call`` method. Training runs on the shared engine
(:class:`tessera.training.Engine`); this class supplies compile, the Keras loss and metrics,
the data checks, summary and saving.
"""

import json

import numpy as np

from ... import autograd
from ..._tensor import Tensor
from ...autograd.function import _make_tensor
from ...nn import Module
from ...training import Engine
from ...training.data import ArrayData, flatten, map_structure, unpack_batch
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from ..layers.input_layer import InputLayer
from ..layers.layer import (KerasTensor, Layer, _batchless, _map, _map_shapes, _snake_case,
                            unique_name)
from ..saving import serialization_lib
from .compile_utils import CompileLoss, CompileMetrics
from .functional import Graph, rebuild_graph

__all__ = ["Model"]


def _leaf_specs(struct):
    """Flat (identifier) leaves of a loss/metrics spec, for checking names at compile."""
    if isinstance(struct, dict):
        return [leaf for v in struct.values() for leaf in _leaf_specs(v)]
    if isinstance(struct, (list, tuple)):
        return [leaf for v in struct for leaf in _leaf_specs(v)]
    return [struct]


def _to_tensor(v):
    if isinstance(v, Tensor) or v is None:
        return v
    if isinstance(v, np.ndarray):
        return _make_tensor(v.astype(np.float32) if v.dtype == np.float64 else v)
    return v


class Model(Engine, Layer):
    """A model: layers plus training (``compile``/``fit``/``evaluate``/``predict``).

    ``Model(inputs, outputs, name=None)`` builds a functional model from ``keras.Input``
    tensors; a subclass defines its layers in ``__init__`` and its computation in ``call``.
    A model is a ``tessera.nn.Module``: ``parameters()``, ``state_dict()`` and use inside
    PyTorch-style modules work as for any module.
    """

    def __init__(self, *args, **kwargs):
        inputs = kwargs.pop("inputs", None)
        outputs = kwargs.pop("outputs", None)
        if args:
            if len(args) > 2:
                raise TypeError(f"Model() takes at most 2 positional arguments (inputs, "
                                f"outputs), got {len(args)}")
            inputs = args[0]
            if len(args) > 1:
                outputs = args[1]
        functional = inputs is not None or outputs is not None
        if functional and (inputs is None or outputs is None):
            raise ValueError("keras.Model: a functional model needs both inputs and outputs")
        name = kwargs.pop("name", None)
        if name is None:
            name = unique_name("functional" if functional and type(self) is Model
                               else _snake_case(type(self).__name__))
        Layer.__init__(self, name=name, **kwargs)
        setattr_ = object.__setattr__
        setattr_(self, "_graph", None)
        setattr_(self, "compiled", False)
        setattr_(self, "optimizer", None)
        setattr_(self, "loss", None)
        setattr_(self, "_compile_loss", None)
        setattr_(self, "_compile_metrics", None)
        setattr_(self, "_compile_spec", None)
        setattr_(self, "_compile_config", None)
        setattr_(self, "_reg_layers", None)
        setattr_(self, "_constrained", None)
        setattr_(self, "history", None)
        if functional:
            self._init_graph(inputs, outputs)

    # -- the functional graph -------------------------------------------------------------

    def _init_graph(self, inputs, outputs):
        graph = Graph(inputs, outputs)
        object.__setattr__(self, "_graph", graph)
        for i, layer in enumerate(graph.layers):
            self.add_module(str(i), layer)
        object.__setattr__(self, "built", True)
        object.__setattr__(self, "_build_shapes",
                           ("input_shape", _map(lambda t: t.shape, inputs)))
        object.__setattr__(self, "_output_shape_seen", _map(lambda t: t.shape, outputs))

    @property
    def inputs(self):
        if self._graph is None:
            return None
        return list(self._graph.flat_inputs)

    @property
    def outputs(self):
        if self._graph is None:
            return None
        return list(self._graph.flat_outputs)

    @property
    def input(self):
        if self._graph is None:
            return Layer.input.fget(self)
        return self._graph.inputs

    @property
    def output(self):
        if self._graph is None:
            return Layer.output.fget(self)
        return self._graph.outputs

    @property
    def input_shape(self):
        if self._graph is None:
            raise AttributeError(f"Model {self.name} has no defined input shape")
        return _map(lambda t: t.shape, self._graph.inputs)

    @property
    def output_names(self):
        if self._graph is not None:
            return [t._keras_history[0].name for t in self._graph.flat_outputs]
        return None

    def _layer_list(self, include_input=True):
        if self._graph is not None:
            return [layer for layer in self._graph.layers
                    if include_input or not isinstance(layer, InputLayer)]
        return [m for m in self._modules.values() if m is not None]

    @property
    def layers(self):
        """The model's layers (a functional model lists its InputLayers too)."""
        return self._layer_list(include_input=True)

    def get_layer(self, name=None, index=None):
        """A layer by ``name`` or by position ``index``."""
        layers = self.layers
        if index is not None:
            if name is not None:
                raise ValueError("get_layer: provide name or index, not both")
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range; the model has "
                                 f"{len(layers)} layers")
            return layers[index]
        for layer in layers:
            if getattr(layer, "name", None) == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[getattr(layer, 'name', '?') for layer in layers]}.")

    def _flat_graph_inputs(self, inputs):
        graph = self._graph
        expected = graph.flat_inputs
        if isinstance(inputs, dict):
            names = [t._keras_history[0].name for t in expected]
            if isinstance(graph.inputs, dict):
                names = list(graph.inputs)
            missing = [n for n in names if n not in inputs]
            if missing:
                raise ValueError(f'Model "{self.name}": missing inputs {missing}; expected '
                                 f"inputs named {names}")
            flat = [inputs[n] for n in names]
        else:
            flat = flatten(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(flat) != len(expected):
            raise ValueError(f'Layer "{self.name}" expects {len(expected)} input(s), but it '
                             f"received {len(flat)} input tensors")
        out = []
        for i, (t, v) in enumerate(zip(expected, flat)):
            v = _to_tensor(v)
            if not isinstance(v, Tensor):
                raise TypeError(f'Model "{self.name}": input {i} must be a tensor or an '
                                f"array, got {type(v).__name__}")
            if not _shape_ok(t.shape, tuple(v.shape)):
                raise ValueError(f'Input {i} of layer "{self.name}" is incompatible with the '
                                 f"layer: expected shape={t.shape}, found "
                                 f"shape={tuple(v.shape)}")
            out.append(v)
        return out

    def call(self, inputs, training=None, mask=None):
        if self._graph is None:
            raise NotImplementedError(f"Model {type(self).__name__} has no call(): subclass "
                                      "keras.Model and define call(), or build it from "
                                      "keras.Input tensors")
        return self._graph.run(self._flat_graph_inputs(inputs))

    def compute_output_spec(self, *args, **kwargs):
        if self._graph is not None:
            return _map(lambda t: KerasTensor(t.shape, t.dtype), self._graph.outputs)
        return Layer.compute_output_spec(self, *args, **kwargs)

    def _maybe_build(self, args, kwargs):
        # A subclassed model builds its sublayers in its first call; nothing to run first.
        first = args[0] if args else next(iter(kwargs.values()))
        from ..layers.layer import _shape_of
        object.__setattr__(self, "_build_shapes",
                           ("input_shape", _map(lambda v: _batchless(_shape_of(v)), first)))
        object.__setattr__(self, "built", True)

    def build(self, input_shape=None):
        """Build a subclassed model by running it on zeros of ``input_shape``."""
        if self._graph is not None:
            return
        if input_shape is None:
            raise ValueError(f"Model {self.name}: build() needs an input_shape")
        zeros = _map_shapes(lambda s: _make_tensor(
            np.zeros(tuple(1 if d is None else d for d in s), np.float32)),
            _shape_tree(input_shape))
        with autograd.no_grad():
            kwargs = {"training": False} if self._call_has_training else {}
            Module.__call__(self, zeros, **kwargs)

    # -- compile --------------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Configure training.

        Args:
            optimizer: a name ("adam", "sgd", "rmsprop" ...), a keras optimizer or a
                ``tessera.optim`` optimizer.
            loss: a name ("sparse_categorical_crossentropy", "mse" ...), a Loss, a callable
                ``f(y_true, y_pred)``, or a list/dict of them per output.
            loss_weights: weights of the per-output losses.
            metrics: names ("accuracy", "mae" ...), Metric objects or callables; a dict or a
                list of lists gives them per output.
            weighted_metrics: metrics that use the sample weights.
            run_eagerly, steps_per_execution, jit_compile, auto_scale_loss: accepted for
                Keras compatibility (tessera always runs eagerly).
        """
        opt = optimizers_module.get(optimizer)
        for spec in _leaf_specs(loss):
            if spec is not None:
                losses_module.get(spec)  # an unknown name fails here, at once
        for spec in _leaf_specs(metrics) + _leaf_specs(weighted_metrics):
            if spec is not None:
                metrics_module.get(spec)
        for w in _leaf_specs(loss_weights):
            if w is not None and not isinstance(w, (int, float, np.number)):
                raise TypeError(f"compile: loss_weights must be numbers, got {w!r}; note that "
                                "compile's third argument is loss_weights (Keras 3's order): "
                                "pass metrics=... by keyword")
        if isinstance(opt, optimizers_module.Optimizer) and opt.built and self.built:
            current = {id(p) for p in self.trainable_weights}
            if {id(p) for p in opt._params} != current:
                opt._inner = None  # rebuilt on the first step for the new weights
        object.__setattr__(self, "optimizer", opt)
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "_compile_spec", (loss, loss_weights, metrics,
                                                   weighted_metrics))
        object.__setattr__(self, "_compile_loss", None)
        object.__setattr__(self, "_compile_metrics", None)
        object.__setattr__(self, "_reg_layers", None)
        object.__setattr__(self, "_constrained", None)
        object.__setattr__(self, "compiled", True)
        object.__setattr__(self, "_compile_config", _compile_config(
            optimizer, loss, loss_weights, metrics, weighted_metrics))
        names = self._known_output_names()
        if names is not None:
            self._build_compile_objects(names)

    def _known_output_names(self):
        if self._graph is not None:
            return self.output_names
        from .sequential import Sequential
        if isinstance(self, Sequential):
            return ["output_0"]
        return None

    def _build_compile_objects(self, names):
        loss, loss_weights, metrics, weighted = self._compile_spec
        object.__setattr__(self, "_compile_loss",
                           CompileLoss(loss, loss_weights, names) if loss is not None else None)
        object.__setattr__(self, "_compile_metrics",
                           CompileMetrics(metrics, weighted, names))

    def _ensure_compile_objects(self, y_pred):
        if self._compile_spec is not None and self._compile_metrics is None:
            n = len(flatten(y_pred))
            self._build_compile_objects([f"output_{i}" for i in range(n)])

    @property
    def metrics(self):
        out = [self._engine_loss_tracker]
        if self._compile_loss is not None:
            out += self._compile_loss.trackers
        if self._compile_metrics is not None:
            out += self._compile_metrics.metrics
        return out

    def _check_ready(self, op):
        if op in ("fit", "evaluate") and not self.compiled:
            raise ValueError(f"{op}: you must call `compile()` before using the model")

    # -- the steps' pieces ----------------------------------------------------------------

    def _engine_forward(self, x, training):
        return self(x, training=training)

    def _regularization_losses(self):
        if self._reg_layers is None:
            object.__setattr__(self, "_reg_layers", [
                m for m in self._flatten_modules() if isinstance(m, Layer)
                and (m._weight_regularizers or m.activity_regularizer is not None)])
        out = []
        for m in self._reg_layers:
            out.extend(reg(w) for w, reg in m._weight_regularizers)
            out.extend(m._activity_losses)
        return out

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of the batch plus the layers' regularization penalties."""
        self._ensure_compile_objects(y_pred)
        total = None
        if self._compile_loss is not None:
            total = self._compile_loss(y, y_pred, sample_weight)
        for penalty in self._regularization_losses():
            total = penalty if total is None else total + penalty
        if total is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with the batch; returns the logs."""
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def backward_and_step(self, loss):
        opt = self.optimizer
        if isinstance(opt, optimizers_module.Optimizer):
            if not opt.built:
                opt.build(self.trainable_weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            opt.zero_grad()
            loss.backward()
            opt.step()
        if self._constrained is None:
            object.__setattr__(self, "_constrained", [
                m for m in self._flatten_modules()
                if isinstance(m, Layer) and m._weight_constraints])
        for m in self._constrained:
            for w, c in m._weight_constraints:
                w._data[...] = c(w._data)

    # -- data checks, once per fit/evaluate -------------------------------------------------

    def _expected_inputs(self):
        """``[(name, shape)]`` the model's inputs must match, or None when unknown."""
        if self._graph is not None:
            return [(t._keras_history[0].name, t.shape) for t in self._graph.flat_inputs]
        from .sequential import Sequential
        if isinstance(self, Sequential):
            shape = self._input_shape()
            if shape is not None:
                return [("input", shape)]
        return None

    def _check_inputs(self, x, op):
        expected = self._expected_inputs()
        if expected is None:
            return
        if isinstance(x, dict) and self._graph is not None:
            names = [n for n, _ in expected]
            missing = [n for n in names if n not in x]
            if missing:
                raise ValueError(f"{op}: x is a dict without the inputs {missing}; the model's "
                                 f"inputs are {names}")
            leaves = [x[n] for n in names]
        else:
            leaves = flatten(x)
        if len(leaves) != len(expected):
            raise ValueError(f"{op}: the model expects {len(expected)} input(s) "
                             f"({', '.join(n for n, _ in expected)}) but x has {len(leaves)} "
                             "array(s)")
        for (name, shape), leaf in zip(expected, leaves):
            got = tuple(leaf.shape)
            if not _shape_ok(shape, got):
                raise ValueError(f"{op}: input '{name}' of the model expects data of shape "
                                 f"{shape} (the first dimension is the batch), got an array "
                                 f"of shape {got}")

    def _validate_data(self, data, op):
        if isinstance(data, ArrayData):
            x, y = data.x, data.y
            n = min(2, data.num_samples)
            x_sample = map_structure(lambda a: _make_tensor(a[:n]), x)
            y_sample = None if y is None else map_structure(lambda a: _make_tensor(a[:n]), y)
        else:
            x, y, _ = unpack_batch(data)
            x_sample, y_sample = x, y
        self._check_inputs(x, op)
        if op.startswith("predict"):
            return
        with autograd.no_grad():
            y_pred = self(x_sample, training=False)
        self._ensure_compile_objects(y_pred)
        default_steps = (type(self).train_step is Engine.train_step
                         and type(self).compute_loss is Model.compute_loss)
        if y is None:
            if self._compile_loss is not None and default_steps:
                raise ValueError(f"{op}: y is required: the model was compiled with a loss "
                                 "that compares its outputs with targets")
            return
        if self._compile_loss is None or not default_steps:
            return
        self._compile_loss.check_targets(y, y_pred, op)
        try:
            with autograd.no_grad():
                self._compile_loss(y_sample, y_pred, None, track=False)
        except (ValueError, TypeError, RuntimeError, IndexError) as e:
            raise type(e)(f"{op}: the loss cannot be computed for these targets: {e}") from e

    # -- checkpoints ----------------------------------------------------------------------

    def _ensure_optimizer_built(self):
        opt = self.optimizer
        if isinstance(opt, optimizers_module.Optimizer) and not opt.built and self.built:
            opt.build(self.trainable_weights)

    def get_training_state(self):
        self._ensure_optimizer_built()
        return Engine.get_training_state(self)

    def set_training_state(self, state):
        self._ensure_optimizer_built()
        Engine.set_training_state(self, state)

    def _weights_for_logging(self):
        out = []
        for m in self._flatten_modules():
            if isinstance(m, Layer) and not isinstance(m, Model):
                for key, w in list(m._parameters.items()) + list(m._buffers.items()):
                    if w is not None:
                        out.append((f"{m.name}/{key}", w._data))
        return out

    # -- summary, config, saving ----------------------------------------------------------

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print the table of layers, output shapes and parameter counts."""
        from .summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        if self._graph is not None:
            config.update(self._graph.get_config(serialization_lib.serialize_keras_object))
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if "layers" in config and "input_layers" in config:
            def make(entry):
                return serialization_lib.deserialize_keras_object(
                    entry, custom_objects=custom_objects, default_module="keras.layers")
            inputs, outputs, _ = rebuild_graph(config, make)
            return cls(inputs=inputs, outputs=outputs, name=config.get("name"),
                       trainable=config.get("trainable", True))
        return cls(**config)

    def get_build_config(self):
        if self._graph is not None:
            return None  # the graph itself rebuilds the model
        return Layer.get_build_config(self)

    def build_from_config(self, config):
        if config and "input_shape" in config:
            self.build(_shape_tree(config["input_shape"]))

    def to_json(self, **kwargs):
        """The model's config as a JSON string (``keras.models.model_from_json`` reads it)."""
        return json.dumps(serialization_lib.serialize_keras_object(self), **kwargs)

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Save the model to a ``.keras`` archive: config.json (the architecture) and
        model.weights.safetensors (the weights); nothing is pickled."""
        from ..saving.saving_lib import save_model
        save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath, overwrite=True):
        """Save the weights to a ``.weights.safetensors`` file."""
        from ..saving.saving_lib import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Load weights from a ``.weights.safetensors`` file or a ``.keras`` archive."""
        from ..saving.saving_lib import load_weights
        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _shape_ok(expected, got):
    if len(expected) != len(got):
        return False
    return all(e is None or e == g for e, g in zip(expected[1:], got[1:])) and (
        expected[0] is None or expected[0] == got[0])


def _shape_tree(shape):
    if isinstance(shape, (list, tuple)) and all(s is None or isinstance(s, (int, np.integer))
                                                for s in shape):
        return tuple(shape)
    if isinstance(shape, (list, tuple)):
        return [_shape_tree(s) for s in shape]
    if isinstance(shape, dict):
        return {k: _shape_tree(v) for k, v in shape.items()}
    return shape


def _compile_config(optimizer, loss, loss_weights, metrics, weighted_metrics):
    """What ``load_model`` needs to compile again, or None when an argument cannot be
    serialized (a plain function that is not registered)."""
    try:
        opt = optimizer if isinstance(optimizer, str) else \
            serialization_lib.serialize_keras_object(optimizer)
        config = {"optimizer": opt, "loss": _ser_spec(loss), "loss_weights": loss_weights,
                  "metrics": _ser_spec(metrics), "weighted_metrics": _ser_spec(weighted_metrics)}
        json.dumps(config)
        return config
    except (TypeError, ValueError):
        return None


def _ser_spec(spec):
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        return {k: _ser_spec(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_ser_spec(v) for v in spec]
    if isinstance(spec, metrics_module._AutoAccuracy):
        return spec.name
    return serialization_lib.serialize_keras_object(spec)
