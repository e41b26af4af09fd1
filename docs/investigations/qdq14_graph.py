# Helper for the qdq14_*.py scripts of docs/investigations/qdq14-ort-qdq-lsb.md: an ONNX QDQ model's
# initializers, producer and consumer maps, and a constant's value (initializer or Constant node).
import onnx
from onnx import numpy_helper as nh


def load(path):
    m = onnx.load(path)
    inits = {t.name: nh.to_array(t) for t in m.graph.initializer}
    prod = {o: n for n in m.graph.node for o in n.output}
    cons = {}
    for n in m.graph.node:
        for i in n.input:
            cons.setdefault(i, []).append(n)

    def val(name):
        return inits[name] if name in inits else nh.to_array(prod[name].attribute[0].t)
    return m, inits, prod, cons, val
