"""The layout of a model's 4-D inputs and outputs as the generated C API takes and returns them.

ONNX models are channels-first (NCHW, as PyTorch exports them); tfc runs channels-last (NHWC,
CMSIS-NN's layout), so an NCHW model keeps a transpose at its input and at its output. Firmware
holds camera frames and audio spectrograms as HWC buffers: `set_io_layout(graph, "nhwc")` makes
the graph take and return NHWC, by putting the inverse transpose at the boundary, which the
canonicalize pass then cancels against the importer's. A tf2onnx model that is NHWC already
(its input read only by transposes to NCHW) keeps its layout; asking it for "nchw" adds the
transposes instead. Tensors of other ranks are left as they are.
"""
from __future__ import annotations

from tfc.errors import TfcError
from tfc.ir.graph import Graph, Value
from tfc.ir.types import TensorType
from tfc.passes.canonical.layout import permute_quant
from tfc.passes.rewrite import insert_after

LAYOUTS = ("nchw", "nhwc")
_TO = {"nhwc": [0, 2, 3, 1], "nchw": [0, 3, 1, 2]}      # perm that turns the other layout into this one


def check_layout(layout: str | None) -> str | None:
    if layout is not None and layout not in LAYOUTS:
        raise TfcError(f"input layout {layout!r} is not one of {', '.join(LAYOUTS)}",
                       hint="nhwc: the C API takes and returns channels-last tensors (camera, audio "
                            "buffers); nchw: channels-first, as the ONNX model declares")
    return layout


def input_layout(value: Value) -> str:
    """"nhwc" for a 4-D input read only by transposes to NCHW (a tf2onnx model), else "nchw"."""
    users = [n for n, _ in value.uses]
    nhwc = users and all(n.op == "transpose" and list(n.attrs["perm"]) == _TO["nchw"] for n in users)
    return "nhwc" if nhwc else "nchw"


def output_layout(value: Value) -> str:
    """"nhwc" for a 4-D output a transpose from NCHW produced, else "nchw"."""
    p = value.producer
    nhwc = p is not None and p.op == "transpose" and list(p.attrs["perm"]) == _TO["nhwc"]
    return "nhwc" if nhwc else "nchw"


def set_io_layout(graph: Graph, layout: str | None) -> int:
    """Make every 4-D graph input and output `layout` (None: keep the model's own); returns how
    many changed. The graph's interface names stay the same."""
    if check_layout(layout) is None:
        return 0
    changed = 0
    for i, x in enumerate(list(graph.inputs)):
        if len(x.shape) == 4 and input_layout(x) != layout:
            graph.inputs[i] = _relayout_input(graph, x, layout)
            changed += 1
    for y in list(graph.outputs):
        if len(y.shape) == 4 and output_layout(y) != layout:
            insert_after(graph, y, "transpose", {"perm": _TO[layout]}, name=f"{y.name}_to_{layout}")
            changed += 1
    return changed


def _relayout_input(graph: Graph, x: Value, layout: str) -> Value:
    """A new input in `layout` with x's name, and a transpose back to x's layout for x's readers."""
    perm, back = _TO[layout], _TO["nchw" if layout == "nhwc" else "nhwc"]
    name = x.name
    graph.rename_value(x, f"{name}_{'nchw' if layout == 'nhwc' else 'nhwc'}")
    new = graph.add_input(name, TensorType(tuple(x.shape[p] for p in perm), x.dtype), permute_quant(x.quant, perm))
    graph.inputs.remove(new)      # the caller puts it in x's place
    kw = {"before": graph.nodes[0]} if graph.nodes else {}
    t = graph.add_node("transpose", [new], {"perm": back}, name=f"{name}_from_{layout}", **kw)
    graph.replace_all_uses(x, t.output)
    return new
