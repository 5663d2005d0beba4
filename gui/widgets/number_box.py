"""Spin boxes that take numbers as researchers type them: `0.001`, `1e-3`, `8/255`, `-2.5E+1` (and `1e3` for a
count). Qt's own spin boxes silently drop what they do not expect, so `1e-3` became 13; these accept the whole
text or show that they do not (a red frame and a tooltip while the text is no number in range)."""
from __future__ import annotations

import math
import re

from PySide6.QtCore import QSize
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox, QSpinBox

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
TYPED_NUMBER = re.compile(rf"^\s*({_NUMBER})\s*(?:/\s*({_NUMBER}))?\s*$")
# What can still become a number while one types: "1e", "8/", "-", ".", "2.5e-"
_PARTIAL = re.compile(r"^\s*[-+]?[\d.]*(?:[eE][-+]?\d*)?\s*(?:/\s*[-+]?[\d.]*(?:[eE][-+]?\d*)?)?\s*$")
INVALID_STYLE = "border: 1px solid #c0392b; background: #fdecea;"
HINT = "type a number: 0.001, 1e-3 or 8/255"
MINIMUM_SHOWN = "0.00392"  # the text a decimal field always has room for (1/255: 6 characters and the dot)


def parse_typed_number(text: str) -> float | None:
    """The value of `text` (a decimal, a scientific number or a fraction a/b), None if it is none of these."""
    match = TYPED_NUMBER.match(text)
    if match is None:
        return None
    numerator = float(match.group(1))
    if match.group(2) is None:
        return numerator
    denominator = float(match.group(2))
    if denominator == 0:
        return None
    value = numerator / denominator
    return value if math.isfinite(value) else None


def _state(text: str, low: float, high: float, integer: bool) -> QValidator.State:
    value = parse_typed_number(text)
    if value is None:
        return QValidator.State.Intermediate if _PARTIAL.match(text) else QValidator.State.Invalid
    if integer and value != int(value):
        return QValidator.State.Intermediate
    return QValidator.State.Acceptable if low <= value <= high else QValidator.State.Intermediate


class _TypedNumber:
    """What both boxes share: the whole text parsed (`parse_typed_number`), the red frame and the hint while the
    text is not acceptable, and `typed_value()`, which reads the text still being typed (a shortcut can start a
    run without the field losing focus). Mixed in before the Qt class, so its methods override Qt's."""

    _integer = False

    def _set_up(self) -> None:
        self.setKeyboardTracking(False)  # "1e9" must not pass through 1 on its way; the value is read at the end
        self.lineEdit().textEdited.connect(self._mark)
        self.editingFinished.connect(lambda: self._mark(self.cleanText()))

    def _bare(self, text: str) -> str:
        return text.removesuffix(self.suffix()) if self.suffix() else text

    def validate(self, text: str, position: int):
        return _state(self._bare(text), self.minimum(), self.maximum(), self._integer), text, position

    def _parsed(self, text: str):
        """The typed value, or the current one when the text is not a value of this box."""
        value = parse_typed_number(self._bare(text))
        if value is None or (self._integer and value != int(value)):
            return self.value()
        return int(value) if self._integer else value

    def typed_value(self):
        if self.cleanText() != self.textFromValue(self.value()):  # mid-edit; the shown text is rounded to 6 digits
            self.interpretText()
        return self.value()

    def _mark(self, text: str) -> None:
        wrong = _state(self._bare(text).strip(), self.minimum(), self.maximum(), self._integer) \
            != QValidator.State.Acceptable
        self.setStyleSheet(INVALID_STYLE if wrong else "")
        self.setToolTip(f"{HINT}, from {self.textFromValue(self.minimum())} to "
                        f"{self.textFromValue(self.maximum())}" if wrong else self._tooltip)

    def setToolTip(self, text: str) -> None:  # remember the field's own tooltip to restore it
        if not text.startswith(HINT):
            self._tooltip = text
        super().setToolTip(text)


class TypedDoubleSpinBox(_TypedNumber, QDoubleSpinBox):
    """A QDoubleSpinBox that reads `1e-3` and `8/255` and shows values compactly (6 significant digits)."""

    def __init__(self, parent=None):
        self._tooltip = ""
        super().__init__(parent)
        self.setDecimals(12)  # the value keeps what was typed; textFromValue decides what is shown
        self._set_up()

    def valueFromText(self, text: str) -> float:
        return self._parsed(text)

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"

    def minimumSizeHint(self) -> QSize:
        """Room for a value such as 0.0313725 (8/255): Qt sizes a spin box for the texts of its range's ends,
        here often "0" and "1", so a narrow form showed "0."."""
        hint = super().minimumSizeHint()
        metrics = self.fontMetrics()
        ends = max(metrics.horizontalAdvance(self.textFromValue(v)) for v in (self.minimum(), self.maximum()))
        room = metrics.horizontalAdvance(MINIMUM_SHOWN) - ends
        return QSize(hint.width() + max(room, 0), hint.height())


class TypedSpinBox(_TypedNumber, QSpinBox):
    """A QSpinBox that reads `1e3` as 1000 (and refuses `1e-3` visibly instead of reading 13)."""

    _integer = True

    def __init__(self, parent=None):
        self._tooltip = ""
        super().__init__(parent)
        self._set_up()

    def valueFromText(self, text: str) -> int:
        return self._parsed(text)

    def textFromValue(self, value: int) -> str:
        return str(value)
