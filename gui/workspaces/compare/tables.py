"""The two results as shaded tables, in tabs: the robustness table (model, defense, accuracy, each attack's
success on the correctly classified images, DeepFool's median size) and the transfer matrix (made on x shown to,
label-flip rate or error against the true labels). A click on a cell asks for its images (`cell_opened`)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget

from engine.attacks import get_attack
from engine.training.comparisons import ROBUSTNESS_ATTACKS, RobustnessRow, TransferMatrix

from ...widgets.combo import ElidingComboBox
from ...widgets.shaded_table import ShadedTable
from ...widgets.style import hint_label

FIRST_ATTACK_COLUMN = 2  # model name in the vertical header; defense, accuracy, then one column per attack
FLIP, ERROR = "flip", "error"
QUANTITY_CHARACTERS = 16  # the width of the transfer matrix's "cells:" chooser, in characters


def robustness_columns() -> list[str]:
    titles = {"adef": "ADef (‖τ‖≤3)"}
    return (["defense", "accuracy"] + [titles.get(name, get_attack(name).title.split(" (")[0])
                                       for name in ROBUSTNESS_ATTACKS] + ["DeepFool median L2"])


def robustness_cells(rows: Sequence[RobustnessRow]) -> tuple[list[list[str]], list[list[float | None]]]:
    cells, shades = [], []
    for row in rows:
        rates = [row.success.get(name) for name in ROBUSTNESS_ATTACKS]
        median = "–" if row.deepfool_median_l2 is None else f"{row.deepfool_median_l2:.3f}"
        cells.append([row.defense, f"{row.accuracy:.1%}"] + ["–" if r is None else f"{r:.1%}" for r in rates]
                     + [median])
        shades.append([None, None] + rates + [None])
    return cells, shades


def describe_params(params: dict) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in params.items())


class ResultTables(QTabWidget):
    """`show_robustness(rows)`, `show_transfer(matrix)`; `cell_opened(CellImages)` on a click on a cell that
    has images, `said(text)` on a click on one that has none."""

    cell_opened = Signal(object)
    said = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: list[RobustnessRow] = []
        self.matrix: TransferMatrix | None = None
        self.opened_transfer: tuple[int, int] | None = None  # the matrix cell shown, marked again on a redraw
        self.robustness = ShadedTable()
        self.transfer = ShadedTable(equal_columns=True)
        self.robustness_note = hint_label("Run the robustness table: each model's clean accuracy and each "
                                          "attack's success on the images it classifies correctly.")
        self.transfer_note = hint_label("Run the transfer matrix: adversarial images made on each model (rows) "
                                        "shown to every model (columns).")
        self.quantity = ElidingComboBox()
        self.quantity.addItem("label-flip rate (prediction changed from the clean one)", FLIP)
        self.quantity.addItem("error against the true labels", ERROR)
        # the choices are long sentences: shortened with "…" in a narrow window (in full in the list)
        self.quantity.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.quantity.setMinimumContentsLength(QUANTITY_CHARACTERS)
        self.quantity.currentIndexChanged.connect(lambda _index: self._draw_transfer())
        self.addTab(self._page(self.robustness_note, self.robustness), "Robustness table")
        self.addTab(self._page(self.transfer_note, self.transfer, self.quantity), "Transfer matrix")
        self.robustness.cell_chosen.connect(self._robustness_cell)
        self.transfer.cell_chosen.connect(self.open_transfer_cell)

    @staticmethod
    def _page(note: QLabel, table: ShadedTable, choice: QComboBox | None = None) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(note)  # the whole width: beside the chooser, a narrow window folded it into many lines
        if choice is not None:
            row = QHBoxLayout()
            row.addWidget(QLabel("cells:"))
            row.addWidget(choice, 1)
            layout.addLayout(row)
        layout.addWidget(table, 1)
        return page

    # --- the robustness table --------------------------------------------------------------------------------

    def show_robustness(self, rows: Sequence[RobustnessRow]) -> None:
        self.rows = list(rows)
        cells, shades = robustness_cells(self.rows)
        tips = [[""] * len(cells[0]) for _ in cells] if cells else []
        for r, row in enumerate(self.rows):
            for offset, name in enumerate(ROBUSTNESS_ATTACKS):
                stats = row.runs.get(name)
                if stats is not None:
                    tips[r][FIRST_ATTACK_COLUMN + offset] = (f"{name} ({describe_params(stats.params)}): "
                                                             f"{len(stats.fooled)} images attacked; click to see "
                                                             "them")
        self.robustness.show_table(robustness_columns(), [row.model for row in self.rows], cells, shades, tips)
        stopped = " (stopped: the rows and attacks reached)" if any(len(r.runs) < len(ROBUSTNESS_ATTACKS)
                                                                    for r in self.rows) else ""
        self.robustness_note.setText("Accuracy on all the images; each attack's success on the images the model "
                                     f"classifies correctly. Click a cell to see its images.{stopped}")
        self.setCurrentIndex(0)

    def attack_of_column(self, column: int) -> str | None:
        """The attack whose images a column's cells open (DeepFool's median size: DeepFool's)."""
        offset = column - FIRST_ATTACK_COLUMN
        if 0 <= offset < len(ROBUSTNESS_ATTACKS):
            return ROBUSTNESS_ATTACKS[offset]
        return "deepfool" if offset == len(ROBUSTNESS_ATTACKS) else None

    @Slot(int, int)
    def _robustness_cell(self, row: int, column: int) -> None:
        attack = self.attack_of_column(column)
        if attack is None or not 0 <= row < len(self.rows):
            self.said.emit("Click an attack's cell to see its images.")
            return
        cell = self.rows[row].cell(attack)
        if cell is None:
            self.said.emit(f"{attack} was not run on {self.rows[row].model} (stopped before it).")
            return
        self.robustness.mark(row, column)
        self.cell_opened.emit(cell)

    # --- the transfer matrix ---------------------------------------------------------------------------------

    def show_transfer(self, matrix: TransferMatrix) -> None:
        self.matrix, self.opened_transfer = matrix, None
        self._draw_transfer()
        self.transfer_note.setText(f"{matrix.attack} ({describe_params(matrix.params)}) images made on the row's "
                                   f"model, shown to the column's; the noise row: Gaussian noise of L2 "
                                   f"{matrix.noise_l2:.2f}, the first row's mean. Click a cell to see its images.")
        self.setCurrentIndex(1)

    def _draw_transfer(self) -> None:
        matrix = self.matrix
        if matrix is None:
            return
        values = matrix.flip_rate if self.quantity.currentData() == FLIP else matrix.error
        cells = [[f"{v:.1%}" for v in row] for row in values]
        tips = [[f"flip {f:.1%} · error {e:.1%}" for f, e in zip(frow, erow)]
                for frow, erow in zip(matrix.flip_rate, matrix.error)]
        rows = [f"made on {name}" for name in matrix.sources[:-1]] + [f"noise (L2 {matrix.noise_l2:.2f})"]
        columns = [f"shown to {name}\n(clean error {error:.1%})" for name, error in zip(matrix.targets,
                                                                                    matrix.clean_error)]
        self.transfer.show_table(columns, rows, cells,
                                 np.asarray(values).tolist(), tips)
        if self.opened_transfer is not None:
            self.transfer.mark(*self.opened_transfer)

    @Slot(int, int)
    def open_transfer_cell(self, row: int, column: int) -> None:
        if self.matrix is not None and 0 <= row < len(self.matrix.sources) and 0 <= column < len(self.matrix.targets):
            self.opened_transfer = (row, column)
            self.transfer.mark(row, column)
            self.cell_opened.emit(self.matrix.cell(row, column))
