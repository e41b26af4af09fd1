"""Backend records for the sparse kernel families (sparse_conv, sparse_fc, sparse_depthwise): int8
conv2d/linear whose weight carries a SparseLayout run tfc_sparse_convolve_s8 /
tfc_sparse_fully_connected_s8, depthwise convs tfc_sparse_depthwise_conv_s8 (encoding "dw-taps":
per-channel records and the non-zero taps in weights.c, tfc/sparse/depthwise.py).

Encoding "brle": the records, skips and values streams (docs/sparse-format.md) go to weights.c
and the runtime kernels walk them. Encoding "brle-unrolled": the layer's block lists are generated
into model.c (tfc/sparse/codegen.py, templates/kernels/sparse_rows.c.j2) and only the
pre-widened weight table goes to weights.c. Either way the outputs equal the dense kernels'.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfc.ir.graph import Node
from tfc.kernels import records as L
from tfc.kernels.base import Kernel, register_kernel
from tfc.ir.ops.base import TO_NCHW, TO_NHWC
from tfc.ir.ops.nn import conv_layouts, conv_shapes
from tfc.kernels.conv import FullyConnected, _Conv, bias_of
from tfc.quant import reference as ref
from tfc.quant import kernel_params as kp
from tfc.quant import node_params as npar
from tfc.sparse import cells, codegen
from tfc.sparse import depthwise as dw
from tfc.sparse.encoding import groups_of
from tfc.sparse.layer import SparseLayer, sparse_conv_layer, sparse_linear_layer
from tfc.sparse.scratch import conv_scratch_bytes, depthwise_scratch_bytes, fc_scratch_bytes, padded_width
from tfc.kernels import cost as C

@dataclass(frozen=True)
class SparseArgs:
    params: kp.ConvParams | kp.FullyConnectedParams
    input_dims: L.Dims
    output_dims: L.Dims
    layer: SparseLayer
    encoding: str                           # "brle" or "brle-unrolled"
    records: L.ConstArray | None            # brle: int32 words of the tfc_sparse_row records
    skips: L.ConstArray | None
    values: L.ConstArray | None
    code: codegen.LayerCode | None          # brle-unrolled
    table: L.ConstArray | None              # brle-unrolled: the pre-widened weights
    input_nchw: bool = False                # conv: reads its input channels-first (a folded transpose)
    output_nchw: bool = False               # conv: writes its output channels-first
    input_cells: bool = False               # reads its producer's int16 cells, no widening (tfc/sparse/cells.py)
    output_cells: int = 0                   # > 0: writes its readers' int16 cells of this block (generated code)
    output_pixel_step: int = 0              # linear: > 0, its code stores a transposed layout (sparse_heads)

    @property
    def flash_arrays(self) -> tuple[L.ConstArray, ...]:
        return tuple(a for a in (self.records, self.skips, self.values, self.table) if a is not None)

    @property
    def density(self) -> float:
        """Non-zero blocks over the blocks of the real weights (not the virtual column space)."""
        s = self.layer
        total = s.rows * s.kh * s.kw * groups_of(s.cin, s.block)
        return s.encoded.nonzero_blocks / total if total else 0.0

    @property
    def code_bytes_estimate(self) -> int:
        return self.code.code_bytes_estimate() if self.code is not None else 0

    def storage(self) -> str:
        """The per-layer table's description of how the weights are stored."""
        return f"sparse b{self.layer.block} d={self.density:.2f} {self.encoding}"


@dataclass(frozen=True)
class SparseDepthwiseArgs:
    params: kp.DepthwiseConvParams
    input_dims: L.Dims
    output_dims: L.Dims
    layer: dw.SparseDepthwiseLayer
    records: L.ConstArray                   # int32 words of the tfc_sparse_dw_channel records
    taps: L.ConstArray                      # (tap index, weight) byte pairs
    luts: L.ConstArray | None = None        # 256 output bytes per one-tap channel
    encoding: str = dw.ENCODING
    code_bytes_estimate: int = 0

    @property
    def flash_arrays(self) -> tuple[L.ConstArray, ...]:
        return tuple(a for a in (self.records, self.taps, self.luts) if a is not None)

    @property
    def density(self) -> float:
        return self.layer.density

    def storage(self) -> str:
        return f"sparse b1 d={self.density:.2f} {self.encoding}"




def _record_words(layer: SparseLayer) -> np.ndarray:
    return np.frombuffer(layer.records_bytes(), dtype="<i4").astype(np.int32)


