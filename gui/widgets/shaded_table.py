"""A read-only table whose cells are shaded by a value in [0, 1], white to red, as the exported table pictures
are (engine/export.py `table_image`), so that the window and the report read alike. A click on a cell says which
one; what a cell stands for is the owner's business."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from engine.export import POSITIVE_RGB, WHITE_RGB

DARK_TEXT_ABOVE = 0.6  # as the exported picture: white text on the darker shades


def shade_colour(level: float) -> QColor:
    """The exported pictures' shade: white at 0, their red at 1."""
    level = float(np.clip(level, 0.0, 1.0))
    red, green, blue = (int(round(w + (p - w) * level)) for w, p in zip(WHITE_RGB, POSITIVE_RGB))
    return QColor(red, green, blue)


class ShadedTable(QTableWidget):
    """`show_table(columns, rows, cells, shades)`; `cell_chosen(row, column)` when a cell is clicked (or
    activated with the keyboard)."""

    cell_chosen = Signal(int, int)

    def __init__(self, equal_columns: bool = False, parent: QWidget | None = None):
        """`equal_columns`: the columns share the width (a matrix), else each is as wide as its contents."""
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # no selection colour over the shades: the opened cell is marked by `mark` instead
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setWordWrap(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch if equal_columns else
                                                     QHeaderView.ResizeMode.ResizeToContents)
        self.cellClicked.connect(self.cell_chosen)
        self.cellActivated.connect(self.cell_chosen)

    def show_table(self, columns: Sequence[str], rows: Sequence[str], cells: Sequence[Sequence[str]],
                   shades: Sequence[Sequence[float | None]] | None = None,
                   tips: Sequence[Sequence[str]] | None = None) -> None:
        """Column and row headers, the text of each cell, its shade (None: plain) and its tooltip."""
        self.clear()
        self.setColumnCount(len(columns))
        self.setRowCount(len(rows))
        self.setHorizontalHeaderLabels(list(columns))
        self.setVerticalHeaderLabels(list(rows))
        for r, texts in enumerate(cells):
            for c, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                shade = shades[r][c] if shades is not None else None
                if shade is not None and np.isfinite(shade):
                    item.setBackground(QBrush(shade_colour(shade)))
                    if shade > DARK_TEXT_ABOVE:
                        item.setForeground(QBrush(QColor("white")))
                if tips is not None and tips[r][c]:
                    item.setToolTip(tips[r][c])
                self.setItem(r, c, item)
        self.resizeRowsToContents()

    def mark(self, row: int, column: int) -> None:
        """The cell whose images are shown: its text bold and underlined, the others plain."""
        for r in range(self.rowCount()):
            for c in range(self.columnCount()):
                item = self.item(r, c)
                if item is not None:
                    font = QFont(item.font())
                    font.setUnderline(r == row and c == column)
                    font.setBold(r == row and c == column)
                    item.setFont(font)

    def text(self, row: int, column: int) -> str:
        item = self.item(row, column)
        return "" if item is None else item.text()
