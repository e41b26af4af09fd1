"""The int8 kernels, one registered object each (tfc.kernels.base.Kernel): which nodes they run,
their integer parameters, numpy twins, C functions, templates, scratch and in-place rules.

    from tfc.kernels import select
    kernel = select(node)                      # or an UnsupportedError with every kernel's reason
    kernel.evaluate(node, inputs)              # the int8 outputs, bit-exact with the C

Importing the package registers the kernels: every module of this package but the registry's own
machinery is a kernel module and is imported here, so a new kernel is one new module (its C
template may be inline: `Kernel.template_source`), with no edit to a list anywhere.
"""
import importlib
import pkgutil

from tfc.kernels.base import (Kernel, get_kernel, kernels_for, register_kernel, registered_kernels,  # noqa: F401
                              select)

# The registry and what lowering needs around it; they define no kernel.
_MACHINERY = frozenset({"base", "buffer_sizes", "cost", "lowering", "records", "tiles"})


def _import_kernel_modules() -> None:
    # Sorted names: registration order (the tie-break among kernels of equal priority) is fixed.
    for name in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if name not in _MACHINERY and not name.startswith("_"):
            importlib.import_module(f"{__name__}.{name}")


_import_kernel_modules()