def depthwise_args(lw, i: int, node: Node, p: kp.DepthwiseConvParams) -> SparseDepthwiseArgs:
    x, w, y = node.inputs[0], node.inputs[1], node.output
    bias = node.inputs[2].data if len(node.inputs) > 2 else None
    layer = dw.sparse_depthwise_layer(w.data, bias, p.multipliers, p.shifts, input_offset=p.input_offset,
                                      output_offset=p.output_offset, activation=p.activation,
                                      luts=w.sparse.encoding == dw.LUT_ENCODING)
    prefix = f"tfc_{lw.name}_l{i}"
    where = f"{w.ref} : {w.type}, depthwise taps"
    records = lw.add_const(L.ConstArray(f"{prefix}_dw_records", "int32_t",
                                        np.frombuffer(layer.records_bytes(), dtype="<i4").astype(np.int32),
                                        f"{where}: tfc_sparse_dw_channel records"))
    taps = lw.add_const(L.ConstArray(f"{prefix}_dw_taps", "uint8_t", layer.taps if layer.taps.size else
                                     np.zeros(1, np.uint8), f"{where}: (tap index, weight) per non-zero tap"))
    luts = None
    if layer.luts.size:
        luts = lw.add_const(L.ConstArray(f"{prefix}_dw_luts", "int8_t", layer.luts,
                                         f"{where}: output per input byte, per one-tap channel"))
    return SparseDepthwiseArgs(p, L.Dims(*map(int, x.shape)), L.Dims(*map(int, y.shape)), layer, records, taps,
                               luts, w.sparse.encoding)


def sparse_args(lw, i: int, node: Node, conv: bool, p) -> SparseArgs:
    """The SparseArgs of layer i (lw: the lowering, for its constants)."""
    x, w, y = node.inputs[0], node.inputs[1], node.output
    bias = node.inputs[2].data if len(node.inputs) > 2 else None
    layout = w.sparse
    nchw = (False, False)
    plane = None
    if conv:
        stride, pad = node.attrs["stride"], node.attrs["pad"]
        x_shape, y_shape = conv_shapes(node)
        nchw = tuple(layout == "nchw" for layout in conv_layouts(node))
        plane = y_shape[1] * y_shape[2] if nchw[1] else None
        width = padded_width(x_shape[2], w.shape[2], stride[1], pad[1], y_shape[2])
        layer = sparse_conv_layer(w.data, bias, p.multipliers, p.shifts, block=layout.block, width=width,
                                  output_offset=p.output_offset, activation=p.activation)
        in_dims, out_dims = L.Dims(*map(int, x_shape)), L.Dims(*map(int, y_shape))
        counts = codegen.pixel_counts_for(y_shape[2], stride[1], layout.block)
    else:
        depth = w.shape[1]
        vectors = x.type.size // depth
        layer = sparse_linear_layer(w.data, bias, p.multipliers, p.shifts, block=layout.block, vectors=vectors,
                                    output_offset=p.output_offset, activation=p.activation)
        in_dims, out_dims = L.Dims(vectors, 1, 1, depth), L.Dims(vectors, 1, 1, w.shape[0])
        counts = codegen.pixel_counts_for(vectors, 1)
    input_cells = cells.block_of(x) > 0
    if input_cells:   # the cells hold x, not x + input_offset: the offset goes into the biases
        layer = cells.fold_input_offset(layer, p.input_offset)
    prefix = f"tfc_{lw.name}_l{i}"
    where = f"{w.ref} : {w.type}, block {layout.block}"
    if layout.encoding == codegen.UNROLLED:
        out_cells = node.attrs.get(cells.CELLS_ATTR, 0)
        code = codegen.layer_code(layer, f"{prefix}_sparse", table=f"{prefix}_sparse_table", pixel_counts=counts,
                                  output_plane=plane, input_stride=node.attrs["stride"][1] if conv else 1,
                                  cells=out_cells, cells_cols=out_dims.w if conv else out_dims.n)
        table = lw.add_const(L.ConstArray(code.table, "int32_t", code.words,
                                          f"{where}: pre-widened int16 pairs read by the generated code"))
        return SparseArgs(p, in_dims, out_dims, layer, layout.encoding, None, None, None, code, table, *nchw,
                          input_cells, out_cells)
    records = lw.add_const(L.ConstArray(f"{prefix}_records", "int32_t", _record_words(layer),
                                        f"{where}: tfc_sparse_row records (+ sentinel)"))
    skips = lw.add_const(L.ConstArray(f"{prefix}_skips", "uint8_t", layer.skips.astype(np.uint8),
                                      f"{where}: skip per stored block"))
    values = lw.add_const(L.ConstArray(f"{prefix}_values", "int8_t", layer.values,
                                       f"{where}: int8 values per stored block"))
    return SparseArgs(p, in_dims, out_dims, layer, layout.encoding, records, skips, values, None, None, *nchw,
                      input_cells)


