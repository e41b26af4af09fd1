"""The run's configuration: one frozen dataclass, read from JSON or TOML and overridden by CLI flags.

Everything that changes the result is in here (and so in the run directory's config.json, which a
resumed run must match exactly).
"""
from __future__ import annotations

import json
import tomllib
import types
import typing
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from nas.errors import ConfigError

KIB = 1024
# Per-data-set defaults (RunConfig.for_data): chosen so that Fashion-MNIST's default run fits about
# 2 hours of one CPU core (measured samples/CPU-s in docs/nas.md) while digits keeps its schedule.
MIN_RESOLUTION = 16          # smaller images are upsampled (the stride-2 stem needs room)
WIDE_FROM = 24               # images this large get the wider spaces (x1, x2 channels) and fewer generations
SUPERNET_SAMPLES = 150_000   # supernet training samples (3 epochs of Fashion-MNIST, 60 of digits)
FINALIST_SAMPLES = 153_000   # per finalist version (3 epochs of Fashion-MNIST: a pruned version's gap to its
                             # dense one shrinks from epoch 1 to 3, so 1 epoch judges it too harshly; docs/nas.md)
FINETUNE_SAMPLES = 1_020_000 # the winner's fine-tune (20 epochs of Fashion-MNIST)


@dataclass(frozen=True)
class RunConfig:
    data: str = "digits"
    target: str = "cortex-m7"
    flash_bytes: int | None = None          # None: the target's flash
    sram_bytes: int | None = None           # None: the target's SRAM
    flash_reserve: int = 34 * KIB           # code in the linked ELF (measured: 26 KB dense kernels, 2.5-3.6 KB
                                            # layer calls, 2.5 KB start-up/driver: 31-33 KB)
    sparse_code_reserve: int = 10 * KIB     # tfc's sparse kernels when linked: brle common 1.8 KB + 3.6-5.2 KB
                                            # per block size used (tfc.sparse.flash_budget.KERNEL_CODE_BYTES)
    sram_reserve: int = 6 * KIB             # stack, .data/.bss outside the arena
    seed: int = 0
    # SuperNAS
    # A None below is filled in for the data set by `for_data` (see PER_DATA_DEFAULTS' comments).
    resolutions: tuple[int, ...] | None = None   # None: the images' own size, at least 16
    width_mults: tuple[float, ...] | None = None # None: (0.5, 1.0) below 24 px, (1.0, 2.0) from 24 px
    transformer_starts: tuple[int | None, ...] = (None, 2)
    supernas_samples: int = 12
    # supernet training
    epochs: int | None = None               # None: 60, at most SUPERNET_SAMPLES samples in all
    batch: int = 64
    lr: float = 3e-3
    n_random: int = 1
    n_sparse: int = 1                       # random sub-networks per step trained blockwise pruned
    flip: bool | None = None                # left-right mirror augmentation; None: the data set's own default
                                            # (on for fashion-mnist and cifar10, off for digits, folder, npz)
    label_smoothing: float = 0.1            # of the cross-entropy on labels (supernet's largest, fine-tuning)
    # SparseNAS
    population: int = 24
    generations: int | None = None          # None: 20 below 24 px (~0.2 CPU-s per new genome: one tfc compile,
                                            # one accuracy pass), 10 from 24 px (2-8 CPU-s each at 28x28)
    mutation_p: float = 0.25
    accuracy_tolerance: float = 0.01        # the winner: fewest instructions within this of the best accuracy
    instruction_weight: float = 0.01        # fitness = accuracy - weight x instructions / median instructions
    refine_archs: int = 2                   # the fastest sub-networks in the accuracy band sparsified layer by layer
    refine_slack: float = 0.02              # refinement keeps a lower density while the un-fine-tuned supernet
                                            # accuracy stays this far below the band (the finalists' fine-tune judges)
    prune_ramp: float = 0.5                 # gradual pruning: densities fall from 1 to the genome's over this
                                            # share of the (non-QAT) fine-tuning steps (finalists and winner)
    finalists: int = 2                      # sub-networks pruned and briefly fine-tuned before the winner is chosen
    finalist_epochs: int | None = None      # their fine-tuning epochs (each finalist dense and sparse);
                                            # None: 3, at most FINALIST_SAMPLES samples
    finalist_density: float = 1.0           # a finalist's sparse version (nas.refine.harden): its pointwise
                                            # convs and linears pruned to at most this, in blocks of 4, and
    finalist_dw_density: float = 0.2        # its depthwise convs to at most this (per tap), where tfc's sparse
                                            # kernels pay, judged after its fine-tune (1 and 1: the refined
                                            # record as searched). Measured on Fashion-MNIST (docs/nas.md):
                                            # depthwise taps buy the most instructions for the least accuracy
    # final model
    finetune_epochs: int | None = None      # None: 80, at most FINETUNE_SAMPLES samples
    finetune_lr: float = 1e-3
    qat_epochs: int | None = None           # the last fine-tune epochs train with int8 fake quantization;
                                            # None: an eighth of finetune_epochs, rounded up
    val_limit: int | None = 2000            # validation images SparseNAS scores a genome on (None: all)
    train_limit: int | None = None          # cap training samples (smoke runs)

    def to_dict(self) -> dict:
        return asdict(self)

    def for_data(self, n_train: int, image_size: int) -> "RunConfig":
        """The config with every None default filled in for a data set of `n_train` training images
        of `image_size` pixels. The schedules are sample budgets, so that the default run fits the
        time a 2-core CPU gives it (docs/nas.md, "Measured on Fashion-MNIST"): on digits' 1,222
        images they are 60 / 3 / 80 epochs, on Fashion-MNIST's 51,000 3 / 3 / 20."""
        def epochs(most: int, samples: int) -> int:
            return max(1, min(most, round(samples / max(1, n_train))))
        finetune = self.finetune_epochs or epochs(80, FINETUNE_SAMPLES)
        return replace(
            self,
            resolutions=self.resolutions or (max(MIN_RESOLUTION, image_size),),
            width_mults=self.width_mults or ((1.0, 2.0) if image_size >= WIDE_FROM else (0.5, 1.0)),
            epochs=self.epochs or epochs(60, SUPERNET_SAMPLES),
            generations=self.generations or (10 if image_size >= WIDE_FROM else 20),
            finalist_epochs=self.finalist_epochs if self.finalist_epochs is not None else epochs(3, FINALIST_SAMPLES),
            finetune_epochs=finetune,
            qat_epochs=self.qat_epochs if self.qat_epochs is not None else -(-finetune // 8))

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> "RunConfig":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError(f"unknown config key(s) {', '.join(unknown)}", file=source,
                              hint="known keys: " + ", ".join(known))
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        cfg = cls(**values)
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "config") -> None:
        def bad(msg):
            raise ConfigError(msg, file=source)
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            v = getattr(self, f.name)
            if not _is_instance(v, hints[f.name]):
                bad(f"{f.name} must be {_type_name(hints[f.name])}, got {v!r}")
        for name in ("epochs", "batch", "population", "generations", "supernas_samples", "finetune_epochs",
                     "val_limit"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                bad(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("n_random", "n_sparse", "refine_archs", "qat_epochs", "finalists", "finalist_epochs"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                bad(f"{name} must be a non-negative integer, got {getattr(self, name)!r}")
        if self.population < 4:
            bad(f"population must be at least 4, got {self.population}")
        for name in ("flash_bytes", "sram_bytes"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v <= 0):
                bad(f"{name} must be a positive number of bytes, got {v!r}")
        if self.resolutions is not None and (not self.resolutions or any(r < 8 for r in self.resolutions)):
            bad(f"resolutions must be at least 8 pixels, got {self.resolutions}")
        if self.width_mults is not None and (not self.width_mults or any(w <= 0 for w in self.width_mults)):
            bad(f"width_mults must be positive, got {self.width_mults}")

        for name in ("lr", "finetune_lr", "mutation_p", "accuracy_tolerance", "instruction_weight", "refine_slack"):
            if getattr(self, name) < 0:
                bad(f"{name} must not be negative, got {getattr(self, name)!r}")
        for name in ("finalist_density", "finalist_dw_density"):
            if not 0 < getattr(self, name) <= 1:
                bad(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        if not 0 <= self.prune_ramp <= 1:
            bad(f"prune_ramp must be in [0, 1], got {self.prune_ramp!r}")
        if not 0 <= self.label_smoothing < 1:
            bad(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        for name in ("flash_reserve", "sparse_code_reserve", "sram_reserve"):
            if getattr(self, name) < 0:
                bad(f"{name} must be a non-negative number of bytes, got {getattr(self, name)!r}")

    def with_overrides(self, **kw) -> "RunConfig":
        cfg = replace(self, **{k: v for k, v in kw.items() if v is not None})
        cfg.validate("command line")
        return cfg


def _is_instance(v, t) -> bool:
    """isinstance for the annotations RunConfig uses: int, float, str, X | None, tuple[X, ...]
    (bool is not an int here; an int is a float)."""
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(v, a) for a in typing.get_args(t))
    if origin is tuple:
        item = typing.get_args(t)[0]
        return isinstance(v, tuple) and all(_is_instance(x, item) for x in v)
    if t is type(None):
        return v is None
    if isinstance(v, bool):
        return t is bool
    if t is float:
        return isinstance(v, (int, float))
    return isinstance(v, t)


def _type_name(t, plural: bool = False) -> str:
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a, plural) for a in typing.get_args(t))
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(t)[0], True)}"
    names = {int: ("an integer", "integers"), float: ("a number", "numbers"), str: ("a string", "strings"),
             bool: ("true or false", "booleans"), type(None): ("null", "nulls")}
    return names[t][plural] if t in names else str(t)


def default_config_text() -> str:
    """The default config as JSON (what `tfc-nas config` prints; a file `--config` reads)."""
    return json.dumps(RunConfig().to_dict(), indent=1) + "\n"


def load_config(path: str | Path | None) -> RunConfig:
    if path is None:
        return RunConfig()
    p = Path(path)
    if not p.is_file():
        raise ConfigError("no such config file", file=str(p))
    try:
        text = p.read_text()
        d = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot parse the config: {e}", file=str(p)) from None
    if not isinstance(d, dict):
        raise ConfigError("the config must be an object of keys", file=str(p))
    return RunConfig.from_dict(d, str(p))


def parse_bytes(text: str) -> int:
    """'64KiB', '1MiB', '32768' -> bytes."""
    t = text.strip().lower().replace(" ", "")
    for suffix, mult in (("kib", KIB), ("kb", KIB), ("k", KIB), ("mib", KIB * KIB), ("mb", KIB * KIB),
                         ("m", KIB * KIB), ("b", 1)):
        if t.endswith(suffix):
            t, m = t[: -len(suffix)], mult
            break
    else:
        m = 1
    try:
        v = float(t) * m
    except ValueError:
        raise ConfigError(f"not a size: {text!r}", hint="e.g. 64KiB, 1MiB or 32768") from None
    if v <= 0:
        raise ConfigError(f"size must be positive: {text!r}")
    return int(v)
