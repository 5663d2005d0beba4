"""The controls around the workspace: model chooser, image strip, attack form and batch table. Panels emit
what the user asked for; the main window turns requests into session / run-model commands."""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSignalBlocker, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QCheckBox, QComboBox, QCompleter, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QListView, QListWidget, QListWidgetItem, QPushButton, QRadioButton, QSizePolicy,
                               QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.attacks import ATTACKS, AttackResult, AttackSpec, Param
from engine.data import ARRAY_SUFFIXES, IMAGE_SUFFIXES, ImageBatch
from engine.errors import ParameterError
from engine.export import describe_params
from engine.models import (BUILTIN_MODELS, MODEL_FILE_SUFFIXES, RANDOM_WEIGHTS_SUFFIX, LoadedModel,
                           model_choices)

from .imaging import thumbnail
from .run_model import RunRequest
from .session import FOLDER, HELDOUT, LOADED, DatasetSource

DEFAULT_ATTACK = "pgd"
FOOLED_COLOUR = QColor(200, 50, 50)
HELD_COLOUR = QColor(40, 120, 60)
NATURAL_TOOLTIP = Qt.ItemDataRole.UserRole  # a thumbnail's tooltip before any run


def hint_label(text: str = "") -> QLabel:
    """A wrapped, muted line of explanation under a control."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #666;")
    return label


# --- model -----------------------------------------------------------------------------------------------------

def looks_like_file(spec: str) -> bool:
    return Path(spec).suffix in MODEL_FILE_SUFFIXES or "/" in spec or "\\" in spec


class ModelPanel(QGroupBox):
    """Built-in and zoo models by name, or a model file; the device; Load."""

    load_requested = Signal(str, str, object)  # spec, device, arch (None unless a state-dict file)

    def __init__(self, devices: list[str], default_device: str, parent: QWidget | None = None):
        super().__init__("Model", parent)
        self.name_combo = QComboBox()
        self.name_combo.setEditable(True)  # any torchvision classification model name works too
        self.name_combo.addItems(list(model_choices()))
        self.name_combo.setToolTip("A built-in model, a torchvision ImageNet model (weights from torch's cache), "
                                   "or a model file. Type any torchvision classification model name.")
        self.open_button = QPushButton("Open model file…")
        self.open_button.setToolTip("TorchScript, torch.export (.pt2) or a state dict (then pick its "
                                    "architecture). Files are read with weights_only=True: no pickled code runs.")
        self.arch_combo = QComboBox()
        self.arch_combo.addItems(list(model_choices()))
        self.arch_combo.setToolTip("The network a state-dict file belongs to")
        self.random_check = QCheckBox("random weights (no download)")
        self.random_check.setToolTip("Untrained weights: for trying the interface on ImageNet-sized models offline")
        self.device_combo = QComboBox()
        self.device_combo.addItems(devices)
        self.device_combo.setCurrentText(default_device)
        self.load_button = QPushButton("Load model")
        self.info = hint_label()

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Model", self.name_combo)
        form.addRow("", self.open_button)
        form.addRow("Architecture", self.arch_combo)
        form.addRow("", self.random_check)
        form.addRow("Device", self.device_combo)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.load_button)
        layout.addWidget(self.info)

        self.open_button.clicked.connect(self._choose_file)
        self.load_button.clicked.connect(self._request_load)
        self.name_combo.currentTextChanged.connect(self._update_enabled)
        self._update_enabled(self.name_combo.currentText())

    def spec(self) -> str:
        name = self.name_combo.currentText().strip()
        random = self.random_check.isEnabled() and self.random_check.isChecked()
        return name + RANDOM_WEIGHTS_SUFFIX if random else name

    def set_spec(self, spec: str) -> None:
        self.name_combo.setCurrentText(spec.removesuffix(RANDOM_WEIGHTS_SUFFIX))
        self.random_check.setChecked(spec.endswith(RANDOM_WEIGHTS_SUFFIX))

    def show_model(self, model: LoadedModel) -> None:
        shape = "×".join(map(str, model.input_shape))
        notes = "".join(f"<br>{note}" for note in model.notes)
        self.info.setText(f"<b>{model.name}</b> · {shape} · {model.num_classes} classes"
                          f"<br>on {model.device} · {model.source}{notes}")
        self.info.setToolTip(model.source)

    @Slot(str)
    def _update_enabled(self, text: str) -> None:
        is_file = looks_like_file(text.strip())
        self.arch_combo.setEnabled(is_file)
        self.random_check.setEnabled(not is_file and text.strip() not in BUILTIN_MODELS)

    def _choose_file(self) -> None:
        suffixes = " ".join(f"*{s}" for s in MODEL_FILE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Open a model file", "",
                                              f"PyTorch models ({suffixes});;All files (*)")
        if path:
            self.name_combo.setCurrentText(path)

    def _request_load(self) -> None:
        spec = self.spec()
        arch = self.arch_combo.currentText() if looks_like_file(spec) else None
        self.load_requested.emit(spec, self.device_combo.currentText(), arch)


# --- images ----------------------------------------------------------------------------------------------------

class ImagesPanel(QGroupBox):
    """Thumbnails of the loaded images, each captioned with the model's prediction (and, after a run, the
    prediction on the attacked image)."""

    samples_requested = Signal()
    files_requested = Signal(list)
    clear_requested = Signal()
    image_selected = Signal(int)

    ICON_SIDE = 64

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Images", parent)
        self.samples_button = QPushButton("Samples")
        self.samples_button.setToolTip("Held-out digits for digit models, packaged photographs for the others")
        self.files_button = QPushButton("Open images…")
        self.folder_button = QPushButton("Open folder…")
        self.clear_button = QPushButton("Clear")
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(self.ICON_SIDE, self.ICON_SIDE))
        self.list.setGridSize(QSize(self.ICON_SIDE + 16, self.ICON_SIDE + 40))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        buttons = QGridLayout()
        buttons.addWidget(self.samples_button, 0, 0)
        buttons.addWidget(self.clear_button, 0, 1)
        buttons.addWidget(self.files_button, 1, 0)
        buttons.addWidget(self.folder_button, 1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.list, 1)
        layout.addWidget(hint_label("Drop image files or folders onto the window to add them."))
        self.samples_button.clicked.connect(self.samples_requested)
        self.clear_button.clicked.connect(self.clear_requested)
        self.files_button.clicked.connect(self._choose_files)
        self.folder_button.clicked.connect(self._choose_folder)
        self.list.currentRowChanged.connect(self._on_row_changed)

    def set_buttons_enabled(self, enabled: bool) -> None:
        for button in (self.samples_button, self.files_button, self.folder_button, self.clear_button):
            button.setEnabled(enabled)

    def show_images(self, batch: ImageBatch | None, probs: torch.Tensor | None, class_names) -> None:
        with QSignalBlocker(self.list):
            self.list.clear()
            if batch is None:
                return
            preds = probs.argmax(dim=1)
            for i, name in enumerate(batch.names):
                label = int(preds[i])
                item = QListWidgetItem(QIcon(thumbnail(batch.images[i], self.ICON_SIDE)),
                                       self._caption(class_names[label], f" {100 * float(probs[i, label]):.0f}%"))
                item.setToolTip(f"{name}\nprediction: {class_names[label]} ({100 * float(probs[i, label]):.1f}%)")
                item.setData(NATURAL_TOOLTIP, item.toolTip())
                item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
                self.list.addItem(item)

    def show_outcomes(self, indices, result: AttackResult, class_names) -> None:
        """Append the attacked prediction to each attacked thumbnail: red when fooled."""
        for run_index, loaded_index in enumerate(indices):
            item = self.list.item(loaded_index)
            if item is None:
                continue
            before = item.text().split("\n")[0]
            after = int(result.pred_after[run_index])
            fooled = bool(result.fooled[run_index])
            item.setText(f"{before}\n{self._caption('→ ' + class_names[after])}")
            item.setForeground(FOOLED_COLOUR if fooled else HELD_COLOUR)
            confidence = 100 * float(result.probs_after[run_index, after])
            outcome = "fooled" if fooled else "not fooled"
            item.setToolTip(f"{item.data(NATURAL_TOOLTIP)}\nattacked: {class_names[after]} ({confidence:.1f}%), "
                            f"{outcome}")

    def _caption(self, name: str, suffix: str = "") -> str:
        """One line under a thumbnail: the class name shortened with … so that `suffix` still fits."""
        metrics = self.list.fontMetrics()
        room = self.list.gridSize().width() - 6 - metrics.horizontalAdvance(suffix)
        return metrics.elidedText(name, Qt.TextElideMode.ElideRight, room) + suffix

    def select(self, index: int) -> None:
        with QSignalBlocker(self.list):
            self.list.setCurrentRow(index)
        if index >= 0 and self.list.item(index) is not None:
            self.list.scrollToItem(self.list.item(index))

    @Slot(int)
    def _on_row_changed(self, row: int) -> None:
        if row >= 0:
            self.image_selected.emit(row)

    def _choose_files(self) -> None:
        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES + ARRAY_SUFFIXES)
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", "",
                                                f"Images and arrays ({patterns});;All files (*)")
        if paths:
            self.files_requested.emit(paths)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images")
        if folder:
            self.files_requested.emit([folder])


# --- the parameter form ----------------------------------------------------------------------------------------

class ParamEditor(ABC):
    """The widget(s) for one declared parameter, with typed get/set."""

    def __init__(self, param: Param):
        self.param = param
        self.widget: QWidget

    @abstractmethod
    def value(self):
        """The typed value, None for "auto"."""

    @abstractmethod
    def set_value(self, value) -> None:
        """Show `value` (None for "auto")."""

    def tooltip(self) -> str:
        return f"{self.param.help}\n{self.param.describe()}"


def _range(param: Param, default_low: float, default_high: float) -> tuple[float, float]:
    low = default_low if param.minimum is None else param.minimum
    high = default_high if param.maximum is None else param.maximum
    return low, high


def decimals_for(param: Param) -> int:
    """Enough decimals to show the smallest allowed value (a spin box rounds its range to its decimals)."""
    base = 6 if param.unit == "pixel" else 4
    if param.minimum is not None and 0 < param.minimum < 1:
        return max(base, math.ceil(-math.log10(param.minimum)))
    return base


class FloatEditor(ParamEditor):
    """A spin box; for pixel distances a second, linked one in grey levels (value × 255), so "8/255" can be
    typed as 8; for parameters that admit infinity ("no limit") an ∞ box."""

    def __init__(self, param: Param):
        super().__init__(param)
        self.spin = QDoubleSpinBox()
        self.spin.setDecimals(decimals_for(param))
        self.spin.setRange(*_range(param, -1e6, 1e6))
        self.spin.setSingleStep(1 / 255 if param.unit == "pixel" else 0.01)
        self.spin.setToolTip(self.tooltip())
        self.grey: QDoubleSpinBox | None = None
        self.unbounded: QCheckBox | None = None
        parts: list[tuple[QWidget, int]] = [(self.spin, 3)]  # (widget, stretch) in the row
        if param.unit == "pixel":
            self.grey = QDoubleSpinBox()
            self.grey.setDecimals(2)
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

    def value(self) -> float:
        if self.unbounded is not None and self.unbounded.isChecked():
            return math.inf
        return float(self.spin.value())

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
        self.spin = QSpinBox()
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

    def value(self) -> int | None:
        if self.auto is not None and self.auto.isChecked():
            return None
        return int(self.spin.value())

    def set_value(self, value) -> None:
        if self.auto is not None:
            self.auto.setChecked(value is None)
        if value is not None:
            self.spin.setValue(int(value))


def describe_goal(result: AttackResult, class_names) -> str:
    """" towards 7", " towards ranks 2..4" (each image has its own classes there), or "" when untargeted."""
    if result.target is None:
        return ""
    if result.target.dim() == 1:
        return f" towards {class_names[int(result.target[0])]}"
    first = int(result.params.get("first_rank", 1))
    return f" towards ranks {first}..{first + result.target.shape[1] - 1}"


class ChoiceEditor(ParamEditor):
    def __init__(self, param: Param):
        super().__init__(param)
        self.widget = self.combo = QComboBox()
        self.combo.addItems(list(param.choices))
        self.combo.setToolTip(self.tooltip())

    def value(self) -> str:
        return self.combo.currentText()

    def set_value(self, value) -> None:
        self.combo.setCurrentText(str(value))


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
    if param.kind is str or param.choices:
        return ChoiceEditor(param)
    if param.kind is int:
        return IntEditor(param)
    return FloatEditor(param)


class ParamForm(QWidget):
    """A form generated from an attack's declared parameters."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors: dict[str, ParamEditor] = {}

    def build(self, spec: AttackSpec, values: dict) -> None:
        while self.layout_.rowCount():
            self.layout_.removeRow(0)
        self.editors = {}
        for param in spec.params:
            editor = editor_for(param)
            editor.set_value(values.get(param.name, param.default))
            label = QLabel(param.name.replace("_", " "))
            label.setToolTip(editor.tooltip())
            self.layout_.addRow(label, editor.widget)
            self.editors[param.name] = editor

    def fill(self, values: dict) -> None:
        for name, value in values.items():
            if name in self.editors:
                self.editors[name].set_value(value)

    def editor(self, name: str) -> ParamEditor:
        return self.editors[name]

    def values(self) -> dict:
        return {name: editor.value() for name, editor in self.editors.items()}


