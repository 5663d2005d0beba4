"""The Playground workspace: images of two pixels, so that every image is a point of the plane. The user
chooses the true regions, places training points, trains a small MLP live, attacks points and sees which of the
post's three kinds each adversarial image is, tries the defenses, and exports. The workspace owns the data and
the views and edits the points and regions; `runs.PlaygroundRuns` starts the computations, which run through
the job bridge (`gui.jobs.JobSlot`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QTabWidget, QVBoxLayout,
                               QWidget)

from engine.core import RunControl
from engine.core.errors import AdvLensError
from engine.playground import PRESETS, Defense, KindCounts, PlaneAttack, Points, Training, preset, sample_points

from ...jobs import Job, JobSlot, steps_of
from ...widgets import dialogs
from ...widgets.layout import HORIZONTAL, ScrollingPanel, splitter
from .controls import PlaygroundControls
from .export import write_export
from .linearity_view import LinearityPanel
from .plane import PAINT, POINTS, PlaneView
from .runs import PlaygroundRuns, snapshot
from .texts import legend_html

CONTROLS_WIDTH = 340
LEGEND_WIDTH = 190


class PlaygroundWorkspace(PlaygroundRuns, QWidget):
    """The plane, the linearity panel and the controls (see the module's docstring); the shell's `Workspace`."""

    title = "Playground"
    status = Signal(str)
    busy_changed = Signal(bool)
    uses_model_column = False  # it makes its own data and models: the shell hides the model and images column

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session  # the playground trains its own models: it needs none of the session's
        self.regions = preset(next(iter(PRESETS)))
        self.points = sample_points(self.regions, 6, seed=0)
        self.selected = 0
        self.training: Training | None = None
        self.attack: PlaneAttack | None = None
        self.attacked = np.zeros(0, dtype=np.int64)  # the points the attack was made on, in its order
        self.defense: Defense | None = None
        self.before_grid: np.ndarray | None = None  # the probability before the defense
        self.message = ""  # the last error shown (read by tests)
        self.slot = JobSlot(self)  # one computation at a time: training, an attack or a defense
        self.export_slot = JobSlot(self)
        self.exported: list[Path] = []  # the files the last export wrote (read by tests)

        self.plane = PlaneView()
        self.controls = PlaygroundControls()
        self.linearity = LinearityPanel()
        self.legend = QLabel()
        self.status_line = QLabel()
        self._build_layout()
        self._connect()
        self.redraw_all()

    def _build_layout(self) -> None:
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.status_line.setWordWrap(True)
        self.legend.setFixedWidth(LEGEND_WIDTH)  # beside the square plane, in the width it leaves free
        self.legend.setAlignment(Qt.AlignmentFlag.AlignTop)
        plane_page = QWidget()
        column = QVBoxLayout(plane_page)
        column.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(self.plane, 1)
        row.addWidget(self.legend)
        column.addLayout(row, 1)
        column.addWidget(self.status_line)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(plane_page, "Plane")
        self.tabs.addTab(self.linearity, "Linearity")
        scroll = ScrollingPanel(self.controls)  # the controls scroll, never cut at the right
        scroll.setMinimumWidth(CONTROLS_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter(HORIZONTAL, (self.tabs, scroll), stretch=(1,)))

    def _connect(self) -> None:
        c, plane = self.controls, self.plane
        for slot in self._slots:
            slot.busy_changed.connect(self._on_busy)
            slot.status.connect(self.show_status)
            slot.failed.connect(self.show_error)
        c.preset.currentTextChanged.connect(self.choose_preset)
        c.cat_name.editingFinished.connect(self.rename_classes)
        c.dog_name.editingFinished.connect(self.rename_classes)
        c.mouse_mode.currentTextChanged.connect(self._on_mouse_mode)
        c.shading.currentTextChanged.connect(lambda _: self.redraw_shading())
        buttons = {c.sample_button: self.sample, c.clear_button: lambda: self.set_points(Points.empty()),
                   c.train_button: self.start_training, c.reseed_button: self.retrain_with_new_seed,
                   c.stop_button: self.stop, c.attack_button: self.attack_selected,
                   c.attack_all_button: self.attack_all, c.defend_button: self.start_defense,
                   c.export_button: self._choose_export_folder}
        for button, action in buttons.items():
            button.clicked.connect(action)
        for signal, action in ((plane.point_added, self.add_point), (plane.point_selected, self.select),
                               (plane.point_moved, self.move_point), (plane.point_removed, self.remove_point),
                               (plane.painted, self.paint)):
            signal.connect(action)

    # --- drawing ---------------------------------------------------------------------------------------------

    def redraw_all(self) -> None:
        self.redraw_shading()
        self.plane.show_region_outlines(self.regions)
        self.plane.show_points(self.points, self.selected)
        self.plane.show_before_boundary(self.before_grid if self.defense else None)
        self.plane.show_added_points(self.defense.added if self.defense else Points.empty())
        self.redraw_attack()
        self.legend.setText(legend_html(self.regions.class_names))
        self._update_controls()

    def redraw_shading(self) -> None:
        if self.training is not None and self.controls.shading.currentText() == "model probability":
            self.plane.show_probability(self.training.grid)
            return
        self.plane.show_regions_as_shading(self.regions)
        self.plane.show_boundary(None if self.training is None else self.training.grid)

    def redraw_attack(self) -> None:
        focus = np.flatnonzero(self.attacked == self.selected)
        self.plane.show_attack(self.attack, int(focus[0]) if len(focus) else None, self.regions.class_names)

    def show_status(self, text: str) -> None:
        self.status_line.setStyleSheet("")
        self.status_line.setText(text)
        self.status.emit(text)

    def show_error(self, text: str) -> None:
        self.message = text
        self.status_line.setStyleSheet("color: #b2182b;")
        self.status_line.setText(text)
        self.status.emit(text)

    def _update_controls(self) -> None:
        self.controls.set_busy(self.running, self.training is not None, len(self.points) > 0)

    # --- the truth and the points ----------------------------------------------------------------------------

    @Slot(str)
    def choose_preset(self, name: str) -> None:
        names = self.regions.class_names
        self.regions = preset(name)
        self.regions.class_names = names
        self._data_changed()

    @Slot()
    def rename_classes(self) -> None:
        names = self.controls.class_names()
        self.regions.class_names = names
        for index, name in enumerate(names):
            self.controls.add_as.setItemText(index, name)
        self.redraw_all()

    @Slot()
    def sample(self) -> None:
        try:
            points = sample_points(self.regions, self.controls.per_class.value(), self.controls.sample_seed.value())
        except AdvLensError as exc:
            self.show_error(str(exc))
            return
        self.set_points(points)

    def set_points(self, points: Points) -> None:
        self.points = points
        self.selected = min(self.selected, len(points) - 1) if len(points) else -1
        self._data_changed()

    def _data_changed(self) -> None:
        """Points or truth changed: attacks made before no longer describe them."""
        self.attack, self.attacked, self.defense = None, np.zeros(0, dtype=np.int64), None
        self.redraw_all()

    @Slot(float, float)
    def add_point(self, x: float, y: float) -> None:
        if self.running:
            return
        added = Points([[x, y]], [self.controls.add_as.currentIndex()])
        self.selected = len(self.points)
        self.set_points(self.points.plus(added))

    @Slot(int)
    def select(self, index: int) -> None:
        self.selected = index
        self.plane.show_points(self.points, index)
        self.redraw_attack()

    @Slot(int, float, float, bool)
    def move_point(self, index: int, x: float, y: float, finished: bool) -> None:
        if self.running:
            return
        xy = self.points.xy.copy()
        xy[index] = (x, y)
        self.points = Points(xy, self.points.labels)
        self.selected = index
        if finished:
            self._data_changed()
        else:
            self.plane.show_points(self.points, index)  # light redraw while the drag goes on

    @Slot(int)
    def remove_point(self, index: int) -> None:
        if self.running:
            return
        keep = np.arange(len(self.points)) != index
        self.selected = -1
        self.set_points(Points(self.points.xy[keep], self.points.labels[keep]))

    @Slot(float, float, float, float, bool)
    def paint(self, x0: float, y0: float, x1: float, y1: float, finished: bool) -> None:
        code = self.controls.paint_code()
        if code is None:
            return
        self.regions.paint((x0, y0), (x1, y1), self.controls.brush.value(), code)
        self.plane.show_region_outlines(self.regions)
        if self.controls.shading.currentText() == "true regions" or self.training is None:
            self.plane.show_regions_as_shading(self.regions)
        if finished:
            self._data_changed()

    @Slot(str)
    def _on_mouse_mode(self, _text: str) -> None:
        painting = self.controls.paint_code() is not None
        self.plane.mode = PAINT if painting else POINTS
        if painting:
            self.controls.shading.setCurrentText("true regions")

    # --- jobs ------------------------------------------------------------------------------------------------

    def _start(self, steps, on_step, on_result, control: RunControl | None = None, what: str = "") -> bool:
        """Run one computation in the workspace's job slot; False (and a message) when one is running."""
        return self.slot.run(steps, on_step, on_result, control, what=what or "the playground's computation")

    @property
    def _slots(self) -> tuple[JobSlot, ...]:
        return self.slot, self.export_slot, self.linearity.slot

    def _on_busy(self, _busy: bool) -> None:
        self._update_controls()
        self.busy_changed.emit(self.busy)

    @property
    def job(self) -> Job | None:
        """The running computation (tests and `screenshot` wait on its `done`), None when idle."""
        return self.slot.job

    @property
    def busy(self) -> bool:
        return any(slot.busy for slot in self._slots)

    @property
    def running(self) -> bool:
        """Whether a training, an attack or a defense runs (an export or the linearity curve may run beside)."""
        return self.slot.busy

    @Slot()
    def stop(self) -> None:
        """Training and defenses stop at their next step and keep what they learned; attacks are dropped."""
        self.slot.stop()

    def run(self) -> None:
        """What Train does (the menu's Run, Ctrl+R)."""
        self.start_training()

    @property
    def can_start(self) -> bool:
        return self.controls.train_button.isEnabled()

    @property
    def can_export(self) -> bool:
        return not self.export_slot.busy

    def shutdown(self) -> None:
        """Drop every computation's result and wait for its thread (the window is closing)."""
        for slot in self._slots:
            slot.cancel()
            slot.shutdown()

    def _settings(self, *readers):
        """Read settings from the controls; None (and the message shown) when one is not valid."""
        try:
            return [read() for read in readers]
        except AdvLensError as exc:
            self.show_error(str(exc))
            return None

    # --- export ----------------------------------------------------------------------------------------------

    def export_to(self, directory: str | Path) -> bool:
        """plane.png (as drawn), points.csv (with the current attack) and counts.csv in `directory`, written in
        a job of their own (an export may go on while a model trains); `exported` lists the files once done."""
        self.exported = []
        points, regions = snapshot(self.points, self.regions)
        steps = steps_of(write_export, Path(directory), self.plane.png_bytes(), points, regions, self.attack,
                         self._counts())
        return self.export_slot.run(steps, on_result=self._on_exported, what="the export")

    def _on_exported(self, files: list[Path]) -> None:
        self.exported = files
        self.show_status(f"Exported {', '.join(f.name for f in files)} to {files[0].parent}.")

    def _counts(self) -> dict[str, KindCounts]:
        counts = {}
        if self.defense is not None:
            counts["before defense"] = self.defense.counts_before
            counts["after defense"] = self.defense.counts_after
        elif self.attack is not None:
            counts["attack"] = self.attack.counts()
        return counts

    def _choose_export_folder(self) -> None:
        folder = dialogs.choose_folder(self, "Export the playground to a folder")
        if folder:
            self.export_to(folder)