def _cells_input(node: Node, linear: bool) -> str | None:
    """Why the sparse layer cannot read its input's cells as its image (None: it can, or the input
    is plain int8)."""
    x, w = node.inputs[0], node.inputs[1]
    block = cells.block_of(x)
    if not block:
        return None
    if w.sparse.block != block:
        return f"its input is stored as cells of {block}, its weights have blocks of {w.sparse.block}"
    if not linear and (tuple(w.shape[1:3]) != (1, 1) or node.attrs["stride"] != [1, 1] or any(node.attrs["pad"])
                       or conv_layouts(node)[0] != "nhwc"):
        return "it reads an input stored as cells only as a 1x1, stride 1, unpadded conv"
    return cells.layout_decline(x.shape, block, linear)


def _cells_output(node: Node, conv: bool) -> str | None:
    """Why the sparse layer cannot store its output as its readers' cells (None: it can, or the
    node asks for plain int8)."""
    block = node.attrs.get(cells.CELLS_ATTR, 0)
    if not block:
        return None
    w = node.inputs[1]
    if w.sparse is None or w.sparse.encoding != codegen.UNROLLED:
        return f"only generated code ({codegen.UNROLLED}) stores its outputs as cells"
    if conv and conv_layouts(node)[1] != "nhwc":
        return "a channels-first output is not stored as cells"
    return cells.layout_decline(node.output.shape, block, linear=not conv)


def output_as_stored(node: Node, y: np.ndarray) -> np.ndarray:
    """The numpy twin's int8 result as the node stores it (its readers' cells where it writes them)."""
    block = node.attrs.get(cells.CELLS_ATTR, 0)
    return cells.to_cells(y, block) if block else y


def _plain_input(node: Node, x: np.ndarray) -> np.ndarray:
    """The int8 input the numpy twin computes on (an input stored as cells read back)."""
    block = cells.block_of(node.inputs[0])
    return cells.from_cells(x, block) if block else x


def _sparse_weight(node: Node) -> str | None:
    """Why the node's weight does not run sparse (None: it carries a SparseLayout)."""
    if len(node.inputs) < 2:
        return "no weight"
    w = node.inputs[1]
    if w.sparse is None or w.data is None:
        return "the weight is dense (no SparseLayout)"
    return None


@register_kernel
class SparseConv(_Conv):
    """tfc_sparse_convolve_s8: a one-group, undilated conv2d whose weight carries a SparseLayout;
    the same integers as the dense conv (its numpy twin is the dense one)."""

    name = "sparse_conv"
    function = "tfc_sparse_convolve_s8"
    sources = ("tfc_sparse_s8.c",)
    # A model's channels-first input read, or output written, directly (fuse folds the boundary
    # transpose in): the widening reads 4 channels x 4 pixels per step, the stores go plane by plane.
    layouts = ("nhwc", "nchw")
    # by encoding: a fitted correction over the SparseEngine cost model (nas.kernel_costs)
    costs = {"tfc_sparse_convolve_s8/brle": C.Cost(C.SPARSE, (0.9872, 0.0, 653.2498)),
             "tfc_sparse_convolve_s8/brle-unrolled": C.Cost(C.SPARSE, (0.9566, 0.4256, 955.6579)),
             "tfc_sparse_convolve_s8/dw-taps": C.Cost(C.SPARSE),
             # reading a producer's cells: the same fit (the widening it skips is a few % of it)
             "tfc_sparse_convolve_cells_s8/brle": C.Cost(C.SPARSE, (0.9872, 0.0, 653.2498)),
             "tfc_sparse_convolve_cells_s8/brle-unrolled": C.Cost(C.SPARSE, (0.9566, 0.4256, 955.6579))}
    template = "sparse"
    priority = 30
    reads_cells = True
    # generated code could (_cells_output), but lowering may store the layer as brle to fit flash
    # after fuse chose cells (tests/backends/cmsis/test_sparse_emit.py): off for convs until it cannot
    writes_cells = False

    def decline(self, node):
        if node.attrs["dilation"] != [1, 1]:
            return "dilated"
        if node.attrs["group"] != 1:
            return "grouped"
        return _sparse_weight(node) or _cells_input(node, linear=False) or _cells_output(node, conv=True)

    def run(self, node, inputs, p):
        return [output_as_stored(node, self.run_plain(node, inputs, p))]

    def run_plain(self, node, inputs, p) -> np.ndarray:
        """The dense conv's integers, on NHWC views of a channels-first input or output."""
        lin, lout = conv_layouts(node)
        x = _plain_input(node, inputs[0])
        x = x.transpose(TO_NHWC) if lin == "nchw" else x
        _, y_shape = conv_shapes(node)
        y = ref.conv2d(np.ascontiguousarray(x), inputs[1], bias_of(inputs), p, output_hw=y_shape[1:3])
        return np.ascontiguousarray(y.transpose(TO_NCHW)) if lout == "nchw" else y

    def c_function(self, node, p, lean=False):
        return "tfc_sparse_convolve_cells_s8" if cells.block_of(node.inputs[0]) else self.function

    def scratch_bytes(self, node, p, build, lean=False):
        w = node.inputs[1]
        if cells.block_of(node.inputs[0]):
            return 0
        x_shape, y_shape = conv_shapes(node)
        return conv_scratch_bytes(x_shape, w.shape, y_shape, node.attrs["stride"], node.attrs["pad"], w.sparse.block)

    def args(self, lw, i, node, p):
        return sparse_args(lw, i, node, True, p)


