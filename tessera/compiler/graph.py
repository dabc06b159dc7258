"""The graph a trace records: values, and the operator nodes that compute them.

A :class:`Graph` is plain data, so that every consumer walks the same structure: the
compile mode replays it, and the ONNX and TFLite exporters translate it node by node.

- A :class:`Value` is one array-valued quantity: a graph input (a tensor argument of the
  traced function), a live tensor (a parameter, a buffer, or another tensor the function
  read: its current data is used each time), or the output of a node.
- A :class:`Node` is one call of an operator: its ``Function`` subclass (``op``), the keyword
  ``params`` it was called with (where a parameter is the data of a tensor, for example the
  class indices of ``cross_entropy``, the params hold that tensor's :class:`Value`), its
  input values (None for an absent optional input) and its output values.
"""

import numpy as np

__all__ = ["Graph", "Node", "Value"]


class Value:
    """One value of a :class:`Graph`.

    Attributes:
        index: position in ``graph.values``.
        kind: ``"input"``, ``"parameter"``, ``"buffer"``, ``"constant"`` (another tensor the
            function read, by reference) or ``"output"`` (computed by ``node``).
        name: a readable name: the argument or state_dict name, ``%<n>`` for the n-th node
            output, ``const<n>`` for another live tensor.
        shape, dtype: as traced (a tuple and a tessera dtype).
        node, output_nr: the producing node and which of its outputs, for ``"output"``.
        tensor: the live Tensor, for parameters, buffers and constants.
        root: the value whose storage this one shares (itself unless produced by a view
            operator), so that in-place writes are seen by the views of a tensor.
    """

    __slots__ = ("index", "kind", "name", "shape", "dtype", "node", "output_nr", "tensor",
                 "root")

    def __init__(self, index, kind, name, shape, dtype, node=None, output_nr=0, tensor=None):
        self.index = index
        self.kind = kind
        self.name = name
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.output_nr = output_nr
        self.tensor = tensor
        self.root = self

    @property
    def is_source(self):
        """Whether the value comes from outside the graph (an input or a live tensor)."""
        return self.kind != "output"

    def type_str(self):
        return f"{_dtype_name(self.dtype)}[{', '.join(map(str, self.shape))}]"

    def __repr__(self):
        return f"Value({self.name}: {self.type_str()}, {self.kind})"


class Node:
    """One operator call of a :class:`Graph`.

    Attributes:
        op: the ``Function`` subclass.
        params: its keyword parameters; a :class:`Value` stands for the data of a tensor.
        inputs: input values (None for an absent optional input).
        outputs: output values.
        random: whether the operator draws random numbers (redrawn at each replay).
        writes: root values whose storage the node writes in place (their version counter
            moves, as it does in eager mode): an in-place operator's target, or an input
            that the operator declares it updates (``op.updates_inputs``), which may be a
            source (an input or a live tensor, such as batch norm's running statistics).
        returns_tuple: whether the operator's forward returns a tuple (even of one array).
    """

    __slots__ = ("index", "op", "params", "inputs", "outputs", "random", "writes",
                 "returns_tuple")

    def __init__(self, index, op, params, inputs):
        self.index = index
        self.op = op
        self.params = params
        self.inputs = list(inputs)
        self.outputs = []
        self.random = False
        self.writes = []
        self.returns_tuple = False

    @property
    def name(self):
        return self.op.__name__

    def __repr__(self):
        ins = ", ".join("None" if v is None else v.name for v in self.inputs)
        return f"Node({self.name}({ins}) -> {', '.join(v.name for v in self.outputs)})"


