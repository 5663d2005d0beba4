"""The main window: model and images on the left, workspaces in tabs beside them, a status bar with progress.
The attack workspace has the images in the middle (with the batch table and the statistics of a dataset run in
tabs under them) and the attack and its plots on the right. The window wires panel requests to the session and
the run model; the views subscribe to those models themselves."""
from __future__ import annotations

from pathlib import Path

import math

import pyqtgraph as pg
import torch
from PySide6.QtCore import QSignalBlocker, Qt, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar, QScrollArea,
                               QSplitter, QTabWidget, QVBoxLayout, QWidget)

from engine.attacks import AttackResult, AttackSpec, Step
from engine.core.errors import AdvLensError
from engine.experiments import DatasetProgress, DatasetStats, export_stats
from engine.export import export_result
from engine.models import DEFAULT_MODEL, LoadedModel, default_device

from .model_column import ImagesPanel, ModelPanel
from .session import FOLDER, LOADED, DatasetSource, Session
from .workspaces.attack.panels import AttackPanel, BatchTable
from .workspaces.attack.run_model import DatasetRequest, RunModel, RunRequest
from .workspaces.attack.stats_view import StatisticsView
from .workspaces.attack.views import ImageTriptych, ProbabilityBars, RunCurves
from .workspaces.playground import PlaygroundWorkspace
from .workspaces.universal import UniversalWorkspace
from .workspaces.visualize import VisualizeWorkspace
from .worker import Job, describe_error, steps_of, wait_for_jobs

LEFT_WIDTH, RIGHT_WIDTH = 270, 390
CHUNK_VALUES = 2**21  # a dataset run attacks chunks of at most this many input values (bounded memory)
CHUNK_IMAGES = 64  # and of at most this many images: a step, so a Stop and the progress bar, stays short on a CPU


