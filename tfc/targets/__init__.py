"""The machines tfc compiles for, as data (`Target`, `TARGETS`), and, in tfc.targets.cortex_m,
building, running and measuring C on them without a board.

This package's top level loads only the target table: importing it does not pull in the
Cortex-M build tools.
"""
from tfc.targets.target import ISAS, MPU_FORMS, TARGETS, QemuMachine, Target, emulated_target_names

__all__ = ["ISAS", "MPU_FORMS", "QemuMachine", "TARGETS", "Target", "emulated_target_names"]
