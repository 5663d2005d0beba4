"""The Attack workspace's controls: the attack form and the batch table. Panels emit what the user asked for;
the workspace's controller turns requests into run-model commands."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QCompleter,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.attacks import ATTACKS, AttackResult, AttackSpec
from engine.attacks.base import PER_IMAGE
from engine.core.errors import ParameterError
from engine.export import describe_params
from engine.models import LoadedModel

from ...widgets import dialogs
from ...widgets.layout import ScrollingPanel
from ...widgets.number_box import TypedSpinBox
from ...session import FOLDER, HELDOUT, LOADED, DatasetSource
from ...widgets.param_form import ChoiceEditor, ParamForm
from ...widgets.style import FOOLED_COLOUR, HELD_COLOUR, hint_label
from .run_model import RunRequest

DEFAULT_ATTACK = "pgd"
TAU_T, DEFORMATION = "‖τ‖_T (px)", 6  # the batch table's column for ADef runs: its title and position
FORM_MIN_HEIGHT = 60  # two rows of parameters, at least, between the attack chooser and the buttons


def describe_goal(result: AttackResult, class_names) -> str:
    """" towards 7", " towards ranks 2..4" (each image has its own classes there), or "" when untargeted."""
    return result.criterion.describe(class_names)


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
            if spec.family == PER_IMAGE:  # one perturbation for many images is the Universal workspace's
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
        # the shortcuts are the menu's Run > Run and Run > Stop (one owner per key: Qt ignores ambiguous ones)
        self.run_button.setToolTip("Run the attack (Ctrl+R)")
        self.stop_button.setToolTip("Stop after the current iteration and keep the partial result (Esc)")
        self.dataset_folder: str | None = None
        self.dataset_combo = QComboBox()
        self.dataset_combo.addItem("held-out digits", HELDOUT)
        self.dataset_combo.addItem("loaded images", LOADED)
        self.dataset_combo.addItem("a folder…", FOLDER)
        self.dataset_combo.setToolTip("The images to attack: the 1000 held-out digits (labelled) of the built-in "
                                      "model, a folder, or the images loaded now. Held-out digits and folders "
                                      "are loaded in place of the current images.")
        self.count_spin = TypedSpinBox()
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
        # The parameters scroll in the room left between the attack above and the buttons pinned to the
        # bottom, so a long form (ADef) never pushes Run or "Run over dataset" out of view, and Run stays in
        # place whichever attack is chosen.
        self.form_scroll = ScrollingPanel(self.form)
        self.form_scroll.setMinimumHeight(FORM_MIN_HEIGHT)
        layout = QVBoxLayout(self)
        layout.addWidget(self.attack_combo)
        layout.addWidget(self.summary)
        layout.addLayout(goal)
        layout.addWidget(self.form_scroll, 1)
        layout.addLayout(scope)
        layout.addLayout(buttons)
        layout.addLayout(dataset)
        layout.addLayout(statistics)

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
        index = self.attack_combo.findData(name)
        if index < 0:
            raise ParameterError(f"{name!r} is not a per-image attack (universal ones are in the Universal tab)")
        self.attack_combo.setCurrentIndex(index)

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
        folder = dialogs.choose_folder(self, "A folder of images to attack", dialogs.IMAGES, self.dataset_folder)
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

    COLUMNS = ("image", "before", "after", "fooled", "L∞ (/255)", "L2")  # and ADef's TAU_T column

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
        for column in range(len(self.COLUMNS)):  # every column as wide as what it says; a narrow table scrolls
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)  # a wide one fills its width
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
        self._show_columns(deformation=request.spec.name == "adef")
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
                if self.table.columnCount() > DEFORMATION and "field_norm" in result.extras:
                    self._set(row, DEFORMATION, f"{float(result.extras['field_norm'][row]):.2f}")
        stopped = " (stopped early)" if result.stopped else ""
        goal = describe_goal(result, class_names)
        self.summary.setText(f"fooled {int(fooled.sum())}/{len(fooled)}{stopped} · {result.attack.upper()}{goal} "
                             f"{describe_params(result.params)} · {result.seconds:.1f} s")

    def clear(self) -> None:
        self.indices = ()
        self.table.setRowCount(0)
        self.summary.setText("No run yet")

    def _show_columns(self, deformation: bool) -> None:
        """The columns of every attack, and ADef's ||tau||_T (its largest displacement) for a deformation."""
        columns = self.COLUMNS + ((TAU_T,) if deformation else ())
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        if deformation:
            self.table.horizontalHeader().setSectionResizeMode(DEFORMATION, QHeaderView.ResizeMode.ResizeToContents)
            self.table.horizontalHeaderItem(DEFORMATION).setToolTip("the deformation's size: its longest "
                                                                    "displacement, in pixels")

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
