"""Data shipped with tfc: the demo model (see README.md in this folder for its provenance)."""
from pathlib import Path

DATA_DIR = Path(__file__).parent
DEMO_MODEL = DATA_DIR / "pretrainedResnet_quant.onnx"
