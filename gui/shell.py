"""The window: model and images on the left, the workspaces in tabs beside them, a status bar with progress,
and the menu bar (gui/menus.py).
The shell wires the model column to the session and holds the workspaces through their protocol
(`gui/workspaces/protocol.py`) only: it builds each when first opened, shows the current one's status and busy
state in the status bar and its messages in a dialog, and stops and waits for all of them when the window
closes. What a workspace computes is its own business."""
from __future__ import annotations

import itertools

import pyqtgraph as pg
import torch
from PySide6.QtCore import QSignalBlocker, Qt, SignalInstance, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (QLabel, QMainWindow, QMessageBox, QProgressBar, QSizePolicy, QTabWidget,
                               QVBoxLayout, QWidget)

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
IDLE_BAR = (0, 1, "")  # the bar of a workspace without progress of its own that is not working
SESSION = ""  # the status board's name for the session (model and image loads): shown with every workspace

Bar = tuple[int, int, str]  # value, maximum (BUSY: unknown), format


class StatusBoard:
    """The last line and progress-bar state of each source (the session and every workspace), stamped in order
    of arrival. The status bar shows the newer of the session's and the current workspace's, so that a
    workspace working in the background never writes over the one in front, and a tab shows its workspace as
    it left it."""

    def __init__(self):
        self.lines: dict[str, tuple[int, str]] = {}
        self.bars: dict[str, tuple[int, Bar]] = {}
        self._clock = itertools.count()

    def note_line(self, source: str, text: str) -> None:
        self.lines[source] = (next(self._clock), text)

    def note_bar(self, source: str, state: Bar) -> None:
        self.bars[source] = (next(self._clock), tuple(state))

    def forget_bar(self, source: str) -> None:
        self.bars.pop(source, None)

    @staticmethod
    def newest(table: dict, current: str):
        """The newer of the session's entry and the `current` workspace's; None when neither has one."""
        entries = [table[source] for source in (SESSION, current) if source in table]
        return max(entries, key=lambda entry: entry[0])[1] if entries else None


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
        self.board = StatusBoard()  # what the status bar shows, per source
        self._reports_progress: set[str] = set()  # the workspaces that drive the progress bar themselves
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
        # a long line is cut at the window's edge instead of widening the window (the full text in its tooltip)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
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
        session.model_load_failed.connect(self._show_loaded_model_spec)
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
        self._show_status_board()

    def _connect_workspace(self, title: str, workspace: QWidget) -> None:
        signal_of(workspace, "status").connect(lambda text: self._on_workspace_status(title, text))
        signal_of(workspace, "busy_changed").connect(lambda busy: self._on_workspace_busy(title, busy))
        if (progress := signal_of(workspace, "progress")) is not None:
            self._reports_progress.add(title)
            progress.connect(lambda *state: self._on_workspace_progress(title, state))
        if (message := signal_of(workspace, "message")) is not None:
            message.connect(lambda text, warning, caption: self._on_workspace_message(title, text, warning, caption))
        if workspace.busy:  # it started working as it was built, before anyone listened
            self._on_workspace_busy(title, True)

    @property
    def current_title(self) -> str:
        return self.workspaces.tabText(self.workspaces.currentIndex())

    def _any_workspace_busy(self) -> bool:
        return any(workspace.busy for workspace in self.opened_workspaces.values())

    def _on_workspace_status(self, title: str, text: str) -> None:
        self.board.note_line(title, text)
        if title == self.current_title:
            self._show_status_board()

    def _on_workspace_progress(self, title: str, state: Bar) -> None:
        self.board.note_bar(title, state)
        if title == self.current_title:
            self._show_status_board()

    def _on_workspace_busy(self, title: str, busy: bool) -> None:
        """A workspace that reports no progress of its own has a busy indicator while it works, an empty bar
        when it is done."""
        if title not in self._reports_progress:
            self.board.note_bar(title, (0, BUSY, "") if busy else IDLE_BAR)
        self._update_column()
        if title == self.current_title:
            self._show_status_board()

    def _on_workspace_message(self, title: str, text: str, warning: bool, caption: str) -> None:
        icon = QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Information
        self.show_message(text, icon, caption, source=title)

    def _show_status_board(self) -> None:
        """The line and the bar of the current workspace, or the session's when they are newer."""
        current = self.current_title
        line = self.board.newest(self.board.lines, current)
        self.status_label.setText("Ready" if line is None else line)
        self.status_label.setToolTip("" if line is None else line)
        self._set_bar(*(self.board.newest(self.board.bars, current) or IDLE_BAR))

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
        """A line about the window as a whole (a load, a copy, an error), shown whatever the workspace."""
        self.board.note_line(SESSION, text)
        self._show_status_board()

    @Slot(str)
    def _show_loaded_model_spec(self, _message: str) -> None:
        """A model load failed or was refused: the model field names the model still loaded again."""
        if self.session.model_request is not None:
            self.model_panel.show_request(*self.session.model_request)

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
            else:
                self._show_loaded_model_spec("")

        box.buttonClicked.connect(answered)
        self.trust_question = box  # tests answer it
        box.show()

    def show_error(self, text: str) -> None:
        self.show_message(text, QMessageBox.Icon.Warning, title="AdvLens: problem")

    def show_message(self, text: str, icon=QMessageBox.Icon.Information, title: str = "AdvLens",
                     source: str = SESSION) -> None:
        """A non-blocking dialog (one at a time), and the first line as `source`'s status (a workspace's line is
        shown while that workspace is)."""
        self.last_message = text
        self.board.note_line(source, text.splitlines()[0] if text else "")
        self._show_status_board()
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
        if not busy:
            if self._any_workspace_busy():  # a run started as its images were read: its bar, not a full one
                self.board.forget_bar(SESSION)
            else:
                self.board.note_bar(SESSION, (1 if self.session.batch is not None else 0, 1, "%p%"))
            self._show_status_board()
        self._update_column()

    @Slot(int, int)
    def _on_load_progress(self, done: int, total: int) -> None:
        if total <= 0:
            self.board.note_bar(SESSION, (0, BUSY, "%p%"))
        else:  # KiB: byte counts overflow a QProgressBar's int
            self.board.note_bar(SESSION, (done // 1024, max(1, total // 1024), "%p%"))
        self._show_status_board()

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
