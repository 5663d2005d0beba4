"""What the tabbed workspaces (Visualize, Universal) share: an output tab with Run, Stop and Export… above its
views, and a score curve. The workspace (gui/widgets/tabbed_workspace.py) runs a tab's computation in its job
slot."""
from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.core import RunControl
from engine.visualize import save_picture

from . import dialogs
from .layout import FlowLayout


class OutputTab(QWidget):
    """A tab with a row of controls (Run, Stop, Export… at its end) above its views; the row wraps when the
    tab is narrow (a small window), so no control is cut off and the tab never widens the window. The
    workspace runs its computation; the tab shows steps and results and knows what to export."""

    title = ""
    runnable = True

    def __init__(self, workspace):
        """`workspace` runs and stops the tab's computation (`run(tab)`, `stop()`) and shows its status."""
        super().__init__()
        self.workspace = workspace
        self.controls = FlowLayout()  # the tab's own controls; Run, Stop and Export… follow as one group
        self.run_button = QPushButton("Run")
        self.stop_button = QPushButton("Stop")
        self.export_button = QPushButton("Export…")
        self.note = QLabel()
        self.note.setStyleSheet("color: #555;")
        self.note.setWordWrap(True)
        self.body = QGridLayout()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self.controls)
        layout.addWidget(self.note)
        layout.addLayout(self.body, 1)
        self.run_button.clicked.connect(lambda: workspace.run(self))
        self.stop_button.clicked.connect(workspace.stop)
        self.export_button.clicked.connect(self._choose_export_folder)
        self.export_button.setEnabled(False)

    def finish_controls(self) -> None:
        buttons = QWidget()  # one item of the flow: the three wrap together, to a row of their own
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        if self.runnable:
            row.addWidget(self.run_button)
            row.addWidget(self.stop_button)
        row.addWidget(self.export_button)
        self.controls.addWidget(buttons)

    def steps(self, control: RunControl) -> Generator:
        """The engine computation of a runnable tab; every runnable subclass defines it."""
        raise NotImplementedError

    def begin(self) -> None:
        """The computation is about to start."""

    def show_step(self, step) -> None:
        """A step of the running computation (frames at most every ~40 ms)."""

    def show_result(self, result) -> None:
        """Show the computation's result; every runnable subclass defines it."""
        raise NotImplementedError

    def pictures(self) -> dict[str, np.ndarray]:
        """What Export writes: file stem -> (C, H, W) picture in [0, 1]."""
        return {}

    def export_to(self, directory: str | Path) -> list[Path]:
        files = []
        for stem, picture in self.pictures().items():
            files += save_picture(directory, stem, picture)
        self.workspace.show_status(f"Exported {len(files)} files to {directory}")
        return files

    def _choose_export_folder(self) -> None:
        folder = dialogs.choose_folder(self, f"Export the {self.title.lower()} to a folder")
        if folder:
            self.export_to(folder)


class ScoreCurve(pg.PlotWidget):
    """A quantity per step (or per pass): points are added as they come, drawn when `redraw` says so."""

    def __init__(self, title: str, x_label: str = "step", symbols: bool = False):
        super().__init__()
        self.getPlotItem().setTitle(title, size="10pt")
        self.getPlotItem().showGrid(x=True, y=True, alpha=0.2)
        self.getPlotItem().setLabel("bottom", x_label)
        self.getPlotItem().hideButtons()
        marks = {"symbol": "o", "symbolSize": 6, "symbolBrush": (200, 50, 50)} if symbols else {}
        self.curve = self.plot(pen=pg.mkPen((200, 50, 50), width=2), **marks)
        self.values: list[float] = []
        self.xs: list[float] = []

    def reset(self) -> None:
        self.values, self.xs = [], []
        self.curve.setData([], [])

    def add(self, value: float, redraw: bool, x: float | None = None) -> None:
        self.xs.append(len(self.values) + 1 if x is None else x)
        self.values.append(value)
        if redraw:
            self.curve.setData(np.asarray(self.xs, dtype=float), np.asarray(self.values))
