"""The Playground workspace: images of two pixels, so that every image is a point of the plane. The user
chooses the true regions, places training points, trains a small MLP live, attacks points and sees which of the
post's three kinds each adversarial image is, tries the defenses, and exports. Training, attacks and defenses
run in a worker thread through `gui.worker.Job`; the workspace owns the data and redraws the plane."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Slot
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QScrollArea, QSplitter, QTabWidget, QVBoxLayout,
                               QWidget)

from engine.core import RunControl
from engine.core.errors import AdvLensError
from engine.playground import (PRESETS, Defense, KindCounts, PlaneAttack, Points, TrainStep, Training, attack_points,
                               defend, preset, sample_points, train, write_counts_csv, write_points_csv)

from ...worker import Job, describe_error
from .controls import PlaygroundControls
from .linearity_view import LinearityPanel
from .plane import CLASS_COLOURS, KIND_COLOURS, PAINT, POINTS, PlaneView

CONTROLS_WIDTH = 340
LEGEND_WIDTH = 190
MUTED = "#666666"
FRAME_INTERVAL = 0.04  # at most 25 frames a second of the plane while training


def counts_lines(rows: dict[str, KindCounts]) -> str:
    """Per run, one line: how many attacked points were fooled, and how many of each kind (in its colour)."""
    lines = []
    for name, counts in rows.items():
        kinds = " · ".join(f"<span style='color:rgb{KIND_COLOURS[kind]}'>kind {kind}: <b>{number}</b></span>"
                           for kind, number in ((1, counts.same_class), (2, counts.neither),
                                                (3, counts.other_class)))
        wrong = f" ({counts.already_wrong} already wrong)" if counts.already_wrong else ""
        lines.append(f"{name}: <b>{counts.successful}</b> of {counts.attacked} fooled{wrong}<br>&nbsp;&nbsp;{kinds}")
    return "<br>".join(lines)


def legend_html(names: tuple[str, str]) -> str:
    """The key to the plane, one item a line, and what the mouse does."""
    def line(colour, mark, text):
        return f"<tr><td align='center' style='color:rgb{tuple(colour)}'>{mark}</td><td>{text}</td></tr>"
    grey = (110, 110, 110)
    rows = [line(CLASS_COLOURS[0], "●", names[0]), line(CLASS_COLOURS[1], "■", names[1]),
            line(CLASS_COLOURS[0], "- -", "true regions; the rest of the plane is <i>neither</i>"),
            line((20, 20, 20), "<b>—</b>", "the model's p = 0.5 boundary"),
            line(grey, "···", "the boundary before a defense"),
            line(grey, "○", "points a defense added"),
            line((30, 30, 30), "→", "attack; grey: not fooled within eps")]
    kinds = [line(KIND_COLOURS[1], "<b>1</b>", "still its own class, misclassified"),
             line(KIND_COLOURS[2], "<b>2</b>", "a meaningless image (neither), where the boundary is arbitrary"),
             line(KIND_COLOURS[3], "<b>3</b>", "in the other class's region: the meaning changed")]
    return (f"<table cellspacing='3'>{''.join(rows)}</table><p><b>Adversarial images</b></p>"
            f"<table cellspacing='3'>{''.join(kinds)}</table>"
            f"<p style='color:{MUTED}'>Click to add a point or select one, drag to move it, right-click to remove "
            "it. Choose <i>paint</i> under <i>mouse</i> to draw the true regions.</p>")


class PlaygroundWorkspace(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.regions = preset(next(iter(PRESETS)))
        self.points = sample_points(self.regions, 6, seed=0)
        self.selected = 0
        self.training: Training | None = None
        self.attack: PlaneAttack | None = None
        self.attacked = np.zeros(0, dtype=np.int64)  # the points the attack was made on, in its order
        self.defense: Defense | None = None
        self.before_grid: np.ndarray | None = None  # the probability before the defense
        self.message = ""  # the last error shown (read by tests)
        self._job: Job | None = None
        self._control: RunControl | None = None
        self._watching_window = False

        self.plane = PlaneView()
        self.controls = PlaygroundControls()
        self.linearity = LinearityPanel()
        self.legend = QLabel()
        self.status = QLabel()
        self._build_layout()
        self._connect()
        self.redraw_all()

    def _build_layout(self) -> None:
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.status.setWordWrap(True)
        self.legend.setFixedWidth(LEGEND_WIDTH)  # beside the square plane, in the width it leaves free
        self.legend.setAlignment(Qt.AlignmentFlag.AlignTop)
        plane_page = QWidget()
        column = QVBoxLayout(plane_page)
        column.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(self.plane, 1)
        row.addWidget(self.legend)
        column.addLayout(row, 1)
        column.addWidget(self.status)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(plane_page, "Plane")
        self.tabs.addTab(self.linearity, "Linearity")
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.controls)
        scroll.setMinimumWidth(CONTROLS_WIDTH)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.tabs)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 1)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def _connect(self) -> None:
        c, plane = self.controls, self.plane
        c.preset.currentTextChanged.connect(self.choose_preset)
        c.cat_name.editingFinished.connect(self.rename_classes)
        c.dog_name.editingFinished.connect(self.rename_classes)
        c.mouse_mode.currentTextChanged.connect(self._on_mouse_mode)
        c.shading.currentTextChanged.connect(lambda _: self.redraw_shading())
        c.sample_button.clicked.connect(self.sample)
        c.clear_button.clicked.connect(lambda: self.set_points(Points.empty()))
        c.train_button.clicked.connect(self.start_training)
        c.reseed_button.clicked.connect(self.retrain_with_new_seed)
        c.stop_button.clicked.connect(self.stop)
        c.attack_button.clicked.connect(self.attack_selected)
        c.attack_all_button.clicked.connect(self.attack_all)
        c.defend_button.clicked.connect(self.start_defense)
        c.export_button.clicked.connect(self._choose_export_folder)
        plane.point_added.connect(self.add_point)
        plane.point_selected.connect(self.select)
        plane.point_moved.connect(self.move_point)
        plane.point_removed.connect(self.remove_point)
        plane.painted.connect(self.paint)

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
        self.status.setStyleSheet("")
        self.status.setText(text)

    def show_error(self, text: str) -> None:
        self.message = text
        self.status.setStyleSheet("color: #b2182b;")
        self.status.setText(text)

    def _update_controls(self) -> None:
        self.controls.set_busy(self.busy, self.training is not None, len(self.points) > 0)

    @property
    def busy(self) -> bool:
        return self._job is not None

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
        if self.busy:
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
        if self.busy:
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
        if self.busy:
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

    def _start(self, steps, on_step, on_result, control: RunControl | None = None) -> None:
        job = Job(steps, self)
        job.stepped.connect(on_step)
        job.succeeded.connect(on_result)
        job.failed.connect(self.show_error)
        job.done.connect(self._on_job_done)
        self._job, self._control = job, control
        self._update_controls()
        job.start()

    @Slot()
    def _on_job_done(self) -> None:
        self._job, self._control = None, None
        self._update_controls()

    @Slot()
    def stop(self) -> None:
        """Training and defenses stop at their next step and keep what they learned; attacks are dropped."""
        if self._control is not None:
            self._control.stop()
        elif self._job is not None:
            self._job.cancel()

    def shutdown(self) -> None:
        """Stop every job and wait for its thread (the window is closing)."""
        self.linearity.shutdown()
        if self._job is not None:
            self._job.cancel()
            self._job.wait()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._watching_window:  # stop our jobs when the window closes, before it waits for threads
            self.window().installEventFilter(self)
            self._watching_window = True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window() and event.type() == QEvent.Type.Close:
            self.shutdown()
        return False

    def _settings(self, *readers):
        """Read settings from the controls; None (and the message shown) when one is not valid."""
        try:
            return [read() for read in readers]
        except AdvLensError as exc:
            self.show_error(str(exc))
            return None

    # --- training --------------------------------------------------------------------------------------------

    @Slot()
    def start_training(self) -> None:
        if self.busy or (settings := self._settings(self.controls.mlp_config)) is None:
            return
        control = RunControl(frame_interval=FRAME_INTERVAL)
        self.attack, self.attacked, self.defense = None, np.zeros(0, dtype=np.int64), None
        self.redraw_all()
        self.controls.shading.setCurrentText("model probability")
        self._start(train(self.points, settings[0], self.regions.class_names, control), self._on_train_step,
                    self._on_trained, control)
        self.show_status(f"Training {settings[0].describe()} on {len(self.points)} points…")

    @Slot()
    def retrain_with_new_seed(self) -> None:
        self.controls.model_seed.setValue(self.controls.model_seed.value() + 1)
        self.start_training()

    @Slot(object)
    def _on_train_step(self, step: TrainStep) -> None:
        if step.grid is None:
            return
        if self.controls.shading.currentText() == "model probability":
            self.plane.show_probability(step.grid)
        else:
            self.plane.show_boundary(step.grid)
        self.controls.train_status.setText(f"step {step.iteration} / {step.total} · loss {step.loss:.4f} · "
                                           f"accuracy {100 * step.accuracy:.0f}%")

    @Slot(object)
    def _on_trained(self, training: Training) -> None:
        self.training = training
        self.redraw_all()
        stopped = " (stopped)" if training.steps_done < training.config.steps else ""
        text = (f"{training.steps_done} steps{stopped} · loss {training.loss:.4f} · training accuracy "
                f"{100 * training.accuracy:.0f}% · {training.seconds:.1f} s")
        self.controls.train_status.setText(text)
        self.show_status(f"Trained {training.config.describe()}: {text}. Select a point and attack it.")

    # --- attacks ---------------------------------------------------------------------------------------------

    @Slot()
    def attack_selected(self) -> None:
        if not 0 <= self.selected < len(self.points):
            self.show_error("Select a point first: click on it.")
            return
        self._start_attack(only=self.selected)

    @Slot()
    def attack_all(self) -> None:
        self._start_attack(only=None)

    def _start_attack(self, only: int | None) -> None:
        if self.busy or self.training is None or (settings := self._settings(self.controls.attack_settings)) is None:
            return
        points = self.points if only is None else Points(self.points.xy[[only]], self.points.labels[[only]])
        self.show_status(f"{settings[0].method} on {len(points)} point(s)…")
        self._start(attack_points(self.training.model, points, self.regions, settings[0]), lambda _: None,
                    lambda attack: self._on_attacked(attack, only))

    def _on_attacked(self, attack: PlaneAttack, only: int | None) -> None:
        self.attack = attack
        self.attacked = np.arange(len(self.points)) if only is None else np.array([only])
        self.redraw_attack()
        settings = f"{attack.settings.method} at eps {attack.settings.eps:g}"
        if only is None:
            self.controls.attack_status.setText(f"{settings}, every point:")
            self.controls.attack_counts.setText(counts_lines({"all points": attack.counts()}))
            self.show_status(f"{settings} on every point: {attack.counts().successful} adversarial images. "
                             "Click a point to see its eps-ball and kind.")
        else:
            name = self.regions.class_names[attack.labels[0]]
            self.controls.attack_status.setText(f"point {only} ({name}): {self.plane.kind_text}")
            self.controls.attack_counts.setText("")
            self.show_status(f"{settings} on point {only} ({name}): {self.plane.kind_text}")

    # --- defenses --------------------------------------------------------------------------------------------

    @Slot()
    def start_defense(self) -> None:
        c = self.controls
        if self.busy or self.training is None:
            return
        settings = self._settings(c.mlp_config, c.attack_settings, c.defense_settings)
        if settings is None:
            return
        config, attack, defense = settings
        control = RunControl(frame_interval=FRAME_INTERVAL)
        self.before_grid = self.training.grid
        self.plane.show_before_boundary(self.before_grid)
        self.show_status("Attacking the training points, adding the defense's points and retraining…")
        self._start(defend(self.training.model, self.points, self.regions, config, attack, defense, control),
                    self._on_train_step, self._on_defended, control)

    @Slot(object)
    def _on_defended(self, defense: Defense) -> None:
        self.defense, self.training, self.attack = defense, defense.training, defense.after
        self.attacked = np.arange(len(self.points))
        self.redraw_all()
        before, after = defense.counts_before, defense.counts_after
        self.controls.defense_status.setText(counts_lines({"before": before, "after": after}))
        self.controls.attack_status.setText(f"{defense.after.settings.method} at eps {defense.after.settings.eps:g} "
                                            "after the defense, every point:")
        self.controls.attack_counts.setText(counts_lines({"all points": after}))
        self.controls.train_status.setText(f"retrained on {len(self.points)} + {len(defense.added)} added points: "
                                           f"training accuracy {100 * defense.training.accuracy:.0f}%")
        self.show_status(f"Defended with {len(defense.added)} added points: {before.successful} → "
                         f"{after.successful} successful attacks at eps {defense.after.settings.eps:g}.")

    # --- export ----------------------------------------------------------------------------------------------

    def export_to(self, directory: str | Path) -> list[Path]:
        """plane.png (as drawn), points.csv (with the current attack) and counts.csv in `directory`."""
        directory = Path(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self.plane.save_png(str(directory / "plane.png"))
            files = [directory / "plane.png", write_points_csv(directory / "points.csv", self.points, self.regions,
                                                               self.attack)]
            files.append(write_counts_csv(directory / "counts.csv", self._counts()))
        except Exception as exc:  # an unwritable folder, a full disk: a message, not a crash
            self.show_error(f"Exporting to {directory} failed: {describe_error(exc)}")
            return []
        self.show_status(f"Exported {', '.join(f.name for f in files)} to {directory}.")
        return files

    def _counts(self) -> dict[str, KindCounts]:
        counts = {}
        if self.defense is not None:
            counts["before defense"] = self.defense.counts_before
            counts["after defense"] = self.defense.counts_after
        elif self.attack is not None:
            counts["attack"] = self.attack.counts()
        return counts

    def _choose_export_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the playground to a folder")
        if folder:
            self.export_to(folder)
