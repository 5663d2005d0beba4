"""One form for every declared parameter (`engine.core.Param`): an editor per parameter, typed values out; each
parameter's tooltip gives its default for the loaded model (many differ between digit and ImageNet models)."""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QCheckBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QSizePolicy, QWidget

from engine.attacks import AttackSpec
from engine.core import Param, ParamSet

from .combo import ElidingComboBox
from .number_box import TypedDoubleSpinBox, TypedSpinBox
from .style import hint_label


def value_text(param: Param, value: Any) -> str:
    """A value as the form's user reads it: a choice's title, a pixel distance also in grey levels."""
    if param.choices and param.titles and value in param.choices:
        return param.titles[param.choices.index(value)]
    text = param.text(value)
    if param.unit == "pixel" and isinstance(value, float) and math.isfinite(value):
        text += f" (= {value * 255:.3g}/255)"
    return text


def accepted(param: Param) -> str:
    """What the parameter accepts: "[0, 1]", "(0, ∞)", "{2, inf}", "true/false", "text"."""
    if param.kind is bool:
        return "true/false"
    if param.kind is str:
        return "{" + ", ".join(param.choices) + "}" if param.choices else "text"
    no_low = param.minimum is None or param.minimum == -math.inf
    no_high = param.maximum is None or param.maximum == math.inf
    low = "−∞" if no_low else f"{param.minimum:.6g}"
    high = "∞" if no_high else f"{param.maximum:.6g}"
    span = f"{'(' if param.above or no_low else '['}{low}, {high}{')' if param.below or no_high else ']'}"
    unbounded = " or ∞ (no limit)" if not param.finite and not no_high else ""
    return span + unbounded + (f" or auto ({param.auto})" if param.auto else "")


def tooltip_text(param: Param, default: Any, others: Sequence[Any] = ()) -> str:
    """The help, the default the form started from and, when other models have other defaults (`others`), that
    it is the loaded model's and what the others' are; then what the parameter accepts."""
    if others:
        line = (f"default for the loaded model: {value_text(param, default)}; other models: "
                f"{', '.join(value_text(param, other) for other in others)}")
    else:
        line = f"default: {value_text(param, default)}"
    return f"{param.help}\n{line}\naccepts {accepted(param)}"


def other_defaults(param: Param, default: Any, domain_defaults: Mapping[str, Mapping[str, Any]]) -> list[Any]:
    """The defaults `param` has for other models (the declared one, and each domain's), when any differs from
    `default`; [] for a parameter whose default does not depend on the model."""
    candidates = [param.default] + [values[param.name] for values in domain_defaults.values() if param.name in values]
    if all(candidate == candidates[0] for candidate in candidates):
        return []  # the same for every model
    others: list[Any] = []
    for candidate in candidates:
        if candidate != default and candidate not in others:
            others.append(candidate)
    return others


class ParamEditor(ABC):
    """The widget(s) for one declared parameter, with typed get/set; its tooltip states `default`, set by the
    form for the loaded model."""

    def __init__(self, param: Param):
        self.param = param
        self.widget: QWidget
        self.default = param.default
        self.other_defaults: list[Any] = []

    @abstractmethod
    def value(self):
        """The typed value, None for "auto"."""

    @abstractmethod
    def set_value(self, value) -> None:
        """Show `value` (None for "auto")."""

    def tooltip(self) -> str:
        return tooltip_text(self.param, self.default, self.other_defaults)

    def set_default(self, default: Any, others: Sequence[Any] = ()) -> None:
        """The default the tooltip states (and the other models' defaults, when they differ)."""
        self.default, self.other_defaults = default, list(others)
        for widget in self.tooltip_widgets():
            widget.setToolTip(self.tooltip())

    def tooltip_widgets(self) -> list[QWidget]:
        """The widgets that show the parameter's tooltip (not the helpers with their own, like ∞ or auto)."""
        return [self.widget]


def _range(param: Param, default_low: float, default_high: float) -> tuple[float, float]:
    low = default_low if param.minimum is None else param.minimum
    high = default_high if param.maximum is None else param.maximum
    return low, high


