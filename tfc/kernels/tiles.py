"""Fused-tile (patch-based) execution, MCUNetV2 style: a run of consecutive layers computed band
by band of output rows instead of layer by layer.

A *region* is consecutive nodes (in execution order) whose kernels run on a band of rows
(`Kernel.band_rows`). Its last node's output is split into bands of whole rows; for each band,
walking the region backwards gives the rows of every value the band needs, halos included (the
neighbouring band computes those rows again: the extra MACs). The C runs the whole region for
band 0, then band 1, ...; a value inside the region only ever holds one band's rows (its *band
buffer*), while the region's inputs and its output are whole tensors. Every kernel call is the
untiled kernel on a sub-tensor: a pointer to the band's first row, the band's height and the top
padding left at that row, so each output row is the same integers as in the untiled build.

The choice lives in the IR as node meta (printed and parsed with the dumps): every node of a
region has meta["tile-region"] (its name), the last one meta["tile-bands"] (the output's band
boundaries [0, b1, ..., H]) and meta["tile-order"]: bands top-down or bottom-up. The `tile` pass
chooses; lowering and the planner read it here.

The region's output may share its input's bytes (when the input dies in the region): band by
band the input's rows die and the output's rows are born. The output is placed at the highest
offset inside the input where no band writes a row that a later band still reads; bottom-up
bands let it sit at the input's end, which leaves the input's low bytes free for the next
layers (first-fit planners fill from offset 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

from tfc.errors import TfcError
from tfc.ir.graph import Graph, Node, Value
from tfc.kernels.base import TILE_REGION_KEY
from tfc.memory.liveness import TiledSpan

REGION_KEY = TILE_REGION_KEY
BANDS_KEY = "tile-bands"
ORDER_KEY = "tile-order"      # "top-down" (the default) or "bottom-up"
ORDERS = ("top-down", "bottom-up")
REUSE_KEY = "tile-reuse"      # true: keep halo rows between bands (no extra MACs)

Rows = tuple[int, int]


def row_bytes(v: Value) -> int:
    """Bytes of one row of an NHWC activation of batch 1."""
    return int(v.shape[2]) * int(v.shape[3]) * v.type.nbytes // max(1, v.type.size)


@dataclass(frozen=True)
class Band:
    """One band. `rows`: value name -> the rows [lo, hi) of it the band holds (a value inside the
    region: its band buffer's rows, from the buffer's start) or reads (a whole input). `computed`:
    the rows of each value the band computes (all of `rows` when halos are recomputed; with
    reuse, only rows no earlier band computed). `moves`: (value name, first row kept, rows kept):
    before the band, the rows an earlier band computed and this one still reads slide from that
    row of the buffer to its start."""

    rows: Mapping[str, Rows]
    computed: Mapping[str, Rows]
    moves: tuple[tuple[str, int, int], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "rows", MappingProxyType(dict(self.rows)))
        object.__setattr__(self, "computed", MappingProxyType(dict(self.computed)))


@dataclass(frozen=True, eq=False)
class TiledRegion:
    name: str
    nodes: tuple[Node, ...]
    first: int                     # step (index in execution order) of its first node
    inputs: tuple[Value, ...]      # activations read from outside the region, whole
    output: Value                  # the last node's output, whole, written band by band
    bands: tuple[Band, ...]        # in execution order
    order: str                     # "top-down" or "bottom-up"
    overlay: int | None            # the output's offset inside inputs[0]'s bytes, if it shares them
    reuse: bool = False            # halo rows kept from the band before instead of recomputed

    @property
    def last(self) -> int:
        return self.first + len(self.nodes) - 1

    @property
    def inner(self) -> tuple[Value, ...]:
        """The values that live only inside the region (one band at a time)."""
        return tuple(n.output for n in self.nodes[:-1])

    def band_bytes(self, v: Value) -> int:
        return max((b.rows[v.name][1] - b.rows[v.name][0] for b in self.bands if v.name in b.rows),
                   default=0) * row_bytes(v)

    @property
    def boundaries(self) -> tuple[int, ...]:
        return tuple(sorted(b.rows[self.output.name][0] for b in self.bands)) + (int(self.output.shape[1]),)

    def extra_macs(self) -> int:
        """MACs the bands compute beyond the untiled layers (the halo rows computed twice)."""
        extra = 0
        for node in self.nodes:
            h = int(node.output.shape[1])
            computed = sum(b.computed[node.output.name][1] - b.computed[node.output.name][0]
                           for b in self.bands if node.output.name in b.computed)
            extra += node.spec.macs(node) * (computed - h) // h
        return extra

    def span(self) -> TiledSpan:
        return TiledSpan(self.first, self.last, {v.name: self.band_bytes(v) for v in self.inner},
                         tuple(v.name for v in (*self.inputs, self.output)),
                         None if self.overlay is None else (self.output.name, self.inputs[0].name, self.overlay),
                         self.reuse)

    def describe(self) -> str:
        """The region, then each band's rows of every value (output first), for the dumps."""
        bounds = self.boundaries
        heights = sorted({b - a for a, b in zip(bounds, bounds[1:])})
        return (f"tiled region {self.name}: layers {self.first}..{self.last} ({', '.join(n.name for n in self.nodes)}) "
                f"run in {len(self.bands)} bands ({self.order}{', halo rows kept' if self.reuse else ''}) of "
                f"{'/'.join(map(str, heights))} rows of "
                f"{self.output.ref} {list(self.output.shape)}; band buffers "
                + ", ".join(f"{v.ref} {self.band_bytes(v)} B" for v in self.inner)
                + f"; {self.extra_macs():,} extra MACs"
                + ("" if self.overlay is None else
                   f"; the output overwrites the consumed rows of {self.inputs[0].ref} from byte {self.overlay}")
                + "".join(f"\n  band {k + 1}: " + ", ".join(f"%{name} rows {lo}..{hi - 1}" for name, (lo, hi) in b.rows.items())
                          for k, b in enumerate(self.bands)))


