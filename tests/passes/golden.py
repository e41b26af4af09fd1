"""Golden-test helpers: IR text in, IR text expected, and the interpreter as the semantic check.

Constants in the input text need no data section: `parse_with_data` fills each constant with
deterministic random values (integers for integer types), so a test reads like MLIR lit.
"""
from __future__ import annotations

import re
import textwrap

import numpy as np

from tfc import interp
from tfc.ir.text import encode_data, parse_graph, print_graph
from tfc.ir.types import DType

_CONST = re.compile(r"^\s*const @([A-Za-z0-9_.]+) : ([a-z0-9]+)\[([0-9,]*)\]", re.M)


def parse_with_data(text: str, seed: int = 0, overrides: dict | None = None):
    """Parse IR text whose constants have no data: each gets seeded random values."""
    text = textwrap.dedent(text).strip() + "\n"
    rng = np.random.default_rng(seed)
    lines = ["data {"]
    for name, dtype, dims in _CONST.findall(text):
        shape = tuple(int(d) for d in dims.split(",") if d)
        dt = DType(dtype)
        if overrides and name in overrides:
            array = np.asarray(overrides[name], dtype=dt.numpy).reshape(shape)
        elif dt.is_float:
            array = rng.uniform(0.5, 1.5, shape).astype(dt.numpy)
        else:
            array = rng.integers(-100, 100, shape).astype(dt.numpy)
        lines.append(f"  @{name} = {encode_data(array)}")
    lines.append("}")
    return parse_graph(text + ("\n".join(lines) + "\n" if len(lines) > 2 else ""))


def body(graph) -> str:
    """The printed graph without data, for comparing with an expected text."""
    return print_graph(graph, with_data=False).strip()


def normalize(text: str) -> str:
    return textwrap.dedent(text).strip()


def random_inputs(graph, seed: int = 1):
    rng = np.random.default_rng(seed)
    arrays = []
    for v in graph.inputs:
        if v.dtype.is_float:
            arrays.append(rng.standard_normal(v.shape).astype(v.dtype.numpy))
        else:
            info = np.iinfo(v.dtype.numpy)
            arrays.append(rng.integers(max(info.min, -128), min(info.max, 127) + 1, v.shape).astype(v.dtype.numpy))
    return arrays


def assert_same_results(before, after, *, seeds=(1, 2, 3), atol: float = 1e-5, exact: bool = False):
    """Run both graphs on the same random inputs; say which output differed and by how much."""
    for seed in seeds:
        xs = random_inputs(before, seed)
        want, got = interp.run(before, xs), interp.run(after, xs)
        assert len(want) == len(got), f"{len(want)} outputs before, {len(got)} after"
        for i, (w, g) in enumerate(zip(want, got)):
            assert w.shape == g.shape, f"output {i}: shape {w.shape} before, {g.shape} after"
            diff = np.abs(w.astype(np.float64) - g.astype(np.float64))
            worst = np.unravel_index(int(diff.argmax()), diff.shape) if diff.size else ()
            limit = 0.0 if exact else atol * (1 + np.abs(w.astype(np.float64)).max(initial=0))
            assert diff.max(initial=0) <= limit, (
                f"output {i} (seed {seed}): max |diff| {diff.max():.3g} at {worst} "
                f"(before {w[worst]}, after {g[worst]}), allowed {limit:.3g}")
