"""The planner's vocabulary: a buffer (size, lifetime, alignment) and a plan (offsets, arena)."""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

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
    # Placed `pin_offset` bytes past buffer `pin`, with which it may share bytes while both live:
    # a fused-tile region's output written over its input's rows as they die (tfc.kernels.tiles
    # proves the rows each band writes are dead by then). The planners place the pair together.
    pin: str | None = None
    pin_offset: int = 0

    def __post_init__(self):
        if self.size < 0:
            raise ValueError(f"buffer {self.name}: negative size {self.size}")
        if self.first > self.last:
            raise ValueError(f"buffer {self.name}: first step {self.first} after last step {self.last}")
        if self.alignment < 1 or self.alignment & (self.alignment - 1):
            raise ValueError(f"buffer {self.name}: alignment {self.alignment} is not a power of two")

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


def pin_groups(buffers: Sequence[Buffer]) -> dict[str, tuple[tuple[Buffer, int], ...]]:
    """Buffer name -> its pin group: (buffer, offset from the group's first byte) for every member,
    itself included; only pinned buffers have an entry."""
    by_name = {b.name: b for b in buffers}
    root: dict[str, tuple[str, int]] = {}
    for b in buffers:
        r, delta = b.name, 0
        while by_name[r].pin is not None:
            r, delta = by_name[r].pin, delta + by_name[r].pin_offset
        root[b.name] = (r, delta)
    members: dict[str, list[tuple[Buffer, int]]] = {}
    for b in buffers:
        members.setdefault(root[b.name][0], []).append((b, root[b.name][1]))
    return {b.name: tuple(members[root[b.name][0]]) for b in buffers if len(members[root[b.name][0]]) > 1}


def first_fit_group(group: Sequence[tuple[Buffer, int]], placed: Sequence[Buffer], offsets: Mapping[str, int]) -> int:
    """The lowest aligned base where each member of `group` (buffer, offset from the base) clears
    every placed buffer alive at the same time (members do not conflict with each other)."""
    alignment = max(b.alignment for b, _ in group)
    names = {b.name for b, _ in group}
    conflicts = [[(offsets[p.name] - d, p.size) for p in placed if p.size and p.name not in names
                  and p.overlaps_in_time(b)] for b, d in group]
    candidates = {0, *(align_up(max(0, s + z), alignment) for cs in conflicts for s, z in cs)}
    for c in sorted(candidates):
        if all(c + b.size <= s or c >= s + z for (b, _), cs in zip(group, conflicts) for s, z in cs):
            return c
    raise AssertionError("no offset past every conflict")  # unreachable: the last end always fits


def place_pinned(buf: Buffer, groups, placed: list[Buffer], offsets: dict[str, int]) -> bool:
    """For the planners' loops: a buffer already placed with its pin group, or one of a group
    (placed now, all members together), is done: True. False: an ordinary buffer to place."""
    if buf.name in offsets:
        return True
    if buf.name not in groups:
        return False
    at = first_fit_group(groups[buf.name], placed, offsets)
    for member, delta in groups[buf.name]:
        offsets[member.name] = at + delta
        placed.append(member)
    return True


@dataclass(frozen=True)
class Plan:
    """Byte offset of every buffer in one arena of `arena_size` bytes; `strategy` made it."""

    offsets: Mapping[str, int]
    arena_size: int
    strategy: str

    def __post_init__(self):
        object.__setattr__(self, "offsets", MappingProxyType(dict(self.offsets)))
