"""Declared parameters: one `Param` per value a user sets drives the GUI form, the CLI's `--param NAME=VALUE`,
`main.py list`, validation and the recipe written beside exports."""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import ParameterError


@dataclass(frozen=True)
class Param:
    """One declared parameter: the GUI builds its form from these, the CLI parses `NAME=VALUE` with them.

    `kind` is float, int, bool or str (then `choices` lists the values). `unit="pixel"` marks a distance in
    pixel space [0, 1], shown also in grey levels (/255). `auto` allows the value None, computed by the attack.
    `above`/`below` make `minimum`/`maximum` exclusive (a learning rate above 0, a decay below 1). A `str`
    without `choices` is free text turned into its typed value by `convert` (which raises ParameterError), and
    `text(value)` writes a typed value back as such text. `titles`, when given, name the `choices` for a form.
    """

    name: str
    kind: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()  # what a form shows for each of `choices`, in the same order
    unit: str = ""
    auto: str = ""  # how None is resolved, shown to the user; empty when None is not allowed
    finite: bool = True  # False admits "inf" (e.g. "no limit")
    above: bool = False  # the minimum itself is not allowed
    below: bool = False  # the maximum itself is not allowed
    convert: Callable[[Any], Any] | None = field(default=None, compare=False)  # free text -> typed value
    format: Callable[[Any], str] | None = field(default=None, compare=False)  # typed value -> free text

    def parse(self, value: Any) -> Any:
        """Validate `value` (a string from the CLI or a typed value from the GUI) and return it typed."""
        says_auto = isinstance(value, str) and value.strip().lower() in ("auto", "none", "")
        if value is None or (says_auto and self.auto):
            if self.auto:
                return None
            raise ParameterError(f"{self.name}: a value is required")
        if self.kind is bool:
            return parse_bool(self.name, value)
        if self.convert is not None:
            return self.convert(value)
        if self.kind is str:
            text = str(value).strip()
            if text not in self.choices:
                raise ParameterError(f"{self.name} must be one of {', '.join(self.choices)}, not {text!r}")
            return text
        number = parse_number(self.name, value, self.kind, self.finite)
        if self.minimum is not None and (number <= self.minimum if self.above else number < self.minimum):
            bound = "above" if self.above else "at least"
            raise ParameterError(f"{self.name} must be {bound} {self.minimum:g}, got {number:g}")
        if self.maximum is not None and (number >= self.maximum if self.below else number > self.maximum):
            bound = "below" if self.below else "at most"
            raise ParameterError(f"{self.name} must be {bound} {self.maximum:g}, got {number:g}")
        return number

    def text(self, value: Any) -> str:
        """`value` as a user would type it (the inverse of `parse` for free text)."""
        if self.format is not None and value is not None:
            return self.format(value)
        return self.auto if value is None else _fmt(value)

    def describe(self) -> str:
        """A one-line description for `main.py list` and tooltips."""
        if self.kind is str:
            span = "{" + ", ".join(self.choices) + "}" if self.choices else "text"
        elif self.kind is bool:
            span = "true/false"
        else:
            span = f"{'(' if self.above else '['}{_fmt(self.minimum)}, {_fmt(self.maximum)}{')' if self.below else ']'}"
        default = self.text(self.default)
        if self.unit == "pixel" and isinstance(self.default, float):
            default += f" (= {self.default * 255:.3g}/255)"
        return f"{self.name}={default}  {span}  {self.help}"


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ParameterError(f"{name} must be true or false, not {value!r}")


def parse_number(name: str, value: Any, kind: type, finite: bool = True):
    if isinstance(value, bool):  # True is an int to Python, not a number to a user
        raise ParameterError(f"{name} must be a number, not {value!r}")
    try:
        if isinstance(value, str) and value.strip().endswith("/255"):
            number = float(value.strip()[:-4]) / 255  # "8/255": grey levels, the way papers write epsilons
        else:
            number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, not {value!r}")
    if math.isnan(number) or (finite and math.isinf(number)):
        raise ParameterError(f"{name} must be a finite number, not {value!r}")
    if kind is int:
        if number != int(number):
            raise ParameterError(f"{name} must be a whole number, not {value!r}")
        return int(number)
    return number




@dataclass(frozen=True)
class Rule:
    """A condition on several values at once (`test(values) -> bool`), with the message shown when it fails."""

    test: Callable[[dict], bool]
    message: str


def resolve(params: Iterable[Param], defaults: Mapping[str, Any], given: Mapping[str, Any],
            rules: Iterable[Rule] = (), owner: str = "") -> dict[str, Any]:
    """`defaults` overridden by `given` (strings from a command line or a form's typed values), every value
    parsed by its declaration and the rules checked: the typed values, one per declared parameter."""
    declared = {param.name: param for param in params}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        whose = f" of {owner}" if owner else ""
        raise ParameterError(f"unknown parameter {unknown[0]!r}{whose}; the parameters are {', '.join(declared)}")
    values = {**{name: param.default for name, param in declared.items()}, **defaults, **given}
    typed = {name: declared[name].parse(values[name]) for name in declared}
    for rule in rules:
        if not rule.test(typed):
            raise ParameterError(rule.message)
    return typed


@dataclass(frozen=True)
class ParamSet:
    """The declared parameters of one computation, with defaults per domain ("mnist", "imagenet", ...) over the
    declarations' own and the rules that tie several values together."""

    name: str
    params: tuple[Param, ...]
    domain_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    summary: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(param.name for param in self.params)

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise ParameterError(f"unknown parameter {name!r} of {self.name}; the parameters are {', '.join(self.names)}")

    def defaults(self, domain: str = "imagenet") -> dict[str, Any]:
        return {**{p.name: p.default for p in self.params}, **self.domain_defaults.get(domain, {})}

    def resolve(self, given: Mapping[str, Any] | None = None, domain: str = "imagenet",
                base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Typed values: `base` (else the domain's defaults) overridden by `given`, validated."""
        start = self.defaults(domain) if base is None else base
        return resolve(self.params, start, given or {}, self.rules, self.name)

    def only(self, names: Iterable[str]) -> tuple[Param, ...]:
        """The declarations of `names`, in that order (a form that shows a few of the parameters)."""
        return tuple(self.param(name) for name in names)

    def describe_lines(self) -> list[str]:
        """`Param.describe()` per parameter, noting where other domains' defaults differ."""
        lines = []
        for param in self.params:
            others = [f"{domain}: {param.text(values[param.name])}" for domain, values in self.domain_defaults.items()
                      if param.name in values and values[param.name] != param.default]
            lines.append(param.describe() + (f"   ({'; '.join(others)})" if others else ""))
        return lines


class Declared:
    """Mixin for a frozen dataclass whose fields are the parameters of `PARAMS`: built from a form's or a
    command line's values, and checked, by the declarations alone."""

    PARAMS: ClassVar[ParamSet]

    @classmethod
    def from_values(cls, values: Mapping[str, Any] | None = None, domain: str = "imagenet",
                    params: ParamSet | None = None):
        """An instance from `values` (text or typed) over the defaults of `params` (else `PARAMS`) for `domain`."""
        return cls(**(params or cls.PARAMS).resolve(values, domain))

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.PARAMS.names}

    def replace(self, **changes):
        """These values with `changes` (text or typed), checked."""
        return dataclasses.replace(self, **self.PARAMS.resolve(changes, base=self.values()))

    def check(self):
        """Self when every value passes its declaration (and the rules), else a ParameterError."""
        self.PARAMS.resolve(base=self.values())
        return self
