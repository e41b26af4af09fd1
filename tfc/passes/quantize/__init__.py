"""The quantize-int8 transformation: post-training calibration (ptq), legalization and the
lowering of a quantized float graph to the int8 IR (lower), for the quantize-int8 pass."""
