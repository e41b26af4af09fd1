"""Rendering a lowered model into the files of a C project (jinja2, StrictUndefined).

Templates get the typed records of tfc.backends.cmsis.layers and format them themselves; the
filters below only spell numbers as C literals.
"""
from __future__ import annotations

import math
from pathlib import Path

import jinja2
import numpy as np

from tfc.kernels import registered_kernels
from tfc.kernels.lowering import LoweredModel
from tfc.targets.cortex_m.project import project_support

TEMPLATES = Path(__file__).parent / "templates"
RUNTIME = Path(__file__).parent / "runtime"


def c_int(v: int) -> str:
    """An integer literal valid for int32_t (INT32_MIN has no literal of its own)."""
    v = int(v)
    return "(-2147483647 - 1)" if v == -(1 << 31) else str(v)


def c_float(v: float) -> str:
    """A float literal that reads back as the same float32."""
    f = np.float32(v)
    if not math.isfinite(f):
        raise ValueError(f"no C literal for {v!r}")
    for digits in range(6, 10):
        text = f"{float(f):.{digits}g}"
        if np.float32(text) == f:
            break
    if "e" not in text and "." not in text:
        text += ".0"
    return text + "f"


def inline_templates() -> dict[str, str]:
    """The templates kernels keep beside their Python (`Kernel.template_source`), by the name
    lowering gives their layers (`Kernel.template_name`)."""
    inline = {}
    for kernel in registered_kernels():
        if kernel.template_source is None:
            continue
        name = kernel.template_name
        if (TEMPLATES / name).exists() or name in inline:
            raise ValueError(f"kernel {kernel.name}: its inline template {name} would hide another template")
        inline[name] = kernel.template_source
    return inline


def environment() -> jinja2.Environment:
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(TEMPLATES)), jinja2.DictLoader(inline_templates())])
    env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["c_int"] = c_int
    env.filters["c_float"] = c_float
    return env


def runtime_files(model: LoweredModel) -> tuple[list[str], list[str], list[str]]:
    """What the model's project copies from the runtime, sorted by name: (every header, the
    sources of tfc's CMSIS-NN functions, which CMSIS_NN_ROOT replaces, and the tfc-only ones).
    Only the sources its layers' kernels name (Kernel.sources), so a build compiles nothing else."""
    headers = sorted(p.name for p in (RUNTIME / "include").glob("*.h"))
    for name in model.sources:
        if not (RUNTIME / "src" / name).is_file():
            kernels = sorted(k.name for k in registered_kernels() if name in k.sources)
            raise ValueError(f"kernel {', '.join(kernels)} names the runtime source {name}, which "
                             f"{RUNTIME / 'src'} lacks")
    sources = model.sources
    return headers, [s for s in sources if not s.startswith("tfc_")], [s for s in sources if s.startswith("tfc_")]


def render(model: LoweredModel, *, target: str, graph_name: str, version: str) -> dict[str, str]:
    """Relative path -> text of every generated file (the runtime sources are copied separately)."""
    _, cmsis_sources, tfc_sources = runtime_files(model)
    env = environment()
    # A Cortex-M target's project also builds bare-metal: tfc's start-up code, linker script, driver.
    support = project_support(target)
    context = dict(model=model, target=target, graph_name=graph_name, version=version,
                   cmsis_sources=cmsis_sources, tfc_sources=tfc_sources, support=support)
    files = {"model.h": "model.h.j2", "model.c": "model.c.j2", "weights.h": "weights.h.j2",
             "weights.c": "weights.c.j2", "main_host.c": "main_host.c.j2", "Makefile": "Makefile.j2",
             "CMakeLists.txt": "CMakeLists.txt.j2"}
    if support is not None:
        files["main_target.c"] = "main_target.c.j2"
        files[f"target/{support.target.name}.cmake"] = "toolchain.cmake.j2"
    texts = {path: env.get_template(template).render(**context) for path, template in files.items()}
    if support is not None:
        texts.update(support.files)
    return texts
