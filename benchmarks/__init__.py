"""Benchmarks of tfc's runtime on the emulated Cortex-M7 (instruction counts, not time)."""
