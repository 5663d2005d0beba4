"""The Universal tab that compares models: v computed on the loaded model and on each checked model (with the
UAP tab's settings), tested on every one; the cells are fooling rates on the held-out half, beside each model's
clean accuracy there. A model is loaded and checked when it is added (in a job: a model spec can be slow to
load), so that one of another input shape is refused at once, not at Run."""
from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QLineEdit, QListWidget, QListWidgetItem, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout)

from engine.core import RunControl
from engine.models import LoadedModel
from engine.universal.cross_model import ACCURACY, CrossModelTable, export_table

from ...jobs import JobSlot, steps_of
from ...widgets.tabbed_workspace import WorkspaceTab
from .computations import cross_model_steps, model_to_compare, shape_text

if TYPE_CHECKING:
    from .workspace import UniversalWorkspace


class CrossModelTab(WorkspaceTab):
    title = "Cross-model"

    def __init__(self, workspace: UniversalWorkspace):
        super().__init__(workspace)
        self.models = QListWidget()  # row 0: the loaded model; then the added ones, in `others`' order
        self.models.setMaximumHeight(110)
        self.others: list[LoadedModel] = []
        self.checks = workspace.watch(JobSlot(self))  # loading an added model; waited for on close
        self.spec_edit = QLineEdit()
        self.spec_edit.setPlaceholderText("another model: resnet50, vgg16:random, /path/net.pt …")
        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("Load the model (in the background) and add it, if it takes the loaded "
                                   "model's input shape")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Take the selected added model off the list (the loaded one stays)")
        self.add_button.clicked.connect(self._add_model)
        self.spec_edit.returnPressed.connect(self._add_model)
        self.remove_button.clicked.connect(self.remove_selected)
        self.checks.busy_changed.connect(self._update_buttons)
        self.checks.failed.connect(self._on_check_failed)
        self._checking = ""  # the spec being loaded
        self.models.currentRowChanged.connect(self._update_buttons)
        self.finish_controls()
        chooser = QGroupBox("models (the loaded one first; checked ones are compared)")
        chooser_layout = QVBoxLayout(chooser)
        row = QHBoxLayout()
        row.addWidget(self.spec_edit, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        chooser_layout.addWidget(self.models)
        chooser_layout.addLayout(row)
        self.table = QTableWidget()
        self.body.addWidget(chooser, 0, 0)
        self.body.addWidget(self.table, 1, 0)
        self.body.setRowStretch(1, 1)
        self.result: CrossModelTable | None = None
        self.note.setText("Rows: the model v was computed on (with the UAP tab's settings); columns: the model it "
                          "is tested on; cells: fooling rate on the held-out half; last column: the model's "
                          "accuracy there without v (when the images have true labels).")
        self._update_buttons()

    # --- the list of models ----------------------------------------------------------------------------------

    def show_model(self, model: LoadedModel) -> None:
        """The loaded model heads the list; added models that take another input shape leave it."""
        kept = [other for other in self.others if tuple(other.input_shape) == tuple(model.input_shape)]
        dropped = [other.name for other in self.others if other not in kept]
        self.models.clear()
        loaded = QListWidgetItem(f"{model.name} (loaded)")
        loaded.setFlags(Qt.ItemFlag.ItemIsEnabled)  # always compared: neither unchecked nor removed
        font = QFont(loaded.font())
        font.setBold(True)
        loaded.setFont(font)
        loaded.setToolTip(f"The loaded model, {shape_text(model.input_shape)}: always the first row and column")
        self.models.addItem(loaded)
        self.others = []
        for other in kept:
            self._append(other)
        if dropped:
            self.workspace.show_status(f"Cross-model: {', '.join(dropped)} left the list: not "
                                       f"{shape_text(model.input_shape)} like {model.name}")
        self._update_buttons()

    def add_model(self, spec: str) -> bool:
        """Load `spec` in a job and add it once it is known to take the loaded model's input shape; False when
        it cannot start (no model loaded, another check under way)."""
        current = self.workspace.session.model
        if current is None or not spec:
            return False
        self.workspace.show_status(f"Cross-model: loading {spec} to check its input shape…")
        self._checking = spec
        return self.checks.run(steps_of(model_to_compare, spec, current),
                               on_result=lambda model: self._on_checked(spec, model, current),
                               what=f"loading {spec}")

    def remove_selected(self) -> None:
        row = self.models.currentRow()
        if row >= 1:  # row 0 is the loaded model
            self.models.takeItem(row)
            del self.others[row - 1]
        self._update_buttons()

    def chosen_models(self) -> list[LoadedModel]:
        return [model for row, model in enumerate(self.others, start=1)
                if self.models.item(row).checkState() == Qt.CheckState.Checked]

    def _add_model(self) -> None:
        self.add_model(self.spec_edit.text().strip())

    def _append(self, model: LoadedModel) -> None:
        item = QListWidgetItem(model.name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked)
        item.setToolTip(model.source)
        self.models.addItem(item)
        self.others.append(model)

    def _on_checked(self, spec: str, model: LoadedModel, checked_against: LoadedModel) -> None:
        current = self.workspace.session.model
        if current is None or tuple(current.input_shape) != tuple(checked_against.input_shape):
            self.workspace.show_status(f"Cross-model: {spec} not added: the loaded model changed meanwhile")
            return
        self._append(model)
        if self.spec_edit.text().strip() == spec:
            self.spec_edit.clear()
        self.workspace.show_status(f"Cross-model: added {model.name} ({shape_text(model.input_shape)})")

    def _on_check_failed(self, message: str) -> None:
        self.workspace.show_status(f"Cross-model: {self._checking} not added: {message}")

    def _update_buttons(self, *_) -> None:
        checking = self.checks.busy
        self.add_button.setEnabled(not checking)
        self.spec_edit.setEnabled(not checking)
        self.remove_button.setEnabled(self.models.currentRow() >= 1)

    # --- the run ---------------------------------------------------------------------------------------------

    def steps(self, control: RunControl) -> Generator:
        workspace = self.workspace
        model = workspace.session.model
        others = self.chosen_models()
        if not others:
            raise ValueError("add at least one more model to compare with")
        return cross_model_steps(model, others, workspace.source(), workspace.loaded_images(),
                                 workspace.loaded_labels(), workspace.uap.settings.values(model), control)

    def begin(self) -> None:
        self.table.clear()
        self.export_button.setEnabled(False)

    def show_step(self, step) -> None:
        if step.step.frame is not None:
            self.workspace.show_status(f"Cross-model: v of model {step.row + 1}/{step.rows}, "
                                       f"chunk {step.step.iteration}/{step.step.total}")

    def show_result(self, table: CrossModelTable) -> None:
        self.result = table
        count = len(table.names)
        self.table.setRowCount(count)
        self.table.setColumnCount(count + 1)
        self.table.setHorizontalHeaderLabels([f"tested on {name}" for name in table.names] + [ACCURACY])
        self.table.horizontalHeaderItem(count).setToolTip("The model's accuracy on the held-out half without v")
        self.table.setVerticalHeaderLabels([f"computed on {name}" for name in table.names])
        for i in range(count):
            for j in range(count):
                rate = float(table.rates[i, j])
                self.table.setItem(i, j, QTableWidgetItem("-" if np.isnan(rate) else f"{rate:.1%}"))
            self.table.setItem(i, count, self._accuracy_item(table, i))
        self.table.resizeColumnsToContents()
        self.export_button.setEnabled(True)

    @staticmethod
    def _accuracy_item(table: CrossModelTable, row: int) -> QTableWidgetItem:
        accuracy = float("nan") if table.accuracies is None else float(table.accuracies[row])
        if np.isnan(accuracy):
            item = QTableWidgetItem("–")
            item.setToolTip("unknown: these images have no true labels")
        else:
            item = QTableWidgetItem(f"{accuracy:.1%}")
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        return item

    def export_steps(self, directory: Path) -> Generator:
        if self.result is None:
            raise ValueError("fill the table first")
        return steps_of(export_table, self.result, directory)
