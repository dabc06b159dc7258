"""``model.summary()``: Keras's table of layers, output shapes and parameter counts."""

import sys

from ...nn import Module, Parameter
from ..layers.input_layer import InputLayer
from ..layers.layer import Layer

__all__ = ["print_summary", "readable_memory_size"]

_BOX = {"tl": "┏", "tm": "┳", "tr": "┓", "hh": "━", "vv": "┃", "ml": "┡", "mm": "╇",
        "mr": "┩", "l": "│", "h": "─", "sl": "├", "sm": "┼", "sr": "┤", "bl": "└",
        "bm": "┴", "br": "┘"}
_ASCII = {"tl": "+", "tm": "+", "tr": "+", "hh": "=", "vv": "|", "ml": "+", "mm": "+",
          "mr": "+", "l": "|", "h": "-", "sl": "+", "sm": "+", "sr": "+", "bl": "+",
          "bm": "+", "br": "+"}


def readable_memory_size(nbytes):
    """Keras's format: ``198.79 KB`` (1024-based units, two decimals)."""
    units = ["B", "KB", "MB", "GB", "TB"]
    size = float(nbytes)
    for unit in units:
        if size < 1024 or unit == units[-1]:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} TB"


def _weights_of(module):
    if isinstance(module, Layer):
        return module.weights
    out = [p for p in module.parameters()]
    out += [b for _, b in module.named_buffers()]
    return out


def _count(weights):
    total = sum(w._data.size for w in weights)
    nbytes = sum(w._data.nbytes for w in weights)
    trainable = [w for w in weights if isinstance(w, Parameter) and w.requires_grad]
    t_count = sum(w._data.size for w in trainable)
    t_bytes = sum(w._data.nbytes for w in trainable)
    return total, nbytes, t_count, t_bytes


def _shape_text(shape):
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    if isinstance(shape, tuple) and all(s is None or isinstance(s, int) for s in shape):
        return "(" + ", ".join("None" if s is None else str(s) for s in shape) + \
            ("," if len(shape) == 1 else "") + ")"
    if isinstance(shape, (tuple, dict)):
        items = shape.values() if isinstance(shape, dict) else shape
        return "(" + ", ".join(_shape_text(s) for s in items) + ")"
    return str(shape)


def _param_text(module):
    if isinstance(module, Layer) and not module.built and not isinstance(module, InputLayer):
        return "0 (unbuilt)"
    return f"{sum(w._data.size for w in _weights_of(module)):,}"


def _wrap(text, width):
    """Split ``text`` into lines of at most ``width`` characters."""
    text = str(text)
    if len(text) <= width:
        return [text]
    lines = []
    while text:
        lines.append(text[:width])
        text = text[width:]
    return lines