# --- the attack panel ------------------------------------------------------------------------------------------

class AttackPanel(QGroupBox):
    """Attack, goal, parameters, what to run on; Run / Stop / Export; and a run over a whole dataset."""

    run_requested = Signal()
    stop_requested = Signal()
    export_requested = Signal()
    dataset_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Attack", parent)
        self.domain = "mnist"
        self.attack_combo = QComboBox()
        for name, spec in ATTACKS.items():
            self.attack_combo.addItem(spec.title, name)
        self.summary = hint_label()
        self.untargeted_radio = QRadioButton("untargeted")
        self.targeted_radio = QRadioButton("targeted:")
        self.untargeted_radio.setChecked(True)
        self.target_combo = QComboBox()
        self.target_combo.setEditable(True)  # 1000 ImageNet classes: type part of a name
        self.target_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.target_combo.completer().setFilterMode(Qt.MatchFlag.MatchContains)
        self.target_combo.completer().setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.target_combo.setEnabled(False)
        self.target_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.form = ParamForm()
        self.selected_radio = QRadioButton("selected image")
        self.all_radio = QRadioButton("all loaded images")
        self.selected_radio.setChecked(True)
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.export_button = QPushButton("Export…")
        self.export_button.setEnabled(False)
        self.export_button.setToolTip("Write PNGs, captioned figures, metrics (CSV, JSON) and result.npz")
        self.run_button.setShortcut("Ctrl+R")
        self.run_button.setToolTip("Run the attack (Ctrl+R)")
        self.stop_button.setShortcut("Esc")
        self.stop_button.setToolTip("Stop after the current iteration and keep the partial result (Esc)")
        self.dataset_folder: str | None = None
        self.dataset_combo = QComboBox()
        self.dataset_combo.addItem("held-out digits", HELDOUT)
        self.dataset_combo.addItem("loaded images", LOADED)
        self.dataset_combo.addItem("a folder…", FOLDER)
        self.dataset_combo.setToolTip("The images to attack: the 1000 held-out digits (labelled) of the built-in "
                                      "model, a folder, or the images loaded now. Held-out digits and folders "
                                      "are loaded in place of the current images.")
        self.count_spin = QSpinBox()
        self.count_spin.setRange(0, 999_999)
        self.count_spin.setSpecialValueText("all")
        self.count_spin.setSingleStep(16)
        self.count_spin.setToolTip("Attack only the first N images of the dataset (all: every image)")
        self.dataset_button = QPushButton("Run over dataset")
        self.dataset_button.setToolTip("Attack every image of the dataset (when labels are known, the ones the "
                                       "model classifies correctly) and show the statistics: success rate, "
                                       "iterations, the histogram of perturbation sizes")

        goal = QHBoxLayout()
        goal.addWidget(self.untargeted_radio)
        goal.addWidget(self.targeted_radio)
        goal.addWidget(self.target_combo, 1)
        goal_group = QButtonGroup(self)
        goal_group.addButton(self.untargeted_radio)
        goal_group.addButton(self.targeted_radio)
        scope = QHBoxLayout()
        scope.addWidget(QLabel("Run on:"))
        scope.addWidget(self.selected_radio)
        scope.addWidget(self.all_radio)
        scope.addStretch(1)
        scope_group = QButtonGroup(self)
        scope_group.addButton(self.selected_radio)
        scope_group.addButton(self.all_radio)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.stop_button, 1)
        buttons.addWidget(self.export_button, 1)
        dataset = QHBoxLayout()
        dataset.addWidget(QLabel("Dataset:"))
        dataset.addWidget(self.dataset_combo, 3)
        dataset.addWidget(QLabel("first"))
        dataset.addWidget(self.count_spin, 2)
        statistics = QHBoxLayout()
        statistics.addWidget(hint_label("Statistics: success rate, sizes"), 1)
        statistics.addWidget(self.dataset_button, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.attack_combo)
        layout.addWidget(self.summary)
        layout.addLayout(goal)
        layout.addWidget(self.form)
        layout.addLayout(scope)
        layout.addLayout(buttons)
        layout.addLayout(dataset)
        layout.addLayout(statistics)
        layout.addStretch(1)  # short forms stay packed at the top

        if DEFAULT_ATTACK in ATTACKS:
            self.attack_combo.setCurrentIndex(self.attack_combo.findData(DEFAULT_ATTACK))
        self.attack_combo.currentIndexChanged.connect(self._rebuild_form)
        self.targeted_radio.toggled.connect(self.target_combo.setEnabled)
        self.run_button.clicked.connect(self.run_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        self.export_button.clicked.connect(self.export_requested)
        self.dataset_button.clicked.connect(self.dataset_requested)
        self.dataset_combo.activated.connect(self._on_dataset_chosen)
        self._rebuild_form()

    def spec(self) -> AttackSpec:
        return ATTACKS[self.attack_combo.currentData()]

    def choose_attack(self, name: str) -> None:
        self.attack_combo.setCurrentIndex(self.attack_combo.findData(name))

    def set_model(self, model: LoadedModel) -> None:
        """New class names for the target, and the attack's defaults for the model's domain."""
        self.domain = model.domain
        with QSignalBlocker(self.target_combo):
            self.target_combo.clear()
            self.target_combo.addItems([f"{i}: {name}" for i, name in enumerate(model.class_names)])
        heldout = self.dataset_combo.model().item(self.dataset_combo.findData(HELDOUT))
        heldout.setEnabled(model.domain == "mnist")  # digits are no dataset for an ImageNet model
        heldout.setToolTip("" if heldout.isEnabled() else "for digit models only")
        if not heldout.isEnabled() and self.dataset_combo.currentData() == HELDOUT:
            self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(LOADED))
        self._rebuild_form()

    def set_running(self, running: bool, can_run: bool, has_result: bool, can_run_dataset: bool = False) -> None:
        self.run_button.setEnabled(not running and can_run)
        self.stop_button.setEnabled(running)
        self.export_button.setEnabled(not running and has_result)
        self.dataset_button.setEnabled(not running and can_run_dataset)
        for widget in (self.attack_combo, self.form, self.untargeted_radio, self.selected_radio, self.all_radio,
                       self.dataset_combo, self.count_spin):
            widget.setEnabled(not running)  # a run keeps the values it started with
        self.targeted_radio.setEnabled(not running and self.spec().targeted)
        self.target_combo.setEnabled(not running and self.spec().targeted and self.targeted_radio.isChecked())

    def run_on_all(self) -> bool:
        return self.all_radio.isChecked()

    def target(self) -> int | None:
        """The chosen target class, None when untargeted; ParameterError for text naming no class."""
        if not self.targeted_radio.isChecked() or not self.targeted_radio.isEnabled():
            return None
        text = self.target_combo.currentText().strip()
        index = self.target_combo.findText(text)
        if index < 0:  # also accept a bare class name or index typed by hand
            matches = [i for i in range(self.target_combo.count())
                       if self.target_combo.itemText(i).split(": ", 1)[-1] == text
                       or self.target_combo.itemText(i).split(": ", 1)[0] == text]
            index = matches[0] if matches else -1
        if index < 0:
            raise ParameterError(f"target: no class named {text!r}")
        return index

    def params(self) -> dict:
        """The form's values, validated by the attack's declared parameters (ParameterError when invalid)."""
        return self.spec().resolve(self.form.values(), self.domain)

    def dataset_source(self) -> DatasetSource:
        """The dataset chosen for a statistics run (a folder one without a folder when none was chosen yet)."""
        kind = self.dataset_combo.currentData()
        return DatasetSource(kind, self.dataset_folder if kind == FOLDER else None, self.count_spin.value() or None)

    def choose_dataset(self, kind: str, count: int | None = None) -> None:
        self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(kind))
        self.count_spin.setValue(count or 0)

    def set_dataset_folder(self, folder: str) -> None:
        """Use `folder` as the dataset (shown by name in the chooser)."""
        self.dataset_folder = folder
        index = self.dataset_combo.findData(FOLDER)
        self.dataset_combo.setItemText(index, f"folder: {Path(folder).name or folder}")
        self.dataset_combo.setItemData(index, folder, Qt.ItemDataRole.ToolTipRole)
        self.dataset_combo.setCurrentIndex(index)

    @Slot(int)
    def _on_dataset_chosen(self, index: int) -> None:
        """Choosing the folder entry asks which folder (again, to change it); cancelled, the entry stays only
        when a folder was chosen before."""
        if self.dataset_combo.itemData(index) != FOLDER:
            return
        folder = QFileDialog.getExistingDirectory(self, "A folder of images to attack", self.dataset_folder or "")
        if folder:
            self.set_dataset_folder(folder)
        elif self.dataset_folder is None:
            self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(LOADED))

    @Slot()
    def _rebuild_form(self, *_) -> None:
        spec = self.spec()
        self.summary.setText(spec.summary)
        self.form.build(spec, spec.defaults(self.domain))
        preset = self.form.editors.get("preset")
        if spec.presets and isinstance(preset, ChoiceEditor):
            preset.combo.currentTextChanged.connect(self._apply_preset)
        self.targeted_radio.setEnabled(spec.targeted)
        self.target_combo.setEnabled(spec.targeted and self.targeted_radio.isChecked())
        if not spec.targeted:
            self.targeted_radio.setToolTip("this attack chooses its own target")
            self.untargeted_radio.setChecked(True)
        else:
            self.targeted_radio.setToolTip("")


    def _apply_preset(self, name: str) -> None:
        """Show a preset's values in the form (the values sent are the form's, so they must be the preset's);
        "auto" goes back to the defaults for the model's domain."""
        spec = self.spec()
        self.form.fill(spec.presets.get(name, spec.defaults(self.domain)))


