"""The Compare workspace's settings, each form built from the engine's declarations: the images (held-out digits
or a folder of class subfolders, and how many), the robustness table's attacks, the transfer matrix's attack,
and the dialog of the cross-training-set run (architecture, its options, epochs)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QGroupBox, QVBoxLayout, QWidget

from engine.architectures import ARCHITECTURES
from engine.attacks import ATTACKS, get_attack
from engine.attacks.base import AttackSpec
from engine.training import TRAINING
from engine.training.comparisons import COMPARISON

from ...session import FOLDER, HELDOUT, DatasetSource
from ...widgets.dataset_box import DatasetBox
from ...widgets.param_form import ParamForm
from ...widgets.style import hint_label

HALF_TRAINING = ("epochs", "batch_size", "lr", "seed")  # the training settings the dialog offers
HALF_EPOCHS = 3  # the dialog's first epochs: a few minutes for both halves of the built-in CNN on this CPU


def per_image_attacks() -> list[str]:
    return [name for name, spec in ATTACKS.items() if not spec.universal]


def differs(value: Any, default: Any) -> bool:
    """Whether a form value is the user's rather than the default it was shown with (a spin box rounds, so
    8/255 comes back as 0.031373)."""
    if isinstance(value, float) and isinstance(default, (int, float)) and not isinstance(default, bool):
        return not math.isclose(value, default, rel_tol=1e-4, abs_tol=1e-6)
    return value != default


class AttackSettings(QGroupBox):
    """An attack chosen from `attacks` and its declared parameters, shown with the defaults of the models'
    domain. `given(attack)` is what the user changed, so that each model keeps its own domain's defaults for
    the rest; the values of the attacks not shown are remembered."""

    def __init__(self, title: str, attacks: Sequence[str], chosen: str, hint: str = ""):
        super().__init__(title)
        self.domain = "mnist"
        self.attack = QComboBox()
        for name in attacks:
            self.attack.addItem(get_attack(name).title, name)
        self.form = ParamForm()
        self._kept: dict[str, dict[str, Any]] = {}  # attack -> the values its form last held
        self._shown = chosen
        layout = QFormLayout(self)
        layout.addRow("attack", self.attack)
        layout.addRow(self.form)
        if hint:
            layout.addRow(hint_label(hint))
        self.attack.setCurrentIndex(max(0, self.attack.findData(chosen)))
        self.attack.currentIndexChanged.connect(self._show_attack)
        self._build(chosen)

    @property
    def spec(self) -> AttackSpec:
        return get_attack(self.attack.currentData())

    def set_domain(self, domain: str) -> None:
        """New defaults for another kind of model: the values typed so far are dropped."""
        if domain != self.domain:
            self.domain, self._kept = domain, {}
            self._build(self._shown)

    def given(self, attack: str | None = None) -> dict[str, Any]:
        """The values of `attack` (the one shown by default) that differ from the domain's defaults, checked
        (ParameterError naming the parameter)."""
        attack = attack or self._shown
        spec = get_attack(attack)
        values = self.form.values() if attack == self._shown else self._kept.get(attack, {})
        defaults = spec.defaults(self.domain)
        given = {name: value for name, value in values.items() if differs(value, defaults.get(name))}
        spec.resolve(given, self.domain)
        return given

    def fill(self, attack: str, values: dict[str, Any]) -> None:
        """Set some of `attack`'s values (tests, showcase)."""
        self.attack.setCurrentIndex(self.attack.findData(attack))
        self.form.fill(values)

    @Slot(int)
    def _show_attack(self, _index: int) -> None:
        self._kept[self._shown] = self.form.values()
        self._build(self.attack.currentData())

    def _build(self, attack: str) -> None:
        self._shown = attack
        spec = get_attack(attack)
        self.form.build(spec, self._kept.get(attack, spec.defaults(self.domain)), spec.defaults(self.domain))
        self.attack.setToolTip(spec.summary)


class ImagesBox(QGroupBox):
    """The labelled images of the comparisons: `source()` is what the run reads, in its worker."""

    def __init__(self):
        super().__init__("Images")
        self.dataset = DatasetBox({HELDOUT: "the held-out digits", FOLDER: "a folder of class subfolders…"},
                                  "A folder with one subfolder of images per class")
        self.dataset.offer((HELDOUT, FOLDER), HELDOUT)
        self.dataset.setToolTip("true labels are needed: the held-out digits, or a folder with one subfolder per "
                                "class named as the models' classes (or their indices)")
        self.form = ParamForm()
        self.form.build(COMPARISON, {})
        layout = QVBoxLayout(self)
        layout.addWidget(self.dataset)
        layout.addWidget(self.form)

    def source(self) -> DatasetSource:
        return self.dataset.source(self.values()["count"])

    def values(self) -> dict[str, Any]:
        return COMPARISON.resolve(self.form.values())


class CrossHalvesDialog(QDialog):
    """One architecture trained on each disjoint half of the shipped training digits; `settings()` reads the
    forms as typed values (ParameterError if wrong)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Cross-training-set: two halves of the training digits")
        self.arch = QComboBox()
        for name, spec in ARCHITECTURES.items():
            self.arch.addItem(name)
            self.arch.setItemData(self.arch.count() - 1, spec.summary, 3)  # tooltip role
        self.arch_form, self.training_form = ParamForm(), ParamForm()
        self.training_form.build(TRAINING.only(HALF_TRAINING), {"epochs": HALF_EPOCHS})
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Train both and compare")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QFormLayout(self)
        layout.addRow(hint_label("The architecture is trained on each of two disjoint halves of the 4,000 "
                                 "training digits (2,000 each), then the transfer matrix is made over both nets and "
                                 "the checked models, with the transfer matrix's attack."))
        layout.addRow("architecture", self.arch)
        layout.addRow(self.arch_form)
        layout.addRow(self.training_form)
        layout.addRow(buttons)
        self.arch.currentTextChanged.connect(self._arch_chosen)
        self._arch_chosen(self.arch.currentText())

    @Slot(str)
    def _arch_chosen(self, name: str) -> None:
        spec = ARCHITECTURES[name]
        self.arch.setToolTip(spec.summary)
        self.arch_form.build(spec.options, {})
        # the offered training values: the architecture's recipe where it has one (repu), else the dialog's own
        self.training_form.build(TRAINING.only(HALF_TRAINING), {"epochs": HALF_EPOCHS, **spec.training_defaults})

    def settings(self) -> tuple[str, dict, dict]:
        """(architecture, the training values set here, the architecture's options), checked; the training
        settings not offered keep the halves' defaults (no robust accuracy per epoch)."""
        arch, training = self.arch.currentText(), self.training_form.values()
        TRAINING.resolve(training)
        return arch, training, ARCHITECTURES[arch].options.resolve(self.arch_form.values())
