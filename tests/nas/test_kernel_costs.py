"""nas.kernel_costs: the per-kernel fit recovers known coefficients; estimates follow the layer table."""
from types import SimpleNamespace as NS

import numpy as np
import pytest

from nas.kernel_costs import FITTED, estimate, features, fit
from tfc.ir.types import DType, TensorType


def _conv(name, cout, cin, k, hw):
    w = NS(type=TensorType((cout, k, k, cin), DType.I8), sparse=None, data=None)
    return NS(name=name, op="conv2d", inputs=[NS(type=TensorType((1, hw, hw, cin), DType.I8)), w],
              output=NS(type=TensorType((1, hw, hw, cout), DType.I8)))


def test_fit_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    true = np.array([1.5, 20.0, 30.0, 2.0, 500.0])
    nodes = [_conv(f"c{i}", int(rng.integers(4, 64)), int(rng.integers(4, 64)), 1, int(rng.integers(2, 9)))
             for i in range(12)]
    layers = [NS(node=n.name, function="f", instructions=float(true @ features(n))) for n in nodes]
    cm = NS(ir=NS(nodes=nodes))
    got = np.array(fit([(cm, NS(layers=layers))])["f"])
    assert np.allclose(got, true, rtol=1e-3), f"fitted {got}, expected {true}"


def test_estimate_sums_the_layer_table_and_skips_aliases():
    n = _conv("c", 16, 8, 1, 4)
    table = [NS(node="r", function=""), NS(node="c", function="arm_convolve_1x1_s8_fast")]
    cm = NS(ir=NS(nodes=[n]), report=NS(memory=NS(layers=table)))
    est = estimate(cm)
    expected = float(np.dot(FITTED["arm_convolve_1x1_s8_fast"], features(n)))
    assert est.as_compiled == pytest.approx(expected) and est.sparse_engine == pytest.approx(expected)
    assert est.sparse_layers == 0 and est.unknown == ()


def test_unknown_kernel_is_reported_not_guessed():
    n = _conv("c", 16, 8, 1, 4)
    cm = NS(ir=NS(nodes=[n]), report=NS(memory=NS(layers=[NS(node="c", function="tfc_new_kernel_s8")])))
    est = estimate(cm)
    assert est.unknown == ("tfc_new_kernel_s8",) and est.as_compiled == 0
