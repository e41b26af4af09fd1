"""The search space: CNN + transformer hybrids, as plain frozen dataclasses.

A `SearchSpace` is one candidate supernet (what SuperNAS chooses between): a conv stem, inverted-
residual stages with elastic kernel (3/5/7), expansion (2/4/6), depth and width, and optionally a
transformer stage that starts after CNN stage `transformer.start` (replacing the stages after it),
with elastic embedding width, heads, MLP ratio and depth. An `Arch` is one single-path sub-network
of a space. Everything here is pure Python (no torch) so it is cheap to sample and to test.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

KERNELS = (3, 5, 7)
EXPANSIONS = (2, 4, 6)
HEAD_DIM = 8                     # per-head width is fixed; the number of heads is elastic


@dataclass(frozen=True)
class StageSpace:
    widths: tuple[int, ...]      # output channel choices
    depths: tuple[int, ...]      # block count choices
    stride: int                  # stride of the stage's first block
    kernels: tuple[int, ...] = KERNELS
    expansions: tuple[int, ...] = EXPANSIONS


@dataclass(frozen=True)
class TransformerSpace:
    start: int                   # the transformer follows CNN stage `start` (1-based); later stages are dropped
    embed_dims: tuple[int, ...]
    heads: tuple[int, ...]
    mlp_ratios: tuple[int, ...]
    depths: tuple[int, ...]      # may include 0: the sub-network is then a plain CNN


@dataclass(frozen=True)
class SearchSpace:
    name: str
    in_channels: int
    num_classes: int
    resolution: int
    stem_widths: tuple[int, ...]
    stem_stride: int
    stages: tuple[StageSpace, ...]
    transformer: TransformerSpace | None = None

    @property
    def cnn_stages(self) -> tuple[StageSpace, ...]:
        """The CNN stages the network runs (those before the transformer)."""
        return self.stages[: self.transformer.start] if self.transformer else self.stages

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SearchSpace":
        t = d.get("transformer")
        return cls(name=d["name"], in_channels=d["in_channels"], num_classes=d["num_classes"],
                   resolution=d["resolution"], stem_widths=tuple(d["stem_widths"]), stem_stride=d["stem_stride"],
                   stages=tuple(StageSpace(**{k: tuple(v) if isinstance(v, list) else v for k, v in s.items()})
                                for s in d["stages"]),
                   transformer=TransformerSpace(**{k: tuple(v) if isinstance(v, list) else v for k, v in t.items()})
                   if t else None)


# ------------------------------------------------------------------------------- sub-networks
@dataclass(frozen=True)
class BlockChoice:
    kernel: int
    expansion: int


@dataclass(frozen=True)
class StageChoice:
    width: int
    blocks: tuple[BlockChoice, ...]


@dataclass(frozen=True)
class TransformerChoice:
    embed: int
    heads: int
    mlp_ratio: int
    depth: int


@dataclass(frozen=True)
class Arch:
    stem_width: int
    stages: tuple[StageChoice, ...]
    transformer: TransformerChoice | None = None

    def key(self) -> str:
        """A short stable text that names the architecture (cache key, logs)."""
        parts = [f"stem{self.stem_width}"]
        for i, s in enumerate(self.stages, 1):
            parts.append(f"s{i}w{s.width}:" + ",".join(f"k{b.kernel}e{b.expansion}" for b in s.blocks))
        if self.transformer and self.transformer.depth:
            t = self.transformer
            parts.append(f"t{t.depth}d{t.embed}h{t.heads}m{t.mlp_ratio}")
        return "|".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Arch":
        return cls(stem_width=d["stem_width"],
                   stages=tuple(StageChoice(s["width"], tuple(BlockChoice(**b) for b in s["blocks"]))
                                for s in d["stages"]),
                   transformer=TransformerChoice(**d["transformer"]) if d.get("transformer") else None)

    def prunable_layers(self) -> tuple[str, ...]:
        """Names of the layers whose weights may be pruned, in execution order: pointwise convs and
        linears blockwise; depthwise convs per kernel tap (`.dw`, block 1: tfc's sparse depthwise
        kernel runs each channel's non-zero taps). The stem stays dense (9 taps x 1-3 channels)."""
        names = []
        for i, s in enumerate(self.stages, 1):
            for j, _ in enumerate(s.blocks, 1):
                names += [f"s{i}.b{j}.expand", f"s{i}.b{j}.dw", f"s{i}.b{j}.project"]
        if self.transformer and self.transformer.depth:
            names.append("t.embed")
            for j in range(1, self.transformer.depth + 1):
                names += [f"t{j}.qkv", f"t{j}.proj", f"t{j}.fc1", f"t{j}.fc2"]
        names.append("head")
        return tuple(names)


def _pick(rng: random.Random, choices, mode: str):
    return max(choices) if mode == "max" else min(choices) if mode == "min" else rng.choice(choices)


def sample_arch(space: SearchSpace, rng: random.Random, mode: str = "random") -> Arch:
    """A sub-network: mode 'max' (largest), 'min' (smallest) or 'random' (uniform per choice)."""
    stages = []
    for st in space.cnn_stages:
        depth = _pick(rng, st.depths, mode)
        blocks = tuple(BlockChoice(_pick(rng, st.kernels, mode), _pick(rng, st.expansions, mode))
                       for _ in range(depth))
        stages.append(StageChoice(_pick(rng, st.widths, mode), blocks))
    t = None
    if space.transformer:
        ts = space.transformer
        t = TransformerChoice(_pick(rng, ts.embed_dims, mode), _pick(rng, ts.heads, mode),
                              _pick(rng, ts.mlp_ratios, mode), _pick(rng, ts.depths, mode))
    return Arch(_pick(rng, space.stem_widths, mode), tuple(stages), t)


def arch_in_space(arch: Arch, space: SearchSpace) -> bool:
    if arch.stem_width not in space.stem_widths or len(arch.stages) != len(space.cnn_stages):
        return False
    for s, st in zip(arch.stages, space.cnn_stages):
        if s.width not in st.widths or len(s.blocks) not in st.depths:
            return False
        if any(b.kernel not in st.kernels or b.expansion not in st.expansions for b in s.blocks):
            return False
    t, ts = arch.transformer, space.transformer
    if (t is None) != (ts is None):
        return False
    if t is not None:
        return (t.embed in ts.embed_dims and t.heads in ts.heads and t.mlp_ratio in ts.mlp_ratios
                and t.depth in ts.depths)
    return True


# ------------------------------------------------------------------------- candidate spaces
def _scaled(widths, mult: float) -> tuple[int, ...]:
    """Widths times the multiplier, rounded to multiples of 4 (SIMD-friendly), at least 4."""
    return tuple(sorted({max(4, int(round(w * mult / 4)) * 4) for w in widths}))


def make_space(*, in_channels: int, num_classes: int, resolution: int, width_mult: float = 1.0,
               transformer_start: int | None = None) -> SearchSpace:
    """The template space, scaled: three inverted-residual stages (strides 1, 2, 2) after a stem
    that halves inputs of 16 pixels and more; a transformer after stage `transformer_start`."""
    stages = (StageSpace(_scaled((8, 12, 16), width_mult), (1, 2), 1),
              StageSpace(_scaled((16, 24, 32), width_mult), (1, 2, 3), 2),
              StageSpace(_scaled((24, 32, 48), width_mult), (1, 2, 3), 2))
    transformer = None
    if transformer_start is not None:
        if not 1 <= transformer_start <= len(stages):
            raise ValueError(f"transformer_start must be in 1..{len(stages)}, got {transformer_start}")
        transformer = TransformerSpace(start=transformer_start, embed_dims=_scaled((16, 24, 32), width_mult),
                                       heads=(1, 2), mlp_ratios=(1, 2), depths=(0, 1, 2))
    name = f"w{width_mult:g}-r{resolution}" + (f"-t{transformer_start}" if transformer_start else "")
    return SearchSpace(name=name, in_channels=in_channels, num_classes=num_classes, resolution=resolution,
                       stem_widths=_scaled((8, 12, 16), width_mult), stem_stride=2 if resolution >= 16 else 1,
                       stages=stages, transformer=transformer)


def candidate_spaces(*, in_channels: int, num_classes: int, resolutions, width_mults,
                     transformer_starts) -> list[SearchSpace]:
    """SuperNAS's candidates: width multiplier x resolution x transformer placement (None = CNN)."""
    return [make_space(in_channels=in_channels, num_classes=num_classes, resolution=r, width_mult=w,
                       transformer_start=t)
            for w in width_mults for r in resolutions for t in transformer_starts]
