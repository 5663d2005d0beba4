"""The Compare workspace: a list of models (the loaded one, files, nets trained here), labelled images, and two
comparisons run as jobs with progress and Stop: the robustness table and the transfer matrix, plus the
cross-training-set run (one architecture trained on two disjoint halves of the training digits, then the
matrix). Results are shaded tables; any cell opens its images side by side below them; Export writes CSV + PNG."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QGridLayout, QPushButton, QVBoxLayout, QWidget

from engine.core import RunControl
from engine.core.errors import AdvLensError
from engine.models import LoadedModel, load_model
from engine.training.comparisons import ROBUSTNESS_ATTACKS, RobustnessRow, TransferMatrix

from ...jobs import JobSlot, steps_of
from ...session import Session
from ...widgets import dialogs
from ...widgets.cell_images import CellImagesView
from ...widgets.layout import HORIZONTAL, VERTICAL, ScrollingPanel, splitter
from ...widgets.style import hint_label
from . import computations as jobs
from .controls import AttackSettings, CrossHalvesDialog, ImagesBox, per_image_attacks
from .models_box import ModelList
from .tables import ResultTables

CONTROLS_WIDTH = 360  # the settings column's width when the window has room
TRANSFER_PAGE = 1  # the tables' page of the transfer matrix (the robustness table is the first)
TRAINED_HERE = "trained here"  # how the source of a model trained in the window begins (engine.training)


class CompareWorkspace(QWidget):
    """Controls on the left, the tables above the opened cell's images on the right; the shell's `Workspace`."""

    title = "Compare"
    status = Signal(str)
    busy_changed = Signal(bool)
    progress = Signal(int, int, str)
    message = Signal(str, bool, str)

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.rows: list[RobustnessRow] | None = None
        self.matrix: TransferMatrix | None = None
        self.exported: list[Path] = []  # what the last export wrote (read by tests)
        self.slot, self.side_slot = JobSlot(self), JobSlot(self)  # the comparisons; loading files and exports
        self.models = ModelList()
        self.images = ImagesBox()
        self.robustness_settings = AttackSettings(
            "Robustness table", ROBUSTNESS_ATTACKS, "pgd",
            "the table runs all four attacks; choose one to change its settings (each model's domain defaults "
            "for the rest)")
        self.transfer_settings = AttackSettings("Transfer matrix", per_image_attacks(), "pgd")
        self.tables, self.cell_view = ResultTables(), CellImagesView()
        self.buttons = self._make_buttons()
        self.cross_dialog: CrossHalvesDialog | None = None
        self._lay_out()
        self._connect()
        if session.model is not None:
            self.add_loaded_model()
        self._update_controls()

    def _make_buttons(self) -> dict[str, QPushButton]:
        buttons = {name: QPushButton(text) for name, text in (
            ("robustness", "Robustness table"), ("transfer", "Transfer matrix"),
            ("cross", "Cross-training-set…"), ("stop", "Stop"), ("export", "Export…"))}
        buttons["cross"].setToolTip("train one architecture on each of two disjoint halves of the training "
                                    "digits, add both nets and make the transfer matrix over them and the checked "
                                    "models")
        buttons["export"].setToolTip("write robustness.csv / .png and matrix.csv, errors.csv, matrix.png of what "
                                     "was computed into a folder")
        return buttons

    def _lay_out(self) -> None:
        forms = QWidget()
        layout = QVBoxLayout(forms)
        layout.setContentsMargins(0, 0, 0, 0)
        for group in (self.models, self.images, self.robustness_settings, self.transfer_settings):
            layout.addWidget(group)
        layout.addStretch(1)
        grid = QGridLayout()
        b = self.buttons
        grid.addWidget(b["robustness"], 0, 0)
        grid.addWidget(b["transfer"], 0, 1)
        grid.addWidget(b["cross"], 1, 0, 1, 2)
        grid.addWidget(b["stop"], 2, 0)
        grid.addWidget(b["export"], 2, 1)
        # the settings scroll; the buttons and the hint under them stay in view whatever the window's height
        controls = QWidget()
        column = QVBoxLayout(controls)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(ScrollingPanel(forms), 1)
        column.addLayout(grid)
        column.addWidget(hint_label("Run a comparison; then click a cell of its table to see the images it "
                                    "counted."))
        results = splitter(VERTICAL, (self.tables, self.cell_view), stretch=(0, 1), sizes=(230, 570))
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(splitter(HORIZONTAL, (controls, results), stretch=(0, 1), sizes=(CONTROLS_WIDTH, 895),
                                 keep_sizes=True))

    def _connect(self) -> None:
        b = self.buttons
        b["robustness"].clicked.connect(self.run_robustness)
        b["transfer"].clicked.connect(self.run_transfer)
        b["cross"].clicked.connect(self.ask_cross_halves)
        b["stop"].clicked.connect(self.stop)
        b["export"].clicked.connect(self._choose_export_folder)
        self.models.add_loaded_button.clicked.connect(self.add_loaded_model)
        self.models.add_file_button.clicked.connect(self._choose_model_file)
        self.models.changed.connect(self._on_models_changed)
        self.tables.cell_opened.connect(self.cell_view.show_cell)
        self.tables.said.connect(self.status)
        self.session.model_changed.connect(self._on_session_model)
        for slot in (self.slot, self.side_slot):
            slot.busy_changed.connect(self._on_busy)
            slot.failed.connect(self._on_failed)
            slot.status.connect(self.status)

    # --- the protocol ----------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.slot.busy or self.side_slot.busy

    def stop(self) -> None:
        self.slot.stop()

    def shutdown(self) -> None:
        for slot in (self.slot, self.side_slot):
            slot.shutdown()

    def export_to(self, directory: str) -> None:
        """Write the tables computed so far into `directory`, in a job (the folder is checked first)."""
        if self.rows is None and self.matrix is None:
            self.message.emit("Nothing to export yet: run the robustness table or the transfer matrix.", True,
                              "Compare")
            return
        self.side_slot.run(steps_of(jobs.export_run, Path(directory), self.rows, self.matrix),
                           on_result=self._on_exported, what="the export or the model loading")

    def run(self) -> bool:
        """The comparison of the table shown (the menu's Run, Ctrl+R): its button's command."""
        return self.run_transfer() if self.tables.currentIndex() == TRANSFER_PAGE else self.run_robustness()

    @property
    def can_start(self) -> bool:
        shown = "transfer" if self.tables.currentIndex() == TRANSFER_PAGE else "robustness"
        return self.buttons[shown].isEnabled()

    @property
    def can_export(self) -> bool:
        return self.buttons["export"].isEnabled()

    def showcase(self):
        """The transfer matrix of the checked models on 100 held-out digits, its first cell opened (the job, or
        None)."""
        self.images.form.fill({"count": 100})
        self.transfer_settings.fill("pgd", {"steps": 20})
        if not self.run_transfer():
            return None
        self.slot.job.succeeded.connect(lambda _matrix: self.tables.open_transfer_cell(0, 0))  # after the table
        return self.slot.job

    # --- the models ------------------------------------------------------------------------------------------

    def add_loaded_model(self) -> None:
        model = self.session.model
        if model is None:
            self.status.emit("Load a model first (the model column on the left).")
        elif self.models.contains(model):
            self.status.emit(f"{model.name} is already in the list.")
        else:
            added = self.models.add(model)
            self.status.emit(f"Added {added.name}.")

    @Slot(object)
    def _on_session_model(self, model: LoadedModel) -> None:
        """A model trained in the window and handed over ("Use this model") joins the list at once: the session
        keeps only the latest model, so the next hand-over would otherwise lose it."""
        if model.source.startswith(TRAINED_HERE) and not self.models.contains(model):
            added = self.models.add(model)
            self.status.emit(f"Added {added.name}, handed over by the Train workspace.")
        self._update_controls()

    def add_model_file(self, spec: str) -> bool:
        """Load a model file (or a built-in name) in a job, then add it; False when it cannot start."""
        device = self.session.model.device if self.session.model is not None else "cpu"
        self.status.emit(f"Loading {Path(spec).name}…")
        return self.side_slot.run(steps_of(load_model, spec, device), on_result=self._on_model_loaded,
                                  what="the export or the model loading")

    @Slot()
    def _choose_model_file(self) -> None:
        path = dialogs.choose_open_file(self, "Add a model to compare", dialogs.MODELS,
                                        "Models (*.pt *.pth *.pt2 *.ts);;All files (*)")
        if path:
            self.add_model_file(path)

    @Slot(object)
    def _on_model_loaded(self, model: LoadedModel) -> None:
        added = self.models.add(model)
        self.status.emit(f"Added {added.name} ({'x'.join(map(str, model.input_shape))}).")

    @Slot()
    def _on_models_changed(self) -> None:
        chosen = self.models.chosen()
        domain = chosen[0].domain if chosen else (self.session.model.domain if self.session.model else "mnist")
        self.robustness_settings.set_domain(domain)
        self.transfer_settings.set_domain(domain)
        self._update_controls()

    # --- the comparisons -------------------------------------------------------------------------------------

    def run_robustness(self) -> bool:
        models = self.models.chosen()
        try:
            source = self.images.source()
            params = {name: self.robustness_settings.given(name) for name in ROBUSTNESS_ATTACKS}
        except AdvLensError as exc:
            return self._refuse(str(exc))
        control = RunControl(frame_interval=None)
        self.tables.setCurrentIndex(0)
        return self._start(jobs.robustness_run(models, source, params, control), control,
                           jobs.robustness_fraction, self._on_robustness, "Robustness table")

    def run_transfer(self) -> bool:
        models = self.models.chosen()
        try:
            source, seed = self.images.source(), self.images.values()["seed"]
            attack, params = self.transfer_settings.spec.name, self.transfer_settings.given()
        except AdvLensError as exc:
            return self._refuse(str(exc))
        control = RunControl(frame_interval=None)
        self.tables.setCurrentIndex(1)
        return self._start(jobs.transfer_run(models, source, attack, params, seed, control), control,
                           jobs.transfer_fraction, self._on_transfer, "Transfer matrix")

    def ask_cross_halves(self) -> None:
        """The dialog of the cross-training-set run; its OK starts it (non-blocking)."""
        if self.cross_dialog is None:
            self.cross_dialog = CrossHalvesDialog(self)
            self.cross_dialog.accepted.connect(self.run_cross_halves)
        self.cross_dialog.open()

    def run_cross_halves(self) -> bool:
        dialog = self.cross_dialog or CrossHalvesDialog(self)
        models = self.models.chosen()
        try:
            arch, training, arch_options = dialog.settings()
            source, seed = self.images.source(), self.images.values()["seed"]
            attack, params = self.transfer_settings.spec.name, self.transfer_settings.given()
        except AdvLensError as exc:
            return self._refuse(str(exc))
        control = RunControl(frame_interval=None)
        device = self.session.model.device if self.session.model is not None else "cpu"
        self.tables.setCurrentIndex(1)
        steps = jobs.cross_halves_run(arch, training, arch_options, models, source, attack, params, seed, device,
                                      control)
        return self._start(steps, control, jobs.cross_fraction, self._on_cross_result, "Cross-training-set run")

    def _start(self, steps, control, fraction, on_result, label: str) -> bool:
        """Run `steps` in the comparisons' slot: progress by `fraction(step)`, a status line per step."""
        def on_step(step) -> None:
            if isinstance(step, jobs.HalvesTrained):
                for model in step.models:
                    self.models.add(model)
            self.progress.emit(int(jobs.PROGRESS_STEPS * fraction(step)), jobs.PROGRESS_STEPS, "%p%")
            self.status.emit(f"{label}: {jobs.describe(step)}")

        started = self.slot.run(steps, on_step, on_result=on_result, control=control, what=f"the {label.lower()}")
        if started:
            self.progress.emit(0, jobs.PROGRESS_STEPS, "%p%")
            self.status.emit(f"{label}…")
        return started

    def _refuse(self, text: str) -> bool:
        self.message.emit(text, True, "Compare")
        return False

    @Slot(object)
    def _on_robustness(self, rows: list[RobustnessRow]) -> None:
        self.rows = rows
        self.tables.show_robustness(rows)
        self.progress.emit(jobs.PROGRESS_STEPS, jobs.PROGRESS_STEPS, "%p%")
        self.status.emit(f"Robustness table of {len(rows)} model(s); click a cell to see its images.")

    @Slot(object)
    def _on_transfer(self, matrix: TransferMatrix) -> None:
        self.matrix = matrix
        self.tables.show_transfer(matrix)
        self.progress.emit(jobs.PROGRESS_STEPS, jobs.PROGRESS_STEPS, "%p%")
        diagonal = ", ".join(f"{matrix.flip_rate[i, i]:.0%}" for i in range(len(matrix.targets)))
        self.status.emit(f"Transfer matrix of {matrix.attack}: white-box (diagonal) {diagonal}; click a cell to "
                         "see its images.")

    @Slot(object)
    def _on_cross_result(self, matrix: TransferMatrix | None) -> None:
        if matrix is None:
            self.status.emit("Stopped during the training of the halves; the nets finished are in the list.")
            return
        self._on_transfer(matrix)

    @Slot(object)
    def _on_exported(self, files: list[Path]) -> None:
        self.exported = list(files)
        self.status.emit(f"Exported {', '.join(Path(f).name for f in files)} to {Path(files[0]).parent}")

    @Slot()
    def _choose_export_folder(self) -> None:
        folder = dialogs.choose_folder(self, "Export the comparison tables to a folder")
        if folder:
            self.export_to(folder)

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        self.message.emit(text, True, "Compare")

    @Slot(bool)
    def _on_busy(self, _busy: bool) -> None:
        self._update_controls()
        self.busy_changed.emit(self.busy)

    def _update_controls(self) -> None:
        running, chosen = self.slot.busy, bool(self.models.chosen())
        b = self.buttons
        b["robustness"].setEnabled(not running and chosen)
        b["transfer"].setEnabled(not running and chosen)
        b["cross"].setEnabled(not running)
        b["stop"].setEnabled(running)
        b["export"].setEnabled(not self.side_slot.busy and (self.rows is not None or self.matrix is not None))
        self.models.set_enabled(not running)
        self.models.add_loaded_button.setEnabled(not running and self.session.model is not None)
