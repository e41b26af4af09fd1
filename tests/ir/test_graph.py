"""The graph API: SSA links, building, rewriting, naming, copies and the networkx view."""
from __future__ import annotations

import numpy as np
import pytest

from tfc.ir.graph import Graph, sanitize_name
from tfc.ir.text import print_graph
from tfc.ir.types import DType, QuantParams, TensorType
from tfc.ir.verify import verify


def small():
    g = Graph("net")
    x = g.add_input("x", TensorType((1, 4, 4, 2), DType.F32))
    w = g.add_constant("w", np.ones((3, 1, 1, 2), np.float32))
    conv = g.add_node("conv2d", [x, w], name="conv")
    relu = g.add_node("relu", [conv.output], name="relu")
    add = g.add_node("add", [relu.output, conv.output], name="add")
    g.outputs = [add.output]
    return g, x, w, conv, relu, add


def test_values_know_producer_and_users():
    g, x, w, conv, relu, add = small()
    assert conv.output.producer is conv and conv.output.shape == (1, 4, 4, 3)
    assert conv.output.users == [relu, add]
    assert conv.output.uses == [(relu, 0), (add, 1)]
    assert x.users == [conv] and w.is_constant and w.ref == "@w" and x.ref == "%x"
    verify(g)


def test_replace_all_uses_and_remove():
    g, x, w, conv, relu, add = small()
    g.replace_all_uses(relu.output, conv.output)
    assert add.inputs == [conv.output, conv.output] and relu.output.uses == []
    g.remove_node(relu)
    assert relu not in g.nodes
    verify(g)
    with pytest.raises(ValueError, match="still read"):
        g.remove_node(conv)


def test_bypass_and_graph_outputs_follow():
    g, x, w, conv, relu, add = small()
    out = g.add_node("relu", [add.output], name="last")
    g.outputs = [out.output]
    g.bypass(out)
    assert g.outputs == [add.output]
    verify(g)


def test_names_are_fresh_and_sanitized():
    g, *_ = small()
    assert g.fresh_name("conv") == "conv_1" and g.fresh_name("new") == "new"
    assert sanitize_name("model/conv:0") == "model_conv_0"
    assert sanitize_name("model/relu;model/bn/FusedBatchNormV3;model/conv") == "model_relu"  # TFLite fused names
    node = g.add_node("relu", [g.inputs[0]], name="conv")
    assert node.name == "conv_1" and node.output.name == "conv_1"


def test_insert_before_and_after_keep_order():
    g, x, w, conv, relu, add = small()
    n = g.add_node("neg", [x], name="first", before=conv)
    m = g.add_node("abs", [relu.output], name="mid", after=relu)
    names = [node.name for node in g.nodes]
    assert names == ["first", "conv", "relu", "mid", "add"]
    verify(g)


def test_sort_topologically_repairs_order():
    g, *_ = small()
    g.nodes.reverse()
    g.sort_topologically()
    assert [n.name for n in g.nodes] == ["conv", "relu", "add"]
    verify(g)


def test_networkx_view_has_a_vertex_per_node_and_an_edge_per_dependency():
    g, *_ = small()
    nx_graph = g.to_networkx()
    assert sorted(nx_graph.nodes) == ["add", "conv", "relu"]
    assert sorted(nx_graph.edges) == [("conv", "add"), ("conv", "relu"), ("relu", "add")]


def test_copy_is_deep_and_prints_the_same():
    g, *_ = small()
    g.inputs[0].quant = QuantParams((0.5,), (3,))
    c = g.copy()
    assert print_graph(c) == print_graph(g)
    c.nodes[0].attrs["stride"] = [2, 2]
    assert g.nodes[0].attrs["stride"] == [1, 1]
    assert c.inputs[0] is not g.inputs[0]


def test_copy_keeps_meta_as_its_own_dicts():
    g, x, w, conv, relu, _ = small()
    conv.meta["made-by"] = "fuse"
    relu.output.meta["range"] = [0.0, 6.0]
    x.meta["calibrated"] = True
    w.meta["density"] = 0.5
    c = g.copy()
    assert c.find_node("conv").meta == {"made-by": "fuse"}
    assert c.find_value("relu").meta == {"range": [0.0, 6.0]}
    assert c.inputs[0].meta == {"calibrated": True} and c.constants["w"].meta == {"density": 0.5}
    c.find_node("conv").meta["made-by"] = "someone else"
    assert conv.meta == {"made-by": "fuse"}
    assert g.nodes_of("add")[0].meta == {} and c.nodes_of("add")[0].meta == {}


def test_remove_unused_constants():
    g, *_ = small()
    g.add_constant("spare", np.zeros(3, np.float32))
    assert g.remove_unused_constants() == 1 and "spare" not in g.constants
    assert g.fresh_name("spare") == "spare"   # the name is free again


def test_data_movement_keeps_per_tensor_params():
    g = Graph()
    q = QuantParams((0.1,), (-5,))
    x = g.add_input("x", TensorType((1, 2, 3), DType.I8), quant=q)
    t = g.add_node("transpose", [x], {"perm": [0, 2, 1]})
    r = g.add_node("relu", [x])
    assert t.output.quant == q and t.output.dtype == DType.I8
    assert r.output.quant is None and r.output.dtype == DType.F32   # float ops read int8 as reals
