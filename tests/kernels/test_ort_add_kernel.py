"""tfc_ort_add_s8: int8 a + b as onnxruntime's fused QLinearAdd (numerics="onnxruntime"). Every
int8 pair (a, b), broadcasting and not, for several scale / zero-point sets, against onnxruntime
run as tfc judges QDQ models (session.qdqisint8allowed=1): the numpy twin, then the generated C
(portable and emulated-DSP builds, ASan/UBSan). The twin's exact fmaf against float64 rational
arithmetic."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx import numpy_helper as nh

import tfc
from tfc import interp
from tests.kernels.host_check import STRICT, run_c_exact
from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: F401
from tfc.backends.cmsis.host import HostRunner
from tfc.backends.cmsis.project import write_project
from tfc.kernels import select
from tfc.kernels.ort_add import fmaf
from tfc.quant.ort_numerics import onnxruntime_session

# (s_a, z_a), (s_b, z_b), (s_y, z_y): a residual add, a lopsided one, zero points at the ends.
GRIDS = [((0.05, 3), (0.02, -9), (0.07, 4)),
         ((0.0123, -128), (0.31, 127), (0.29, -5)),
         ((0.1, 0), (0.1, 0), (0.2, 0)),            # every other sum a tie
         ((0.00390625, 17), (0.0078125, -40), (0.01171875, 100)),
         ((0.4489, 121), (0.4223, -99), (0.2516, -28))]     # the one a zero-point part folded otherwise misses


def _qdq_add_model(grids, a_shape, b_shape, out_shape) -> onnx.ModelProto:
    """int8 inputs, DQ each, Add, Q: onnxruntime fuses the unit into QLinearAdd."""
    inits = []
    for name, (s, z) in zip("aby", grids):
        inits += [nh.from_array(np.array(s, np.float32), f"s_{name}"), nh.from_array(np.array(z, np.int8), f"z_{name}")]
    nodes = [helper.make_node("DequantizeLinear", ["a", "s_a", "z_a"], ["a_d"]),
             helper.make_node("DequantizeLinear", ["b", "s_b", "z_b"], ["b_d"]),
             helper.make_node("Add", ["a_d", "b_d"], ["sum"]),
             helper.make_node("QuantizeLinear", ["sum", "s_y", "z_y"], ["y_q"]),
             helper.make_node("DequantizeLinear", ["y_q", "s_y", "z_y"], ["y"])]
    graph = helper.make_graph(nodes, "add", [helper.make_tensor_value_info("a", TensorProto.INT8, a_shape),
                                             helper.make_tensor_value_info("b", TensorProto.INT8, b_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.producer_name = "onnx.quantize"      # as onnxruntime.quantization writes: numerics auto -> onnxruntime
    return model


def _all_pairs():
    """a down the rows, b along the columns: [256, 1] + [1, 256] covers every pair, broadcasting."""
    v = np.arange(-128, 128, dtype=np.int8)
    return v.reshape(256, 1), v.reshape(1, 256)


def _onnxruntime(model, a, b) -> np.ndarray:
    y = onnxruntime_session(model).run(None, {"a": a, "b": b})[0]
    (s, z) = GRIDS_BY_MODEL[id(model)]
    return np.clip(np.rint(y / np.float32(s)) + z, -128, 127).astype(np.int8)


GRIDS_BY_MODEL: dict = {}


def _compiled(grids, a_shape, b_shape, out_shape):
    model = _qdq_add_model(grids, a_shape, b_shape, out_shape)
    GRIDS_BY_MODEL[id(model)] = grids[2]
    cm = tfc.compile(model, target="host")
    add, = cm.ir.nodes_of("add")
    assert add.attrs["numerics"] == "onnxruntime" and select(add).name == "ort_add"
    return model, cm


@pytest.mark.parametrize("grids", GRIDS)
def test_twin_equals_onnxruntime_on_every_pair(grids):
    a, b = _all_pairs()
    full = lambda v: np.broadcast_to(v, (256, 256)).copy()  # noqa: E731
    # a per row, b per row, a full with b broadcast either way, both full.
    for a_in, b_in in ((a, b), (b.T.copy(), a.T.copy()), (full(a), b), (full(b), a),
                       (full(a), full(b))):
        model, cm = _compiled(grids, list(a_in.shape), list(b_in.shape), [256, 256])
        got = interp.run(cm.ir, [a_in, b_in])[0]
        np.testing.assert_array_equal(got.reshape(256, 256), _onnxruntime(model, a_in, b_in))


@pytest.mark.parametrize("target", ["host", "cortex-m7"])
def test_c_equals_onnxruntime_on_every_pair(target, tmp_path):
    grids = GRIDS[1]
    a, b = _all_pairs()
    model, cm = _compiled(grids, [256, 1], [1, 256], [256, 256])
    want = _onnxruntime(model, a, b)
    if target == "host":
        got = run_c_exact(cm.ir, [a[None], b[None]], tmp_path)[0][0]   # checks C == twin too
    else:                                       # the DSP path, emulated in C
        info = write_project(cm.ir, tmp_path / target, target=target, name="m")
        got = HostRunner(info, cflags=STRICT, sanitize=True).run_raw([a[None], b[None]])[0][0]
    np.testing.assert_array_equal(got.reshape(want.shape), want)


def test_emulated_m7_equals_onnxruntime_on_every_pair(qemu):  # noqa: F811
    """fmaf as the Cortex-M7's VFMA.F32 (arm-none-eabi-gcc, FPv5), on QEMU."""
    grids = GRIDS[4]
    a, b = _all_pairs()
    model = _qdq_add_model(grids, [256, 1], [1, 256], [256, 256])
    GRIDS_BY_MODEL[id(model)] = grids[2]
    cm = tfc.compile(model, target="cortex-m7")
    got = np.asarray(cm.run([a[None], b[None]], raw=True)[0])
    np.testing.assert_array_equal(got.reshape(256, 256), _onnxruntime(model, a, b))


def test_fmaf_rounds_the_exact_value_once():
    rng = np.random.default_rng(0)
    x = rng.integers(-255, 256, 4000).astype(np.float32)
    # Ratios and addends far apart in magnitude too: the float64 sum is then inexact.
    y = (rng.uniform(0.5, 1, 4000) * 2.0 ** rng.integers(-40, 10, 4000)).astype(np.float32)
    z = (rng.uniform(-1, 1, 4000) * 2.0 ** rng.integers(-40, 10, 4000)).astype(np.float32)
    got = fmaf(x, y, z)
    for k in range(len(x)):
        exact = Fraction(float(x[k])) * Fraction(float(y[k])) + Fraction(float(z[k]))
        lo = np.float32(float(exact))           # float64 nearest, then the float32 neighbours
        cands = {lo, np.nextafter(lo, np.float32(np.inf)), np.nextafter(lo, np.float32(-np.inf))}
        best = min(cands, key=lambda c: (abs(Fraction(float(c)) - exact),
                                         int(np.float32(c).view(np.int32)) & 1))
        assert got[k] == best, (x[k], y[k], z[k])
