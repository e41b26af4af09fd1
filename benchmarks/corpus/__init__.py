"""The model corpus: MCU-sized models from transformers, Keras and onnxruntime's quantizer,
built in their own venv (setup.sh, build.py) and judged through tfc against their oracles (run.py)."""
