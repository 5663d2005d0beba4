"""The Attack workspace's commands: read the panel, start a run on some images or over a dataset, export the
result, the statistics or the field view. Problems become messages (`message`), never exceptions."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from engine.attacks import AttackSpec
from engine.core.errors import AdvLensError
from engine.experiments import DatasetStats, export_stats
from engine.export import export_result
from engine.models import LoadedModel

from ...jobs import JobSlot, describe_error, steps_of
from ...session import FOLDER, LOADED, DatasetSource, LoadedImages, Session
from ...widgets import dialogs
from .panels import AttackPanel
from .pictures import qimage_pixels, write_png
from .run_model import DatasetRequest, RunModel, RunRequest
from .shown import ShownImages
from .stats_view import StatisticsView
from .views import ImageTriptych

CHUNK_VALUES = 2**21  # a dataset run attacks chunks of at most this many input values (bounded memory)
CHUNK_IMAGES = 64  # and of at most this many images: a step, so a Stop and the progress bar, stays short on a CPU


def dataset_batch_size(model: LoadedModel) -> int:
    """Images per chunk of a dataset run: 64 digits, about a dozen ImageNet photographs."""
    return max(1, min(CHUNK_IMAGES, CHUNK_VALUES // math.prod(model.input_shape)))


def write_statistics(stats: DatasetStats, directory: Path, threshold: float, histogram: np.ndarray) -> list[Path]:
    """Worker-thread part of the statistics export."""
    try:
        files = export_stats(stats, directory, threshold=threshold)
        return files + [write_png(histogram, directory / "histogram.png")]
    except OSError as exc:  # a folder that cannot be written, a full disk: said in the words of the export
        raise AdvLensError(f"Exporting the statistics to {directory} failed: {describe_error(exc)}") from exc


def write_field_view(pixels: np.ndarray, path: Path) -> Path:
    """Worker-thread part of saving the field view."""
    try:
        return write_png(pixels, path)
    except OSError as exc:
        raise AdvLensError(f"Could not save the field view to {path}: {describe_error(exc)}") from exc


class AttackController(QObject):
    message = Signal(str, bool, str)  # text, whether it is a warning, the dialog's title
    status = Signal(str)

    def __init__(self, session: Session, run_model: RunModel, panel: AttackPanel, stats_view: StatisticsView,
                 triptych: ImageTriptych, dialog_parent: QWidget, shown: ShownImages):
        super().__init__(dialog_parent)
        self.session, self.run_model, self.panel, self.shown = session, run_model, panel, shown
        self.stats_view, self.triptych, self.dialog_parent = stats_view, triptych, dialog_parent
        self.exports = JobSlot(self)  # one export at a time, written in a worker thread
        self.exports.failed.connect(self.show_error)

    @property
    def exporting(self) -> bool:
        return self.exports.busy

    def show_error(self, text: str) -> None:
        self.message.emit(text, True, "AdvLens: problem")

    # --- runs ------------------------------------------------------------------------------------------------

    @Slot()
    def start_run(self) -> None:
        """Read the form, validate it, and start the attack on the selected or on all loaded images."""
        session, panel = self.session, self.panel
        if session.model is None or session.batch is None or session.selected < 0:
            shown = " (the image shown is one of the dataset run's)" if self.shown.on_dataset else ""
            self.show_error(f"Load a model and images, and select one of the loaded images{shown}, first.")
            return
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
        are read for the run (by the session's loading job) and held by the workspace, not loaded: the images
        column stays as it is, and a row of the run's tables opens its image all the same."""
        session, panel = self.session, self.panel
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
            folder = dialogs.choose_folder(self.dialog_parent, "A folder of images to attack", dialogs.IMAGES)
            if not folder:
                return
            panel.set_dataset_folder(folder)
            source = panel.dataset_source()
        if self.run_model.busy:
            self.show_error("A run is still going; stop it first.")
        elif source.kind != LOADED:
            session.read_dataset(source, then=lambda images: self._run_dataset(spec, params, target, source, images))
        elif session.batch is None:
            self.show_error("No images are loaded: load some, or choose the held-out digits or a folder.")
        else:
            self._run_dataset(spec, params, target, source, None)

    def _run_dataset(self, spec: AttackSpec, params: dict, target: int | None, source: DatasetSource,
                     own: LoadedImages | None) -> None:
        """The run over the dataset's `own` images (read with their count already), or over the loaded ones."""
        model = self.session.model
        if self.run_model.busy:  # started while the dataset was being read (a script, not the panel)
            self.show_error("A run is still going; stop it first.")
            return
        batch = self.session.batch if own is None else own.batch
        count = len(batch) if own is not None or source.count is None else min(source.count, len(batch))
        request = DatasetRequest(spec, model, batch.images[:count], tuple(range(count)), tuple(batch.names[:count]),
                                 params, target, own_images=own is not None,
                                 labels=None if batch.labels is None else batch.labels[:count],
                                 batch_size=dataset_batch_size(model), source=source.describe())
        self.shown.hold_dataset(own)  # before the run starts: its tables read the images' probabilities here
        self.run_model.start(request)

    # --- exports ---------------------------------------------------------------------------------------------

    def export_to(self, directory: str | Path) -> None:
        """Export the last result (PNGs, figures, metrics, npz) in a job; report when done."""
        run_model = self.run_model
        if run_model.result is None or self.exporting:
            return
        request = run_model.request
        steps = steps_of(export_result, run_model.result, request.model, Path(directory), list(request.names))
        self.status.emit(f"Exporting to {directory}…")
        self.exports.run(steps, on_result=self._on_exported, what="the export")

    def wait_for_export(self) -> None:
        self.exports.shutdown()

    def export_statistics_to(self, directory: str | Path) -> bool:
        """statistics.csv and summary.json (the engine's, at the threshold shown) and histogram.png, written by
        a job; False (with a message) when it cannot start."""
        stats = self.stats_view.stats
        if stats is None:
            return False
        directory = Path(directory)
        histogram = qimage_pixels(self.stats_view.render_histogram())  # drawn here, written by the worker
        steps = steps_of(write_statistics, stats, directory, self.stats_view.threshold, histogram)
        self.status.emit(f"Exporting the statistics to {directory}…")
        return self.exports.run(steps, on_result=self._on_statistics_written, what="the export")

    def save_field_view_to(self, path: str | Path) -> bool:
        """A PNG of the adversarial view with the field overlay, as shown (zoom included), written by a job;
        False (with a message) when the folder does not exist or the job cannot start."""
        path = Path(path) if str(path).lower().endswith(".png") else Path(f"{path}.png")
        if not path.parent.is_dir():  # checked before the work starts
            self.show_error(f"Could not save the field view to {path}: no folder {path.parent}")
            return False
        pixels = qimage_pixels(self.triptych.render_field_view())
        return self.exports.run(steps_of(write_field_view, pixels, path),
                                on_result=lambda written: self.status.emit(f"Saved the field view to {written}"),
                                what="the export")

    def choose_export_folder(self) -> None:
        folder = dialogs.choose_folder(self.dialog_parent, "Export the result to a folder")
        if folder:
            self.export_to(folder)

    def choose_stats_folder(self) -> None:
        folder = dialogs.choose_folder(self.dialog_parent, "Export the statistics to a folder")
        if folder:
            self.export_statistics_to(folder)

    def choose_field_file(self) -> None:
        path, _ = dialogs.choose_save_file(self.dialog_parent, "Save the field view", dialogs.EXPORTS,
                                           "field_view.png", "PNG images (*.png)")
        if path:
            self.save_field_view_to(path)

    @Slot(object)
    def _on_exported(self, report) -> None:
        self.message.emit(report.message(), bool(report.rounding_undone), "AdvLens: export")

    @Slot(object)
    def _on_statistics_written(self, files: list[Path]) -> None:
        self.message.emit(f"Exported {', '.join(f.name for f in files)} to {files[0].parent}.", False,
                          "AdvLens: export")
