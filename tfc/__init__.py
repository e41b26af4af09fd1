"""tfc, the TinyFormer compiler: ONNX to CMSIS-NN-compatible C for Arm Cortex-M.

    import tfc
    cm = tfc.compile("model.onnx", target="cortex-m7", dump_ir="dumps/")
    print(cm.ir)        # the final IR
    print(cm.report)    # what it costs
"""
from tfc.errors import TfcError  # noqa: F401
from tfc.ir.graph import Graph  # noqa: F401
from tfc.targets import Target  # noqa: F401
from tfc.compiler import CompiledModel, compile  # noqa: F401,A004

__version__ = "0.1.0"
__all__ = ["compile", "CompiledModel", "Graph", "Target", "TfcError", "import_onnx", "__version__"]


def __getattr__(name):
    # The importer pulls in onnx; load it on first use only.
    if name == "import_onnx":
        from tfc.frontend.onnx import import_onnx
        return import_onnx
    raise AttributeError(f"module 'tfc' has no attribute {name!r}")
