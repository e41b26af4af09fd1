"""A kernel's cost entry: instructions per call of one of its C functions on the emulated
Cortex-M7, linear in a few features of the node it runs (nas.kernel_costs.quantities names them:
MACs and outputs for convs and matmuls, elements and rows for softmax/layernorm, ...). Each kernel
keeps its entries in `Kernel.costs`, keyed by the C function (a sparse kernel's by function and
encoding, "tfc_sparse_convolve_s8/brle"); `python -m nas.kernel_costs fit` re-measures them with
`tfc bench` and prints the coefficients to paste here. nas/ reads them through `cost_entries()`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    features: tuple[str, ...]
    coefficients: tuple[float, ...] | None = None    # None: not fitted (the layer counts as unknown)


# The feature sets the kernels' entries use.
CONV = ("macs", "outputs", "pixels", "reads", "slow_rq", "clamped", "one")
MATMUL = ("macs4", "macs1", "outputs", "vectors", "slow_rq", "clamped", "one")
DEPTHWISE = ("valid_taps", "valid_rows", "loop_taps", "loop_rows", "weight_taps", "outputs", "slow_rq", "one")
ROWS = ("elements", "rows", "one")
ELEMENTS = ("elements", "one")
POOL = ("elements", "outputs", "one")
BATCH_MATMUL = ("macs", "outputs", "rows", "one")
SPARSE = ("sparse_model", "outputs", "one")     # a correction over the SparseEngine cost model


def cost_entries() -> dict[str, Cost]:
    """Every registered kernel's cost entries, by C function (and encoding for sparse kernels)."""
    from tfc.kernels.base import registered_kernels
    entries: dict[str, Cost] = {}
    for kernel in registered_kernels():
        for key, cost in kernel.costs.items():
            if key in entries and entries[key] != cost:
                raise ValueError(f"two kernels give {key} different cost entries")
            entries[key] = cost
    return entries
