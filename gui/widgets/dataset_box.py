"""A chooser of the images a run covers: the loaded images, the held-out digits, or a folder (asked for when
chosen; cancelling goes back to the previous choice)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import QComboBox, QWidget

from ..session import FOLDER, DatasetSource
from . import dialogs


class DatasetBox(QComboBox):
    """`offer` the kinds that fit the model; `source()` is what the run reads (in its worker)."""

    def __init__(self, labels: dict[str, str], folder_prompt: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.labels, self.folder_prompt = labels, folder_prompt
        self.folder: str | None = None
        self._previous = 0
        self.activated.connect(self._on_chosen)

    def offer(self, kinds: Sequence[str], chosen: str) -> None:
        self.clear()
        for kind in kinds:
            self.addItem(self._text(kind), kind)
        self.choose(chosen)

    def choose(self, kind: str, folder: str | None = None) -> None:
        if kind == FOLDER and folder is not None:
            self.folder = folder
        self.setCurrentIndex(self.findData(kind))
        self._previous = self.currentIndex()
        if kind == FOLDER:
            self.setItemText(self.currentIndex(), self._text(FOLDER))

    def source(self, count: int | None = None) -> DatasetSource:
        return DatasetSource(self.currentData(), self.folder, count)

    def _text(self, kind: str) -> str:
        return f"folder {Path(self.folder).name}" if kind == FOLDER and self.folder else self.labels[kind]

    def _on_chosen(self, index: int) -> None:
        if self.itemData(index) != FOLDER:
            self._previous = index
            return
        folder = dialogs.choose_folder(self, self.folder_prompt, dialogs.IMAGES)
        if folder:
            self.choose(FOLDER, folder)
        else:
            self.setCurrentIndex(self._previous)
