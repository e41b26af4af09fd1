"""Passes over the IR and the manager that runs them (see docs/writing-a-pass.md)."""
from tfc.passes.base import (Declined, Pass, PassContext, PassResult, get_pass,  # noqa: F401
                             register_pass, registered_passes)
from tfc.passes.instruments import DumpIR, Instrument, PassTiming, RunInfo, Timing, VerifyEach  # noqa: F401
from tfc.passes.pipeline import (DESIGN_ORDER, default_pipeline, format_pipeline,  # noqa: F401
                                 parse_pipeline)
from tfc.passes.manager import PassManager, PipelineRun, run_pipeline  # noqa: F401

# Built-in passes register on import.
from tfc.passes import canonicalize  # noqa: F401,E402
from tfc.passes import quantize_int8  # noqa: F401,E402
from tfc.passes import fuse  # noqa: F401,E402
from tfc.passes import plan_memory  # noqa: F401,E402
from tfc.passes import sparsify  # noqa: F401,E402
from tfc.passes import tile  # noqa: F401,E402
