"""The Attack workspace: the images in the middle (with the batch table and the statistics of a dataset run in
tabs under them), the attack and its plots on the right. It wires the panels' requests to its controller and
the views subscribe to the run model themselves; the attacked images are published through the session for the
other workspaces."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QTabWidget, QWidget

from engine.attacks import AttackResult
from engine.models import LoadedModel

from ...session import Session, Verdict
from ...widgets.layout import HORIZONTAL, VERTICAL, StackOrTabs, splitter
from .controller import AttackController
from .panels import AttackPanel, BatchTable
from .report import RunReport
from .run_model import RunModel
from .shown import ShownImages
from .stats_view import StatisticsView
from .views import ImageTriptych, ProbabilityBars, RunCurves

CENTRE_WIDTH, RIGHT_WIDTH = 900, 390  # the images and tables; the attack form and its plots
RIGHT_HEIGHTS = (340, 580)  # the attack panel (its buttons pinned under a few rows of parameters), the plots
PLOT_HEIGHTS = (195, 245)  # the probability bars, the curves, when stacked
PLOTS_STACKED_HEIGHT = 380  # below this the bars and the curves are too flat to read together: tabs


class AttackWorkspace(QWidget):
    title = "Attack"
    status = Signal(str)
    busy_changed = Signal(bool)
    progress = Signal(int, int, str)  # value, maximum (0: unknown), format: the shell's progress bar
    message = Signal(str, bool, str)  # text, warning, title: the shell shows it in a dialog

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.run_model = RunModel(self)
        self.shown = ShownImages(session, self.run_model, self)  # a loaded image, or one of a dataset run's
        self.attack_panel = AttackPanel()
        self.triptych = ImageTriptych(self.shown, self.run_model)
        self.batch_table = BatchTable()
        self.stats_view = StatisticsView(self.run_model)
        self.bars = ProbabilityBars(self.shown, self.run_model)
        self.curves = RunCurves(self.shown, self.run_model)
        self.bottom_tabs = QTabWidget()
        self.controller = AttackController(session, self.run_model, self.attack_panel, self.stats_view,
                                           self.triptych, self, self.shown)
        self.report = RunReport(self.shown, self.run_model, self.batch_table, self.stats_view, self.bottom_tabs, self)
        self._build_layout()
        self._connect()
        self._update_controls()
        if session.model is not None:  # opened after a model was loaded
            self.attack_panel.set_model(session.model)

    def _build_layout(self) -> None:
        self.bottom_tabs.setDocumentMode(True)
        self.bottom_tabs.addTab(self.batch_table, "Batch")
        self.bottom_tabs.addTab(self.stats_view, "Statistics")
        centre = splitter(VERTICAL, (self.triptych, self.bottom_tabs), stretch=(3, 1), sizes=(370, 430),
                          collapsible=True)

        # the attack panel scrolls its parameters itself (its buttons stay in view); the plots share the rest,
        # one above the other when there is room for both, in tabs on a short screen
        self.plots = StackOrTabs(((self.bars, "Probabilities"), (self.curves, "Curves")), PLOTS_STACKED_HEIGHT,
                                 sizes=PLOT_HEIGHTS)
        right = splitter(VERTICAL, (self.attack_panel, self.plots), stretch=(0, 1), sizes=RIGHT_HEIGHTS,
                         collapsible=True, keep_sizes=True)
        right.setCollapsible(0, False)  # Run, Stop and Export stay reachable however the borders are dragged
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # the right column keeps its width (down to its minimum in a small window); the images take the rest
        layout.addWidget(splitter(HORIZONTAL, (centre, right), stretch=(1, 0), sizes=(CENTRE_WIDTH, RIGHT_WIDTH),
                                  keep_sizes=True))

    def _connect(self) -> None:
        session, run_model, controller = self.session, self.run_model, self.controller
        requests = ((self.attack_panel.run_requested, controller.start_run),
                    (self.attack_panel.stop_requested, run_model.stop),
                    (self.attack_panel.export_requested, controller.choose_export_folder),
                    (self.attack_panel.dataset_requested, controller.start_dataset_run),
                    (self.stats_view.export_requested, controller.choose_stats_folder),
                    (self.triptych.save_field_requested, controller.choose_field_file),
                    (self.batch_table.image_selected, self.shown.open_run_row),
                    (self.stats_view.image_selected, self.shown.open_stats_row))
        for request, command in requests:
            request.connect(command)
        session.model_changed.connect(self._on_model_changed)
        session.images_changed.connect(self._on_images_changed)
        self.shown.selection_changed.connect(self._on_selection_changed)
        session.busy_changed.connect(self._update_controls)
        # the shell hears what the parts say through the workspace's own signals
        for part in (controller, self.report):
            part.status.connect(self.status)
        controller.message.connect(self.message)
        self.report.progress.connect(self.progress)
        run_model.failed.connect(controller.show_error)
        for change in (run_model.started, run_model.finished, run_model.cleared):
            change.connect(self._publish)
        for slot in (run_model, controller.exports):
            slot.busy_changed.connect(self._on_busy_changed)

    # --- the protocol ----------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.run_model.busy or self.controller.exporting

    @property
    def exporting(self) -> bool:
        return self.controller.exporting

    def stop(self) -> None:
        self.run_model.stop()  # an export is short and writes files: it is left to finish

    def shutdown(self) -> None:
        self.run_model.shutdown()
        self.controller.wait_for_export()

    def export_to(self, directory: str | Path) -> None:
        self.controller.export_to(directory)

    def run(self) -> None:
        """What Run does (the menu's Run, Ctrl+R): the attack on the selected or on all loaded images."""
        self.controller.start_run()

    @property
    def can_start(self) -> bool:
        return self.attack_panel.run_button.isEnabled()

    @property
    def can_export(self) -> bool:
        return self.attack_panel.export_button.isEnabled()

    def showcase(self) -> None:
        """Nothing to add: `screenshot` runs the attack it was asked for before it shows any workspace."""
        return None

    # --- commands (also driven by tests and `screenshot`) ----------------------------------------------------

    def start_run(self) -> None:
        self.controller.start_run()

    def start_dataset_run(self) -> None:
        self.controller.start_dataset_run()

    def export_statistics_to(self, directory: str | Path) -> bool:
        return self.controller.export_statistics_to(directory)

    def save_field_view_to(self, path: str | Path) -> bool:
        return self.controller.save_field_view_to(path)

    # --- reactions -------------------------------------------------------------------------------------------

    @Slot(object)
    def _on_model_changed(self, model: LoadedModel) -> None:
        self.attack_panel.set_model(model)

    @Slot(bool)
    def _on_images_changed(self, replaced: bool) -> None:
        if replaced:
            self.run_model.clear()
            self.batch_table.clear()
        self._update_controls()

    @Slot(int)
    def _on_selection_changed(self, index: int) -> None:
        self.batch_table.select_loaded(self.shown.selected_in_run)
        self.stats_view.select_loaded(self.shown.selected_in_stats)
        self.run_model.watch(index)

    @Slot()
    def _publish(self, *_) -> None:
        """Tell the session what the attacked loaded images are now: a run started, ended or was forgotten (a
        run over a dataset's own images attacked none of them)."""
        result: AttackResult | None = self.run_model.result
        verdicts = {}
        if result is not None and not self.run_model.request.own_images:
            for run_index, loaded_index in enumerate(self.run_model.request.indices):
                after = int(result.pred_after[run_index])
                verdicts[loaded_index] = Verdict(after, float(result.probs_after[run_index, after]),
                                                 bool(result.fooled[run_index]))
        self.session.publish_attacked(self.run_model.adversarial_of_loaded, verdicts)

    @Slot()
    def _on_busy_changed(self, *_) -> None:
        self._update_controls()
        self.busy_changed.emit(self.busy)

    @Slot()
    def _update_controls(self, *_) -> None:
        loading, running = self.session.busy, self.run_model.busy
        model = self.session.model
        self.attack_panel.set_running(running, can_run=self.session.batch is not None and model is not None
                                      and not loading,
                                      has_result=self.run_model.result is not None and not self.exporting,
                                      can_run_dataset=model is not None and not loading)
