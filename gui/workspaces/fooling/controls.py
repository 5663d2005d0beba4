"""The Fooling workspace's column of settings: the method, the classes, one form per declared parameter set the
method reads (`engine.fooling.runs.parameter_sets`, with the defaults of the model's domain), the second model,
the buttons and the summary of the last run."""
from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QAbstractSpinBox, QComboBox, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QVBoxLayout,
                               QWidget)

from engine.core.classes import parse_classes
from engine.core.errors import ParameterError
from engine.fooling.runs import CPPN_ENCODING, DIRECT_ONLY, GRADIENT, METHOD_TITLES, METHODS, parameter_sets
from engine.models import LoadedModel

from ...widgets.layout import ScrollingPanel
from ...widgets.param_form import ParamForm
from ...widgets.style import hint_label

# The classes a new model starts with: every digit; for ImageNet a few of the paper's figure 1 (ostrich, king
# penguin, starfish, baseball, electric guitar, school bus), each generation costing a full batch at 224 px.
IMAGENET_CLASSES = "9,145,327,429,546,779"
FEW_CLASSES = 20  # a model with at most this many classes starts with all of them
SET_TITLES = {"fooling": "Evolution (MAP-Elites)", "cppn": "CPPN genome", "fooling-ascent": "Gradient ascent"}
NARROW_CHOICES = 8  # characters a choice box needs at least; longer titles are elided, never widen the column
EDITOR_WIDTH = 80  # px a spin box needs at least


def default_classes(model: LoadedModel) -> str:
    if model.domain == "imagenet":
        return IMAGENET_CLASSES
    return f"0-{model.num_classes - 1}" if model.num_classes <= FEW_CLASSES else "0-9"


def shown_params(method: str, params) -> tuple:
    """The declarations a form shows for one of the method's sets: the CPPN does not vary pixels."""
    return tuple(p for p in params.params if not (method == CPPN_ENCODING and p.name in DIRECT_ONLY))


def narrow_editors(form: ParamForm) -> None:
    """The form's editors as narrow as the column: a spin box would otherwise be as wide as its largest value
    (a million) and a choice box as its longest title (elided here; the list shows it whole)."""
    for combo in form.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(NARROW_CHOICES)
    for spin in form.findChildren(QAbstractSpinBox):
        spin.setMinimumWidth(EDITOR_WIDTH)


