"""The compile mode and the graph capture it shares with the exporters.

``tessera.compile(fn)`` records a forward pass once (:func:`trace`) and replays the
recorded :class:`Graph` afterwards without the per-operator Python of eager mode; the ONNX
and TFLite exporters walk the same :class:`Graph`.
"""

from .compiled import OptimizedModule, compile
from .graph import Graph, Node, Value
from .tracer import trace

__all__ = ["compile", "trace", "Graph", "Node", "Value", "OptimizedModule"]
