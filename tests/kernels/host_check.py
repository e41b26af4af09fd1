"""What every kernel test asks of the generated C: a model compiled for the host builds warning-free
(-Wall -Wextra -Werror -pedantic) and runs clean under ASan/UBSan, the same graph gives the same
bytes twice, and the C equals the int8 interpreter (the kernels' numpy twins) bit for bit; and
onnxruntime's view of the model, on the same int8 inputs."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort

from tests.backends.cmsis.compare import assert_exact
from tfc import interp
from tfc.backends.cmsis import HostRunner, write_project
from tfc.ir.graph import Graph
from tfc.ir.ops.quant import dequantize_array, quantize_array

STRICT = ("-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")


def assert_both_host_builds_exact(graph: Graph, x: np.ndarray, want: np.ndarray, tmp_path, name: str) -> None:
    """The portable C ("host") and the DSP path emulated in C ("cortex-m7") built strictly, twice
    to the same bytes, equal `want` on the raw int8 samples `x` under ASan/UBSan."""
    for target in ("host", "cortex-m7"):
        info = write_project(graph, tmp_path / target, target=target, name=name)
        again = write_project(graph, tmp_path / f"{target}-again", target=target, name=name)
        for f in info.files:                    # the same graph, the same bytes
            assert (info.path / f).read_bytes() == (again.path / f).read_bytes(), f
        got = HostRunner(info, cflags=STRICT, sanitize=True).run_raw([x])[0]
        assert_exact(got, want, f"{target} build (ASan/UBSan) vs the int8 interpreter")


def run_c_exact(graph: Graph, ints: list[np.ndarray], tmp_path, name: str = "m") -> list[np.ndarray]:
    """The generated C's outputs for `ints` (per input, a leading sample axis), after checking
    them against the int8 interpreter sample by sample and the project's bytes against a rewrite."""
    info = write_project(graph, tmp_path / "a", target="host", name=name)
    again = write_project(graph, tmp_path / "b", target="host", name=name)
    assert info.files == again.files
    for f in info.files:
        assert (info.path / f).read_bytes() == (again.path / f).read_bytes(), f"{f} differs between two writes"
    got = HostRunner(info, cflags=STRICT, sanitize=True).run_raw(ints)
    for i in range(len(ints[0])):
        want = interp.run(graph, [x[i] for x in ints])
        for k, (g, w) in enumerate(zip(got, want)):
            assert_exact(g[i], w, f"sample {i}, output {k}: generated C vs int8 interpreter")
    return got


def int8_inputs(graph: Graph, samples: list[np.ndarray]) -> list[np.ndarray]:
    """Float samples (per input, a leading sample axis) on the int8 graph's input grids."""
    return [quantize_array(x, v.quant, v.quant.storage) for x, v in zip(samples, graph.inputs)]


def onnxruntime_on_grid(model, graph: Graph, ints: list[np.ndarray]) -> list[np.ndarray]:
    """onnxruntime's outputs of the float ONNX `model` on the dequantized `ints`, quantized onto
    the int8 graph's output grids (what a QDQ model with those grids computes)."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    reals = {v.name: dequantize_array(x, v.quant) for x, v in zip(ints, graph.inputs)}
    per_sample = [session.run(None, {n: reals[n][i] for n in names}) for i in range(len(ints[0]))]
    return [quantize_array(np.stack([s[k] for s in per_sample]), v.quant, v.quant.storage)
            for k, v in enumerate(graph.outputs)]


def c_and_onnxruntime(cm, model, ints: list[np.ndarray], tmp_path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(C outputs, onnxruntime's on the grid) for a model compiled for the host: run_c_exact's
    checks, and the plain `cm.run(on="host")` build giving the same integers."""
    got = run_c_exact(cm.ir, ints, tmp_path)
    plain = cm.run(ints if len(ints) > 1 else ints[0], raw=True, on="host")
    for k, (g, p) in enumerate(zip(got, plain)):   # Compiled.run returns a list of outputs
        assert_exact(p, g, f"output {k}: cm.run(on='host') vs the strict sanitized build")
    return got, onnxruntime_on_grid(model, cm.ir, ints)


def tflite_micro_outputs(tflite_path, x: np.ndarray) -> np.ndarray:
    """tflite-micro (the `tflite-micro` package's interpreter, TFLM's reference kernels) running a
    .tflite file on int8 inputs `x` (a leading sample axis): its first output per sample."""
    import tflite_micro
    interp = tflite_micro.runtime.Interpreter.from_file(str(tflite_path))
    outs = []
    for xi in x:
        interp.set_input(xi.reshape(interp.get_input_details(0)["shape"]), 0)
        interp.invoke()
        outs.append(interp.get_output(0).copy())
    return np.stack(outs)


def compile_tflite_oracle(name: str):
    """tests/kernels/data/<name>.tflite.onnx (tf2onnx's conversion of the .tflite beside it,
    data/make_tflite_oracles.py) compiled for the host, and 16 seeded random int8 inputs."""
    import tfc
    from pathlib import Path
    onnx_path = Path(__file__).parent / "data" / f"{name}.tflite.onnx"
    cm = tfc.compile(str(onnx_path), target="host")
    x = np.random.default_rng(14).integers(-128, 128, size=(16, *cm.ir.inputs[0].shape), dtype=np.int8)
    return cm, x, onnx_path.with_suffix("")


def interp_outputs(graph: Graph, x: np.ndarray) -> list[np.ndarray]:
    """The int8 interpreter's outputs for each sample of x, stacked per output."""
    return [np.stack(o) for o in zip(*(interp.run(graph, [s]) for s in x))]


def assert_outputs_exact(got: list[np.ndarray], want: list[np.ndarray], what: str) -> None:
    for k, (g, w) in enumerate(zip(got, want)):
        assert_exact(g, w, f"output {k}: {what}")
