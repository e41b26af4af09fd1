"""Shape inference from shapes alone (no allocation), equal to numpy's rules."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from tfc.errors import ShapeError
from tfc.ir.graph import Graph
from tfc.ir.ops.nn import matmul_shape
from tfc.ir.types import DType, TensorType

SHAPES = [(), (3,), (4,), (2, 3), (3, 4), (5, 2, 3), (1, 3, 4), (2, 1, 3, 4), (7, 1, 4, 5), (4, 5), (5,)]


@pytest.mark.parametrize("a, b", list(itertools.product(SHAPES, SHAPES)))
def test_matmul_shape_is_numpys(a, b):
    try:
        want = np.matmul(np.empty(a), np.empty(b)).shape
    except ValueError:
        want = None
    assert matmul_shape(a, b) == want


def test_huge_shapes_are_inferred_without_memory():
    assert matmul_shape((1, 2**40, 8), (8, 4)) == (1, 2**40, 4)


def test_slice_of_a_huge_tensor_is_inferred_without_memory():
    g = Graph("g")
    x = g.add_input("x", TensorType((1, 2**30), DType.F32))
    node = g.add_node("slice", [x], {"starts": [5], "ends": [105], "axes": [1], "steps": [2]})
    assert node.output.shape == (1, 50)


def test_a_result_past_int32_elements_names_the_node():
    g = Graph("g")
    x = g.add_input("x", TensorType((1, 2**16, 1), DType.F32))
    y = g.add_input("y", TensorType((1, 1, 2**16), DType.F32))
    with pytest.raises(ShapeError, match="more than tfc supports") as e:
        g.add_node("matmul", [x, y], name="outer")
    assert e.value.node == "outer" and not x.uses and not y.uses