class FloatEditor(ParamEditor):
    """A spin box; for pixel distances a second, linked one in grey levels (value × 255), so "8/255" can be
    typed as 8; for parameters that admit infinity ("no limit") an ∞ box."""

    def __init__(self, param: Param):
        super().__init__(param)
        self.spin = TypedDoubleSpinBox()  # takes 0.001, 1e-3 and 8/255 as typed
        self.spin.setRange(*_range(param, -1e6, 1e6))
        self.spin.setSingleStep(1 / 255 if param.unit == "pixel" else 0.01)
        self.spin.setToolTip(self.tooltip())
        self.grey: TypedDoubleSpinBox | None = None
        self.unbounded: QCheckBox | None = None
        parts: list[tuple[QWidget, int]] = [(self.spin, 3)]  # (widget, stretch) in the row
        if param.unit == "pixel":
            self.grey = TypedDoubleSpinBox()
            low, high = _range(param, 0.0, 1e6)
            self.grey.setRange(low * 255, high * 255)
            self.grey.setSuffix(" /255")
            self.grey.setToolTip("the same value in grey levels (1/255 of the pixel range)")
            self.spin.valueChanged.connect(self._sync_grey)
            self.grey.valueChanged.connect(self._sync_pixel)
            parts += [(QLabel("="), 0), (self.grey, 3)]
        if not param.finite:
            self.unbounded = QCheckBox("∞")
            self.unbounded.setToolTip("no limit")
            self.unbounded.toggled.connect(self._show_unbounded)
            self.no_limit = hint_label("no limit")
            self.no_limit.setVisible(False)
            parts += [(self.no_limit, 3), (self.unbounded, 0)]
        if len(parts) == 1:
            self.widget = self.spin
            return
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        for part, stretch in parts:
            row.addWidget(part, stretch)

    def tooltip_widgets(self) -> list[QWidget]:
        return [self.spin]

    def value(self) -> float:
        if self.unbounded is not None and self.unbounded.isChecked():
            return math.inf
        return float(self.spin.typed_value())

    def set_value(self, value) -> None:
        value = float(value)
        if self.unbounded is not None:
            self.unbounded.setChecked(math.isinf(value))
        if math.isfinite(value):
            self.spin.setValue(value)
            self._sync_grey(self.spin.value())

    def _show_unbounded(self, unbounded: bool) -> None:
        for widget in (self.spin, self.grey):
            if widget is not None:
                widget.setVisible(not unbounded)
        self.no_limit.setVisible(unbounded)

    def _sync_grey(self, value: float) -> None:
        if self.grey is not None and abs(self.grey.value() - value * 255) > 0.005:
            with QSignalBlocker(self.grey):
                self.grey.setValue(value * 255)

    def _sync_pixel(self, grey: float) -> None:
        with QSignalBlocker(self.spin):
            self.spin.setValue(grey / 255)


class IntEditor(ParamEditor):
    """A spin box, with an "auto" box when the attack can choose the value itself; while "auto" is ticked the
    rule it follows takes the spin box's place."""

    def __init__(self, param: Param):
        super().__init__(param)
        self.spin = TypedSpinBox()
        low, high = _range(param, -(2**31 - 1), 2**31 - 1)
        self.spin.setRange(int(low), int(min(high, 2**31 - 1)))
        self.spin.setToolTip(self.tooltip())
        self.auto: QCheckBox | None = None
        if not param.auto:
            self.widget = self.spin
            return
        self.auto = QCheckBox("auto")
        self.auto.setToolTip(f"computed by the attack: {param.auto}")
        self.rule = hint_label(param.auto)
        self.rule.setWordWrap(False)
        self.rule.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # clip, not widen
        self.rule.setToolTip(self.auto.toolTip())
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.spin, 1)
        row.addWidget(self.rule, 1)
        row.addWidget(self.auto)
        self.auto.toggled.connect(self._show_auto)
        self._show_auto(False)

    def _show_auto(self, automatic: bool) -> None:
        self.spin.setVisible(not automatic)
        self.rule.setVisible(automatic)

    def tooltip_widgets(self) -> list[QWidget]:
        return [self.spin]

    def value(self) -> int | None:
        if self.auto is not None and self.auto.isChecked():
            return None
        return int(self.spin.typed_value())

    def set_value(self, value) -> None:
        if self.auto is not None:
            self.auto.setChecked(value is None)
        if value is not None:
            self.spin.setValue(int(value))


