"""Declared parameters: one `Param` per value a user sets drives the GUI form, the CLI's `--param NAME=VALUE`,
`main.py list`, validation and the recipe written beside exports."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ParameterError


@dataclass(frozen=True)
class Param:
    """One declared parameter: the GUI builds its form from these, the CLI parses `NAME=VALUE` with them.

    `kind` is float, int, bool or str (then `choices` lists the values). `unit="pixel"` marks a distance in
    pixel space [0, 1], shown also in grey levels (/255). `auto` allows the value None, computed by the attack.
    """

    name: str
    kind: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    auto: str = ""  # how None is resolved, shown to the user; empty when None is not allowed
    finite: bool = True  # False admits "inf" (e.g. "no limit")

    def parse(self, value: Any) -> Any:
        """Validate `value` (a string from the CLI or a typed value from the GUI) and return it typed."""
        says_auto = isinstance(value, str) and value.strip().lower() in ("auto", "none", "")
        if value is None or (says_auto and self.auto):
            if self.auto:
                return None
            raise ParameterError(f"{self.name}: a value is required")
        if self.kind is bool:
            return parse_bool(self.name, value)
        if self.kind is str:
            text = str(value).strip()
            if text not in self.choices:
                raise ParameterError(f"{self.name} must be one of {', '.join(self.choices)}, not {text!r}")
            return text
        number = parse_number(self.name, value, self.kind, self.finite)
        if self.minimum is not None and number < self.minimum:
            raise ParameterError(f"{self.name} must be at least {self.minimum:g}, got {number:g}")
        if self.maximum is not None and number > self.maximum:
            raise ParameterError(f"{self.name} must be at most {self.maximum:g}, got {number:g}")
        return number

    def describe(self) -> str:
        """A one-line description for `main.py list` and tooltips."""
        if self.kind is str:
            span = "{" + ", ".join(self.choices) + "}"
        elif self.kind is bool:
            span = "true/false"
        else:
            span = f"[{_fmt(self.minimum)}, {_fmt(self.maximum)}]"
        default = self.auto if self.default is None else _fmt(self.default)
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


