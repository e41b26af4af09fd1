"""The NAS's user-facing errors. They are TfcErrors, so `tfc-nas` prints one message and exits 2."""
from __future__ import annotations

from tfc.errors import TfcError


class NasError(TfcError):
    """Base of every error the search reports to a user."""


class DataError(NasError):
    """A data set is missing, malformed, or names an unknown source."""


class BudgetError(NasError):
    """No sub-network of the search space meets the flash/SRAM budget."""


class ResumeError(NasError):
    """A run directory holds a different run (other config) or a damaged checkpoint."""


class ConfigError(NasError):
    """The config file or a command-line option is malformed."""