KernelOf = Callable[[Node], object]   # node -> (kernel, params)


def band_schedule(nodes: Sequence[Node], boundaries: Sequence[int], kernel_of, *,
                  reuse: bool = False) -> tuple[Band, ...] | str:
    """The rows every value needs, band by band, for output bands [b_i, b_i+1) taken top-down; or
    why the nodes cannot run in bands. `kernel_of(node)` gives (kernel, params). reuse: a band
    computes only the rows of each value that no earlier band computed, and keeps the halo rows
    it shares with the band before (no extra MACs; the band buffers hold the union)."""
    output = nodes[-1].output
    inside = {id(n.output) for n in nodes}
    held: dict[int, Rows] = {}   # reuse: the rows each band buffer holds after the bands so far
    bands = []
    for lo, hi in zip(boundaries, boundaries[1:]):
        need: dict[int, Rows] = {id(output): (lo, hi)}
        rows: dict[str, Rows] = {}
        computed: dict[str, Rows] = {}
        moves = []
        for node in reversed(nodes):
            v = node.output
            r = need.get(id(v))
            if r is None:
                continue   # this band does not need the node
            rows[v.name] = r
            new = r
            if reuse and v is not output:
                h0, h1 = held.get(id(v), (r[0], r[0]))
                if r[0] < h0:
                    return f"{node.name}: band rows {r} go back before rows kept ({h0}): bands must move one way"
                if r[0] < h1:
                    moves.append((v.name, r[0] - h0, h1 - r[0]))
                new = (max(r[0], h1), r[1])
                held[id(v)] = rows[v.name] = (r[0], max(h1, r[1]))
            if new[0] >= new[1]:
                continue   # every row it needs is kept from the band before
            computed[v.name] = new
            kernel, params = kernel_of(node)
            ins = kernel.band_rows(node, params, new)
            if ins is None:
                return f"{node.name} ({node.op}, kernel {kernel.name}) does not run on bands of rows"
            acts = [x for x in node.inputs if x.data is None]
            for x, (a, b) in zip(acts, ins):
                if a >= b:
                    continue
                old = need.get(id(x))
                need[id(x)] = (a, b) if old is None else (min(old[0], a), max(old[1], b))
                if id(x) not in inside:
                    rows[x.name] = need[id(x)]
        bands.append(Band(rows, computed, tuple(m for m in moves if m[1] > 0)))
    return tuple(bands)


def region_problem(graph: Graph, nodes: Sequence[Node]) -> str | None:
    """Why `nodes` (consecutive in execution order) cannot be one tiled region, or None."""
    members = {id(n) for n in nodes}
    outputs = {id(v) for v in graph.outputs}
    for node in nodes:
        for v in (*node.inputs, node.output):
            if v.data is None and (len(v.shape) != 4 or v.shape[0] != 1):
                return f"{node.name} ({node.op}) reads or writes {v.ref} {list(v.shape)}, not an NHWC tensor of batch 1"
    for node in nodes[:-1]:
        v = node.output
        if id(v) in outputs or any(id(u) not in members for u, _ in v.uses):
            return f"{v.ref} (from {node.name}) is read after the region: only its last layer's output may leave it"
    return None


