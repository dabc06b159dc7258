"""The graph of a functional model: which layer calls (nodes) lead from the inputs to the
outputs, replaying them on real data, and the graph's part of the model config."""

from ..layers.input_layer import InputLayer
from ..layers.layer import KerasTensor, _flatten, _map

__all__ = ["Graph"]


def _pack(struct, leaves):
    it = iter(leaves)
    return _map(lambda _: next(it), struct)


class Graph:
    """The nodes between ``inputs`` and ``outputs`` (KerasTensors or structures of them),
    in an order where every node comes after the nodes it reads."""

    def __init__(self, inputs, outputs):
        self.inputs = inputs
        self.outputs = outputs
        self.flat_inputs = _flatten(inputs)
        self.flat_outputs = _flatten(outputs)
        for what, tensors in (("inputs", self.flat_inputs), ("outputs", self.flat_outputs)):
            if not tensors:
                raise ValueError(f"keras.Model: {what} must not be empty")
            for t in tensors:
                if not isinstance(t, KerasTensor):
                    raise TypeError(f"keras.Model: all {what} must be symbolic tensors "
                                    f"(from keras.Input and layer calls), got "
                                    f"{type(t).__name__}")
        for t in self.flat_inputs:
            if not isinstance(t._keras_history[0], InputLayer):
                raise ValueError(f"keras.Model: inputs must come from keras.Input(); "
                                 f"{t.name} is an output of layer "
                                 f"{t._keras_history[0].name}")
        self.nodes = self._order()
        self.layers = self._layers()

    def _order(self):
        input_ids = {id(t) for t in self.flat_inputs}
        order, done, on_path = [], set(), set()
        for out in self.flat_outputs:
            stack = [(out._keras_history[0]._inbound_nodes[out._keras_history[1]], False)]
            while stack:
                node, expanded = stack.pop()
                key = id(node)
                if expanded:
                    on_path.discard(key)
                    if key not in done:
                        done.add(key)
                        order.append(node)
                    continue
                if key in done:
                    continue
                if isinstance(node.layer, InputLayer):
                    tensor = node.output_tensors[0]
                    if id(tensor) not in input_ids:
                        raise ValueError(
                            f"Graph disconnected: cannot find the value of tensor {tensor.name} "
                            f"(input '{node.layer.name}'), which the outputs depend on but "
                            "which is not among the model's inputs")
                    done.add(key)
                    order.append(node)
                    continue
                if key in on_path:
                    raise ValueError("keras.Model: the layer graph has a cycle")
                on_path.add(key)
                stack.append((node, True))
                for t in reversed(node.input_tensors):
                    layer, node_index, _ = t._keras_history
                    stack.append((layer._inbound_nodes[node_index], False))
        # Keep the inputs first, in the order the model was given them.
        input_nodes = [t._keras_history[0]._inbound_nodes[0] for t in self.flat_inputs]
        rest = [n for n in order if not isinstance(n.layer, InputLayer)]
        return input_nodes + rest

    def _layers(self):
        layers, seen = [], set()
        for node in self.nodes:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                layers.append(node.layer)
        names = {}
        for layer in layers:
            names[layer.name] = names.get(layer.name, 0) + 1
        dup = [n for n, c in names.items() if c > 1]
        if dup:
            raise ValueError(f'The name "{dup[0]}" is used {names[dup[0]]} times in the model. '
                             "All layer names should be unique.")
        return layers

    def run(self, flat_values):
        """The outputs for input values given in the order of ``flat_inputs``."""
        values = {id(t): v for t, v in zip(self.flat_inputs, flat_values)}

        def fetch(v):
            return values[id(v)] if isinstance(v, KerasTensor) else v
        for node in self.nodes:
            if isinstance(node.layer, InputLayer):
                continue
            args = _map(fetch, node.call_args)
            kwargs = _map(fetch, node.call_kwargs)
            out = node.layer(*args, **kwargs)
            for t, v in zip(node.output_tensors, _flatten(out)):
                values[id(t)] = v
        return _pack(self.outputs, [values[id(t)] for t in self.flat_outputs])

    # -- config ---------------------------------------------------------------------------

    def node_index(self, node):
        """The index of ``node`` among this graph's nodes of the same layer."""
        same = [n for n in self.nodes if n.layer is node.layer]
        return same.index(node)

    def _history(self, tensor):
        layer, node_index, tensor_index = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        return [layer.name, self.node_index(node), tensor_index]

    def get_config(self, serialize):
        layer_configs = []
        for layer in self.layers:
            entry = serialize(layer)
            entry["name"] = layer.name
            nodes = [n for n in self.nodes if n.layer is layer]
            inbound = []
            if not isinstance(layer, InputLayer):
                for node in nodes:
                    def encode(v):
                        if isinstance(v, KerasTensor):
                            return {"class_name": "__keras_tensor__",
                                    "config": {"shape": list(v.shape), "dtype": v.dtype,
                                               "keras_history": self._history(v)}}
                        return v
                    inbound.append({"args": _encode(node.call_args, encode),
                                    "kwargs": _encode(node.call_kwargs, encode)})
            entry["inbound_nodes"] = inbound
            layer_configs.append(entry)

        def refs(struct):
            return _encode(struct, self._history)
        return {"layers": layer_configs, "input_layers": refs(self.inputs),
                "output_layers": refs(self.outputs)}


