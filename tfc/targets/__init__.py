"""Targets: the machines tfc compiles for, as data (tfc.targets.target), and running tfc's C on
them without a board: build, run, measure (tfc.targets.cortex_m, imported on its own)."""
from tfc.targets.target import KiB, MiB, TARGETS, Target  # noqa: F401
