"""The main window's menu bar: File, Edit, View, Run and Help, with their shortcuts shown beside the items.

The bar is the main window's own (`QMainWindow.menuBar()`), so it shows wherever the main window does: on its
own in tests, inside the launch window in the program. Run, Stop and Export act on the workspace shown, through
the workspace protocol (gui/workspaces/protocol.py): `run()`, `stop()`, `export_to(folder)`, and `can_start` /
`can_export` for whether they would act now. Every item is enabled only while it can act; the state is read
again whenever the session, the tab or a workspace's busy state changes, and once more after the other slots
of that change have run (a workspace updates its buttons in its own slots)."""
from __future__ import annotations

import platform
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Slot, qVersion
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from .widgets import dialogs
from .widgets.image_view import MOUSE_HINT
from .widgets.imaging import thumbnail

if TYPE_CHECKING:
    from .shell import MainWindow

MOUSE_HINTS = (
    ("Image views", MOUSE_HINT),
    ("Loaded images", "click selects, arrow keys step through them; drop files or folders on the window to add"),
    ("Playground plane", "click adds a point, drag moves it, right-click removes it; the paint modes paint regions"),
    ("Fooling grid", "click a cell to see its elite beside real images of its class"),
    ("Compare tables", "click a cell to see the images it counted"),
)


def focused_text_field(widget: QWidget | None) -> QLineEdit | QTextEdit | QPlainTextEdit | None:
    """The text field that has the keyboard focus (inside a spin box or an editable combo box too), if any."""
    if isinstance(widget, (QLineEdit, QTextEdit, QPlainTextEdit)):
        return widget
    if isinstance(widget, QComboBox):
        return widget.lineEdit()  # None unless editable
    if isinstance(widget, QAbstractSpinBox):
        return widget.findChild(QLineEdit)
    return None


def can_start(workspace: QWidget | None) -> bool:
    """Whether the workspace's `run()` would start now (the protocol's optional members, or: when idle)."""
    if workspace is None or not callable(getattr(workspace, "run", None)):
        return False
    return bool(getattr(workspace, "can_start", not workspace.busy))


def can_export(workspace: QWidget | None) -> bool:
    return workspace is not None and bool(getattr(workspace, "can_export", not workspace.busy))


def versions_text() -> str:
    """AdvLens and what it runs on, for About."""
    from importlib.metadata import PackageNotFoundError, version

    import pyqtgraph
    import PySide6
    import torch
    import torchvision

    try:
        advlens = version("advlens")
    except PackageNotFoundError:  # run from a source tree that was never installed
        advlens = "(source tree)"
    return (f"<b>AdvLens {advlens}</b><br>A workbench for adversarial attacks on image classifiers.<br><br>"
            f"PyTorch {torch.__version__} · torchvision {torchvision.__version__}<br>"
            f"PySide6 {PySide6.__version__} (Qt {qVersion()}) · pyqtgraph {pyqtgraph.__version__}<br>"
            f"Python {platform.python_version()} on {platform.system()}")