def _encode(struct, fn):
    if isinstance(struct, (list, tuple)):
        return [_encode(v, fn) for v in struct]
    if isinstance(struct, dict):
        return {k: _encode(v, fn) for k, v in struct.items()}
    return fn(struct) if isinstance(struct, KerasTensor) else struct


def rebuild_graph(config, deserialize_layer):
    """``(inputs, outputs, layers)`` rebuilt from a functional config."""
    layers, pending = {}, {}
    for entry in config["layers"]:
        entry = dict(entry)
        name = entry.pop("name", None) or entry["config"]["name"]
        inbound = entry.pop("inbound_nodes", [])
        layer = deserialize_layer(entry)
        layers[name] = layer
        pending[name] = list(inbound)
    outputs = {}  # (layer name, node index) -> flat output tensors
    for name, layer in layers.items():
        if isinstance(layer, InputLayer):
            outputs[(name, 0)] = [layer.output]
    progress = True
    while progress and any(pending.values()):
        progress = False
        for name, nodes in pending.items():
            while nodes:
                node = nodes[0]
                try:
                    args = _decode(node.get("args", []), outputs)
                    kwargs = _decode(node.get("kwargs", {}), outputs)
                except KeyError:
                    break  # its inputs are produced by a node not rebuilt yet
                out = layers[name](*args, **kwargs)
                index = sum(1 for k in outputs if k[0] == name)
                outputs[(name, index)] = _flatten(out)
                nodes.pop(0)
                progress = True
    if any(pending.values()):
        stuck = [n for n, v in pending.items() if v]
        raise ValueError(f"cannot rebuild the functional model: the inputs of layers {stuck} "
                         "are never produced")

    def ref(r):
        name, node_index, tensor_index = r
        return outputs[(name, node_index)][tensor_index]
    return (_decode_refs(config["input_layers"], ref), _decode_refs(config["output_layers"], ref),
            layers)


def _is_ref(v):
    return (isinstance(v, list) and len(v) == 3 and isinstance(v[0], str)
            and isinstance(v[1], int) and isinstance(v[2], int))


def _decode_refs(struct, ref):
    if _is_ref(struct):
        return ref(struct)
    if isinstance(struct, list):
        return [_decode_refs(v, ref) for v in struct]
    if isinstance(struct, dict):
        return {k: _decode_refs(v, ref) for k, v in struct.items()}
    return struct


def _decode(struct, outputs):
    if isinstance(struct, dict) and struct.get("class_name") == "__keras_tensor__":
        name, node_index, tensor_index = struct["config"]["keras_history"]
        return outputs[(name, node_index)][tensor_index]
    if isinstance(struct, list):
        return [_decode(v, outputs) for v in struct]
    if isinstance(struct, dict):
        return {k: _decode(v, outputs) for k, v in struct.items()}
    return struct
