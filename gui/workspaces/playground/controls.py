"""The playground's controls, top to bottom in the order of the post: the truth, the training data, the model,
the attack, the defenses, export. This module only builds the widgets and reads them as engine settings; the
workspace connects their buttons."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from engine.playground import ACTIVATIONS, METHODS, PRESETS, AttackSettings, DefenseSettings, MlpConfig, parse_hidden

MOUSE_MODES = {"add, move, remove points": None, "paint the cat region": 0, "paint the dog region": 1,
               "erase to neither": -1}
NORM_TITLES = {"L∞ (square ball)": "inf", "L2 (round ball)": "2"}


def spin(low: int, high: int, value: int, tip: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def real_spin(low: float, high: float, value: float, step: float, decimals: int, tip: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    box.setToolTip(tip)
    return box


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
        self.hidden = QLineEdit("32, 32")
        self.hidden.setToolTip("Widths of the hidden layers, comma separated")
        self.activation = combo(ACTIVATIONS)
        self.steps = spin(1, 100_000, 600, "Full-batch Adam steps")
        self.learning_rate = real_spin(0.0001, 1.0, 0.01, 0.005, 4, "Adam's learning rate")
        self.model_seed = spin(0, 1_000_000, 0, "Seed of the initial weights")
        self.train_button, self.stop_button = QPushButton("Train"), QPushButton("Stop")
        self.reseed_button = QPushButton("New seed")
        self.reseed_button.setToolTip("Retrain from other initial weights: another boundary through the same data")
        self.train_status = note()
        form = QFormLayout()
        form.addRow("hidden", self.hidden)
        form.addRow("activation", self.activation)
        form.addRow("steps", buttons(self.steps, QLabel("lr"), self.learning_rate))
        form.addRow("seed", self.model_seed)
        form.addRow(buttons(self.train_button, self.reseed_button, self.stop_button))
        form.addRow(self.train_status)
        return self._group("3. Model", form)

    def _attack(self) -> QGroupBox:
        self.method = combo(METHODS, "DeepFool finds the smallest step; it succeeds only within eps")
        self.method.setCurrentText("PGD")
        self.norm = combo(NORM_TITLES)
        self.eps = real_spin(0.001, 1.0, 0.08, 0.01, 3, "Largest change allowed, in pixel units")
        self.attack_button, self.attack_all_button = QPushButton("Attack selected"), QPushButton("Attack all")
        self.attack_status = note()
        self.attack_counts = note()
        form = QFormLayout()
        form.addRow("method", self.method)
        form.addRow("norm", self.norm)
        form.addRow("eps", self.eps)
        form.addRow(buttons(self.attack_button, self.attack_all_button))
        form.addRow(self.attack_status)
        form.addRow(self.attack_counts)
        return self._group("4. Attack", form)

    def _defense(self) -> QGroupBox:
        self.adversarial = QCheckBox("adversarial training, rounds")
        self.adversarial.setChecked(True)
        self.rounds = spin(1, 20, 3, "Attack, add the end points with their true labels, retrain; repeated")
        self.augment = QCheckBox("jittered copies")
        self.copies = spin(1, 100, 8, "Copies of every point")
        self.jitter = real_spin(0.001, 0.5, 0.05, 0.01, 3, "How far a copy moves, per pixel")
        self.defend_button = QPushButton("Defend and retrain")
        self.defense_status = note()
        form = QFormLayout()
        form.addRow(buttons(self.adversarial, self.rounds))
        form.addRow(buttons(self.augment, self.copies, QLabel("±"), self.jitter))
        form.addRow(self.defend_button)
        form.addRow(self.defense_status)
        return self._group("5. Defend", form)

    @staticmethod
    def _group(title: str, form: QFormLayout) -> QGroupBox:
        group = QGroupBox(title)
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
        return MlpConfig(parse_hidden(self.hidden.text()), self.activation.currentText(), self.steps.value(),
                         self.learning_rate.value(), self.model_seed.value()).check()

    def attack_settings(self) -> AttackSettings:
        return AttackSettings(self.method.currentText(), self.eps.value(),
                              NORM_TITLES[self.norm.currentText()]).check()

    def defense_settings(self) -> DefenseSettings:
        return DefenseSettings(self.adversarial.isChecked(), self.augment.isChecked(), self.rounds.value(),
                               self.copies.value(), self.jitter.value()).check()

    def set_busy(self, busy: bool, trained: bool, has_points: bool) -> None:
        for widget in (self.preset, self.sample_button, self.clear_button, self.train_button, self.reseed_button):
            widget.setEnabled(not busy)
        for widget in (self.attack_button, self.attack_all_button, self.defend_button):
            widget.setEnabled(not busy and trained and has_points)
        self.stop_button.setEnabled(busy)