class Menus(QObject):
    """Builds the window's menu bar and keeps its items' enabled state. `actions` by name (read by tests)."""

    def __init__(self, window: MainWindow, workspace_classes: dict[str, type]):
        super().__init__(window)
        self.window, self.workspace_classes = window, workspace_classes
        self.actions: dict[str, QAction] = {}
        self.menus: list[QMenu] = []
        self.column_wanted = True  # the user's Ctrl+B; a workspace that uses no column hides it regardless
        self.help_box: QMessageBox | None = None  # the open Help text (read by tests)
        self._again = QTimer(self)  # the second look, after every slot of a change has run
        self._again.setSingleShot(True)
        self._again.timeout.connect(self._update_enabled)
        bar = window.menuBar()
        for build in (self._file_menu, self._edit_menu, self._view_menu, self._run_menu, self._help_menu):
            build(bar)
        self._connect()
        self._show_tab()

    # --- building --------------------------------------------------------------------------------------------

    def _menu(self, bar, title: str) -> QMenu:
        menu = bar.addMenu(title)
        menu.aboutToShow.connect(self._update_enabled)  # opened: as things are now
        self.menus.append(menu)
        return menu

    def _add(self, menu: QMenu, name: str, text: str, command=None, shortcut=None, tip: str = "") -> QAction:
        """An item; its shortcut (a QAction's) is shown beside it and works wherever the window has the focus."""
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.setToolTip(tip or text)
        if command is not None:
            action.triggered.connect(lambda _checked=False: command())
        menu.addAction(action)
        self.actions[name] = action
        return action

    def _file_menu(self, bar) -> None:
        w = self.window
        menu = self._menu(bar, "&File")
        self._add(menu, "open_images", "Open images…", w.images_panel.choose_files, QKeySequence.StandardKey.Open,
                  "add image files or arrays to the loaded images")
        self._add(menu, "open_folder", "Open image folder…", w.images_panel.choose_folder,
                  tip="add every image of a folder to the loaded images")
        self._add(menu, "open_model", "Open model file…", self.open_model, "Ctrl+Shift+O",
                  "load a TorchScript, torch.export or state-dict file (its architecture as chosen in the column)")
        self._add(menu, "samples", "Sample images", w.session.load_samples,
                  tip="held-out digits for digit models, packaged photographs for the others")
        menu.addSeparator()
        self._add(menu, "export", "Export…", self.export, "Ctrl+E", "export what the workspace shown has computed")
        menu.addSeparator()
        self._add(menu, "quit", "Quit", self.quit, "Ctrl+Q",
                  "stop every computation and close the window")
        self.actions["quit"].setMenuRole(QAction.MenuRole.QuitRole)

    def _edit_menu(self, bar) -> None:
        menu = self._menu(bar, "&Edit")
        self._add(menu, "copy_image", "Copy image", self.copy_image, QKeySequence.StandardKey.Copy,
                  "the selected image, at its own size, to the clipboard (in a text field Ctrl+C copies the text)")
        self._add(menu, "copy_attacked", "Copy attacked image", self.copy_attacked, "Ctrl+Shift+C",
                  "the attacked version of the selected image, at its own size, to the clipboard")

    def _view_menu(self, bar) -> None:
        menu = self._menu(bar, "&View")
        group = QActionGroup(self)
        for number, title in enumerate(self.workspace_classes, start=1):
            action = self._add(menu, f"workspace:{title}", title, lambda t=title: self.window.show_workspace(t),
                               f"Ctrl+{number}", f"show the {title} workspace")
            action.setCheckable(True)
            group.addAction(action)
        menu.addSeparator()
        column = self._add(menu, "column", "Model and images column", None, "Ctrl+B",
                           "show or hide the column of the model and the loaded images")
        column.setCheckable(True)
        column.setChecked(True)
        column.toggled.connect(self._on_column_toggled)

    def _run_menu(self, bar) -> None:
        menu = self._menu(bar, "&Run")
        self._add(menu, "run", "Run", self.run, "Ctrl+R", "start the main computation of the workspace shown")
        self._add(menu, "stop", "Stop", self.stop, "Esc",
                  "stop the workspace's computation at its next step, keeping what it reached")

    def _help_menu(self, bar) -> None:
        menu = self._menu(bar, "&Help")
        self._add(menu, "shortcuts", "Keyboard shortcuts and mouse", self.show_shortcuts,
                  QKeySequence.StandardKey.HelpContents)
        self._add(menu, "about", "About AdvLens", self.show_about).setMenuRole(QAction.MenuRole.AboutRole)

    def _connect(self) -> None:
        session = self.window.session
        for signal in (session.model_changed, session.images_changed, session.selection_changed,
                       session.busy_changed, session.attacked_changed):
            signal.connect(self.refresh)
        self.window.workspaces.currentChanged.connect(self._show_tab)

    # --- state -----------------------------------------------------------------------------------------------

    def current(self) -> QWidget | None:
        """The workspace shown (None while the first is being built)."""
        return self.window.opened_workspaces.get(self.window.current_title)

    @Slot()
    def refresh(self, *_) -> None:
        """Enable the items that can act now, and look again once the other slots of this change have run."""
        self._update_enabled()
        self._again.start(0)

    def _update_enabled(self) -> None:
        w, a = self.window, self.actions
        session, workspace = w.session, self.current()
        for name in ("open_images", "open_folder", "samples"):
            a[name].setEnabled(w.images_panel.files_button.isEnabled())  # what the column's buttons allow
        a["open_model"].setEnabled(w.model_panel.load_button.isEnabled())
        a["run"].setEnabled(can_start(workspace))
        a["stop"].setEnabled(workspace is not None and workspace.busy)
        a["export"].setEnabled(can_export(workspace))
        selected = session.batch is not None and session.selected >= 0
        a["copy_image"].setEnabled(selected)
        a["copy_attacked"].setEnabled(selected and session.attacked(session.selected) is not None)

    @Slot(int)
    def _show_tab(self, *_) -> None:
        """A new tab: its View item checked, the column shown or hidden for it, the items for its state."""
        title = self.window.current_title
        self.actions[f"workspace:{title}"].setChecked(True)
        uses_column = getattr(self.workspace_classes[title], "uses_model_column", True)
        self.actions["column"].setEnabled(uses_column)
        self.window.column.setVisible(uses_column and self.column_wanted)
        self.refresh()

    @Slot(bool)
    def _on_column_toggled(self, shown: bool) -> None:
        self.column_wanted = shown
        self._show_tab()

    # --- commands --------------------------------------------------------------------------------------------

    def open_model(self) -> None:
        """Choose a model file and load it at once (a state dict with the architecture chosen in the column)."""
        if self.window.model_panel.choose_file():
            self.window.model_panel.request_load()

    def export(self) -> None:
        workspace = self.current()
        if not can_export(workspace):
            return
        title = self.window.current_title
        folder = dialogs.choose_folder(self.window, f"Export the {title} workspace to a folder")
        if folder:
            workspace.export_to(folder)

    def run(self) -> None:
        workspace = self.current()
        if can_start(workspace):
            workspace.run()
        self.refresh()

    def stop(self) -> None:
        workspace = self.current()
        if workspace is not None:
            workspace.stop()

    def quit(self) -> None:
        self.window.window().close()  # the launch window when embedded: it closes the main window first

    def copy_image(self) -> None:
        """The selected image to the clipboard; with a text field focused, its selected text instead."""
        field = focused_text_field(QApplication.focusWidget())
        if field is not None:
            field.copy()
            return
        session = self.window.session
        if session.batch is not None and session.selected >= 0:
            self._copy(session.batch.images[session.selected], session.batch.names[session.selected])

    def copy_attacked(self) -> None:
        session = self.window.session
        attacked = session.attacked(session.selected) if session.selected >= 0 else None
        if attacked is not None:
            self._copy(attacked[0], f"the attacked {session.batch.names[session.selected]}")

    def _copy(self, image_chw, name: str) -> None:
        height, width = image_chw.shape[-2:]
        QGuiApplication.clipboard().setPixmap(thumbnail(image_chw, max(height, width)))  # its own size
        self.window.show_status(f"Copied {name} ({width}×{height} pixels) to the clipboard.")

    # --- help ------------------------------------------------------------------------------------------------

    def shortcut_lines(self) -> list[tuple[str, str]]:
        """(keys, what they do) of every item that has a shortcut, in menu order."""
        lines = []
        for menu in self.menus:
            for action in menu.actions():
                if not action.shortcut().isEmpty():
                    keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                    lines.append((keys, f"{menu.title().replace('&', '')} › {action.text()}"))
        return lines

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{keys}</b>&nbsp;&nbsp;</td><td>{what}</td></tr>"
                       for keys, what in self.shortcut_lines())
        mouse = "".join(f"<tr><td><b>{where}</b>&nbsp;&nbsp;</td><td>{what}</td></tr>" for where, what in MOUSE_HINTS)
        self._show_help("AdvLens: keyboard and mouse",
                        f"<h3>Keyboard</h3><table>{rows}</table><h3>Mouse</h3><table>{mouse}</table>")

    def show_about(self) -> None:
        self._show_help("About AdvLens", versions_text())

    def _show_help(self, title: str, html: str) -> None:
        """A non-blocking box, one at a time."""
        if self.help_box is None:
            self.help_box = QMessageBox(QMessageBox.Icon.Information, title, "", QMessageBox.StandardButton.Close,
                                        self.window)
            self.help_box.setWindowModality(Qt.WindowModality.NonModal)
        self.help_box.setWindowTitle(title)
        self.help_box.setText(html)
        self.help_box.show()
