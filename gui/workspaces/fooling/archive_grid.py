"""The archive as a grid: per cell the class, its elite's image and its confidence, and the second model's
verdict when there is one. One widget paints every cell (no widget per cell), its tiles as large as the room
allows; an image is converted again only when it changed, so a frame of a large archive costs little."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QFrame, QScrollArea, QToolTip, QWidget

from engine.fooling.export import SecondOpinion, confidence_text

from ...widgets.style import FOOLED_COLOUR, HELD_COLOUR, MUTED, VIEW_BACKGROUND

GAP = 8  # px between cells
MIN_TILE, MAX_TILE = 72, 224  # px: the side of an elite's image
TEXT_LINES = 3  # class, confidence, the second model's verdict
SELECTED = QColor(33, 102, 172)


def grid_shape(count: int, width: int, height: int, text_height: int) -> tuple[int, int]:
    """(columns, tile side) that shows `count` cells as large as fit in width x height (tiles between MIN_TILE
    and MAX_TILE); when even the smallest tiles do not fit, as many columns as the width takes (it scrolls)."""
    if count == 0:
        return 1, MIN_TILE
    best_columns, best_side = 1, 0
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        side = min((width - GAP) // columns - GAP, (height - GAP) // rows - GAP - text_height, MAX_TILE)
        if side > best_side:
            best_columns, best_side = columns, side
    if best_side >= MIN_TILE:
        return best_columns, best_side
    return max(1, min(count, (width - GAP) // (MIN_TILE + GAP))), MIN_TILE


def to_qimage(image_chw: np.ndarray) -> QImage:
    """A (C, H, W) image in [0, 1] as an owned QImage (grey or RGB)."""
    pixels = np.clip(np.rint(np.asarray(image_chw, dtype=np.float32) * 255), 0, 255).astype(np.uint8)
    height, width = pixels.shape[1:]
    if pixels.shape[0] == 1:
        data = np.ascontiguousarray(pixels[0])
        image = QImage(data.data, width, height, width, QImage.Format.Format_Grayscale8)
    else:
        data = np.ascontiguousarray(pixels[:3].transpose(1, 2, 0))
        image = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # QImage borrows the buffer, which dies with this function


@dataclass
class Cell:
    title: str  # "3: three"
    tooltip: str
    pixmap: QPixmap | None = None
    confidence: float = -1.0
    verdict: str = ""  # the second model's
    verdict_colour: QColor | None = None


class _Canvas(QWidget):
    """Paints the cells; the scroll area around it sets its size."""

    def __init__(self, grid: ArchiveGrid):
        super().__init__(grid)
        self.grid = grid

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), Qt.GlobalColor.white)
        grid = self.grid
        if not grid.cells:
            grid.paint_empty(painter)
        for index, cell in enumerate(grid.cells):
            rect = grid.cell_rect(index)
            if rect.intersects(event.rect()):
                grid.paint_cell(painter, index, cell, rect)
        painter.end()

    def mousePressEvent(self, event) -> None:
        index = self.grid.cell_at(event.position().toPoint())
        if index >= 0:
            self.grid.select(index)
            self.grid.cell_clicked.emit(index)

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            index = self.grid.cell_at(event.pos())
            if index >= 0:
                QToolTip.showText(event.globalPos(), self.grid.cells[index].tooltip, self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)


class ArchiveGrid(QScrollArea):
    """`set_classes(classes, names)` lays out the cells; `show_images`, `show_confidence` and `show_opinion`
    fill them; `cell_clicked(index)` when a cell is clicked (it is then drawn selected)."""

    cell_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.cells: list[Cell] = []
        self.classes: list[int] = []
        self.names: list[str] = []
        self.selected = -1
        self.columns, self.side = 1, MIN_TILE
        self.smooth = False  # images larger than their tiles are smoothed; small digits keep their pixels
        self._images: np.ndarray | None = None  # the images drawn, to convert only the cells that changed
        self.title_font, self.text_font = QFont(), QFont()
        self.title_font.setBold(True)
        self.line_height = QFontMetrics(self.text_font).height()
        self.canvas = _Canvas(self)
        self.setWidget(self.canvas)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.empty_text = "Press Run: the archive's elites appear here, one cell per class."

    # --- contents --------------------------------------------------------------------------------------------

    def set_classes(self, classes: Sequence[int], names: Sequence[str]) -> None:
        self.classes, self.names = [int(c) for c in classes], list(names)
        self.cells = [Cell(f"{c}: {name}" if name != str(c) else name, f"class {c}: {name}")
                      for c, name in zip(self.classes, self.names)]
        self.selected, self._images = -1, None
        self._lay_out()

    def show_images(self, images: np.ndarray, cells: np.ndarray | None = None) -> int:
        """The elites' images (K, C, H, W), or with `cells` the images of those cells only (a running archive's
        frame carries what changed); only the cells whose image changed are converted. Returns how many."""
        if cells is not None:
            return self._show_changed(images, cells)
        if len(images) != len(self.cells):
            return 0
        if self._images is None or self._images.shape != images.shape:
            changed = np.arange(len(images))
        else:
            changed = np.flatnonzero((self._images != images).reshape(len(images), -1).any(1))
        for index in changed:
            self.cells[index].pixmap = QPixmap.fromImage(to_qimage(images[index]))
        self._images = images.copy() if len(changed) else self._images
        self.smooth = max(images.shape[-2:]) > self.side
        if len(changed):
            self.canvas.update()
        return len(changed)

    def _show_changed(self, images: np.ndarray, cells: np.ndarray) -> int:
        if self._images is None or self._images.shape[1:] != images.shape[1:]:
            if len(cells) != len(self.cells):  # the first frame of a run holds every cell
                return 0
            self._images = np.zeros((len(self.cells), *images.shape[1:]), dtype=np.float32)
        for index, image in zip(cells.tolist(), images):
            if 0 <= index < len(self.cells):
                self.cells[index].pixmap = QPixmap.fromImage(to_qimage(image))
                self._images[index] = image
        self.smooth = max(images.shape[-2:]) > self.side
        if len(cells):
            self.canvas.update()
        return len(cells)

    def show_confidence(self, confidence: Sequence[float], found: Sequence[int] | None = None) -> None:
        for index, (cell, value) in enumerate(zip(self.cells, confidence)):
            cell.confidence = float(value)
            when = f"; found in generation {int(found[index])}" if found is not None and found[index] >= 0 else ""
            cell.tooltip = f"class {self.classes[index]}: {self.names[index]} · {confidence_text(float(value))}{when}"
        self.canvas.update()

    def show_opinion(self, opinion: SecondOpinion | None, names: Sequence[str], stale: bool = False) -> None:
        """Per cell the second model's top class and the probability it gives the cell's class; red where it
        is fooled too (its top class is the elite's), green where not, grey when it saw an older archive."""
        for index, cell in enumerate(self.cells):
            if opinion is None or index >= len(opinion.predicted):
                cell.verdict, cell.verdict_colour = "", None
                continue
            predicted = int(opinion.predicted[index])
            name = names[predicted] if predicted < len(names) else str(predicted)
            cell.verdict = f"2nd: {name} · {confidence_text(float(opinion.probability[index]))}"
            colour = FOOLED_COLOUR if opinion.agrees[index] else HELD_COLOUR
            cell.verdict_colour = QColor(MUTED) if stale else colour
        self.canvas.update()

    @property
    def drawn_images(self) -> np.ndarray | None:
        """The elites' images as last drawn (K, C, H, W): a copy the GUI thread owns."""
        return self._images

    def select(self, index: int) -> None:
        self.selected = index
        self.canvas.update()

    # --- geometry --------------------------------------------------------------------------------------------

    @property
    def text_height(self) -> int:
        return TEXT_LINES * self.line_height + 6

    def cell_rect(self, index: int) -> QRect:
        row, column = divmod(index, self.columns)
        step_x, step_y = self.side + GAP, self.side + self.text_height + GAP
        used = min(self.columns, len(self.cells)) * step_x + GAP
        left = max(0, (self.canvas.width() - used) // 2)  # the grid centred in the room it has
        return QRect(left + GAP + column * step_x, GAP + row * step_y, self.side, self.side + self.text_height)

    def cell_at(self, point) -> int:
        for index in range(len(self.cells)):
            if self.cell_rect(index).contains(point):
                return index
        return -1

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._lay_out()

    def sizeHint(self) -> QSize:
        return QSize(600, 400)

    def _lay_out(self) -> None:
        viewport = self.viewport().size()
        self.columns, self.side = grid_shape(len(self.cells), viewport.width(), viewport.height(),
                                             self.text_height)
        rows = math.ceil(len(self.cells) / self.columns) if self.cells else 0
        height = GAP + rows * (self.side + self.text_height + GAP)
        self.canvas.resize(viewport.width(), max(viewport.height(), height))
        if self._images is not None:
            self.smooth = max(self._images.shape[-2:]) > self.side
        self.canvas.update()

    # --- painting --------------------------------------------------------------------------------------------

    def paint_cell(self, painter: QPainter, index: int, cell: Cell, rect: QRect) -> None:
        tile = QRect(rect.left(), rect.top(), self.side, self.side)
        painter.fillRect(tile, QColor(VIEW_BACKGROUND))
        if cell.pixmap is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.smooth)
            painter.drawPixmap(fitted(tile, cell.pixmap.size()), cell.pixmap)
        if index == self.selected:
            painter.setPen(QPen(SELECTED, 3))
            painter.drawRect(tile.adjusted(1, 1, -2, -2))
        lines = ((self.title_font, QColor("#222222"), cell.title),
                 (self.text_font, QColor("#222222"), f"{confidence_text(cell.confidence)}"),
                 (self.text_font, cell.verdict_colour or QColor(MUTED), cell.verdict))
        top = tile.bottom() + 3
        for font, colour, text in lines:
            painter.setFont(font)
            painter.setPen(colour)
            shown = QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideRight, self.side)
            painter.drawText(QRect(rect.left(), top, self.side, self.line_height),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, shown)
            top += self.line_height

    def paint_empty(self, painter: QPainter) -> None:
        painter.setPen(QColor(MUTED))
        painter.drawText(self.canvas.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                         self.empty_text)


def fitted(tile: QRect, size: QSize) -> QRect:
    """The largest rectangle of the image's aspect centred in `tile`."""
    if size.width() <= 0 or size.height() <= 0:
        return tile
    scale = min(tile.width() / size.width(), tile.height() / size.height())
    width, height = round(size.width() * scale), round(size.height() * scale)
    return QRect(tile.left() + (tile.width() - width) // 2, tile.top() + (tile.height() - height) // 2,
                 width, height)
