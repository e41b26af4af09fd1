"""The int8 kernels, one registered object each (tfc.kernels.base.Kernel): which nodes they run,
their integer parameters, numpy twins, C functions, templates, scratch and in-place rules.

    from tfc.kernels import select
    kernel = select(node)                      # or an UnsupportedError with every kernel's reason
    kernel.evaluate(node, inputs)              # the int8 outputs, bit-exact with the C

Importing the package registers the built-in kernels.
"""
from tfc.kernels.base import (Kernel, get_kernel, kernels_for, register_kernel, registered_kernels,  # noqa: F401
                              select)
from tfc.kernels import conv, elementwise, movement, ort, pool, sparse, transformer  # noqa: F401,E402
