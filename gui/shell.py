"""The window: model and images on the left, the workspaces in tabs beside them, a status bar with progress,
and the menu bar (gui/menus.py).
The shell wires the model column to the session and holds the workspaces through their protocol
(`gui/workspaces/protocol.py`) only: it builds each when first opened, shows the current one's status and busy
state in the status bar and its messages in a dialog, and stops and waits for all of them when the window
closes. What a workspace computes is its own business."""
from __future__ import annotations

import pyqtgraph as pg
import torch
from PySide6.QtCore import QSignalBlocker, Qt, SignalInstance, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (QLabel, QMainWindow, QMessageBox, QProgressBar, QTabWidget, QVBoxLayout,
                               QWidget)

from engine.models import DEFAULT_MODEL, LoadedModel, default_device

from .jobs import wait_for_jobs
from .menus import Menus
from .model_column import ImagesPanel, ModelPanel
from .session import Session, Untrusted
from .widgets.layout import HORIZONTAL, splitter
from .workspaces.attack import AttackWorkspace
from .workspaces.compare import CompareWorkspace
from .workspaces.fooling import FoolingWorkspace
from .workspaces.playground import PlaygroundWorkspace
from .workspaces.train import TrainWorkspace
from .workspaces.universal import UniversalWorkspace
from .workspaces.visualize import VisualizeWorkspace

# The tabs in order; the first is built with the window, the others when first opened: the window starts
# faster, and their many plot widgets are only made for the workspaces that are used.
WORKSPACES = {"Attack": AttackWorkspace, "Visualize": VisualizeWorkspace, "Universal": UniversalWorkspace,
              "Playground": PlaygroundWorkspace, "Train": TrainWorkspace, "Compare": CompareWorkspace,
              "Fooling": FoolingWorkspace}
LEFT_WIDTH, WORKSPACE_WIDTH = 270, 1390
BUSY = 0  # a progress bar maximum of 0 shows a busy indicator


def configure_pyqtgraph() -> None:
    pg.setConfigOptions(background="w", foreground="#333333", antialias=True)


def available_devices() -> list[str]:
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def signal_of(workspace: QWidget, name: str) -> SignalInstance | None:
    """The workspace's signal called `name`; None for the optional ones it leaves out (`progress`, `message`)."""
    signal = getattr(workspace, name, None)
    return signal if isinstance(signal, SignalInstance) else None


