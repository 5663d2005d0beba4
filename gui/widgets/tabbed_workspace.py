"""What the tabbed workspaces (Visualize, Universal) share, on the one job bridge: the choices on the left and
output tabs with a status line beside them; one tab's computation at a time in a job slot; exports written by a
job; and `LatestRequest`, for views that follow the selection and want only the newest answer."""
from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from engine.core import RunControl
from engine.core.errors import AdvLensError
from engine.visualize import save_picture

from ..jobs import JobSlot, steps_of
from ..session import Session
from .layout import HORIZONTAL, splitter
from .output_tab import OutputTab

FRAME_INTERVAL = 0.04  # seconds between the pictures a computation attaches to its steps
BAD_SETTINGS = (AdvLensError, ValueError, IndexError, TypeError)  # nothing chosen or loaded, settings out of range


def save_pictures(directory: Path, pictures: dict[str, np.ndarray]) -> list[Path]:
    """Worker-thread part of an export: `stem.png` and `stem.npy` for each (C, H, W) picture."""
    files: list[Path] = []
    for stem, picture in pictures.items():
        files += save_picture(directory, stem, picture)
    return files


class WorkspaceTab(OutputTab):
    """An output tab whose Export writes its files in a job: the tab hands over what it shows, the worker
    writes it."""

    export_note = ""  # said after "Exported N files to …"

    def __init__(self, workspace: TabbedWorkspace):
        super().__init__(workspace)
        self.stop_button.clicked.disconnect()
        self.stop_button.clicked.connect(workspace.runs.stop)  # the tab's run only, not an export under way

    def export_steps(self, directory: Path) -> Generator:
        """Built in the GUI thread (it captures the pictures shown now); run in the worker."""
        return steps_of(save_pictures, directory, dict(self.pictures()))

    def export_to(self, directory: str | Path) -> bool:
        """Start writing the export; False (with a message) when it cannot start."""
        return self.workspace.export_tab(self, directory)