@register_kernel
class SparseDepthwise(_Conv):
    """tfc_sparse_depthwise_conv_s8 (encoding dw-taps): a depthwise conv with channel multiplier 1."""

    name = "sparse_depthwise"
    function = "tfc_sparse_depthwise_conv_s8"
    sources = ("tfc_sparse_depthwise_s8.c",)
    # by encoding: a fitted correction over the SparseEngine cost model (nas.kernel_costs)
    costs = {"tfc_sparse_depthwise_conv_s8/brle": C.Cost(C.SPARSE),
             "tfc_sparse_depthwise_conv_s8/brle-unrolled": C.Cost(C.SPARSE),
             "tfc_sparse_depthwise_conv_s8/dw-taps": C.Cost(C.SPARSE),
             "tfc_sparse_depthwise_conv_s8/dw-taps-lut": C.Cost(C.SPARSE)}
    priority = 31
    depthwise = True
    in_place = (0,)     # each four-channel group is copied to scratch before its outputs are written

    def decline(self, node):
        if node.attrs["dilation"] != [1, 1]:
            return "dilated"
        if not (npar.is_depthwise(node) and node.inputs[1].shape[0] == node.attrs["group"]):
            return "not a depthwise conv with channel multiplier 1"
        return _sparse_weight(node)

    def scratch_bytes(self, node, p, build, lean=False):
        x, w, y = node.inputs[0], node.inputs[1], node.output
        return depthwise_scratch_bytes(x.shape, w.shape, y.shape, node.attrs["stride"], node.attrs["pad"])

    def args(self, lw, i, node, p):
        return depthwise_args(lw, i, node, p)


@register_kernel
class SparseFullyConnected(FullyConnected):
    """tfc_sparse_fully_connected_s8: a linear layer whose weight carries a SparseLayout."""

    name = "sparse_fc"
    function = "tfc_sparse_fully_connected_s8"
    sources = SparseConv.sources
    # by encoding: a fitted correction over the SparseEngine cost model (nas.kernel_costs)
    costs = {"tfc_sparse_fully_connected_s8/brle": C.Cost(C.SPARSE, (1.0268, 0.0, 292.4523)),
             "tfc_sparse_fully_connected_s8/brle-unrolled": C.Cost(C.SPARSE, (1.0641, 0.0, 298.4877)),
             "tfc_sparse_fully_connected_s8/dw-taps": C.Cost(C.SPARSE),
             "tfc_sparse_fully_connected_cells_s8/brle": C.Cost(C.SPARSE, (1.0268, 0.0, 292.4523)),
             "tfc_sparse_fully_connected_cells_s8/brle-unrolled": C.Cost(C.SPARSE, (1.0641, 0.0, 298.4877))}
    template = "sparse"
    priority = 30
    reads_cells = True
    writes_cells = True   # generated code only (_cells_output)

    def decline(self, node):
        return _sparse_weight(node) or _cells_input(node, linear=True) or _cells_output(node, conv=False)

    def c_function(self, node, p, lean=False):
        return "tfc_sparse_fully_connected_cells_s8" if cells.block_of(node.inputs[0]) else self.function

    def run(self, node, inputs, p):
        return [output_as_stored(node, self.run_plain(node, inputs, p))]

    def run_plain(self, node, inputs, p) -> np.ndarray:
        return super().run(node, [_plain_input(node, inputs[0]), *inputs[1:]], p)[0]

    def scratch_bytes(self, node, p, build, lean=False):
        x, w = node.inputs[0], node.inputs[1]
        if cells.block_of(x):
            return 0
        depth = w.shape[1]
        return fc_scratch_bytes(x.type.size // depth, depth, w.sparse.block)

    def args(self, lw, i, node, p):
        return sparse_args(lw, i, node, False, p)


def flash_bound(layer: SparseLayer) -> int:
    """The encoding's promise: nnz x (1 + 1/B) + the per-row records (escapes on top)."""
    nnz = layer.encoded.nonzero_blocks * layer.block
    from tfc.sparse.layer import RECORD_BYTES
    return math.floor(nnz * (1 + 1 / layer.block)) + RECORD_BYTES * (layer.rows + 1) \
        + layer.encoded.escapes * (layer.block + 1)