class MainWindow(QMainWindow):
    def __init__(self, sample_count: int = 16, parent: QWidget | None = None):
        super().__init__(parent)
        configure_pyqtgraph()
        self.setWindowTitle("AdvLens")
        self.setAcceptDrops(True)
        self.session = Session(sample_count, self)
        self.last_message = ""  # the text of the last dialog shown (read by tests)
        self._message_box: QMessageBox | None = None
        self.trust_question: QMessageBox | None = None  # the open "load a file that can run code?" question
        self.opened_workspaces: dict[str, QWidget] = {}
        self._last_status: dict[str, str] = {}  # per workspace: the last line it showed
        self._last_progress: dict[str, tuple[int, int, str]] = {}  # and the last state of its progress bar
        self._reports_progress: set[str] = set()  # the workspaces that drive the progress bar themselves
        self._idle_bar: tuple[int, int, str] | None = None  # for the others: the bar before a busy indicator
        self._outcomes_shown = False  # whether thumbnails carry an attack's outcomes

        self.model_panel = ModelPanel(available_devices(), default_device())
        self.images_panel = ImagesPanel()
        self.workspaces = QTabWidget()
        self._build_layout()
        self._build_status_bar()
        self._connect()
        self.menus = Menus(self, WORKSPACES)  # File, Edit, View, Run, Help
        self._open_workspace(0)
        self._update_column()

    # --- construction ----------------------------------------------------------------------------------------

    def _build_layout(self) -> None:
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 0, 6)
        left_layout.addWidget(self.model_panel)
        left_layout.addWidget(self.images_panel, 1)
        self.workspaces.setDocumentMode(True)
        for title in WORKSPACES:
            self.workspaces.addTab(QWidget(), title)  # an empty tab until the workspace is first opened
        self.workspaces.currentChanged.connect(self._open_workspace)
        self.column = left  # hidden by View > Model and images column, and on a workspace that uses neither
        self.setCentralWidget(splitter(HORIZONTAL, (left, self.workspaces), stretch=(0, 1),
                                       sizes=(LEFT_WIDTH, WORKSPACE_WIDTH)))

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
        session = self.session
        self.model_panel.load_requested.connect(self._load_model)
        self.images_panel.samples_requested.connect(session.load_samples)
        self.images_panel.files_requested.connect(session.add_images)
        self.images_panel.clear_requested.connect(session.clear_images)
        self.images_panel.image_selected.connect(session.select)
        session.model_changed.connect(self._on_model_changed)
        session.images_changed.connect(self._on_images_changed)
        session.selection_changed.connect(self.images_panel.select)
        session.attacked_changed.connect(self._show_verdicts)
        session.busy_changed.connect(self._on_session_busy)
        session.progress.connect(self._on_load_progress)
        session.status.connect(self.show_status)
        session.warned.connect(lambda text: self.show_message(text, QMessageBox.Icon.Warning))
        session.failed.connect(self.show_error)
        session.trust_requested.connect(self.ask_trust)

    # --- workspaces ------------------------------------------------------------------------------------------

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
        """Build the workspace of this tab the first time it is shown; show its status line and progress."""
        title = self.workspaces.tabText(index)
        if title not in self.opened_workspaces:
            workspace = WORKSPACES[title](self.session)
            self.opened_workspaces[title] = workspace
            self._connect_workspace(title, workspace)
            with QSignalBlocker(self.workspaces):
                empty_tab = self.workspaces.widget(index)
                self.workspaces.removeTab(index)
                self.workspaces.insertTab(index, workspace, title)
                self.workspaces.setCurrentIndex(index)
            empty_tab.deleteLater()
        self._show_workspace_state(title)

    def _connect_workspace(self, title: str, workspace: QWidget) -> None:
        signal_of(workspace, "status").connect(lambda text: self._on_workspace_status(title, text))
        signal_of(workspace, "busy_changed").connect(lambda busy: self._on_workspace_busy(title, busy))
        if (progress := signal_of(workspace, "progress")) is not None:
            self._reports_progress.add(title)
            progress.connect(lambda *state: self._on_workspace_progress(title, state))
        if (message := signal_of(workspace, "message")) is not None:
            message.connect(self._on_workspace_message)

    @property
    def current_title(self) -> str:
        return self.workspaces.tabText(self.workspaces.currentIndex())

    def _any_workspace_busy(self) -> bool:
        return any(workspace.busy for workspace in self.opened_workspaces.values())

    def _on_workspace_status(self, title: str, text: str) -> None:
        self._last_status[title] = text
        if title == self.current_title:
            self.show_status(text)

    def _on_workspace_progress(self, title: str, state: tuple[int, int, str]) -> None:
        self._last_progress[title] = state
        if title == self.current_title:
            self._set_bar(*state)

    def _on_workspace_busy(self, title: str, busy: bool) -> None:
        self._update_column()
        if title == self.current_title:
            self._show_workspace_state(title)

    def _show_workspace_state(self, title: str) -> None:
        """The status bar as the workspace left it; a workspace that reports no progress of its own shows a busy
        indicator while it works, and the bar as it was once it is done."""
        workspace = self.opened_workspaces.get(title)
        if title in self._last_status:
            self.show_status(self._last_status[title])
        if title in self._reports_progress:
            if title in self._last_progress:
                self._set_bar(*self._last_progress[title])
        elif workspace is not None and workspace.busy:
            if self._idle_bar is None:
                self._idle_bar = (self.progress.value(), self.progress.maximum(), self.progress.format())
            self._set_bar(0, BUSY, "")
        elif self._idle_bar is not None and not self.session.busy:
            self._set_bar(*self._idle_bar)
            self._idle_bar = None

    @Slot(str, bool, str)
    def _on_workspace_message(self, text: str, warning: bool, title: str) -> None:
        icon = QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Information
        self.show_message(text, icon, title)

    # --- the Attack workspace's parts under the names tests, benchmarks and `screenshot` use -----------------

    @property
    def attack(self) -> AttackWorkspace:
        return self.opened_workspaces["Attack"]

    @property
    def run_model(self):
        return self.attack.run_model

    @property
    def attack_panel(self):
        return self.attack.attack_panel

    def start_run(self) -> None:
        self.attack.start_run()

    # --- commands --------------------------------------------------------------------------------------------

    def load_default(self) -> None:
        """The built-in model and its sample digits: what the window opens with."""
        self.model_panel.set_spec(DEFAULT_MODEL)
        self.session.load_model(DEFAULT_MODEL, "cpu")
        self.images_panel.list.setFocus()  # arrow keys step through the images; Ctrl+R runs

    @Slot(str, str, object)
    def _load_model(self, spec: str, device: str, arch: str | None) -> None:
        self.session.load_model(spec, device, arch)

    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def ask_trust(self, refused: Untrusted) -> None:
        """A model file that could run code: load it only if the user says so (a non-blocking question)."""
        self.last_message = refused.reason
        box = QMessageBox(QMessageBox.Icon.Warning, "AdvLens: this model file can run code",
                          f"{refused.reason}\n\nLoad it anyway? Only do so if you trust where the file came from.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button) -> None:
            if box.standardButton(button) == QMessageBox.StandardButton.Yes:
                self.session.load_model(refused.spec, refused.device, refused.arch, trust_code=True)

        box.buttonClicked.connect(answered)
        self.trust_question = box  # tests answer it
        box.show()

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

    @Slot(bool)
    def _on_images_changed(self, replaced: bool) -> None:
        session = self.session
        names = session.model.class_names if session.model else ()
        self.images_panel.show_images(session.batch, session.probs, names)
        self._outcomes_shown = not replaced and bool(session.verdicts)
        if self._outcomes_shown:
            self.images_panel.show_outcomes(session.verdicts, names)
        self._update_column()

    @Slot()
    def _show_verdicts(self) -> None:
        """The thumbnails of attacked images captioned with the attack's outcome; plain while a run goes."""
        session = self.session
        if session.model is None:
            return
        if not session.verdicts and self._outcomes_shown:  # a new run, or images replaced: drop the outcomes
            self.images_panel.show_images(session.batch, session.probs, session.model.class_names)
            self.images_panel.select(session.selected)
        self.images_panel.show_outcomes(session.verdicts, session.model.class_names)
        self._outcomes_shown = bool(session.verdicts)

    @Slot(bool)
    def _on_session_busy(self, busy: bool) -> None:
        if not busy and not self._any_workspace_busy():  # a dataset run may start as its images finish loading
            self._set_bar(1 if self.session.batch is not None else 0, 1, self.progress.format())
        self._update_column()

    @Slot(int, int)
    def _on_load_progress(self, done: int, total: int) -> None:
        if total <= 0:
            self._set_bar(0, BUSY, "%p%")
        else:  # KiB: byte counts overflow a QProgressBar's int
            self._set_bar(done // 1024, max(1, total // 1024), "%p%")

    def _set_bar(self, value: int, maximum: int, fmt: str) -> None:
        if self.progress.maximum() != maximum or self.progress.minimum() != 0:
            self.progress.setRange(0, maximum)
        self.progress.setValue(value)
        self.progress.setFormat(fmt)

    def _update_column(self, *_) -> None:
        """No model or image loading while a workspace works on the loaded ones."""
        idle = not (self.session.busy or self._any_workspace_busy())
        self.model_panel.load_button.setEnabled(idle)
        self.images_panel.set_buttons_enabled(idle and self.session.model is not None)
        self.menus.refresh()

    # --- drag and drop, closing ------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if self.session.busy or self._any_workspace_busy():
            self.show_error("Busy: drop the images again when the current work is done.")
            return
        event.acceptProposedAction()
        self.session.add_images(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop every workspace's computations and the session's load, and wait for their threads, so that
        nothing is left running."""
        for workspace in self.opened_workspaces.values():
            workspace.stop()  # all asked first, so that they end their steps at once
        for workspace in self.opened_workspaces.values():
            workspace.shutdown()
        self.session.cancel()
        self.session.wait()
        wait_for_jobs()
        if self._message_box is not None:
            self._message_box.close()
        super().closeEvent(event)