# --- the batch table -------------------------------------------------------------------------------------------

class BatchTable(QWidget):
    """One row per attacked image: before / after prediction, fooled, size of the perturbation."""

    image_selected = Signal(int)  # index into the loaded images

    COLUMNS = ("image", "before", "after", "fooled", "L∞ (/255)", "L2")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.summary = QLabel("No run yet")
        self.summary.setStyleSheet("font-weight: bold;")
        self.summary.setWordWrap(True)  # the parameters of the run can be a long line
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(self.COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        self.indices: tuple[int, ...] = ()
        self.table.currentCellChanged.connect(self._on_current_cell)
        self.table.cellClicked.connect(self._on_current_cell)  # a click on the row already current, too

    def show_run(self, request: RunRequest, natural_probs: torch.Tensor) -> None:
        self.indices = request.indices
        names = request.model.class_names
        with QSignalBlocker(self.table):
            self.table.setRowCount(len(request.indices))
            for row, (loaded, name) in enumerate(zip(request.indices, request.names)):
                probs = natural_probs[loaded]
                label = int(probs.argmax())
                self._set(row, 0, name)
                self._set(row, 1, f"{names[label]} ({100 * float(probs[label]):.1f}%)")
                for column in range(2, len(self.COLUMNS)):
                    self._set(row, column, "…")
        self.summary.setText(f"{request.spec.title}: running on {len(request.indices)} image(s)…")

    def show_progress(self, iteration: int, total: int, fooled: np.ndarray) -> None:
        self.summary.setText(f"fooled {int(fooled.sum())}/{len(fooled)} so far · iteration {iteration}/{total}")

    def show_result(self, result: AttackResult, class_names) -> None:
        fooled = result.fooled
        with QSignalBlocker(self.table):
            for row in range(len(fooled)):
                after = int(result.pred_after[row])
                self._set(row, 2, f"{class_names[after]} ({100 * float(result.probs_after[row, after]):.1f}%)")
                item = self._set(row, 3, "yes" if bool(fooled[row]) else "no")
                item.setForeground(FOOLED_COLOUR if bool(fooled[row]) else HELD_COLOUR)
                linf = float(result.linf[row])
                self._set(row, 4, f"{linf:.4f} ({255 * linf:.1f})")
                self._set(row, 5, f"{float(result.l2[row]):.3f}")
        stopped = " (stopped early)" if result.stopped else ""
        goal = describe_goal(result, class_names)
        self.summary.setText(f"fooled {int(fooled.sum())}/{len(fooled)}{stopped} · {result.attack.upper()}{goal} "
                             f"{describe_params(result.params)} · {result.seconds:.1f} s")

    def clear(self) -> None:
        self.indices = ()
        self.table.setRowCount(0)
        self.summary.setText("No run yet")

    def select_loaded(self, loaded_index: int) -> None:
        with QSignalBlocker(self.table):
            if loaded_index in self.indices:
                self.table.selectRow(self.indices.index(loaded_index))
            else:
                self.table.clearSelection()

    def _set(self, row: int, column: int, text: str) -> QTableWidgetItem:
        item = self.table.item(row, column)
        if item is None:
            item = QTableWidgetItem()
            self.table.setItem(row, column, item)
        item.setText(text)
        if column > 0:
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        return item

    def _on_current_cell(self, row: int, *_) -> None:
        if 0 <= row < len(self.indices):
            self.image_selected.emit(self.indices[row])
