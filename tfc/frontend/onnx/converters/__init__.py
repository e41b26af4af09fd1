"""ONNX op converters, one module per op family. Importing this package registers them all."""
from tfc.frontend.onnx.converters import elementwise, nn, quant, shape, tensor  # noqa: F401
