"""Running tfc's C on its targets without a board: build, run, measure (see tfc.targets.cortex_m)."""