def print_summary(model, line_length=None, positions=None, print_fn=None,
                  expand_nested=False, show_trainable=False, layer_range=None):
    """Print (or pass to ``print_fn``, line by line) the summary table of ``model``."""
    from .model import Model
    from .sequential import Sequential

    if print_fn is None:
        def print_fn(line):
            sys.stdout.write(line + "\n")
    stream = sys.stdout
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "┏━│".encode(encoding)
        box = _BOX
    except (UnicodeEncodeError, LookupError):
        box = _ASCII
    if isinstance(model, Model) and not model.built and not model._layer_list():
        raise ValueError("This model has not yet been built. Build the model first by "
                         "calling `build()` or by calling the model on a batch of data.")

    graph = getattr(model, "_graph", None)
    show_connections = (graph is not None and not isinstance(model, Sequential)
                        and (len(graph.flat_inputs) > 1
                             or any(len(n.input_tensors) > 1 for n in graph.nodes)))
    headers = ["Layer (type)", "Output Shape", "Param #"]
    widths = [31, 24, 13]
    if show_connections:
        headers.append("Connected to")
        widths.append(26)
    if show_trainable:
        headers.append("Trainable")
        widths.append(9)
    if line_length is not None:
        scale = max(line_length - 3 * len(widths) - 1, 20) / sum(widths)
        widths = [max(8, int(w * scale)) for w in widths]
    aligns = ["<", "<", ">"] + (["<"] if show_connections else []) + \
        (["^"] if show_trainable else [])

    rows = []

    def add_rows(module, depth):
        for layer in _rows_of(model if depth == 0 else module):
            name = getattr(layer, "name", None) or type(layer).__name__.lower()
            label = ("   " * depth) + f"{name} ({type(layer).__name__})"
            shape = getattr(layer, "_output_shape_seen", None)
            cells = [label, _shape_text(shape), _param_text(layer)]
            if show_connections:
                cells.append(_connections(graph, layer))
            if show_trainable:
                trainable = getattr(layer, "trainable", None)
                if trainable is None:
                    trainable = any(p.requires_grad for p in layer.parameters())
                cells.append("Y" if trainable else "N")
            rows.append(cells)
            if expand_nested and isinstance(layer, Model):
                add_rows(layer, depth + 1)

    add_rows(model, 0)
    if layer_range is not None:
        names = [r[0].strip().split(" ")[0] for r in rows]
        start, end = layer_range
        rows = rows[names.index(start):names.index(end) + 1]

    def rule(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def line(cells, sep):
        wrapped = [_wrap(c, w) for c, w in zip(cells, widths)]
        height = max(len(w) for w in wrapped)
        out = []
        for i in range(height):
            parts = []
            for lines, w, a in zip(wrapped, widths, aligns):
                text = lines[i] if i < len(lines) else ""
                parts.append(" " + f"{text:{a}{w}}" + " ")
            out.append(sep + sep.join(parts) + sep)
        return out

    name = getattr(model, "name", type(model).__name__)
    print_fn(f'Model: "{name}"')
    print_fn(rule(box["tl"], box["tm"], box["tr"], box["hh"]))
    for text in line(headers, box["vv"]):
        print_fn(text)
    print_fn(rule(box["ml"], box["mm"], box["mr"], box["hh"]))
    for i, cells in enumerate(rows):
        for text in line(cells, box["l"]):
            print_fn(text)
        if i < len(rows) - 1:
            print_fn(rule(box["sl"], box["sm"], box["sr"], box["h"]))
    print_fn(rule(box["bl"], box["bm"], box["br"], box["h"]))
    total, nbytes, t_count, t_bytes = _count(_weights_of(model))
    print_fn(f" Total params: {total:,} ({readable_memory_size(nbytes)})")
    print_fn(f" Trainable params: {t_count:,} ({readable_memory_size(t_bytes)})")
    print_fn(f" Non-trainable params: {total - t_count:,} "
             f"({readable_memory_size(nbytes - t_bytes)})")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and hasattr(optimizer, "_inner") and optimizer._inner is not None:
        state = optimizer._inner.state_dict()["state"]
        size = sum(v._data.size for s in state.values() for v in s.values()
                   if hasattr(v, "_data") and v._data.ndim)
        nb = sum(v._data.nbytes for s in state.values() for v in s.values()
                 if hasattr(v, "_data") and v._data.ndim)
        print_fn(f" Optimizer params: {size:,} ({readable_memory_size(nb)})")


def _rows_of(model):
    from .model import Model
    if isinstance(model, Model):
        return model._layer_list(include_input=True)
    return [m for m in model.children()] if isinstance(model, Module) else []


def _connections(graph, layer):
    if graph is None:
        return "-"
    refs = []
    for node in graph.nodes:
        if node.layer is layer:
            for t in node.input_tensors:
                src, _, tensor_index = t._keras_history
                src_node = src._inbound_nodes[t._keras_history[1]]
                refs.append(f"{src.name}[{graph.node_index(src_node)}][{tensor_index}]")
    return ", ".join(refs) if refs else "-"
