"""Hypothesis profiles for the tfc.quant tests (same names as tests/backends/cmsis)."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_CI_EXAMPLES = int(os.environ.get("TFC_HYPOTHESIS_EXAMPLES", "60"))
settings.register_profile("ci", max_examples=_CI_EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("slow", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
