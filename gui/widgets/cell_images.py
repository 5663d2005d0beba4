"""The images behind one cell of a comparison table (engine.training.comparisons.CellImages): natural |
adversarial | perturbation side by side, zoomed and panned together, with the judging model's two predictions,
and a strip of thumbnails to browse the cell's images, the ones the cell counts as fooled captioned in red."""
from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QSize, Qt, Slot
from PySide6.QtGui import QBrush, QIcon
from PySide6.QtWidgets import QGridLayout, QLabel, QListView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from engine.training.comparisons import CellImages

from .image_view import ImageView
from .imaging import display_array, thumbnail
from .style import FOOLED_COLOUR, HELD_COLOUR, MUTED, percent, shorten, swatch

THUMB_SIDE = 44
STRIP_HEIGHT = 92  # a thumbnail and its caption, plus room for a scroll bar


def prediction(cell: CellImages, probs, label: int) -> str:
    """ "7 · 98.1%" with the class name, marked when it is not the true label."""
    index = int(probs.argmax())
    name = html.escape(shorten(cell.class_names[index] if index < len(cell.class_names) else str(index), 24))
    wrong = "" if index == label else f" <span style='color:{MUTED}'>(wrong)</span>"
    return f"{name} &nbsp;{percent(float(probs[index]))}{wrong}"


class CellImagesView(QWidget):
    """`show_cell(cell)` fills the strip and shows its first fooled image; `show_image(i)` another one."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.cell: CellImages | None = None
        self.index = -1
        self.heading = QLabel("Click a cell of a table to see its images here.")
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.natural, self.adversarial = ImageView("natural"), ImageView("adversarial")
        self.perturbation = ImageView("perturbation", levels=(-1.0, 1.0))
        self.strip = QListWidget()
        self.strip.setViewMode(QListView.ViewMode.IconMode)
        self.strip.setFlow(QListView.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setMovement(QListView.Movement.Static)
        self.strip.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
        self.strip.setUniformItemSizes(True)
        self.strip.setFixedHeight(STRIP_HEIGHT)
        self.strip.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.strip.currentRowChanged.connect(self.show_image)
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        for column, view in enumerate((self.natural, self.adversarial, self.perturbation)):
            grid.addWidget(view.label, 0, column)
            grid.addWidget(view.widget, 1, column)
            grid.setColumnStretch(column, 1)
        grid.setRowStretch(1, 1)
        for view in (self.adversarial, self.perturbation):
            view.plot.setXLink(self.natural.plot)
            view.plot.setYLink(self.natural.plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.heading)
        layout.addLayout(grid, 1)
        layout.addWidget(self.strip)
        self.clear()

    def clear(self) -> None:
        self.cell, self.index = None, -1
        self.strip.clear()
        for view in (self.natural, self.adversarial, self.perturbation):
            view.clear()
            view.set_title("")

    def show_cell(self, cell: CellImages) -> None:
        self.clear()
        self.cell = cell
        fooled = cell.fooled.numpy()
        self.heading.setText(f"<b>{html.escape(cell.title)}</b>: {len(cell)} images, {int(fooled.sum())} "
                             f"{html.escape(cell.counted)} ({percent(float(fooled.mean()) if len(cell) else 0)})"
                             f" &nbsp;<span style='color:{MUTED}'>{swatch(FOOLED_COLOUR.getRgb()[:3])} fooled "
                             f"&nbsp;{swatch(HELD_COLOUR.getRgb()[:3])} held</span>")
        for i in range(len(cell)):
            item = QListWidgetItem(QIcon(thumbnail(cell.adversarial[i], THUMB_SIDE)), f"{i + 1}")
            item.setForeground(QBrush(FOOLED_COLOUR if fooled[i] else HELD_COLOUR))
            item.setToolTip(f"{cell.names[i]}: {'fooled' if fooled[i] else 'held'}")
            self.strip.addItem(item)
        if len(cell):
            first = int(np.argmax(fooled)) if fooled.any() else 0
            self.strip.setCurrentRow(first)
            self.natural.plot.vb.enableAutoRange()

    @Slot(int)
    def show_image(self, index: int) -> None:
        cell = self.cell
        if cell is None or not 0 <= index < len(cell):
            return
        self.index = index
        label = int(cell.labels[index])
        clean, adversarial = cell.clean[index].numpy(), cell.adversarial[index].numpy()
        true = cell.class_names[label] if label < len(cell.class_names) else str(label)
        self.natural.show(display_array(clean), (0.0, 1.0))
        self.natural.set_title(prediction(cell, cell.probs_before[index], label),
                               f"true {html.escape(true)} · {html.escape(shorten(cell.names[index], 40))}")
        fooled = bool(cell.fooled[index])
        colour = FOOLED_COLOUR.name() if fooled else HELD_COLOUR.name()
        self.adversarial.show(display_array(adversarial), (0.0, 1.0))
        self.adversarial.set_title(f"<span style='color:{colour}'>"
                                   f"{prediction(cell, cell.probs_after[index], label)}</span>",
                                   f"<span style='color:{colour}'>{'fooled' if fooled else 'held'}</span> · image "
                                   f"{index + 1} of {len(cell)}")
        self._show_perturbation(adversarial - clean)

    def _show_perturbation(self, delta_chw: np.ndarray) -> None:
        self.perturbation.show_perturbation(delta_chw)
