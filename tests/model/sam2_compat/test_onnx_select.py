"""Two models joined by the point count (``by_point_count``): the first runs up to the bound, the second past it,
with each one's own weights; weights the two share are stored once."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from sam2refiner.model.sam2_compat.onnx_select import by_point_count

SHARED = np.arange(2, dtype=np.float32) + 1  # in both models


def _model(scale: float) -> bytes:
    """y = point_coords * scale + SHARED, an int64 point count as a second output (a Shape inside the branch)."""
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["point_coords", "scale"], ["scaled"]),
            helper.make_node("Add", ["scaled", "shared"], ["y"]),
            helper.make_node("Shape", ["point_coords"], ["shape"]),
        ],
        "g",
        [helper.make_tensor_value_info("point_coords", TensorProto.FLOAT, [1, "points", 2])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "points", 2]),
            helper.make_tensor_value_info("shape", TensorProto.INT64, [3]),
        ],
        [
            numpy_helper.from_array(np.array(scale, np.float32), "scale"),
            numpy_helper.from_array(SHARED, "shared"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize(
    "level", [ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL]
)
def test_the_point_count_picks_the_model(level):
    joined = by_point_count(_model(1.0), _model(2.0), max_few=3)
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    session = ort.InferenceSession(joined, options, providers=["CPUExecutionProvider"])
    for n, scale in ((1, 1.0), (3, 1.0), (4, 2.0), (9, 2.0)):
        coords = np.random.default_rng(n).random((1, n, 2), dtype=np.float32)
        y, shape = session.run(None, {"point_coords": coords})
        np.testing.assert_allclose(y, coords * scale + SHARED, rtol=1e-6)
        assert shape.tolist() == [1, n, 2]
    weights = onnx.load_from_string(joined).graph.initializer
    assert sum(np.array_equal(numpy_helper.to_array(w), SHARED) for w in weights) == 1  # shared weight stored once


def test_models_with_other_inputs_are_refused():
    other = onnx.load_from_string(_model(1.0))
    other.graph.input[0].name = "points"
    with pytest.raises(ValueError, match="differ"):
        by_point_count(_model(1.0), other.SerializeToString(), max_few=3)