class Graph:
    """A traced forward pass: inputs, live tensors, nodes in execution order, outputs.

    ``outputs`` lists the output leaves in the order the function returned them: a
    :class:`Value` per tensor, the object itself for a non-tensor (a Python number, None);
    ``output_spec`` says how they nest (tuple, list, dict) as the function returned them.
    """

    def __init__(self):
        self.values = []
        self.inputs = []
        self.live = []
        self.nodes = []
        self.outputs = []
        self.output_spec = None
        self._counts = {}  # unnamed values of each kind so far

    # -- building ------------------------------------------------------------------------

    def add_input(self, name, shape, dtype):
        value = self._add("input", name, shape, dtype)
        self.inputs.append(value)
        return value

    def add_live(self, kind, name, tensor):
        value = self._add(kind, name, tensor.shape, tensor.dtype, tensor=tensor)
        self.live.append(value)
        return value

    def add_node(self, op, params, inputs):
        node = Node(len(self.nodes), op, params, inputs)
        self.nodes.append(node)
        return node

    def add_output(self, node, shape, dtype):
        value = self._add("output", None, shape, dtype, node=node, output_nr=len(node.outputs))
        node.outputs.append(value)
        return value

    def _add(self, kind, name, shape, dtype, **kwargs):
        if name is None:  # node outputs are %0, %1 ...; unnamed live tensors const0 ...
            count = self._counts.get(kind, 0)
            self._counts[kind] = count + 1
            name = f"{'%' if kind == 'output' else 'const'}{count}"
        value = Value(len(self.values), kind, name, shape, dtype, **kwargs)
        self.values.append(value)
        return value

    # -- reading ---------------------------------------------------------------------------

    def __len__(self):
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    def op_names(self):
        """The operator name of every node, in execution order."""
        return [node.name for node in self.nodes]

    def tabular(self):
        """Rows ``(name, op, inputs, params, output types)`` of every source and node."""
        rows = [(v.name, v.kind, "", "", v.type_str()) for v in self.inputs + self.live]
        for node in self.nodes:
            ins = ", ".join("None" if v is None else v.name for v in node.inputs)
            params = ", ".join(f"{k}={_param_str(p)}" for k, p in node.params.items())
            names = ", ".join(v.name for v in node.outputs)
            types = ", ".join(v.type_str() for v in node.outputs)
            rows.append((names, node.name + (" (random)" if node.random else ""), ins, params,
                         types))
        returns = ", ".join(v.name if isinstance(v, Value) else repr(v) for v in self.outputs)
        rows.append(("", "return", returns, "", ""))
        return rows

    def print_tabular(self, file=None):
        """Print one line per source and node: name, operator, inputs, params, types."""
        print(_table(self.tabular()), file=file)

    def __str__(self):
        lines = ["graph(" + ", ".join(f"{v.name}: {v.type_str()}" for v in self.inputs) + "):"]
        for v in self.live:
            lines.append(f"    {v.name}: {v.type_str()} = {v.kind}")
        for node in self.nodes:
            ins = ", ".join("None" if v is None else v.name for v in node.inputs)
            params = ", ".join(f"{k}={_param_str(p)}" for k, p in node.params.items())
            call = f"{node.name}({ins}{'; ' if ins and params else ''}{params})"
            outs = ", ".join(f"{v.name}: {v.type_str()}" for v in node.outputs)
            lines.append(f"    {outs} = {call}")
        returns = ", ".join(v.name if isinstance(v, Value) else repr(v) for v in self.outputs)
        lines.append(f"    return {returns}")
        return "\n".join(lines)

    def __repr__(self):
        return (f"<Graph: {len(self.inputs)} inputs, {len(self.live)} live tensors, "
                f"{len(self.nodes)} nodes>")


def _dtype_name(dtype):
    return str(dtype).replace("tessera.", "")


def _param_str(p, limit=40):
    if isinstance(p, Value):
        return p.name
    if isinstance(p, np.ndarray):
        return f"array({p.dtype}{list(p.shape)})"
    if isinstance(p, tuple):
        inner = ", ".join(_param_str(x) for x in p)
        text = f"({inner}{',' if len(p) == 1 else ''})"
    elif isinstance(p, list):
        text = "[" + ", ".join(_param_str(x) for x in p) + "]"
    else:
        text = repr(p)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _table(rows):
    header = ("name", "op", "inputs", "params", "type")
    rows = [header] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
