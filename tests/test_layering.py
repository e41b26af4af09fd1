"""The package layering of DESIGN.md, checked on the source:

    tfc.ir <- tfc.quant / tfc.memory / tfc.sparse <- tfc.kernels <- tfc.interp / tfc.frontend
           <- tfc.passes <- tfc.backends <- tfc.compiler / tfc.bench / tfc.cli

- no import cycle between packages, counting imports inside functions (a module directly under
  tfc/ counts as the package `tfc`, as the project's before-stop hook counts it);
- `import tfc.ir.graph` loads only the IR and tfc.errors;
- no set, list, tuple or dict of op names outside tfc/ir/ops and tfc/kernels (in tfc/ and nas/):
  facts about ops live on their definitions (traits) and facts about kernels in the kernel
  registry.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tfc.ir.ops  # noqa: F401  (registers the ops whose names the last test looks for)
from tfc.ir.ops import registered_ops

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tfc"


def _modules(package: Path = PACKAGE):
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_init = parts[-1] == "__init__"
        if is_init:
            parts = parts[:-1]
        yield path, ".".join(parts), (parts if is_init else parts[:-1]), ast.parse(path.read_text())


def _imports(tree, package: list[str]):
    """Every tfc module a tree imports, wherever the import statement stands."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                targets = [".".join(base + ([node.module] if node.module else []))]
            else:
                targets = [node.module] if node.module else []
        else:
            continue
        yield from (t for t in targets if t == "tfc" or t.startswith("tfc."))


def _unit(module: str) -> str:
    parts = module.split(".")
    return "tfc" if len(parts) == 1 else "tfc." + parts[1]


def _package_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for _, module, package, tree in _modules():
        for target in _imports(tree, package):
            a, b = _unit(module), _unit(target)
            if a != b:
                edges.setdefault(a, set()).add(b)
    return edges


def _cycles(edges) -> list[tuple[str, str]]:
    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen
    return sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in reach(b)})


def test_no_import_cycle_between_packages():
    cycles = _cycles(_package_edges())
    assert not cycles, "package import cycles: " + "; ".join(f"{a} <-> {b}" for a, b in cycles)


def test_the_scan_sees_imports_inside_functions():
    tree = ast.parse("def f():\n    from tfc.backends.cmsis import project\n")
    assert list(_imports(tree, ["tfc", "passes"])) == ["tfc.backends.cmsis"]
    assert _cycles({"tfc.a": {"tfc.b"}, "tfc.b": {"tfc.a"}}) == [("tfc.a", "tfc.b")]


def test_the_ir_loads_alone():
    code = "import sys, tfc.ir.graph; print(' '.join(sorted(m for m in sys.modules if m.startswith('tfc'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    loaded = out.split()
    stray = [m for m in loaded if m != "tfc" and not m.startswith(("tfc.ir", "tfc.errors"))]
    assert not stray, f"import tfc.ir.graph loaded {stray}"


def _op_name_collections(tree, ops: set[str]):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Set, ast.List, ast.Tuple)):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        else:
            continue
        names = [e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if len(names) >= 2 and len(names) == len(items) and all(n in ops for n in names):
            yield node.lineno, names


# Rewrite rules whose pattern is a small graph of named ops (the rule itself, not a fact about
# the ops): the decomposed attention and GELU the exporters write, matched as mul-or-div.
PATTERN_RULES = ("tfc.passes.fusion.attention", "tfc.passes.fusion.gelu")


def test_no_op_name_lists_outside_the_ops_and_the_kernel_registry():
    ops = set(registered_ops())
    found = []
    for path, module, _, tree in [*_modules(), *_modules(ROOT / "nas")]:
        if module.startswith(("tfc.ir.ops", "tfc.kernels")) or module in PATTERN_RULES:
            continue
        found += [f"{path.relative_to(ROOT)}:{line}: {names}" for line, names in _op_name_collections(tree, ops)]
    assert not found, "op-name collections outside tfc/ir/ops and tfc/kernels:\n" + "\n".join(found)


def test_the_op_name_scan_finds_a_list():
    tree = ast.parse('MOVERS = ("reshape", "transpose")\nOK = ("reshape", "a file")\n')
    assert [n for _, n in _op_name_collections(tree, {"reshape", "transpose"})] == [["reshape", "transpose"]]
