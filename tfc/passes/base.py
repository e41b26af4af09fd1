"""The pieces every pass is made of: the `Pass` base class, its result, its context, the registry.

A pass is a small class with a kebab-case `name`, a one-line `description`, typed options (a frozen
dataclass named `Options` inside the class) and `run(graph, ctx) -> PassResult`. It registers with
`@register_pass` and is then usable by name in any pipeline, including passes written outside tfc
(loaded by `tfc.passes.plugins`).
"""
from __future__ import annotations

import dataclasses
import logging
import re
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tfc.errors import TfcError

_KEBAB = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


@dataclass
class PassResult:
    """What a pass did: whether the graph changed, and counters for the log (rule -> times fired)."""

    changed: bool
    stats: dict[str, int] = field(default_factory=dict)
    notes: str = ""   # for humans: written as comments into this pass's IR dump (e.g. a memory timeline)


@dataclass(frozen=True)
class Declined:
    """One rewrite that could have fired but did not, and why."""

    pass_name: str
    rule: str
    node: str | None
    reason: str

    def __str__(self) -> str:
        where = f" at '{self.node}'" if self.node else ""
        return f"{self.pass_name}: {self.rule}{where} declined: {self.reason}"


@dataclass
class PassContext:
    """What passes share besides the graph: the target, the user's options, a log.

    `options` holds what the user handed `tfc.compile` for later passes (calibration samples,
    sparsity settings, ...). `declined` collects rules that chose not to fire, with the reason, so
    "why was my Conv+Relu not fused?" has an answer (`tfc compile -v` prints it).
    """

    target: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("tfc.passes"))
    declined: list[Declined] = field(default_factory=list)
    current_pass: str | None = None
    # What passes found for the user's report, by pass name (e.g. sparsify's SparseDecisions).
    findings: dict[str, Any] = field(default_factory=dict)

    def decline(self, rule: str, node, reason: str) -> None:
        """Record that `rule` did not fire on `node` (a Node, a name or None) because of `reason`."""
        name = getattr(node, "name", node)
        entry = Declined(self.current_pass or "?", rule, name, reason)
        if entry in self.declined:  # passes that iterate to a fixpoint ask the same question again
            return
        self.declined.append(entry)
        self.logger.debug("%s", entry)


class Pass:
    """Base class of passes. Subclasses set `name`, `description`, optionally `Options`, and
    implement `run`. Construct with keyword options: `Sparsify(block=4)`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @dataclass(frozen=True)
    class Options:
        pass

    def __init__(self, **options: Any):
        self.options = build_options(type(self), options)

    def run(self, graph, ctx: PassContext) -> PassResult:
        raise NotImplementedError(f"pass {self.name} does not implement run()")

    @property
    def spec(self) -> str:
        """This pass as pipeline text: its name, then the options that differ from the defaults."""
        from tfc.passes.pipeline import format_option
        defaults = type(self).Options() if _all_defaulted(type(self).Options) else None
        parts = []
        for f in dataclasses.fields(self.options):
            value = getattr(self.options, f.name)
            if defaults is not None and getattr(defaults, f.name) == value:
                continue
            parts.append(f"{f.name}={format_option(value)}")
        return self.name + ("{" + ",".join(parts) + "}" if parts else "")

    def __repr__(self) -> str:
        return f"<pass {self.spec}>"


def _all_defaulted(options_cls) -> bool:
    return all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
               for f in dataclasses.fields(options_cls))


def build_options(pass_cls: type[Pass], given: dict[str, Any]):
    """Check option names and coerce values to the types declared on the pass's Options."""
    options_cls = pass_cls.Options
    fields = {f.name: f for f in dataclasses.fields(options_cls)}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) or "none"
        raise TfcError(f"pass {pass_cls.name} has no option(s) {', '.join(unknown)}",
                       hint=f"its options: {known}")
    hints = typing.get_type_hints(options_cls)
    coerced = {}
    for key, value in given.items():
        try:
            coerced[key] = _coerce(value, hints.get(key, Any))
        except (TypeError, ValueError) as e:
            raise TfcError(f"option {key} of pass {pass_cls.name}: {e}") from None
    try:
        return options_cls(**coerced)
    except TypeError as e:
        missing = [n for n, f in fields.items() if n not in coerced and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        raise TfcError(f"pass {pass_cls.name}: {e}", hint=f"required options: {', '.join(missing)}") from None


def _coerce(value: Any, annotation: Any) -> Any:
    """Coerce a parsed option value to its declared type (int, float, bool, str, list[...], Optional)."""
    if annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        raise TypeError("; ".join(errors))
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            value = [value]
        item = args[0] if args else Any
        items = [_coerce(v, item) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise TypeError(f"expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise TypeError(f"expected an integer, got {value!r}")
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    return value


# ------------------------------------------------------------------------------------ registry
_REGISTRY: dict[str, type[Pass]] = {}


def register_pass(cls: type[Pass]) -> type[Pass]:
    """Class decorator: make a Pass subclass usable by its `name` in pipelines."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _KEBAB.fullmatch(name):
        raise TfcError(f"pass class {cls.__qualname__} needs a kebab-case `name` (like 'fold-constants'), "
                       f"got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Pass)):
        raise TfcError(f"{cls!r} is not a subclass of tfc.passes.Pass")
    if not dataclasses.is_dataclass(cls.Options):
        raise TfcError(f"pass {name}: Options must be a dataclass")
    old = _REGISTRY.get(name)
    # Re-running the module that defines a pass (a notebook cell, a reloaded plugin) replaces it.
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise TfcError(f"pass name '{name}' is already registered by {old.__module__}.{old.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def get_pass(name: str) -> type[Pass]:
    _load_passes()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise TfcError(f"unknown pass '{name}'",
                       hint=f"registered passes: {', '.join(sorted(_REGISTRY))}") from None


def registered_passes() -> dict[str, type[Pass]]:
    """Every registered pass by name, sorted by name."""
    _load_passes()
    return dict(sorted(_REGISTRY.items()))


def _load_passes() -> None:
    """The built-in passes, then (once) the installed plugins' (entry-point group `tfc.passes`)."""
    import tfc.passes  # noqa: F401  (importing the package registers the built-in passes)
    from tfc.passes.plugins import load_entry_points
    load_entry_points()
