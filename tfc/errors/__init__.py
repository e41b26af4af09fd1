"""tfc's error types: every failure a user can cause ends in one of these.

Each error carries where it happened (file, node, op) and what to do about it, so the CLI can
print one clear message and exit with code 2 instead of a traceback.
"""
from __future__ import annotations


class TfcError(Exception):
    """Base class of every error tfc reports to a user."""

    def __init__(self, message: str, *, file: str | None = None, node: str | None = None,
                 op: str | None = None, hint: str | None = None):
        self.message = message
        self.file = file
        self.node = node
        self.op = op
        self.hint = hint
        super().__init__(self.format())

    def format(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.node:
            where.append(f"node '{self.node}'")
        if self.op:
            where.append(f"op {self.op}")
        text = self.message
        if where:
            text = f"{', '.join(where)}: {text}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ModelLoadError(TfcError):
    """The model file is missing, not ONNX, truncated or malformed."""


class UnsupportedError(TfcError):
    """The model uses something tfc does not support (an op, an attribute value, an opset)."""


class ShapeError(TfcError):
    """Shapes are dynamic, inconsistent, or cannot be inferred."""


class VerificationError(TfcError):
    """The IR broke one of its invariants (a bug in a pass, or a malformed hand-written IR)."""


class ParseError(TfcError):
    """The .tfcir text could not be parsed."""


class PassError(TfcError):
    """A pass failed; `reproducer` names the file holding the IR it failed on."""

    def __init__(self, message: str, *, reproducer: str | None = None, **kw):
        self.reproducer = reproducer
        super().__init__(message, **kw)


class QuantizationError(TfcError):
    """The model cannot be quantized as asked (no or bad calibration data, NaN/inf, ...)."""


class TargetError(TfcError):
    """Unknown target, or the model does not fit the target's flash/SRAM."""


class BuildError(TfcError):
    """The generated C project failed to build or run."""


class OutputError(TfcError):
    """The output folder cannot be written as asked: not empty and not a tfc project, not a
    folder, read-only, or it would replace the input model."""
