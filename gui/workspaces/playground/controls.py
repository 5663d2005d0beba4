"""The playground's controls, top to bottom in the order of the post: the truth, the training data, the model,
the attack, the defenses, export. This module only builds the widgets and reads them as engine settings; the
workspace connects their buttons. The settings of the computations (model, attack, defense) are forms built
from the engine's declared parameters (`MlpConfig.PARAMS`, ...), so that the GUI, the CLI and `main.py list`
share one declaration; the truth and the points are the plane's own editing tools."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from engine.playground import PRESETS, AttackSettings, DefenseSettings, MlpConfig

from ...widgets.number_box import TypedDoubleSpinBox, TypedSpinBox
from ...widgets.param_form import ParamForm

MOUSE_MODES = {"add, move, remove points": None, "paint the cat region": 0, "paint the dog region": 1,
               "erase to neither": -1}


def spin(low: int, high: int, value: int, tip: str = "") -> QSpinBox:
    box = TypedSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def real_spin(low: float, high: float, value: float, step: float, decimals: int, tip: str = "") -> QDoubleSpinBox:
    box = TypedDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def declared_form(params) -> ParamForm:
    """The settings of a computation, built from its declared parameters with their defaults."""
    form = ParamForm()
    form.build(params, {})
    return form


def combo(items, tip: str = "") -> QComboBox:
    box = QComboBox()
    box.addItems(list(items))
    box.setToolTip(tip)
    return box


def buttons(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        row.addWidget(widget)
    return row


def note() -> QLabel:
    """Results under a group's buttons."""
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setStyleSheet("color: #444444;")
    return label


class PlaygroundControls(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for group in (self._truth(), self._data(), self._model(), self._attack(), self._defense()):
            layout.addWidget(group)
        self.export_button = QPushButton("Export PNG + CSV…")
        self.export_button.setToolTip("Save the plane as plane.png, and points.csv and counts.csv, in a folder")
        layout.addWidget(self.export_button)
        layout.addStretch(1)

    def _truth(self) -> QGroupBox:
        self.preset = combo(PRESETS, "The true regions: which two-pixel images are cats, dogs, or neither")
        self.cat_name, self.dog_name = QLineEdit("cat"), QLineEdit("dog")
        self.mouse_mode = combo(MOUSE_MODES, "What a click or a drag on the plane does")
        self.brush = real_spin(0.005, 0.3, 0.04, 0.01, 3, "Radius of the paint brush, in pixel units")
        self.shading = combo(("model probability", "true regions"), "What the plane is shaded with")
        form = QFormLayout()
        form.addRow("preset", self.preset)
        form.addRow("classes", buttons(self.cat_name, self.dog_name))
        form.addRow("mouse", self.mouse_mode)
        form.addRow("brush", self.brush)
        form.addRow("shading", self.shading)
        return self._group("1. The unknowable truth", form)

    def _data(self) -> QGroupBox:
        self.per_class = spin(1, 500, 6, "Points drawn from each class's true region")
        self.sample_seed = spin(0, 1_000_000, 0, "Seed of the draw")
        self.add_as = combo(("cat", "dog"), "The class of a point added by a click")
        self.sample_button, self.clear_button = QPushButton("Sample"), QPushButton("Clear")
        form = QFormLayout()
        form.addRow("per class", buttons(self.per_class, QLabel("seed"), self.sample_seed))
        form.addRow("clicks add", self.add_as)
        form.addRow(buttons(self.sample_button, self.clear_button))
        return self._group("2. Training data", form)

    def _model(self) -> QGroupBox:
        self.model_form = declared_form(MlpConfig.PARAMS.only(("hidden", "activation", "steps", "learning_rate",
                                                                "seed")))
        self.train_button, self.stop_button = QPushButton("Train"), QPushButton("Stop")
        self.reseed_button = QPushButton("New seed")
        self.reseed_button.setToolTip("Retrain from other initial weights: another boundary through the same data")
        self.train_status = note()
        return self._group("3. Model", self.model_form,
                           buttons(self.train_button, self.reseed_button, self.stop_button), self.train_status)

    def _attack(self) -> QGroupBox:
        self.attack_form = declared_form(AttackSettings.PARAMS.only(("method", "norm", "eps")))
        self.attack_button, self.attack_all_button = QPushButton("Attack selected"), QPushButton("Attack all")
        self.attack_status = note()
        self.attack_counts = note()
        return self._group("4. Attack", self.attack_form, buttons(self.attack_button, self.attack_all_button),
                           self.attack_status, self.attack_counts)

    def _defense(self) -> QGroupBox:
        self.defense_form = declared_form(DefenseSettings.PARAMS.only(("adversarial", "rounds", "augment", "copies",
                                                                       "jitter")))
        self.defend_button = QPushButton("Defend and retrain")
        self.defense_status = note()
        return self._group("5. Defend", self.defense_form, self.defend_button, self.defense_status)

    @staticmethod
    def _group(title: str, form: QFormLayout | ParamForm, *below: QWidget | QHBoxLayout) -> QGroupBox:
        """A titled group: a form, then (for a declared form) its buttons and notes underneath."""
        group = QGroupBox(title)
        if isinstance(form, ParamForm):
            layout = QVBoxLayout()
            layout.setSpacing(form.layout().verticalSpacing())
            layout.addWidget(form)
            for part in below:
                layout.addLayout(part) if isinstance(part, QHBoxLayout) else layout.addWidget(part)
            form = layout
        form.setContentsMargins(6, 4, 6, 4)
        group.setLayout(form)
        return group

    # --- reading ---------------------------------------------------------------------------------------------

    def class_names(self) -> tuple[str, str]:
        return (self.cat_name.text().strip() or "cat", self.dog_name.text().strip() or "dog")

    def paint_code(self) -> int | None:
        """The region a drag paints, or None in points mode."""
        return MOUSE_MODES[self.mouse_mode.currentText()]

    def mlp_config(self) -> MlpConfig:
        return MlpConfig.from_values(self.model_form.values())

    def attack_settings(self) -> AttackSettings:
        return AttackSettings.from_values(self.attack_form.values())

    def defense_settings(self) -> DefenseSettings:
        return DefenseSettings.from_values(self.defense_form.values())

    def next_model_seed(self) -> None:
        """Other initial weights for the next training."""
        seed = self.model_form.editor("seed")
        seed.set_value(seed.value() + 1)

    def set_values(self, **values) -> None:
        """Fill in a model's and an attack's settings by their declared names (the showcase's, a test's)."""
        for form in (self.model_form, self.attack_form, self.defense_form):
            form.fill({name: value for name, value in values.items() if name in form.editors})

    def set_busy(self, busy: bool, trained: bool, has_points: bool) -> None:
        for widget in (self.preset, self.sample_button, self.clear_button, self.train_button, self.reseed_button):
            widget.setEnabled(not busy)
        for widget in (self.attack_button, self.attack_all_button, self.defend_button):
            widget.setEnabled(not busy and trained and has_points)
        self.stop_button.setEnabled(busy)
