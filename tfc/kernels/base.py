"""Kernel: everything tfc knows about one int8 kernel, in one registered object.

A kernel says which IR nodes it runs (its `ops`, and `decline(node)`: the reason it does not run
a given node, or None), how its integer parameters are derived (`params`), what it computes in
numpy, bit-exact with its C (`run`), its C function, argument record and template, the runtime
C files that define that function (`sources`), its scratch rule (by the target's ISA) and which
inputs it may overwrite. Lowering, the interpreter, the memory planner, fusion decisions, the C
backend and nas/ all ask `select(node)` and then the kernel; nothing else keeps a table keyed by
op name.

Variants of one op (sparse, onnxruntime numerics, a 1x1 fast path) are kernels of their own: the
registry tries the kernels of an op by `priority` (highest first, then registration order), and
the first that does not decline runs the node.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from tfc.errors import UnsupportedError
from tfc.ir.graph import Node
from tfc.ir.ops import get_op
from tfc.sparse import cells


class Kernel:
    """Base class of int8 kernels. Subclasses set `name` (the family shown in reports), `ops`,
    `function` and implement `params`, `run` and `args`; see the module docstring."""

    name: ClassVar[str]
    ops: ClassVar[tuple[str, ...]]
    function: ClassVar[str] = ""        # the C function called ("" for code-free aliases)
    # The runtime's C files (tfc/backends/cmsis/runtime/src) that define the kernel's C functions
    # and every function those call: a generated project compiles only its layers' sources.
    sources: ClassVar[tuple[str, ...]] = ()
    template: ClassVar[str] = ""        # templates/kernels/<template>.c.j2; default: `name`
    # Inline template text, for kernels that keep their call beside their Python (new kernels).
    template_source: ClassVar[str | None] = None
    priority: ClassVar[int] = 0
    # Inputs the kernel may write its output over (it reads each byte before writing it), in order
    # of preference; the planner aliases the output onto one of them when that input dies here.
    in_place: ClassVar[tuple[int, ...]] = ()
    # Whether a scratch-free variant exists (params, lean=True): the planner falls back to it
    # where the fast variant's scratch would grow the arena.
    has_lean_variant: ClassVar[bool] = False
    # Whether the kernel only moves int8 values onto another grid (and clamps): its onnxruntime
    # variant is what a non-TFLite QDQ model means even under TFLite numerics (numerics=auto).
    pure_requantization: ClassVar[bool] = False
    # Whether the kernel's per-channel records in flash hold the requantization multiplier and
    # shift (8 B per output channel), so model.c does not store them for its layers.
    requantization_in_records: ClassVar[bool] = False
    # Cost entries (tfc.kernels.cost.Cost) by the C function they model: what nas/ estimates from.
    costs: ClassVar[dict[str, Any]] = {}
    # The activation layouts the kernel reads and writes where its op names them (OpSpec.layout_attrs):
    # select() passes over a kernel for a node whose layout attributes name another.
    layouts: ClassVar[tuple[str, ...]] = ("nhwc",)
    # Whether the kernel stores its output as the sparse kernels' int16 cells where the node's
    # CELLS_ATTR asks (writes_cells), or reads such an input as its widened image (reads_cells):
    # tfc/sparse/cells.py. select() passes over the others for such nodes.
    writes_cells: ClassVar[bool] = False
    reads_cells: ClassVar[bool] = False

    def decline(self, node: Node) -> str | None:
        """Why this kernel does not run `node` (None: it does)."""
        return None

    def params(self, node: Node) -> Any:
        """The node's integer parameters (None for pure data movement)."""
        return None

    def run(self, node: Node, inputs: Sequence[np.ndarray], params: Any) -> list[np.ndarray]:
        """The numpy twin: the node's int8 outputs, bit-exact with the C kernel."""
        raise NotImplementedError(f"kernel {self.name} has no numpy twin")

    def evaluate(self, node: Node, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The interpreter's entry: parameters, then the twin."""
        return self.run(node, inputs, self.params(node))

    def c_function(self, node: Node, params: Any, lean: bool = False) -> str:
        return self.function

    def scratch_bytes(self, node: Node, params: Any, build: str, lean: bool = False) -> int:
        """Arena bytes of the kernel's scratch buffer for the build ("dsp" or "portable")."""
        return 0

    def lean_saves(self, node: Node, params: Any) -> bool:
        """Whether the lean variant would drop scratch for this node (planner candidates)."""
        return False

    def extra_flash_bytes(self, node: Node) -> int:
        """Flash this kernel's weight form takes beyond the node's int8 constants (pre-widened
        weights: > 0). The lowering gives such layers the next kernel where the target's flash
        would not hold them all."""
        return 0

    def args(self, lw, index: int, node: Node, params: Any):
        """The typed record the template renders (lw: the lowering, for flash constants)."""
        raise NotImplementedError(f"kernel {self.name} has no C lowering")

    def band_rows(self, node: Node, params: Any, rows: tuple[int, int]) -> tuple[tuple[int, int], ...] | None:
        """Fused-tile execution (tfc.kernels.tiles): for output rows [lo, hi), the rows [lo, hi) of
        each activation input (in the order of the layer's inputs) the kernel reads. None: the
        kernel cannot run on a band of rows (the default)."""
        return None

    @property
    def runs_on_bands(self) -> bool:
        """Whether the kernel implements band_rows/band_args (fused-tile execution)."""
        return type(self).band_rows is not Kernel.band_rows

    def band_args(self, args: Any, node: Node, params: Any, in_rows: Sequence[tuple[int, int]],
                  out_rows: tuple[int, int]) -> Any:
        """The call record for one band: `args` with the band's heights and top padding, so the
        kernel computes exactly the untiled output rows `out_rows` from input rows `in_rows`."""
        raise NotImplementedError(f"kernel {self.name} does not run on bands of rows")

    @property
    def template_name(self) -> str:
        return f"kernels/{self.template or self.name}.c.j2"

    def __repr__(self) -> str:
        return f"<kernel {self.name}: {', '.join(self.ops)}>"


class PlannedKernel(Kernel):
    """A kernel whose parameters and decline reason come from one function: `plan(node)` gives
    the parameters, or a string saying why the kernel does not run the node."""

    def plan(self, node: Node) -> Any:
        raise NotImplementedError(f"kernel {self.name} has no plan")

    def decline(self, node: Node) -> str | None:
        plan = self.plan(node)
        return plan if isinstance(plan, str) else None

    def params(self, node: Node) -> Any:
        plan = self.plan(node)
        if isinstance(plan, str):
            raise UnsupportedError(f"no int8 {self.name} kernel: {plan}", node=node.name, op=node.op)
        return plan


_BY_OP: dict[str, list[Kernel]] = {}
_BY_NAME: dict[str, Kernel] = {}


def register_kernel(cls: type[Kernel]) -> type[Kernel]:
    """Class decorator: register a Kernel subclass for its ops."""
    if cls.name in _BY_NAME:
        raise ValueError(f"kernel {cls.name} registered twice")
    kernel = cls()
    _BY_NAME[cls.name] = kernel
    for op in cls.ops:
        kernels = _BY_OP.setdefault(op, [])
        kernels.append(kernel)
        kernels.sort(key=lambda k: -k.priority)   # stable: registration order among equals
    return cls


def kernels_for(op: str) -> tuple[Kernel, ...]:
    """The kernels that may run `op`, in the order `select` tries them."""
    return tuple(_BY_OP.get(op, ()))


def get_kernel(name: str) -> Kernel:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnsupportedError(f"unknown kernel '{name}'", hint=f"kernels: {', '.join(sorted(_BY_NAME))}") from None


def registered_kernels() -> tuple[Kernel, ...]:
    return tuple(_BY_NAME.values())


# The node meta a fused-tile region sets (tfc.kernels.tiles): its nodes run on bands of rows.
TILE_REGION_KEY = "tile-region"
# The node meta naming the kernel a node must run on (benchmarks pin a baseline's kernel with it).
KERNEL_KEY = "kernel"


def layout_decline(kernel: Kernel, node: Node) -> str | None:
    """Why `kernel` cannot read or write the layouts `node` names (None: it can)."""
    keys = get_op(node.op).layout_attrs or ()
    other = [f"{k}={node.attrs[k]}" for k in keys if node.attrs.get(k, "nhwc") not in kernel.layouts]
    return f"reads and writes {'/'.join(kernel.layouts)} only ({', '.join(other)})" if other else None


def decline_reason(kernel: Kernel, node: Node, banded: bool = False) -> str | None:
    """Why `kernel` does not run `node`: the checks select() makes of every kernel, then its own."""
    if banded and not kernel.runs_on_bands:
        return "does not run on bands of rows"
    pinned = node.meta.get(KERNEL_KEY)
    if pinned is not None and pinned != kernel.name:
        return f"the node is pinned to kernel {pinned}"
    return layout_decline(kernel, node) or cells_decline(kernel, node) or kernel.decline(node)


def cells_decline(kernel: Kernel, node: Node) -> str | None:
    """Why `kernel` cannot write or read the int16 cells the node's output or input is stored as."""
    if node.attrs.get(cells.CELLS_ATTR, 0) and not kernel.writes_cells:
        return "writes plain int8 only (the node's output is stored as sparse cells)"
    if not kernel.reads_cells and any(cells.block_of(v) for v in node.inputs):
        return "reads plain int8 only (an input is stored as sparse cells)"
    return None


def select(node: Node, banded: bool | None = None) -> Kernel:
    """The kernel that runs `node`; an UnsupportedError with every candidate's reason otherwise.
    banded: only kernels that run on bands of rows (default: when the node is in a fused-tile
    region), so a faster kernel that cannot leaves such a node to one that can. Only kernels that
    read and write the layouts the node names (Kernel.layouts); only the kernel node.meta["kernel"]
    names, if set."""
    candidates = _BY_OP.get(node.op)
    if not candidates:
        raise UnsupportedError(f"no int8 kernel for op {node.op}", node=node.name, op=node.op)
    if banded is None:
        banded = TILE_REGION_KEY in node.meta
    reasons = []
    for kernel in candidates:
        reason = decline_reason(kernel, node, banded)
        if reason is None:
            return kernel
        reasons.append(f"{kernel.name}: {reason}")
    raise UnsupportedError(f"no int8 kernel runs this {node.op} ({'; '.join(reasons)})",
                           node=node.name, op=node.op)
