"""The Universal tab that compares models: v computed on each checked model (with the UAP tab's settings),
tested on every other; the cells are fooling rates on the held-out half."""
from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QLineEdit, QListWidget, QListWidgetItem, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout)

from engine.core import RunControl
from engine.universal.cross_model import CrossModelTable, export_table

from ...jobs import steps_of
from ...widgets.tabbed_workspace import WorkspaceTab
from .computations import cross_model_steps

if TYPE_CHECKING:
    from .workspace import UniversalWorkspace


class CrossModelTab(WorkspaceTab):
    title = "Cross-model"

    def __init__(self, workspace: UniversalWorkspace):
        super().__init__(workspace)
        self.models = QListWidget()
        self.models.setMaximumHeight(110)
        self.spec_edit = QLineEdit()
        self.spec_edit.setPlaceholderText("another model: resnet50, vgg16:random, /path/net.pt …")
        add = QPushButton("Add")
        add.clicked.connect(self._add_model)
        self.spec_edit.returnPressed.connect(self._add_model)
        self.finish_controls()
        chooser = QGroupBox("models (the loaded one first; checked ones are compared)")
        chooser_layout = QVBoxLayout(chooser)
        row = QHBoxLayout()
        row.addWidget(self.spec_edit, 1)
        row.addWidget(add)
        chooser_layout.addWidget(self.models)
        chooser_layout.addLayout(row)
        self.table = QTableWidget()
        self.body.addWidget(chooser, 0, 0)
        self.body.addWidget(self.table, 1, 0)
        self.body.setRowStretch(1, 1)
        self.result: CrossModelTable | None = None
        self.note.setText("Rows: the model v was computed on (with the UAP tab's settings); columns: the model it "
                          "is tested on; cells: fooling rate on the held-out half.")

    def add_model(self, spec: str) -> None:
        item = QListWidgetItem(spec)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked)
        self.models.addItem(item)

    def _add_model(self) -> None:
        if self.spec_edit.text().strip():
            self.add_model(self.spec_edit.text().strip())
            self.spec_edit.clear()

    def chosen_specs(self) -> list[str]:
        return [self.models.item(i).text() for i in range(self.models.count())
                if self.models.item(i).checkState() == Qt.CheckState.Checked]

    def steps(self, control: RunControl) -> Generator:
        workspace = self.workspace
        model = workspace.session.model
        specs = self.chosen_specs()
        if not specs:
            raise ValueError("add at least one more model to compare with")
        return cross_model_steps(model, specs, workspace.source(), workspace.loaded_images(),
                                 workspace.uap.settings.values(model), control)

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
        self.table.setColumnCount(count)
        self.table.setHorizontalHeaderLabels([f"tested on {name}" for name in table.names])
        self.table.setVerticalHeaderLabels([f"computed on {name}" for name in table.names])
        for i in range(count):
            for j in range(count):
                rate = float(table.rates[i, j])
                self.table.setItem(i, j, QTableWidgetItem("-" if np.isnan(rate) else f"{rate:.1%}"))
        self.table.resizeColumnsToContents()
        self.export_button.setEnabled(True)

    def export_steps(self, directory: Path) -> Generator:
        if self.result is None:
            raise ValueError("fill the table first")
        return steps_of(export_table, self.result, directory)
