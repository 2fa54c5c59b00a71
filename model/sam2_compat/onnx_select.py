"""Two exports of one function joined into one ONNX model that runs the one cheaper for the number of points.

    model = by_point_count(few, many, max_few=10)   # ONNX bytes: ``few`` when point_coords has <= 10 points

The exported decoder's reassociated attention (``onnx_attention``) is cheaper up to about a dozen points and
dearer past it; the model holds both graphs as the branches of one ``If`` on the point count. Each branch's
values are renamed apart; weights equal byte for byte are stored once, in the outer graph.
"""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
from onnx import helper, numpy_helper

POINTS_INPUT = "point_coords"  # [1, P, 2]


def _branch(model: onnx.ModelProto, prefix: str, weights: dict[str, str], outer: list[onnx.TensorProto]):
    """``model``'s graph as a subgraph reading the outer inputs; its initializers moved out (deduplicated)."""
    graph = model.graph
    rename = {}
    for init in graph.initializer:
        key = hashlib.sha256(
            f"{init.data_type}{tuple(init.dims)}".encode() + numpy_helper.to_array(init).tobytes()
        ).hexdigest()
        if key not in weights:
            weights[key] = f"w{len(weights)}"
            outer.append(numpy_helper.from_array(numpy_helper.to_array(init), weights[key]))
        rename[init.name] = weights[key]
    for node in graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            raise ValueError(f"{node.op_type} node {node.name} holds a subgraph: not supported")
        for out in node.output:
            if out:
                rename[out] = prefix + out
    nodes = []
    for k, node in enumerate(graph.node):
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = f"{prefix}{node.name or k}"  # names must be unique across the branches; some are empty
        copy.input[:] = [rename.get(i, i) for i in node.input]
        copy.output[:] = [rename.get(o, o) for o in node.output]
        nodes.append(copy)
    outputs = []
    for out in graph.output:
        value = onnx.ValueInfoProto()
        value.CopyFrom(out)
        value.name = rename.get(out.name, out.name)
        outputs.append(value)
    return helper.make_graph(nodes, prefix + "branch", [], outputs)


def by_point_count(few: bytes, many: bytes, max_few: int) -> bytes:
    """One model with ``few``'s and ``many``'s inputs and outputs (the same names, in the same order) that runs
    ``few`` when ``point_coords`` holds at most ``max_few`` points, else ``many``."""
    a, b = onnx.load_from_string(few), onnx.load_from_string(many)
    if [i.name for i in a.graph.input] != [i.name for i in b.graph.input] or [o.name for o in a.graph.output] != [
        o.name for o in b.graph.output
    ]:
        raise ValueError("the two models' inputs or outputs differ")
    weights: dict[str, str] = {}
    outer: list[onnx.TensorProto] = []
    then_branch = _branch(a, "few/", weights, outer)
    else_branch = _branch(b, "many/", weights, outer)
    outer.append(numpy_helper.from_array(np.array([1], "int64"), "select/axis"))
    outer.append(numpy_helper.from_array(np.array(max_few, "int64"), "select/max_few"))
    nodes = [
        helper.make_node("Shape", [POINTS_INPUT], ["select/shape"], name="select/Shape"),
        helper.make_node("Gather", ["select/shape", "select/axis"], ["select/points"], name="select/Gather", axis=0),
        helper.make_node("Squeeze", ["select/points"], ["select/n"], name="select/Squeeze"),
        helper.make_node("LessOrEqual", ["select/n", "select/max_few"], ["select/few"], name="select/LessOrEqual"),
        helper.make_node(
            "If",
            ["select/few"],
            [o.name for o in a.graph.output],
            name="select/If",
            then_branch=then_branch,
            else_branch=else_branch,
        ),
    ]
    graph = helper.make_graph(nodes, a.graph.name, list(a.graph.input), list(a.graph.output), outer)
    model = helper.make_model(graph, opset_imports=list(a.opset_import), producer_name=a.producer_name)
    model.ir_version = a.ir_version
    onnx.checker.check_model(model)
    return model.SerializeToString()


__all__ = ["POINTS_INPUT", "by_point_count"]
