"""The ONNX importer (opsets 13..21): `import_onnx(model, input_shapes=..., name=...) -> Graph`."""
from tfc.frontend.onnx.importer import import_onnx  # noqa: F401