class ChoiceEditor(ParamEditor):
    def __init__(self, param: Param):
        super().__init__(param)
        self.widget = self.combo = ElidingComboBox()  # long titles end in "…" in a narrow form
        titles = param.titles or param.choices
        for choice, title in zip(param.choices, titles):
            self.combo.addItem(title, choice)
        self.combo.setToolTip(self.tooltip())

    def value(self) -> str:
        return self.combo.currentData()

    def set_value(self, value) -> None:
        index = self.combo.findData(str(value))
        if index >= 0:
            self.combo.setCurrentIndex(index)


class TextEditor(ParamEditor):
    """A line of free text (a `str` parameter without choices), parsed by the declaration when the values are
    resolved, so that a typing error is reported with the parameter's own message."""

    def __init__(self, param: Param):
        super().__init__(param)
        self.widget = self.line = QLineEdit()
        self.line.setToolTip(self.tooltip())

    def value(self) -> str:
        return self.line.text()

    def set_value(self, value) -> None:
        self.line.setText(value if isinstance(value, str) else self.param.text(value))


class BoolEditor(ParamEditor):
    def __init__(self, param: Param):
        super().__init__(param)
        self.widget = self.check = QCheckBox()
        self.check.setToolTip(self.tooltip())

    def value(self) -> bool:
        return self.check.isChecked()

    def set_value(self, value) -> None:
        self.check.setChecked(bool(value))


def editor_for(param: Param) -> ParamEditor:
    if param.kind is bool:
        return BoolEditor(param)
    if param.choices:
        return ChoiceEditor(param)
    if param.kind is str:
        return TextEditor(param)
    if param.kind is int:
        return IntEditor(param)
    return FloatEditor(param)


class ParamForm(QWidget):
    """A form generated from declared parameters (an attack's, an ascent's, the playground's, ...)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors: dict[str, ParamEditor] = {}
        self.labels: dict[str, QLabel] = {}
        self.domain_defaults: Mapping[str, Mapping[str, Any]] = {}

    def build(self, params: Sequence[Param] | AttackSpec | ParamSet, values: dict, defaults: dict | None = None,
              domain_defaults: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Editors showing `values`. The tooltips state `defaults` as the defaults for the loaded model (the
        `values` themselves when not given: most forms start from them; a form that brings back what the user
        typed passes the defaults). Where the defaults differ between models (`domain_defaults`, else those of
        an AttackSpec or ParamSet) the tooltip says so and gives the others."""
        self.domain_defaults = domain_defaults if domain_defaults is not None else \
            getattr(params, "domain_defaults", None) or {}
        params = getattr(params, "params", params)
        while self.layout_.rowCount():
            self.layout_.removeRow(0)
        self.editors, self.labels = {}, {}
        for param in params:
            editor = editor_for(param)
            editor.set_value(values.get(param.name, param.default))
            label = QLabel(param.name.replace("_", " "))
            self.layout_.addRow(label, editor.widget)
            self.editors[param.name], self.labels[param.name] = editor, label
        self.set_defaults(values if defaults is None else defaults)

    def set_defaults(self, defaults: dict) -> None:
        """The defaults the tooltips state: those of the model loaded now (the values shown are not changed)."""
        for name, editor in self.editors.items():
            default = defaults.get(name, editor.param.default)
            editor.set_default(default, other_defaults(editor.param, default, self.domain_defaults))
            self.labels[name].setToolTip(editor.tooltip())

    def fill(self, values: dict) -> None:
        for name, value in values.items():
            if name in self.editors:
                self.editors[name].set_value(value)

    def editor(self, name: str) -> ParamEditor:
        return self.editors[name]

    def values(self) -> dict:
        return {name: editor.value() for name, editor in self.editors.items()}
