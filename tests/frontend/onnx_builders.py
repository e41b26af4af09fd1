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
