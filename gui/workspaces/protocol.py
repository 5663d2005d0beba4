"""The one small contract every workspace keeps, so that the shell can hold any of them without knowing what
they compute: built on the session, it runs its computations through its own job slots, stops them, waits for
them when the window closes, exports what it shows, and can put on a showcase for `main.py screenshot`."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from ..session import Session


@runtime_checkable
class Workspace(Protocol):
    """A QWidget shown in one of the shell's tabs. `status` and `busy_changed` are Qt signals the shell shows in
    its status bar while the workspace is the current tab; `title` is the tab's name.

    Two signals are optional: `progress(value, maximum, format)` drives the status bar's progress bar (without
    it the shell shows a busy indicator while the workspace is busy), and `message(text, warning, title)` asks
    the shell for a dialog.

    So are the members the menu bar (gui/menus.py) uses, each with a default when left out:
    - `run()`: start the workspace's main computation, as its own Run button does (Run > Run, Ctrl+R); without
      it the menu's Run is disabled on this workspace;
    - `can_start` / `can_export` (bool properties): whether its Run / its Export would act now, as the enabled
      state of its own buttons says (default: whenever it is not busy);
    - `uses_model_column` (class attribute, default True): False hides the shell's model and images column
      while the workspace is shown, for one that uses neither."""

    title: str
    status: Signal  # (str): a line for the status bar
    busy_changed: Signal  # (bool)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None: ...

    @property
    def busy(self) -> bool:
        """Whether one of the workspace's computations is running."""

    def stop(self) -> None:
        """Ask every running computation to end at its next step, keeping what it reached."""

    def shutdown(self) -> None:
        """Stop and block until every computation of the workspace has let go of its thread (window closing)."""

    def export_to(self, directory: str) -> None:
        """Write what the current view shows into `directory` (in a job; errors reach the user as messages)."""

    def showcase(self):
        """Start a representative computation for the README's screenshot and return its job (with a `done`
        signal), or None when the workspace shows something at once."""
