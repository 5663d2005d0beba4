"""The models to compare. The session holds one model at a time (a load, or a model handed over by the Train
workspace, replaces it), so the Compare workspace keeps its own list: the loaded model added on request, files
loaded in a job, the nets of the cross-training-set run. Checked entries take part in the next run."""
from __future__ import annotations

import dataclasses
import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout

from engine.models import LoadedModel

from ...widgets.style import hint_label


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or "name (2)", "name (3)", ...: the tables name their rows and columns by model."""
    if name not in taken:
        return name
    number = 2
    while f"{name} ({number})" in taken:
        number += 1
    return f"{name} ({number})"


class ModelList(QGroupBox):
    """`add(model)`; `chosen()` is the checked models, in the list's order."""

    changed = Signal()  # an entry was added, removed, checked or unchecked

    def __init__(self):
        super().__init__("Models to compare")
        self.models: list[LoadedModel] = []
        self.list = QListWidget()
        self.list.setMinimumHeight(70)
        self.list.setMaximumHeight(130)
        self.add_loaded_button = QPushButton("Add the loaded model")
        self.add_loaded_button.setToolTip("the model of the window's model column (a model trained in the Train "
                                          "workspace gets there with its \"Use this model\")")
        self.add_file_button = QPushButton("Add from file…")
        self.add_file_button.setToolTip("a model file: a state dict with its JSON, TorchScript, or .pt2")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("take the selected model off the list")
        self.remove_button.clicked.connect(self.remove_selected)
        self.list.itemChanged.connect(lambda _item: self.changed.emit())
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        row = QGridLayout()  # two buttons a row: three in one made the column wider than a small window allows
        row.addWidget(self.add_loaded_button, 0, 0)
        row.addWidget(self.add_file_button, 0, 1)
        row.addWidget(self.remove_button, 1, 1)
        layout.addLayout(row)
        layout.addWidget(hint_label("checked models take part; they must all take the same input size"))

    def contains(self, model: LoadedModel) -> bool:
        return any(known.module is model.module for known in self.models)

    def add(self, model: LoadedModel) -> LoadedModel:
        """Add `model` checked, renamed (a shallow copy: the network is shared) when its name is taken."""
        name = unique_name(model.name, {known.name for known in self.models})
        if name != model.name:
            model = dataclasses.replace(model, name=name)
        self.models.append(model)
        item = QListWidgetItem(model.name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked)
        defense = (model.training or {}).get("defense")
        trained = f"; defense: {defense}" if defense else ""
        item.setToolTip(html.escape(f"{model.source}{trained}; input {'x'.join(map(str, model.input_shape))}"))
        self.list.addItem(item)
        self.changed.emit()
        return model

    def remove_selected(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.models):
            self.list.takeItem(row)
            del self.models[row]
            self.changed.emit()

    def chosen(self) -> list[LoadedModel]:
        return [model for row, model in enumerate(self.models)
                if self.list.item(row).checkState() == Qt.CheckState.Checked]

    def set_enabled(self, enabled: bool) -> None:
        """While a run goes, the list stays as the run took it."""
        for widget in (self.list, self.add_file_button, self.remove_button, self.add_loaded_button):
            widget.setEnabled(enabled)