def _overlay_offset(graph: Graph, nodes: Sequence[Node], inputs: Sequence[Value], output: Value,
                    bands: Sequence[Band], alignment: int = 16) -> int | None:
    """Where the output may sit inside the (single) input's bytes, or None: the input dies in the
    region, and no band writes output bytes over input rows that a later band reads. The highest
    such aligned offset that keeps the output inside the input, else 0 if that is safe."""
    if len(inputs) != 1:
        return None
    x = inputs[0]
    members = {id(n) for n in nodes}
    if any(x is v for v in graph.outputs) or any(id(u) not in members for u, _ in x.uses):
        return None
    if any(v is x for v in nodes[-1].inputs):
        return None   # the last layer would read the input while it writes the output
    rx, ro = row_bytes(x), row_bytes(output)
    spans = [(b.rows[output.name], b.rows.get(x.name)) for b in bands]

    def safe(d: int) -> bool:
        for k, ((a, b), _) in enumerate(spans):
            w0, w1 = d + a * ro, d + b * ro
            if any(r is not None and w0 < r[1] * rx and r[0] * rx < w1 for _, r in spans[k + 1:]):
                return False
        return True
    top = (x.type.nbytes - output.type.nbytes) // alignment * alignment
    for d in ((top, 0) if top > 0 else (0,)):
        if safe(d):
            return d
    return None


def make_region(graph: Graph, nodes: Sequence[Node], boundaries: Sequence[int], kernel_of, *,
                name: str = "tile0", order: str = "top-down", reuse: bool = False) -> TiledRegion | str:
    """The region of `nodes` with output bands `boundaries` run in `order` (reuse: keeping halo
    rows, top-down only), or why it cannot be one."""
    if order not in ORDERS:
        return f"band order {order!r} is not one of {', '.join(ORDERS)}"
    if reuse and order != "top-down":
        return "bands that keep their halo rows run top-down"
    problem = region_problem(graph, nodes)
    if problem:
        return problem
    h = int(nodes[-1].output.shape[1])
    bounds = list(boundaries)
    if len(bounds) < 3 or bounds[0] != 0 or bounds[-1] != h or any(a >= b for a, b in zip(bounds, bounds[1:])):
        return f"band boundaries {bounds} do not split the {h} rows of {nodes[-1].output.ref} into 2 or more bands"
    bands = band_schedule(nodes, bounds, kernel_of, reuse=reuse)
    if isinstance(bands, str):
        return bands
    if order == "bottom-up":
        bands = bands[::-1]
    inside = {id(n.output) for n in nodes}
    inputs: dict[int, Value] = {}
    for node in nodes:
        for v in node.inputs:
            if v.data is None and id(v) not in inside:
                inputs.setdefault(id(v), v)
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    first = index[id(nodes[0])]
    ins, out = tuple(inputs.values()), nodes[-1].output
    return TiledRegion(name, tuple(nodes), first, ins, out, bands, order,
                       _overlay_offset(graph, nodes, ins, out, bands), reuse)


def find_regions(graph: Graph, kernel_of) -> tuple[TiledRegion, ...]:
    """The regions the IR's meta asks for, in execution order. A region whose nodes are not
    consecutive (a reordering interleaved another node) runs untiled; bad meta is an error."""
    groups: dict[str, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        name = node.meta.get(REGION_KEY)
        if name is not None:
            groups.setdefault(str(name), []).append(i)
    regions = []
    for name, steps in groups.items():
        if steps != list(range(steps[0], steps[-1] + 1)):
            continue
        nodes = [graph.nodes[i] for i in steps]
        bounds = nodes[-1].meta.get(BANDS_KEY)
        if not isinstance(bounds, list):
            raise TfcError(f"tiled region {name}: its last node {nodes[-1].name} has no {BANDS_KEY} meta",
                           hint="let the tile pass set the region, or remove the tile-region meta")
        region = make_region(graph, nodes, bounds, kernel_of, name=name,
                             order=str(nodes[-1].meta.get(ORDER_KEY, ORDERS[0])),
                             reuse=bool(nodes[-1].meta.get(REUSE_KEY, False)))
        if isinstance(region, str):
            raise TfcError(f"tiled region {name}: {region}", node=nodes[-1].name,
                           hint="let the tile pass set the region, or remove the tile-region meta")
        regions.append(region)
    return tuple(regions)


def mark_region(nodes: Sequence[Node], boundaries: Sequence[int], order: str = "top-down",
                name: str = "tile0", reuse: bool = False) -> None:
    for node in nodes:
        node.meta[REGION_KEY] = name
    nodes[-1].meta[BANDS_KEY] = [int(b) for b in boundaries]
    nodes[-1].meta[ORDER_KEY] = order
    if reuse:
        nodes[-1].meta[REUSE_KEY] = True


def clear_regions(graph: Graph, name: str | None = None) -> bool:
    """Remove the meta of every region (or of the region `name`); whether there was any."""
    nodes = [n for n in graph.nodes if name is None or n.meta.get(REGION_KEY) == name]
    had = any(REGION_KEY in n.meta for n in nodes)
    for node in nodes:
        node.meta.pop(REGION_KEY, None)
        node.meta.pop(BANDS_KEY, None)
        node.meta.pop(ORDER_KEY, None)
        node.meta.pop(REUSE_KEY, None)
    return had
