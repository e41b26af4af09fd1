"""tfc, the TinyFormer compiler: ONNX to CMSIS-NN-compatible C for Arm Cortex-M.

    import tfc
    cm = tfc.compile("model.onnx", target="cortex-m7", dump_ir="dumps/")
    print(cm.ir)        # the final IR
    print(cm.report)    # what it costs

The names below load on first use, so `import tfc.ir.graph` loads the IR alone.
"""
import importlib

__version__ = "0.1.0"
__all__ = ["compile", "CompiledModel", "Graph", "Target", "TfcError", "import_onnx", "__version__"]

_LAZY = {"compile": "tfc.compiler", "CompiledModel": "tfc.compiler", "Graph": "tfc.ir.graph",
         "Target": "tfc.targets", "TfcError": "tfc.errors", "import_onnx": "tfc.frontend.onnx"}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfc' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