def dataset_batch_size(model: LoadedModel) -> int:
    """Images per chunk of a dataset run: 64 digits, about a dozen ImageNet photographs."""
    return max(1, min(CHUNK_IMAGES, CHUNK_VALUES // math.prod(model.input_shape)))


def configure_pyqtgraph() -> None:
    pg.setConfigOptions(background="w", foreground="#333333", antialias=True)


def available_devices() -> list[str]:
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


class MainWindow(QMainWindow):
    def __init__(self, sample_count: int = 16, parent: QWidget | None = None):
        super().__init__(parent)
        configure_pyqtgraph()
        self.setWindowTitle("AdvLens")
        self.setAcceptDrops(True)
        self.session = Session(sample_count, self)
        self.run_model = RunModel(self)
        self._export_job: Job | None = None
        self.last_message = ""  # the text of the last dialog shown (read by tests)
        self._message_box: QMessageBox | None = None

        self.model_panel = ModelPanel(available_devices(), default_device())
        self.images_panel = ImagesPanel()
        self.attack_panel = AttackPanel()
        self.triptych = ImageTriptych(self.session, self.run_model)
        self.batch_table = BatchTable()
        self.stats_view = StatisticsView(self.run_model)
        self.bars = ProbabilityBars(self.session, self.run_model)
        self.curves = RunCurves(self.session, self.run_model)
        self._build_layout()
        self._build_status_bar()
        self._connect()
        self._update_controls()

    # --- construction ----------------------------------------------------------------------------------------

    def _build_layout(self) -> None:
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 0, 6)
        left_layout.addWidget(self.model_panel)
        left_layout.addWidget(self.images_panel, 1)

        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.setDocumentMode(True)
        self.bottom_tabs.addTab(self.batch_table, "Batch")
        self.bottom_tabs.addTab(self.stats_view, "Statistics")
        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.triptych)
        centre.addWidget(self.bottom_tabs)
        centre.setStretchFactor(0, 3)
        centre.setStretchFactor(1, 1)
        centre.setSizes([370, 430])

        attack_scroll = QScrollArea()
        attack_scroll.setWidgetResizable(True)
        attack_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        attack_scroll.setWidget(self.attack_panel)
        attack_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(attack_scroll)
        right.addWidget(self.bars)
        right.addWidget(self.curves)
        right.setSizes([420, 195, 245])

        attack_workspace = QSplitter(Qt.Orientation.Horizontal)
        attack_workspace.addWidget(centre)
        attack_workspace.addWidget(right)
        attack_workspace.setStretchFactor(0, 1)
        attack_workspace.setSizes([1000, RIGHT_WIDTH])
        attack_workspace.setChildrenCollapsible(False)

        # Each workspace works on the model and images of the left column; the attack workspace comes first.
        self.workspaces = QTabWidget()
        self.workspaces.setDocumentMode(True)
        self.workspaces.addTab(attack_workspace, "Attack")
        # The others are built when first opened: a window starts faster, and their many plot widgets are only
        # made for the workspaces that are used.
        self._workspace_makers = {
            "Visualize": lambda: VisualizeWorkspace(self.session, self.run_model),
            "Universal": lambda: UniversalWorkspace(self.session),
            "Playground": lambda: PlaygroundWorkspace(self),
        }
        self.opened_workspaces: dict[str, QWidget] = {}
        for title in self._workspace_makers:
            self.workspaces.addTab(QWidget(), title)
        self.workspaces.currentChanged.connect(self._open_workspace)

        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(self.workspaces)
        main.setStretchFactor(1, 1)
        main.setSizes([LEFT_WIDTH, 1000 + RIGHT_WIDTH])
        main.setChildrenCollapsible(False)
        self.setCentralWidget(main)

    def show_workspace(self, title: str) -> QWidget:
        """Bring the workspace with this tab title to the front (building it the first time) and return it."""
        for index in range(self.workspaces.count()):
            if self.workspaces.tabText(index) == title:
                self.workspaces.setCurrentIndex(index)
                self._open_workspace(index)
                return self.workspaces.widget(index)
        raise KeyError(f"no workspace called {title!r}")

    @Slot(int)
    def _open_workspace(self, index: int) -> None:
        """Replace a not yet opened workspace's empty tab by the workspace itself."""
        title = self.workspaces.tabText(index)
        if title not in self._workspace_makers:
            return
        workspace = self._workspace_makers.pop(title)()
        self.opened_workspaces[title] = workspace
        with QSignalBlocker(self.workspaces):
            empty_tab = self.workspaces.widget(index)
            self.workspaces.removeTab(index)
            self.workspaces.insertTab(index, workspace, title)
            self.workspaces.setCurrentIndex(index)
        empty_tab.deleteLater()

    def _build_status_bar(self) -> None:
        self.status_label = QLabel("Ready")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(260)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.progress)

    def _connect(self) -> None:
        session, run_model = self.session, self.run_model
        self.model_panel.load_requested.connect(self._load_model)
        self.images_panel.samples_requested.connect(session.load_samples)
        self.images_panel.files_requested.connect(session.add_images)
        self.images_panel.clear_requested.connect(session.clear_images)
        self.images_panel.image_selected.connect(session.select)
        self.batch_table.image_selected.connect(session.select)
        self.attack_panel.run_requested.connect(self.start_run)
        self.attack_panel.stop_requested.connect(run_model.stop)
        self.attack_panel.export_requested.connect(self._choose_export_folder)
        self.attack_panel.dataset_requested.connect(self.start_dataset_run)
        self.stats_view.image_selected.connect(session.select)
        self.stats_view.export_requested.connect(self._choose_stats_folder)
        self.triptych.save_field_requested.connect(self._choose_field_file)

        session.model_changed.connect(self._on_model_changed)
        session.images_changed.connect(self._on_images_changed)
        session.selection_changed.connect(self._on_selection_changed)
        session.busy_changed.connect(self._on_session_busy)
        session.progress.connect(self._on_load_progress)
        session.status.connect(self.show_status)
        session.warned.connect(lambda text: self.show_message(text, QMessageBox.Icon.Warning))
        session.failed.connect(self.show_error)

        run_model.started.connect(self._on_run_started)
        run_model.stepped.connect(self._on_run_step)
        run_model.progressed.connect(self._on_dataset_progress)
        run_model.finished.connect(self._on_run_finished)
        run_model.failed.connect(self.show_error)
        run_model.busy_changed.connect(self._update_controls)

    # --- commands --------------------------------------------------------------------------------------------

    def load_default(self) -> None:
        """The built-in model and its sample digits: what the window opens with."""
        self.model_panel.set_spec(DEFAULT_MODEL)
        self.session.load_model(DEFAULT_MODEL, "cpu")
        self.images_panel.list.setFocus()  # arrow keys step through the images; Ctrl+R runs

    @Slot(str, str, object)
    def _load_model(self, spec: str, device: str, arch: str | None) -> None:
        self.session.load_model(spec, device, arch)

    @Slot()
    def start_run(self) -> None:
        """Read the form, validate it, and start the attack on the selected or on all loaded images."""
        session = self.session
        if session.model is None or session.batch is None or session.selected < 0:
            self.show_error("Load a model and images, and select an image, first.")
            return
        panel = self.attack_panel
        try:
            params = panel.params()
            target = panel.target()
        except AdvLensError as exc:
            self.show_error(str(exc))
            return
        indices = list(range(session.image_count)) if panel.run_on_all() else [session.selected]
        request = RunRequest(panel.spec(), session.model, session.batch.images[indices], tuple(indices),
                             tuple(session.batch.names[i] for i in indices), params, target)
        self.run_model.start(request, watched_loaded_index=session.selected)

    @Slot()
    def start_dataset_run(self) -> None:
        """Attack the dataset chosen in the attack panel and gather its statistics. Held-out digits and folders
        are first loaded in place of the current images, so that every attacked image can be opened."""
        session, panel = self.session, self.attack_panel
        if session.model is None:
            self.show_error("Load a model first.")
            return
        try:
            spec, params, target = panel.spec(), panel.params(), panel.target()
        except AdvLensError as exc:
            self.show_error(str(exc))
            return
        source = panel.dataset_source()
        if source.kind == FOLDER and not source.folder:
            folder = QFileDialog.getExistingDirectory(self, "A folder of images to attack")
            if not folder:
                return
            panel.set_dataset_folder(folder)
            source = panel.dataset_source()
        if source.kind != LOADED:
            session.load_dataset(source, then=lambda: self._run_dataset(spec, params, target, source))
        elif session.batch is None:
            self.show_error("No images are loaded: load some, or choose the held-out digits or a folder.")
        else:
            self._run_dataset(spec, params, target, source)

    def _run_dataset(self, spec: AttackSpec, params: dict, target: int | None, source: DatasetSource) -> None:
        """The run over the loaded images (a held-out or folder dataset was loaded with its count already)."""
        batch, model = self.session.batch, self.session.model
        count = len(batch) if source.kind != LOADED or source.count is None else min(source.count, len(batch))
        request = DatasetRequest(spec, model, batch.images[:count], tuple(range(count)), tuple(batch.names[:count]),
                                 params, target, labels=None if batch.labels is None else batch.labels[:count],
                                 batch_size=dataset_batch_size(model), source=source.describe())
        self.run_model.start(request)

    def export_statistics_to(self, directory: str | Path) -> list[Path]:
        """statistics.csv and summary.json (the engine's, at the threshold shown) and histogram.png."""
        stats = self.stats_view.stats
        if stats is None:
            return []
        directory = Path(directory)
        try:
            files = export_stats(stats, directory, threshold=self.stats_view.threshold)
            files.append(directory / "histogram.png")
            self.stats_view.save_histogram(str(files[-1]))
        except Exception as exc:  # a folder that cannot be written, a full disk: a message, not a crash
            self.show_error(f"Exporting the statistics to {directory} failed: {describe_error(exc)}")
            return []
        self.show_message(f"Exported {', '.join(f.name for f in files)} to {directory}.", title="AdvLens: export")
        return files

    def save_field_view_to(self, path: str | Path) -> bool:
        """A PNG of the adversarial view with the field overlay, as shown (zoom included)."""
        path = Path(path) if str(path).lower().endswith(".png") else Path(f"{path}.png")
        try:
            self.triptych.save_field_view(str(path))
        except Exception as exc:  # an unwritable folder: a message, not a crash
            self.show_error(f"Could not save the field view to {path}: {describe_error(exc)}")
            return False
        self.show_status(f"Saved the field view to {path}")
        return True

    def export_to(self, directory: str | Path) -> None:
        """Export the last result (PNGs, figures, metrics, npz) in a worker thread; report when done."""
        run_model = self.run_model
        if run_model.result is None or self._export_job is not None:
            return
        request = run_model.request
        steps = steps_of(export_result, run_model.result, request.model, Path(directory), list(request.names))
        self._export_job = Job(steps, self)
        self._export_job.succeeded.connect(self._on_exported)
        self._export_job.failed.connect(self.show_error)
        self._export_job.done.connect(self._on_export_done)
        self.show_status(f"Exporting to {directory}…")
        self._export_job.start()
        self._update_controls()

    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def show_error(self, text: str) -> None:
        self.show_message(text, QMessageBox.Icon.Warning, title="AdvLens: problem")

    def show_message(self, text: str, icon=QMessageBox.Icon.Information, title: str = "AdvLens") -> None:
        """A non-blocking dialog (one at a time) and the first line in the status bar."""
        self.last_message = text
        self.show_status(text.splitlines()[0] if text else "")
        if self._message_box is None:
            self._message_box = QMessageBox(self)
            self._message_box.setWindowModality(Qt.WindowModality.NonModal)
        self._message_box.setIcon(icon)
        self._message_box.setWindowTitle(title)
        self._message_box.setText(text)
        self._message_box.show()

    # --- reactions -------------------------------------------------------------------------------------------

    @Slot(object)
    def _on_model_changed(self, model: LoadedModel) -> None:
        self.setWindowTitle(f"AdvLens — {model.name}")
        self.model_panel.show_model(model)
        self.attack_panel.set_model(model)

    @Slot(bool)
    def _on_images_changed(self, replaced: bool) -> None:
        session = self.session
        if replaced:
            self.run_model.clear()
            self.batch_table.clear()
        names = session.model.class_names if session.model else ()
        self.images_panel.show_images(session.batch, session.probs, names)
        if not replaced and self.run_model.result is not None:
            self.images_panel.show_outcomes(self.run_model.request.indices, self.run_model.result, names)
        self._update_controls()

    @Slot(int)
    def _on_selection_changed(self, index: int) -> None:
        self.images_panel.select(index)
        self.batch_table.select_loaded(index)
        self.stats_view.select_loaded(index)
        self.run_model.watch(index)

    @Slot(bool)
    def _on_session_busy(self, busy: bool) -> None:
        if not busy and not self.run_model.busy:  # a dataset run may start as its images finish loading
            self.progress.setRange(0, 1)
            self.progress.setValue(1 if self.session.batch is not None else 0)
        self._update_controls()

    @Slot(int, int)
    def _on_load_progress(self, done: int, total: int) -> None:
        self.progress.setFormat("%p%")
        if total <= 0:
            self.progress.setRange(0, 0)  # busy indicator: the amount of work is unknown
        else:
            self.progress.setRange(0, max(1, total // 1024))  # KiB: byte counts overflow a QProgressBar's int
            self.progress.setValue(done // 1024)

    @Slot(object)
    def _on_run_started(self, request: RunRequest) -> None:
        names = self.session.model.class_names
        self.images_panel.show_images(self.session.batch, self.session.probs, names)  # drop the last outcomes
        self.images_panel.select(self.session.selected)
        self.batch_table.show_run(request, self.session.probs)
        self.batch_table.select_loaded(self.session.selected)
        self.progress.setRange(0, 0)
        if isinstance(request, DatasetRequest):
            self.progress.setFormat("%v / %m images")
            self.show_status(f"{request.spec.title} over {request.source} ({len(request.indices)} images): "
                             f"classifying, then attacking…")
        else:
            self.progress.setFormat("iteration %v / %m")
            self.show_status(f"{request.spec.title}: running on {len(request.indices)} image(s)…")

    @Slot(object)
    def _on_dataset_progress(self, progress: DatasetProgress) -> None:
        if self.progress.maximum() != progress.total:
            self.progress.setRange(0, progress.total)
        self.progress.setValue(progress.done)
        request = self.run_model.request
        text = f"{progress.done}/{progress.total} attacked, {progress.fooled} fooled"
        if progress.step is not None:
            text += f" · iteration {progress.step.iteration}/{progress.step.total}"
        self.show_status(f"{request.spec.title} over {request.source}: {text}")
        self.batch_table.summary.setText(text)

    @Slot(object)
    def _on_run_step(self, step: Step) -> None:
        # repaints follow the frames (at most 25 a second), however fast the steps come
        if step.frame is None and step.iteration != step.total:
            return
        if self.progress.maximum() != step.total:
            self.progress.setRange(0, step.total)
        self.progress.setValue(step.iteration)
        self.batch_table.show_progress(step.iteration, step.total, step.fooled)

    @Slot(object)
    def _on_run_finished(self, result: AttackResult) -> None:
        names = self.session.model.class_names
        stats = self.run_model.stats
        if stats is not None:  # the request now covers the attacked images only
            self.batch_table.show_run(self.run_model.request, self.session.probs)
            self.batch_table.select_loaded(self.session.selected)
        self.batch_table.show_result(result, names)
        self.images_panel.show_outcomes(self.run_model.request.indices, result, names)
        if stats is not None:
            self._show_dataset_end(stats)
            return
        self._show_run_end(result)
        summary = result.summary()
        stopped = ", stopped early" if result.stopped else ""
        self.show_status(f"{self.run_model.request.spec.title}: fooled {summary['fooled']}/{summary['images']} "
                         f"in {summary['seconds']:.1f} s{stopped}")
        self._update_controls()

    def _show_dataset_end(self, stats: DatasetStats) -> None:
        request, result = self.run_model.request, stats.result
        attacked = len(stats.fooled)
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat(f"{'stopped after' if result.stopped else 'done:'} {attacked} images")
        accuracy = "" if stats.accuracy is None else f", clean accuracy {100 * stats.accuracy:.1f}%"
        self.show_status(f"{request.spec.title} over {request.source}: success {100 * stats.success_rate:.1f}% of "
                         f"{attacked} attacked{accuracy}, {stats.mean_iterations:.2f} iterations on average, "
                         f"in {result.seconds:.1f} s{', stopped early' if result.stopped else ''}")
        self.bottom_tabs.setCurrentWidget(self.stats_view)
        self.stats_view.select_loaded(self.session.selected)
        self._update_controls()

    def _show_run_end(self, result: AttackResult) -> None:
        """A full bar when the attack ended by itself (some end before their planned iterations, e.g. DeepFool
        once every image is fooled), the point reached when it was stopped."""
        step = self.run_model.last_step
        if step is None:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("stopped before the first iteration")
        elif result.stopped:
            self.progress.setFormat(f"stopped at iteration {step.iteration} / {step.total}")
        else:
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
            self.progress.setFormat(f"done: {step.iteration} iteration{'s' * (step.iteration != 1)}")

    def _choose_export_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the result to a folder")
        if folder:
            self.export_to(folder)

    def _choose_stats_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the statistics to a folder")
        if folder:
            self.export_statistics_to(folder)

    def _choose_field_file(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the field view", "field_view.png", "PNG images (*.png)")
        if path:
            self.save_field_view_to(path)

    @Slot(object)
    def _on_exported(self, report) -> None:
        icon = QMessageBox.Icon.Warning if report.rounding_undone else QMessageBox.Icon.Information
        self.show_message(report.message(), icon, title="AdvLens: export")

    @Slot()
    def _on_export_done(self) -> None:
        self._export_job = None
        self._update_controls()

    @Slot()
    def _update_controls(self, *_) -> None:
        loading, running = self.session.busy, self.run_model.busy
        exporting = self._export_job is not None
        has_images = self.session.batch is not None and self.session.model is not None
        self.model_panel.load_button.setEnabled(not (loading or running))
        self.images_panel.set_buttons_enabled(not (loading or running) and self.session.model is not None)
        self.attack_panel.set_running(running, can_run=has_images and not loading,
                                      has_result=self.run_model.result is not None and not exporting,
                                      can_run_dataset=self.session.model is not None and not loading)

    # --- drag and drop, closing ------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if self.session.busy or self.run_model.busy:
            self.show_error("Busy: drop the images again when the current work is done.")
            return
        event.acceptProposedAction()
        self.session.add_images(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the run and wait for every worker thread, so that nothing is left running."""
        self.run_model.shutdown()
        for workspace in self.opened_workspaces.values():
            workspace.shutdown()
        self.session.cancel()
        self.session.wait()
        if self._export_job is not None:
            self._export_job.wait()
        wait_for_jobs()
        if self._message_box is not None:
            self._message_box.close()
        super().closeEvent(event)
