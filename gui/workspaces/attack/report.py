"""What a run says while it goes and when it ends: the status line, the progress bar's state and the batch table.
The workspace forwards `status` and `progress` to the shell, which shows them in its status bar."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QTabWidget

from engine.attacks import AttackResult, Step
from engine.experiments import DatasetProgress, DatasetStats

from .panels import BatchTable
from .run_model import DatasetRequest, RunModel, RunRequest
from .shown import ShownImages
from .stats_view import StatisticsView

BUSY = 0  # a progress maximum of 0: a busy indicator, the amount of work is not known yet


class RunReport(QObject):
    status = Signal(str)
    progress = Signal(int, int, str)  # value, maximum (BUSY: unknown), the bar's format ("%v / %m images")

    def __init__(self, session: ShownImages, run_model: RunModel, batch_table: BatchTable, stats_view: StatisticsView,
                 bottom_tabs: QTabWidget, parent: QObject | None = None):
        super().__init__(parent)
        self.session, self.run_model = session, run_model
        self.batch_table, self.stats_view, self.bottom_tabs = batch_table, stats_view, bottom_tabs
        self.value, self.maximum, self.format = 0, 1, "%p%"
        run_model.started.connect(self._on_run_started)
        run_model.stepped.connect(self._on_run_step)
        run_model.progressed.connect(self._on_dataset_progress)
        run_model.finished.connect(self._on_run_finished)
        run_model.failed.connect(self._on_run_failed)

    def _show_progress(self, value: int | None = None, maximum: int | None = None, fmt: str | None = None) -> None:
        """Change part of the bar's state (the rest stays) and pass the whole state on."""
        self.value = self.value if value is None else value
        self.maximum = self.maximum if maximum is None else maximum
        self.format = self.format if fmt is None else fmt
        self.progress.emit(self.value, self.maximum, self.format)

    @Slot(object)
    def _on_run_started(self, request: RunRequest) -> None:
        self.batch_table.show_run(request, self.session.run_probs)
        self.batch_table.select_loaded(self.session.selected_in_run)
        if isinstance(request, DatasetRequest):
            self._show_progress(0, BUSY, "%v / %m images")
            self.status.emit(f"{request.spec.title} over {request.source} ({len(request.indices)} images): "
                             f"classifying, then attacking…")
        else:
            self._show_progress(0, BUSY, "iteration %v / %m")
            self.status.emit(f"{request.spec.title}: running on {len(request.indices)} image(s)…")

    @Slot(object)
    def _on_dataset_progress(self, progress: DatasetProgress) -> None:
        self._show_progress(progress.done, progress.total)
        text = f"{progress.done}/{progress.total} attacked, {progress.fooled} fooled"
        if progress.step is not None:
            text += f" · iteration {progress.step.iteration}/{progress.step.total}"
        request = self.run_model.request
        self.status.emit(f"{request.spec.title} over {request.source}: {text}")
        self.batch_table.summary.setText(text)

    @Slot(object)
    def _on_run_step(self, step: Step) -> None:
        # repaints follow the frames (at most 25 a second), however fast the steps come
        if step.frame is None and step.iteration != step.total:
            return
        self._show_progress(step.iteration, step.total)
        self.batch_table.show_progress(step.iteration, step.total, step.fooled)

    @Slot(object)
    def _on_run_finished(self, result: AttackResult) -> None:
        stats = self.run_model.stats
        if stats is not None:  # the request now covers the attacked images only
            self.batch_table.show_run(self.run_model.request, self.session.run_probs)
            self.batch_table.select_loaded(self.session.selected_in_run)
        self.batch_table.show_result(result, self.session.model.class_names)
        if stats is not None:
            self._show_dataset_end(stats)
            return
        self._show_run_end(result)
        summary = result.summary()
        stopped = ", stopped early" if result.stopped else ""
        self.status.emit(f"{self.run_model.request.spec.title}: fooled {summary['fooled']}/{summary['images']} "
                         f"in {summary['seconds']:.1f} s{stopped}")

    @Slot(str)
    def _on_run_failed(self, message: str) -> None:
        """A run refused or broken: neither "running…" nor the busy indicator may stay behind (the message
        itself is shown in a dialog by the workspace). A second Run refused while one goes changes nothing."""
        if self.run_model.busy:
            return
        request = self.run_model.request
        title = request.spec.title if request is not None else "The attack"
        self._show_progress(0, 1, "failed")
        self.status.emit(f"{title}: failed — {message.splitlines()[0] if message else 'no result'}")

    def _show_dataset_end(self, stats: DatasetStats) -> None:
        request, result = self.run_model.request, stats.result
        attacked = len(stats.fooled)
        self._show_progress(1, 1, f"{'stopped after' if result.stopped else 'done:'} {attacked} images")
        accuracy = "" if stats.accuracy is None else f", clean accuracy {100 * stats.accuracy:.1f}%"
        self.status.emit(f"{request.spec.title} over {request.source}: success {100 * stats.success_rate:.1f}% "
                         f"of {attacked} attacked{accuracy}, {stats.mean_iterations:.2f} iterations on average, "
                         f"in {result.seconds:.1f} s{', stopped early' if result.stopped else ''}")
        self.bottom_tabs.setCurrentWidget(self.stats_view)
        self.stats_view.select_loaded(self.session.selected_in_stats)

    def _show_run_end(self, result: AttackResult) -> None:
        """A full bar when the attack ended by itself (some end before their planned iterations, e.g. DeepFool
        once every image is fooled), the point reached when it was stopped."""
        step = self.run_model.last_step
        if step is None:
            self._show_progress(0, 1, "stopped before the first iteration")
        elif result.stopped:
            self._show_progress(fmt=f"stopped at iteration {step.iteration} / {step.total}")
        else:
            self._show_progress(1, 1, f"done: {step.iteration} iteration{'s' * (step.iteration != 1)}")
