"""The planner's vocabulary: a buffer (size, lifetime, alignment) and a plan (offsets, arena)."""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

DEFAULT_ALIGNMENT = 16  # TFLite Micro and CMSIS-NN align tensors to 16 bytes


def align_up(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


@dataclass(frozen=True)
class Buffer:
    """`size` bytes that must stay intact from step `first` through step `last` (inclusive)."""

    name: str
    size: int
    first: int
    last: int
    alignment: int = DEFAULT_ALIGNMENT
    # Breaks ties between otherwise equal buffers before the name does: graph_buffers gives the
    # value's place in execution order, so two exports of one network that differ only in value
    # names get the same plan (nas/ relies on that: its search and its final model must agree).
    rank: int = 0

    def __post_init__(self):
        if self.size < 0:
            raise ValueError(f"buffer {self.name}: negative size {self.size}")
        if self.first > self.last:
            raise ValueError(f"buffer {self.name}: first step {self.first} after last step {self.last}")
        if self.alignment < 1 or self.alignment & (self.alignment - 1):
            raise ValueError(f"buffer {self.name}: alignment {self.alignment} is not a power of two")

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class Plan:
    """Byte offset of every buffer in one arena of `arena_size` bytes; `strategy` made it."""

    offsets: Mapping[str, int]
    arena_size: int
    strategy: str

    def __post_init__(self):
        object.__setattr__(self, "offsets", MappingProxyType(dict(self.offsets)))
