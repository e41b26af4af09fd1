"""Small ONNX models built with onnx.helper for importer tests."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_model(nodes, inputs, outputs, initializers=(), opset: int = 17, name: str = "test") -> onnx.ModelProto:
    """inputs/outputs: (name, shape, elem_type=FLOAT) tuples; initializers: {name: ndarray}.

    An output shape of None is written as rank 0: the checker wants a shape field and tfc does
    not read declared output shapes (only use it where onnxruntime does not run the model)."""
    def info(spec):
        name, shape, *rest = spec
        return helper.make_tensor_value_info(name, rest[0] if rest else TensorProto.FLOAT,
                                             [] if shape is None else shape)
    inits = [numpy_helper.from_array(np.asarray(a), n) for n, a in dict(initializers).items()]
    graph = helper.make_graph(list(nodes), name, [info(i) for i in inputs], [info(o) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def run_onnxruntime(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def import_and_compare(model: onnx.ModelProto, shapes: dict, rng: np.random.Generator, rtol: float = 1e-5):
    """Import `model`, verify it, check its text form round-trips, and compare tfc's float
    interpreter with onnxruntime on standard-normal inputs of `shapes`; returns the graph."""
    from tests.models.compare import assert_close
    from tfc import interp
    from tfc.frontend.onnx import import_onnx
    from tfc.ir.text import parse_graph, print_graph
    from tfc.ir.verify import verify
    graph = import_onnx(model)
    verify(graph)
    assert print_graph(parse_graph(print_graph(graph))) == print_graph(graph)
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    want = run_onnxruntime(model, feeds)
    got = interp.run(graph, feeds)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, rtol, f"output {i}")
    return graph
