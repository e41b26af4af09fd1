"""Frontends: turn models from other formats into tfc IR graphs."""
from tfc.frontend.onnx import import_onnx  # noqa: F401