class LatestRequest(QObject):
    """A job slot for a view that follows the selection: a request made while another runs waits, replacing any
    waiting one, and starts when the running one ends, so only the newest selection is computed and drawn."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.slot = JobSlot(self)
        self._waiting: tuple[Callable[[], Generator], Callable] | None = None

    def request(self, make_steps: Callable[[], Generator], on_result: Callable) -> None:
        """`make_steps()` builds the computation (in the GUI thread) when it is its turn."""
        self._waiting = (make_steps, on_result)
        if not self.slot.busy:
            self._start_waiting()

    def forget(self) -> None:
        """Drop the waiting request (the model changed: its answer would be for another model)."""
        self._waiting = None

    def _start_waiting(self) -> None:
        if self._waiting is None or self.slot.busy:
            return
        make_steps, on_result = self._waiting
        self._waiting = None
        self.slot.run(make_steps(), on_result=on_result, on_done=self._after_done, what="the previous view")

    def _after_done(self) -> None:
        self._start_waiting()  # the slot is free again when it calls this


class TabbedWorkspace(QWidget):
    """The Workspace protocol (gui/workspaces/protocol.py) for a workspace made of output tabs. Subclasses build
    their tabs and call `lay_out` then `attach`; they define `outputs`, `show_model`, `showcase`, and say in
    `can_run` when a tab can run."""

    title = ""
    status = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.runs = JobSlot(self)  # the tabs' computations, one at a time
        self.exports = JobSlot(self)
        self.running_tab: OutputTab | None = None
        self._slots: list[JobSlot] = []
        self._busy_slots: list[JobSlot] = []
        self._requests: list[LatestRequest] = []
        self._was_busy = False
        self.watch(self.runs)
        self.watch(self.exports)
        self.runs.failed.connect(self._on_run_failed)
        self.exports.failed.connect(lambda message: self.show_status(f"Export failed: {message}"))

    @property
    def outputs(self) -> tuple[OutputTab, ...]:
        """The workspace's output tabs (abstract: each workspace lists its own)."""
        raise NotImplementedError

    def attach(self) -> None:
        """Follow the session, once the tabs exist; a model already loaded is shown at once."""
        self.session.model_changed.connect(self.show_model)
        self.session.images_changed.connect(self.update_controls)
        self.session.selection_changed.connect(self.show_selection)
        if self.session.model is not None:
            self.show_model(self.session.model)
        self.update_controls()

    def show_model(self, model) -> None:
        """A model was loaded: fill the choices that depend on it."""
        raise NotImplementedError

    def show_selection(self, index: int) -> None:
        self.update_controls()

    def watch(self, slot: JobSlot | LatestRequest, shown_as_busy: bool = True) -> JobSlot:
        """Stop `slot` and wait for it with the others (a request's waiting successor is dropped then); count it
        in `busy` unless it only follows the selection (an answer per click would make the shell's busy
        indicator flicker)."""
        if isinstance(slot, LatestRequest):
            self._requests.append(slot)
            slot = slot.slot
        self._slots.append(slot)
        if shown_as_busy:
            self._busy_slots.append(slot)
            slot.busy_changed.connect(self._on_slot_busy)
        return slot

    def lay_out(self, left: QWidget, idle_text: str, left_width: int) -> None:
        """The choices on the left; the output tabs with a status line under them beside it."""
        self.tabs = QTabWidget()
        for tab in self.outputs:
            self.tabs.addTab(tab, tab.title)
        self.status_line = QLabel(idle_text)
        self.status_line.setWordWrap(True)
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.addWidget(self.tabs, 1)
        centre_layout.addWidget(self.status_line)
        # the choices keep their width whatever size the window had when the workspace was built
        QVBoxLayout(self).addWidget(splitter(HORIZONTAL, (left, centre), stretch=(0, 1), sizes=(left_width, 1100),
                                             keep_sizes=True))

    # --- the protocol ----------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return any(slot.busy for slot in self._busy_slots)

    def stop(self) -> None:
        """Ask the running tab's computation to end (it returns what it reached within one step), and the
        others to end at their next step."""
        for request in self._requests:
            request.forget()
        for slot in self._slots:
            slot.stop()

    def shutdown(self) -> None:
        for slot in self._slots:
            slot.shutdown()

    def export_to(self, directory: str) -> bool:
        """Export what the current tab shows."""
        return self.export_tab(self.tabs.currentWidget(), directory)

    @property
    def can_start(self) -> bool:
        tab = self.tabs.currentWidget()
        return tab.runnable and tab.run_button.isEnabled()

    @property
    def can_export(self) -> bool:
        return self.tabs.currentWidget().export_button.isEnabled()

    def showcase(self):
        """The protocol's showcase (abstract: each workspace starts its own representative run)."""
        raise NotImplementedError

    # --- running ---------------------------------------------------------------------------------------------

    def run(self, tab: OutputTab | None = None) -> bool:
        """Start `tab`'s computation (the current tab's: the menu's Run); False (with a message) when it cannot
        start."""
        tab = tab or self.tabs.currentWidget()
        if self.session.model is None or self.runs.busy or not tab.runnable:
            return False
        control = RunControl(frame_interval=FRAME_INTERVAL)
        try:
            steps = tab.steps(control)
        except BAD_SETTINGS as exc:
            self.show_status(f"{tab.title}: {exc}")
            return False
        tab.begin()
        self.running_tab = tab
        self.show_status(f"{tab.title}: running…")
        started = self.runs.run(steps, on_step=tab.show_step, on_result=tab.show_result, control=control,
                                on_done=self._on_run_done, what=tab.title)
        self.update_controls()
        return started

    def export_tab(self, tab: WorkspaceTab, directory: str | Path) -> bool:
        try:
            steps = tab.export_steps(Path(directory))
        except BAD_SETTINGS as exc:
            self.show_status(f"Export: {exc}")
            return False
        note = tab.export_note
        return self.exports.run(steps, what="the previous export", on_result=lambda files: self.show_status(
            f"Exported {len(files)} files to {directory}{note}"))

    def show_status(self, text: str) -> None:
        self.status_line.setText(text)
        self.status.emit(text)

    def update_controls(self, *_) -> None:
        """Enable each tab's Run and Stop; subclasses say when a tab can run in `can_run`."""
        for tab in self.outputs:
            tab.run_button.setEnabled(self.can_run(tab) and not self.runs.busy)
            tab.stop_button.setEnabled(tab is self.running_tab)

    def can_run(self, tab: OutputTab) -> bool:
        return self.session.model is not None

    def _on_run_failed(self, message: str) -> None:
        title = self.running_tab.title if self.running_tab is not None else "The run"
        self.show_status(f"{title} failed: {message}")

    def _on_run_done(self) -> None:
        tab, self.running_tab = self.running_tab, None
        if tab is not None and not self.status_line.text().startswith(f"{tab.title} failed"):
            self.show_status(f"{tab.title}: done")
        self.update_controls()

    def _on_slot_busy(self, *_) -> None:
        self.update_controls()
        busy = self.busy
        if busy != self._was_busy:
            self._was_busy = busy
            self.busy_changed.emit(busy)
