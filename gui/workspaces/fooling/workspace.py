"""The Fooling workspace: fooling ("rubbish") images for chosen classes of the loaded model (Nguyen, Yosinski,
Clune 2015) by MAP-Elites evolution (direct or CPPN encoding) or gradient ascent, live: the archive as a grid,
its mean and median confidence per generation, generations per second. Stop keeps the archive and Resume
continues it (also from a saved elites.npz); a second model shows whether the rubbish transfers; a clicked
elite is shown beside real images of its class; Export writes the engine's files. Every run, load, read and
export goes through a job slot; the GUI thread only draws."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from engine.core import RunControl
from engine.core.errors import AdvLensError
from engine.fooling.evolution import FoolingStep
from engine.fooling.export import SecondOpinion
from engine.fooling.runs import GRADIENT, METHOD_TITLES, FoolingResult, fooling_run, resolved_params
from engine.models import LoadedModel

from ...jobs import JobSlot, steps_of
from ...session import Session
from ...widgets import dialogs
from ...widgets.layout import HORIZONTAL, VERTICAL, splitter
from ...widgets.style import hint_label
from ...widgets.tabbed_workspace import LatestRequest
from . import computations as jobs
from . import texts
from .archive_grid import ArchiveGrid
from .controls import FoolingControls
from .curves import ConfidenceCurves
from .elite_view import REAL_SHOWN, EliteView

CONTROLS_WIDTH = 330
FRAME_INTERVAL = 0.1  # seconds between the archive images a run attaches to its steps
ARCHIVE_FILTER = "fooling archives (elites.npz) (*.npz);;all files (*)"


class FoolingWorkspace(QWidget):
    """The grid above the curves and the clicked elite on the left, the controls on the right."""

    title = "Fooling"
    status = Signal(str)
    busy_changed = Signal(bool)
    progress = Signal(int, int, str)
    message = Signal(str, bool, str)

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.result: FoolingResult | None = None  # the last run's archive: Resume continues it, Export writes it
        self.method = ""  # the method of the archive shown
        self.other: LoadedModel | None = None  # the second model
        self.opinion: SecondOpinion | None = None  # its verdict on the archive shown
        self.real: jobs.RealImages | None = None  # the held-out digits, read once per model
        self.exported: list[Path] = []  # what the last export wrote (read by tests)
        self._live = False  # a run is changing the archive (from its start until it hands the archive back)
        self.slot, self.export_slot, self.model_slot = JobSlot(self), JobSlot(self), JobSlot(self)
        # the second model's verdict and the real images of a clicked class: each computes the newest request only
        self.opinions, self.reals = LatestRequest(self), LatestRequest(self)
        self.controls = FoolingControls()
        self.controls.setMinimumWidth(CONTROLS_WIDTH)
        self.grid, self.curves, self.elite_view = ArchiveGrid(), ConfidenceCurves(), EliteView()
        self.status_line = QLabel("No run yet.")
        self.status_line.setWordWrap(True)  # a long line during a run would widen the window for good
        self.opinion_line = hint_label()
        self.opinion_line.setVisible(False)
        self._lay_out()
        self._connect()
        if session.model is not None:
            self._on_model(session.model)
        self._update_controls()

    def _lay_out(self) -> None:
        below = splitter(HORIZONTAL, (self.curves, self.elite_view), stretch=(1, 1), sizes=(450, 450))
        views = splitter(VERTICAL, (self.grid, below), stretch=(3, 2), sizes=(480, 320))
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(4, 4, 0, 0)
        column.addWidget(self.status_line)
        column.addWidget(self.opinion_line)
        column.addWidget(views, 1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(splitter(HORIZONTAL, (left, self.controls), stretch=(1, 0), sizes=(900, CONTROLS_WIDTH)))

    def _connect(self) -> None:
        c = self.controls
        c.run_button.clicked.connect(self.run)
        c.stop_button.clicked.connect(self.stop)
        c.resume_button.clicked.connect(self.resume)
        c.resume_file_button.clicked.connect(self._choose_archive)
        c.export_button.clicked.connect(self._choose_export_folder)
        c.second_button.clicked.connect(self._choose_second_model)
        c.load_second_button.clicked.connect(lambda: self.load_second_model(c.second_edit.text()))
        c.second_edit.returnPressed.connect(lambda: self.load_second_model(c.second_edit.text()))
        c.forget_second_button.clicked.connect(self.forget_second_model)
        c.method_changed.connect(lambda _method: self._update_controls())
        c.classes_edit.textChanged.connect(lambda _text: c.show_classes_hint(self.session.model))
        self.grid.cell_clicked.connect(self.open_cell)
        self.session.model_changed.connect(self._on_model)
        self.session.images_changed.connect(lambda _replaced: self._refresh_cell())
        for slot in self.slots:
            slot.busy_changed.connect(self._on_busy)
            slot.failed.connect(lambda text: self.message.emit(text, True, "Fooling"))
            slot.status.connect(self.status)

    # --- the protocol ----------------------------------------------------------------------------------------

    @property
    def slots(self) -> tuple[JobSlot, ...]:
        return self.slot, self.export_slot, self.model_slot, self.opinions.slot, self.reals.slot

    @property
    def busy(self) -> bool:
        return any(slot.busy for slot in self.slots)

    def stop(self) -> None:
        self.slot.stop()

    def shutdown(self) -> None:
        for slot in self.slots:
            slot.shutdown()

    @property
    def can_start(self) -> bool:
        """Whether `run` (its Run button, the menu's Run) would start now."""
        return self.controls.run_button.isEnabled()

    @property
    def can_export(self) -> bool:
        return self.controls.export_button.isEnabled()

    def showcase(self):
        """A short CPPN run on the loaded model, the encoding whose rubbish has shapes (the job, or None when
        it cannot start); on the digit model every class passes 99.99% within some 10 generations."""
        self.controls.choose_method("cppn")
        self.controls.fill({"generations": 30, "population": 200, "initial_population": 200})
        return self.slot.job if self.run() else None

    # --- the model -------------------------------------------------------------------------------------------

    @Slot(object)
    def _on_model(self, model: LoadedModel) -> None:
        """Another model: its archive would be someone else's, so it goes (a run on the old model is
        abandoned); the second model stays if it has the same classes."""
        self.slot.cancel()
        self.opinions.forget()
        self.reals.forget()
        self.result, self.opinion, self.real, self.method = None, None, None, ""
        self.controls.show_model(model)
        self.controls.show_classes_hint(model)
        self.grid.set_classes([], [])
        self.curves.clear_points()
        self.elite_view.clear()
        self.status_line.setText(f"{model.name}: {model.num_classes} classes, input "
                                 f"{'x'.join(map(str, model.input_shape))}. No run yet.")
        self.controls.show_run("Choose a method and the classes, then Run.")
        if self.other is not None:
            try:
                jobs.check_second_model(self.other, model)
            except AdvLensError as error:
                self.forget_second_model()
                self.status.emit(f"The second model was let go: {error}")
        self._show_opinion()
        self._update_controls()

    # --- runs ------------------------------------------------------------------------------------------------

    def run(self) -> bool:
        """A new archive for the chosen classes with the chosen method; False (with a message) when the
        settings are wrong or something runs."""
        model = self.session.model
        if model is None:
            return self._refuse("Load a model first (the model column on the left).")
        method = self.controls.chosen_method
        try:
            classes = self.controls.classes(model)
            given = self.controls.values(method)
            resolved_params(method, model, given)  # a wrong value is a message; nothing starts
        except AdvLensError as error:
            return self._refuse(str(error))
        if self.slot.busy:
            return self._refuse("A fooling run is still going; stop it first.")
        control = RunControl(frame_interval=FRAME_INTERVAL)
        self.result, self.opinion, self.method = None, None, method
        self.grid.set_classes(classes, [model.class_names[c] for c in classes])
        self.curves.clear_points()
        self.curves.set_unit(texts.unit_of(method))
        self.elite_view.clear()
        self._show_opinion()
        return self._start(fooling_run(model, method, classes, given, control), control, method, "Running")

    def resume(self) -> bool:
        """Continue the kept archive up to the generations set."""
        result, model = self.result, self.session.model
        if result is None or model is None:
            return self._refuse("Nothing to resume: Run first (or Resume from file…).")
        if result.method == GRADIENT:
            return self._refuse("Gradient ascent starts from noise; only an evolution can be resumed.")
        try:
            given = self.controls.values(result.method)
            planned = resolved_params(result.method, model, given)["generations"]
        except AdvLensError as error:
            return self._refuse(str(error))
        if planned <= result.archive.generation:
            return self._refuse(f"generations: the archive has done {result.archive.generation}; set generations "
                                f"above {result.archive.generation} to continue it")
        control = RunControl(frame_interval=FRAME_INTERVAL)
        steps = fooling_run(model, result.method, result.archive.classes.tolist(), given, control, result.archive)
        self._show_opinion(stale=True)
        return self._start(steps, control, result.method, "Resuming")

    def resume_from_file(self, path: str) -> bool:
        """Read a saved archive in the job, show it, and continue it up to the generations set."""
        model, method = self.session.model, self.controls.chosen_method
        if model is None:
            return self._refuse("Load a model first (the model column on the left).")
        if method == GRADIENT:
            return self._refuse("Gradient ascent starts from noise; choose the evolution the archive was made by.")
        try:
            given = self.controls.values(method)
            resolved_params(method, model, given)
        except AdvLensError as error:
            return self._refuse(str(error))
        control = RunControl(frame_interval=FRAME_INTERVAL)  # the archive kept stays until the file is read
        return self._start(jobs.resumed_from_file(path, method, model, given, control), control, method,
                           f"Reading {Path(path).name}")

    def _start(self, steps, control: RunControl, method: str, doing: str) -> bool:
        started = self.slot.run(steps, self._on_step, on_result=self._on_result, control=control,
                                on_done=self._run_ended, what="the fooling run")
        if started:
            self._live = True
            self.status_line.setText(f"{doing}: {METHOD_TITLES[method]}…")
            self.status.emit(f"{doing}: {METHOD_TITLES[method]} on {self.session.model.name}…")
            self.progress.emit(0, max(1, self.controls.total(method)), f"{texts.unit_of(method)} %v/%m")
        return started

    def _refuse(self, text: str) -> bool:
        self.message.emit(text, True, "Fooling")
        return False

    @Slot(object)
    def _on_step(self, step) -> None:
        """Numbers of every step go into the curves; the grid, the curves and the status line are drawn only
        when a step carries images (a frame, at most every FRAME_INTERVAL), so the run never waits for them."""
        if isinstance(step, jobs.ArchiveRead):
            self._show_read(step)
            return
        self.curves.add(step.generation, step.mean, step.median)
        if step.images is None:
            return
        self.grid.show_images(step.images, step.cells)
        self.grid.show_confidence(step.confidence)
        self.curves.redraw()
        self._show_progress(step)
        if self.grid.selected >= 0:
            self.open_cell(self.grid.selected, real=False)

    def _show_progress(self, step: FoolingStep) -> None:
        text = texts.step_text(step, self.method)
        self.status_line.setText(text)
        self.status.emit(text)
        self.progress.emit(step.generation, max(1, step.generations), f"{texts.unit_of(self.method)} %v/%m")

    def _show_read(self, read: jobs.ArchiveRead) -> None:
        """An archive read from a file: its cells and its curves, before the evolution goes on."""
        names = self.session.model.class_names
        classes = read.classes.tolist()
        self.result, self.opinion, self.method = None, None, read.method
        self.curves.set_unit(texts.unit_of(read.method))
        self._show_opinion()
        self.grid.set_classes(classes, [names[c] for c in classes])
        self.grid.show_images(read.elites)
        self.grid.show_confidence(read.confidence)
        self._show_history(read.history)
        self.controls.classes_edit.setText(",".join(map(str, classes)))
        self.elite_view.clear()
        self.status_line.setText(f"{Path(read.path).name}: generation {read.generation}; continuing…")

    def _show_history(self, history: np.ndarray) -> None:
        means, medians = jobs.history_summary(history)
        first = 1 if self.method == GRADIENT else 0  # a step is counted once done, a generation from 0
        self.curves.show_history(range(first, first + len(means)), means, medians)

    def _run_ended(self) -> None:
        """Whatever happened, the run no longer changes the archive."""
        self._live = False

    @Slot(object)
    def _on_result(self, result: FoolingResult) -> None:
        """The run is over (done or stopped): everything drawn from the archive it hands back, which its
        worker no longer touches."""
        self._live = False
        self.result, self.method = result, result.method
        archive = result.archive
        self.grid.show_images(archive.images.numpy())
        self.grid.show_confidence(archive.confidence.numpy(), archive.found.numpy())
        self._show_history(np.stack(archive.history) if archive.history else np.zeros((0, len(archive))))
        done = texts.done_of(result)
        total = max(done, self.controls.total(result.method))  # an archive read may be past the generations set
        self.controls.show_run(texts.result_text(result, total))
        self.status_line.setText(texts.ended_text(result, total))
        self.status.emit(self.status_line.text())
        self.progress.emit(done, max(1, total), f"{texts.unit_of(result.method)} %v/%m")
        self._request_opinion()
        self._refresh_cell()

    # --- the second model ------------------------------------------------------------------------------------

    def load_second_model(self, spec: str) -> bool:
        """Load another model (a built-in or torchvision name, or a file) in a job; the elites are shown to it."""
        model, spec = self.session.model, spec.strip()
        if model is None:
            return self._refuse("Load a model first (the model column on the left).")
        if not spec:
            return self._refuse("Name the second model: a model file, or a name such as mnist-cnn.")
        self.status.emit(f"Loading the second model {Path(spec).name}…")
        return self.model_slot.run(steps_of(jobs.second_model, spec, model.device, model),
                                   on_result=self._on_second_model, what="the second model's loading")

    @Slot(object)
    def _on_second_model(self, other: LoadedModel) -> None:
        self.other, self.opinion = other, None
        self.controls.second_edit.setText(other.source if Path(other.source).exists() else other.name)
        self.controls.second_label.setText(f"{other.name}: input {'x'.join(map(str, other.input_shape))}, "
                                           f"{other.num_classes} classes")
        self.status.emit(f"Second model: {other.name}")
        self._request_opinion()
        self._update_controls()

    def forget_second_model(self) -> None:
        self.other, self.opinion = None, None
        self.controls.second_label.setText("No second model: load one to see whether the rubbish transfers.")
        self._show_opinion()
        self._update_controls()

    def _request_opinion(self) -> None:
        """The second model's verdict on the archive, in a job; only between runs (a run changes the archive)."""
        if self.other is None or self.result is None or self._live:
            return
        archive, other = self.result.archive, self.other
        images, classes = archive.images.clone(), archive.classes.clone()
        self.opinions.request(lambda: steps_of(jobs.opinion_of, other, images, classes),
                              lambda opinion: self._on_opinion(opinion, other, archive))

    def _on_opinion(self, opinion: SecondOpinion, other: LoadedModel, archive) -> None:
        if other is not self.other or self.result is None or archive is not self.result.archive:
            return  # another second model, another run or another model came in between
        self.opinion = opinion
        self._show_opinion()
        self._refresh_cell()

    def _show_opinion(self, stale: bool = False) -> None:
        names = self.session.model.class_names if self.session.model else ()
        self.grid.show_opinion(self.opinion, names, stale)
        shown = self.other is not None and self.opinion is not None
        self.opinion_line.setVisible(shown or self.other is not None)
        if shown:
            self.opinion_line.setText(texts.agreement_text(self.other, self.opinion, stale))
        elif self.other is not None:
            self.opinion_line.setText(f"Second model {self.other.name}: its verdict comes when the run ends.")

    # --- a clicked cell --------------------------------------------------------------------------------------

    @Slot(int)
    def open_cell(self, index: int, real: bool = True) -> None:
        """The elite of cell `index` enlarged, and (with `real`) real images of its class beside it."""
        images = self.grid.drawn_images
        model = self.session.model
        if images is None or model is None or not 0 <= index < len(images):
            return
        cls, names = self.grid.classes[index], model.class_names
        cell = self.grid.cells[index]
        found = int(self.result.archive.found[index]) if self.result is not None and not self._live else -1
        self.elite_view.show_elite(images[index], texts.elite_detail(names, cls, cell.confidence),
                                   texts.elite_note(names, found, texts.unit_of(self.method), self.opinion, index),
                                   fit=real)
        if real:
            self._show_real(cls)

    def _refresh_cell(self) -> None:
        if self.grid.selected >= 0:
            self.open_cell(self.grid.selected)

    def _show_real(self, cls: int) -> None:
        """Digit models: held-out digits of the class (read once, in a job); others: the loaded images labelled
        (or, without labels, predicted) as the class."""
        model = self.session.model
        title = texts.class_title(model.class_names, cls)
        if model.domain == "mnist":
            if self.real is None:
                self.reals.request(lambda: steps_of(jobs.real_images, model),
                                   lambda real: self._on_real(real, model))
                return
            self._show_class_of(self.real, cls, title)
            return
        session = self.session
        if session.batch is None or session.probs is None:
            self.elite_view.show_no_real("no real images of this class loaded")
            return
        labelled = session.batch.labels is not None
        labels = session.batch.labels if labelled else session.probs.argmax(dim=1)
        loaded = jobs.RealImages(session.batch.images, labels, session.probs,
                                 "loaded images labelled" if labelled else "loaded images predicted as")
        self._show_class_of(loaded, cls, title)

    def _on_real(self, real: jobs.RealImages, model: LoadedModel) -> None:
        if model is not self.session.model or not 0 <= self.grid.selected < len(self.grid.classes):
            return
        self.real = real
        cls = self.grid.classes[self.grid.selected]  # the cell clicked last, which a click during the read changed
        self._show_class_of(real, cls, texts.class_title(model.class_names, cls))

    def _show_class_of(self, real: jobs.RealImages, cls: int, title: str) -> None:
        images, probabilities = jobs.of_class(real, cls, REAL_SHOWN)
        if len(images):
            self.elite_view.show_real(images, probabilities, real.what, title)
        else:
            self.elite_view.show_no_real("no real images of this class loaded")

    # --- export ----------------------------------------------------------------------------------------------

    def export_to(self, directory: str) -> bool:
        """Write the archive's files into `directory` (checked first, in the job), with the second model's
        verdict when there is one."""
        if self.result is None:
            return self._refuse("Nothing to export yet: Run first.")
        if self._live:
            return self._refuse("The run is still changing the archive: stop it first, then export.")
        names = self.session.model.class_names
        return self.export_slot.run(steps_of(jobs.export_run, self.result, names, directory, self.other),
                                    on_result=self._on_exported, what="the export")

    @Slot(object)
    def _on_exported(self, files: list[Path]) -> None:
        self.exported = list(files)
        self.status.emit(f"Exported {len(files)} files to {Path(files[0]).parent} (elites.npz, contact_sheet.png, "
                         "confidence.csv, elites.csv, a PNG per class)")

    # --- dialogs and state -----------------------------------------------------------------------------------

    @Slot()
    def _choose_archive(self) -> None:
        path = dialogs.choose_open_file(self, "Continue a saved fooling archive", dialogs.ARCHIVES, ARCHIVE_FILTER)
        if path:
            self.resume_from_file(path)

    @Slot()
    def _choose_export_folder(self) -> None:
        folder = dialogs.choose_folder(self, "Export the fooling images to a folder")
        if folder:
            self.export_to(folder)

    @Slot()
    def _choose_second_model(self) -> None:
        path = dialogs.choose_open_file(self, "The second model the elites are shown to", dialogs.MODELS,
                                        "Models (*.pt *.pth *.pt2 *.ts);;All files (*)")
        if path:
            self.load_second_model(path)

    @Slot(bool)
    def _on_busy(self, _busy: bool) -> None:
        self._update_controls()
        self.busy_changed.emit(self.busy)

    def _update_controls(self) -> None:
        result, method = self.result, self.controls.chosen_method
        resumable = result is not None and result.method != GRADIENT and result.method == method
        if result is not None and result.method == GRADIENT:
            note = "gradient ascent starts from noise: it cannot be resumed"
        elif result is not None and result.method != method:
            note = f"the archive was made by {METHOD_TITLES[result.method]}: choose it again to resume"
        else:
            note = "continue the archive up to the generations set (raise it to go further)"
        self.controls.set_state(self.slot.busy, self.export_slot.busy, self.model_slot.busy, resumable,
                                result is not None, self.session.model is not None, note)
