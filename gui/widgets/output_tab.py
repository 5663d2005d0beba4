"""What the tabbed workspaces (Visualize, Universal) share: an output tab with Run, Stop and Export… above its
views, a score curve, and the host that runs one tab's engine computation at a time through the worker bridge."""
from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSplitter, QTabWidget,
                               QVBoxLayout, QWidget)

from engine.core import RunControl
from engine.core.errors import AdvLensError
from engine.visualize import save_picture

from ..worker import Job

FRAME_INTERVAL = 0.04


class OutputTab(QWidget):
    """A tab with a row of controls (Run, Stop, Export… at its end) above its views. The workspace runs its
    computation; the tab shows steps and results and knows what to export."""

    title = ""
    runnable = True

    def __init__(self, workspace: JobHost):
        super().__init__()
        self.workspace = workspace
        self.controls = QHBoxLayout()
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
        self.controls.addStretch(1)
        if self.runnable:
            self.controls.addWidget(self.run_button)
            self.controls.addWidget(self.stop_button)
        self.controls.addWidget(self.export_button)

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
        folder = QFileDialog.getExistingDirectory(self, f"Export the {self.title.lower()} to a folder")
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


class JobHost:
    """Mixed into a workspace (a QWidget): runs one tab's computation at a time. The workspace provides
    `session`, a `status` label and `_update_controls()`, and starts with `job`, `control` and `running_tab`
    set to None."""

    job: Job | None
    control: RunControl | None
    running_tab: OutputTab | None

    def lay_out(self, left: QWidget, idle_text: str, left_width: int) -> None:
        """The choices on the left; the output tabs (`self.outputs`) with a status line under them beside it."""
        self.tabs = QTabWidget()
        for tab in self.outputs:
            self.tabs.addTab(tab, tab.title)
        self.status = QLabel(idle_text)
        self.status.setWordWrap(True)
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.addWidget(self.tabs, 1)
        centre_layout.addWidget(self.status)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(centre)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([left_width, 1100])
        splitter.setChildrenCollapsible(False)
        QVBoxLayout(self).addWidget(splitter)

    @property
    def busy(self) -> bool:
        return self.job is not None

    def run(self, tab: OutputTab) -> bool:
        """Start `tab`'s computation in the worker thread; False (with a message) when it cannot start."""
        if self.busy or self.session.model is None:
            return False
        control = RunControl(frame_interval=FRAME_INTERVAL)
        try:
            steps = tab.steps(control)
        except (AdvLensError, ValueError, IndexError, TypeError) as exc:  # bad settings, nothing chosen or loaded
            self.show_status(f"{tab.title}: {exc}")
            return False
        tab.begin()
        self.control, self.running_tab = control, tab
        self.job = Job(steps, self)
        self.job.stepped.connect(tab.show_step)
        self.job.succeeded.connect(tab.show_result)
        self.job.failed.connect(lambda message: self.show_status(f"{tab.title} failed: {message}"))
        self.job.done.connect(self._on_done)
        self.show_status(f"{tab.title}: running…")
        self.job.start()
        self._update_controls()
        return True

    def stop(self) -> None:
        """Ask the computation to end; it returns what it reached within one step."""
        if self.control is not None:
            self.control.stop()

    def show_status(self, text: str) -> None:
        self.status.setText(text)

    def _on_done(self) -> None:
        tab = self.running_tab
        self.job = self.control = self.running_tab = None
        if tab is not None and not self.status.text().startswith(f"{tab.title} failed"):
            self.show_status(f"{tab.title}: done")
        self._update_controls()