class FoolingControls(QWidget):
    """`values(method)` is the flat dict of a method's form values (the one shown, or as last shown: the
    methods share the values of the parameters they have in common);
    `classes(model)` the chosen class indices (ParameterError if the text is wrong)."""

    method_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.domain = "mnist"
        self.method = QComboBox()
        self.method.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.method.setMinimumContentsLength(NARROW_CHOICES)
        for method in METHODS:
            self.method.addItem(METHOD_TITLES[method], method)
        self.method.setToolTip("MAP-Elites evolution of a pixel or CPPN genome per class (Nguyen et al. 2015), "
                               "or gradient ascent of each class's softmax probability")
        self.classes_edit = QLineEdit()
        self.classes_edit.setToolTip("a range (0-9), a list (1,5,7), both mixed, or all")
        self.classes_hint = hint_label()
        self.forms: list[tuple[QGroupBox, ParamForm]] = []
        self._typed: dict[str, Any] = {}  # parameter name -> the value its form last held (shared by methods)
        self._shown = METHODS[0]
        self.forms_box = QVBoxLayout()
        self.forms_box.setContentsMargins(0, 0, 0, 0)
        self._make_buttons()
        self.second_edit = QLineEdit()
        self.second_edit.setPlaceholderText("a model file or name, e.g. mnist-cnn")
        self.second_edit.setToolTip("another classifier of the same classes: a built-in or torchvision name, or a "
                                    "model file; Enter loads it")
        self.second_label = hint_label("No second model: load one to see whether the rubbish transfers.")
        self.summary = QLabel("Choose a method and the classes, then Run.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # wraps, never widens
        self._lay_out()
        self.method.currentIndexChanged.connect(self._method_chosen)
        self._build(self._shown)

    def _make_buttons(self) -> None:
        self.run_button, self.stop_button = QPushButton("Run"), QPushButton("Stop")
        self.resume_button, self.resume_file_button = QPushButton("Resume"), QPushButton("Resume from file…")
        self.export_button = QPushButton("Export…")
        self.second_button, self.load_second_button = QPushButton("Second model…"), QPushButton("Load")
        self.forget_second_button = QPushButton("Forget")
        self.run_button.setToolTip("a new archive from a random initial population (gradient ascent: from noise)")
        self.stop_button.setToolTip("end the run after the current generation, keeping the archive")
        self.resume_button.setToolTip("continue the archive up to the generations set (raise it to go further)")
        self.resume_file_button.setToolTip("continue an elites.npz written by Export or `main.py fool` (same "
                                           "method and settings) up to the generations set")
        self.export_button.setToolTip("write elites.npz (re-loadable), a PNG per class, contact_sheet.png, "
                                      "confidence.csv and elites.csv (with the second model's verdict) into a folder")
        self.second_button.setToolTip("choose the model file the elites are shown to")
        self.load_second_button.setToolTip("load the model named in the field")

    def _lay_out(self) -> None:
        method = QGroupBox("Fooling images")
        rows = QFormLayout(method)
        rows.addRow("method", self.method)
        rows.addRow("classes", self.classes_edit)
        rows.addRow(self.classes_hint)
        second = QGroupBox("Second model")
        column = QVBoxLayout(second)
        line = QHBoxLayout()
        line.addWidget(self.second_edit, 1)
        line.addWidget(self.load_second_button)
        column.addLayout(line)
        line = QHBoxLayout()
        line.addWidget(self.second_button)
        line.addWidget(self.forget_second_button)
        column.addLayout(line)
        column.addWidget(self.second_label)
        forms = QWidget()
        layout = QVBoxLayout(forms)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(method)
        layout.addLayout(self.forms_box)
        layout.addWidget(second)
        layout.addStretch(1)
        scroll = ScrollingPanel(forms)  # the forms scroll; the buttons and the summary below them stay in view
        buttons = QGridLayout()
        buttons.addWidget(self.run_button, 0, 0)
        buttons.addWidget(self.stop_button, 0, 1)
        buttons.addWidget(self.resume_button, 0, 2)
        buttons.addWidget(self.resume_file_button, 1, 0, 1, 2)
        buttons.addWidget(self.export_button, 1, 2)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(scroll, 1)
        outer.addLayout(buttons)
        outer.addWidget(self.summary)

    # --- the model and the method ----------------------------------------------------------------------------

    def show_model(self, model: LoadedModel) -> None:
        """A new model: its domain's defaults replace the values typed so far, and its default classes."""
        self.domain, self._typed = model.domain, {}
        self.classes_edit.setText(default_classes(model))
        self._build(self._shown)

    @property
    def chosen_method(self) -> str:
        return self.method.currentData()

    def choose_method(self, method: str) -> None:
        self.method.setCurrentIndex(self.method.findData(method))

    @Slot(int)
    def _method_chosen(self, _index: int) -> None:
        self._typed.update(self._form_values())
        self._build(self.chosen_method)
        self.method_changed.emit(self.chosen_method)

    def _build(self, method: str) -> None:
        self._shown = method
        for group, _form in self.forms:
            self.forms_box.removeWidget(group)
            group.hide()  # gone from the view now; deleted once the event loop gets to it
            group.deleteLater()
        self.forms = []
        for params in parameter_sets(method):
            group = QGroupBox(SET_TITLES.get(params.name, params.name))
            group.setToolTip(params.summary)
            form = ParamForm()
            form.build(shown_params(method, params), {**params.defaults(self.domain), **self._typed},
                       params.defaults(self.domain), params.domain_defaults)  # the tooltips' defaults
            narrow_editors(form)
            QVBoxLayout(group).addWidget(form)
            self.forms_box.addWidget(group)
            self.forms.append((group, form))

    def _form_values(self) -> dict[str, Any]:
        return {name: value for _group, form in self.forms for name, value in form.values().items()}

    def values(self, method: str | None = None) -> dict[str, Any]:
        method = method or self._shown
        if method == self._shown:
            return self._form_values()
        return {p.name: self._typed.get(p.name, params.defaults(self.domain)[p.name])
                for params in parameter_sets(method) for p in shown_params(method, params)}

    def fill(self, values: dict[str, Any]) -> None:
        """Set some of the shown method's values (tests, showcase)."""
        for _group, form in self.forms:
            form.fill(values)

    def total(self, method: str | None = None) -> int:
        """The generations (gradient ascent: steps) the form asks for."""
        values = self.values(method)
        return int(values.get("steps" if (method or self._shown) == GRADIENT else "generations", 0))

    def classes(self, model: LoadedModel) -> list[int]:
        return parse_classes(self.classes_edit.text(), model.num_classes) or list(range(model.num_classes))

    def show_classes_hint(self, model: LoadedModel | None) -> None:
        """How many classes the field names, or why it names none."""
        if model is None:
            self.classes_hint.setText("load a model first")
            return
        try:
            chosen = self.classes(model)
        except ParameterError as error:
            self.classes_hint.setText(html.escape(str(error)))
            return
        names = ", ".join(model.class_names[c] for c in chosen[:4]) + (", …" if len(chosen) > 4 else "")
        self.classes_hint.setText(f"{len(chosen)} of {model.num_classes} classes: {html.escape(names)}")

    # --- state -----------------------------------------------------------------------------------------------

    def show_run(self, text: str) -> None:
        self.summary.setText(text)

    def set_state(self, running: bool, exporting: bool, loading: bool, resumable: bool, exportable: bool,
                  has_model: bool, resume_note: str) -> None:
        """Buttons by what is going on: a run, an export (which reads the archive a run would change), the
        second model's loading, and what is kept."""
        gradient = self.chosen_method == GRADIENT
        idle = has_model and not running and not exporting
        self.run_button.setEnabled(idle)
        self.stop_button.setEnabled(running)
        self.resume_button.setEnabled(idle and resumable)
        self.resume_button.setToolTip(resume_note)
        self.resume_file_button.setEnabled(idle and not gradient)
        self.export_button.setEnabled(not running and not exporting and exportable)
        for widget in (self.second_button, self.load_second_button, self.second_edit, self.forget_second_button):
            widget.setEnabled(has_model and not loading)
        self.method.setEnabled(not running)
