"""The tracer: the graph it records, and what it refuses to record (so that no replay is
silently specialised on data)."""

import numpy as np
import pytest

import tessera as ts
from tessera import nn
from tessera.compiler import Graph, trace
from tessera.compiler.tracer import Detach, record


def _mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))


def test_graph_of_a_small_model_names_inputs_parameters_and_nodes():
    graph = trace(_mlp(), ts.randn(3, 4))
    assert isinstance(graph, Graph)
    assert graph.op_names() == ["Linear", "Relu", "Dropout", "Linear"]
    assert [v.name for v in graph.inputs] == ["input"]
    assert [(v.kind, v.name) for v in graph.live] == [
        ("parameter", "0.weight"), ("parameter", "0.bias"), ("parameter", "3.weight"),
        ("parameter", "3.bias")]
    assert [v.shape for v in graph.nodes[-1].outputs] == [(3, 2)]
    assert graph.nodes[2].random and graph.nodes[2].params["p"] == 0.5
    text = str(graph)
    assert "%0: float32[3, 8] = Linear(input, 0.weight, 0.bias)" in text
    assert text.splitlines()[-1] == "    return %3"
    rows = graph.tabular()
    assert rows[0] == ("input", "input", "", "", "float32[3, 4]")
    assert rows[5][:3] == ("%0", "Linear", "input, 0.weight, 0.bias")
    assert len(rows) == 1 + 4 + 4 + 1  # input, parameters, nodes, return


def test_print_tabular_lists_every_node(capsys):
    trace(lambda x, y: (x * y).sum(dim=1), ts.ones(2, 3), ts.ones(2, 3)).print_tabular()
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "op", "inputs", "params", "type"]
    assert any(line.startswith("%1") and "Sum" in line and "dims=(1,)" in line for line in out)


def test_tensor_data_used_as_a_parameter_is_a_value_not_a_constant():
    logits, target = ts.randn(4, 3), ts.tensor([0, 2, 1, 1])
    graph = trace(nn.functional.cross_entropy, logits, target)
    (node,) = graph.nodes
    assert node.params["index_target"] is graph.inputs[1]


def test_python_numbers_and_factory_tensors_are_constants():
    graph = trace(lambda x: x * 2.0 + ts.ones(3), ts.ones(3))
    assert [v.kind for v in graph.live] == ["constant", "constant"]
    assert graph.op_names() == ["Mul", "Add"]


def test_detach_cuts_the_gradient_in_the_graph():
    graph = trace(lambda x: x.detach() * x, ts.ones(3, requires_grad=True))
    assert graph.nodes[0].op is Detach
    assert graph.nodes[1].inputs[0] is graph.nodes[0].outputs[0]


def test_in_place_operators_on_intermediates_are_recorded():
    def f(x, y):
        z = x * 2
        z += y
        z.relu_()
        return z

    x, y = ts.randn(3, 4, requires_grad=True), ts.randn(3, 4)
    graph = trace(f, x, y)
    assert graph.op_names() == ["Mul", "Add", "Relu"]
    assert graph.outputs[0] is graph.nodes[-1].outputs[0]


@pytest.mark.parametrize("fn, reason", [
    (lambda x: x * x.sum().item(), "item()"),
    (lambda x: x * float(x.mean()), "item()"),
    (lambda x: x * 2 if x.sum() > 0 else x, "bool()"),
    (lambda x: x * len(x.tolist()), "tolist()"),
    (lambda x: ts.tensor(x.detach().numpy() * 2), "numpy()"),
    (lambda x: x + ts.rand(3), "random numbers outside an operator"),
    (lambda x: x * ts.tensor(x._data > 0), "computed from tensor data outside the operators"),
    (lambda x: x[np.argsort(x._data)], "computed from tensor data outside the operator"),
    (lambda x: x.add_(1), "modifies x in place"),
])
def test_data_dependent_functions_are_refused(fn, reason):
    with pytest.raises(RuntimeError, match="cannot be recorded") as info:
        trace(fn, ts.randn(3))
    assert reason in str(info.value)


def test_comparisons_and_indices_are_operators_of_the_graph():
    graph = trace(lambda x: x.max(dim=0).values * (x > 0) + x.argsort(), ts.randn(3))
    names = [node.op.__name__ for node in graph.nodes]
    assert names[:2] == ["ArgMax", "TakeAlongDim"]
    assert "Gt" in names and "Argsort" in names


def test_a_backward_pass_inside_the_function_is_refused():
    def f(x):
        y = (x * x).sum()
        y.backward()
        return y

    result = record(f, (ts.randn(3, requires_grad=True),), {})
    assert "backward" in result.problem


def test_hooks_on_submodules_are_refused():
    model = _mlp()
    model[1].register_forward_hook(lambda m, i, o: None)
    result = record(model, (ts.randn(2, 4),), {})
    assert "submodule '1' has hooks" in result.problem


def test_batch_norm_training_is_recorded_with_its_updates_and_eval_too():
    bn = nn.BatchNorm1d(3)
    x = ts.randn(4, 3)
    graph = trace(bn, x)
    assert graph.op_names() == ["CountBatch", "BatchNorm"]
    count, norm = graph.nodes
    assert [v.name for v in count.writes] == ["num_batches_tracked"]
    assert [v.name for v in norm.writes] == ["running_mean", "running_var"]
    assert int(bn.num_batches_tracked) == 1  # the trace ran the function once, eagerly
    bn.eval()
    graph = trace(bn, x)
    assert not any(node.writes for node in graph.nodes)
    assert {v.name for v in graph.live} >= {"running_mean", "running_var", "weight", "bias"}


def test_an_update_in_place_of_a_tensor_that_requires_grad_or_was_saved_is_refused():
    mean, var = ts.zeros(3, requires_grad=True), ts.ones(3)
    result = record(lambda x: nn.functional.batch_norm(x, mean, var, training=True),
                    (ts.randn(4, 3),), {})
    assert "BatchNorm updates const0 in place, a tensor that requires grad" in result.problem

    def saved_first(x, w, mean, var):
        return nn.functional.batch_norm(x * mean, mean, var, training=True) * w

    args = (ts.randn(4, 3), ts.randn(3, requires_grad=True), ts.zeros(3), ts.ones(3))
    result = record(saved_first, args, {})
    assert "updates mean in place after Mul saved it" in result.problem


def test_the_trace_returns_the_eager_result_and_restores_the_hooks():
    apply = ts.autograd.function.Function.__dict__["apply"]
    data = ts.Tensor.__dict__["_data"]
    result = record(lambda x: (x * 3).sum(), (ts.ones(2),), {})
    assert result.output.item() == 6.0
    assert ts.autograd.function.Function.__dict__["apply"] is apply
    assert ts.Tensor.__dict__["_data"] is data
    assert isinstance(ts.ones(2)._data, np.ndarray) and type(ts.ones(2)._data) is np.ndarray


def test_reseeding_inside_is_refused():
    def f(x):
        ts.manual_seed(0)
        return nn.functional.dropout(x, 0.5)

    assert "Generator.manual_seed" in record(f, (ts.randn(4),), {}).problem
