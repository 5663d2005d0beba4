"""Start-up as a person sees it: a window at once, the heavy part behind it.

Importing PyTorch, torchvision and pyqtgraph takes seconds (8 s and more on a busy machine), so this module
imports nothing but PySide6 and the standard library. `launch()` shows the AdvLens window with a progress
page, imports the engine and the GUI's workspaces in a worker thread (an import holds the interpreter only in
short slices, so the page keeps painting), then builds the main window inside the same top-level window and
loads the built-in model. The main window is embedded rather than opened separately so the window a person
is looking at neither moves nor flickers.
"""
from __future__ import annotations

import importlib
import sys
import time
import traceback

from PySide6.QtCore import Qt, QThread, Signal, Slot
from PySide6.QtGui import QCloseEvent, QGuiApplication, QShowEvent
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QProgressBar, QVBoxLayout, QWidget

# What the main window needs, slowest first, as named on the progress page.
HEAVY_MODULES = (("torch", "PyTorch"), ("torchvision", "torchvision"), ("pyqtgraph", "pyqtgraph"),
                 ("engine.models", "the engine"), ("gui.shell", "the workspaces"))
PREFERRED_SIZE = (1500, 900)


class HeavyImports(QThread):
    """Imports HEAVY_MODULES in order; `progress(done, name)` after each, then `failed(text)` or `finished`."""

    progress = Signal(int, str)
    failed = Signal(str)

    def run(self) -> None:
        for done, (module, title) in enumerate(HEAVY_MODULES):
            self.progress.emit(done, title)
            try:
                importlib.import_module(module)
            except Exception:  # a broken installation: say what is missing instead of closing silently
                self.failed.emit(f"AdvLens could not load {title} ({module}):\n{traceback.format_exc(limit=3)}")
                return
        self.progress.emit(len(HEAVY_MODULES), "")


class StartPage(QWidget):
    """What the window shows while the engine loads: the name, what is loading and a progress bar."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        title = QLabel("<h1>AdvLens</h1>")
        self.label = QLabel("Starting…")
        self.bar = QProgressBar()
        self.bar.setRange(0, len(HEAVY_MODULES) + 1)  # + 1: building the window and loading the model
        self.bar.setFixedWidth(480)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        for widget in (title, self.label, self.bar):
            layout.addWidget(widget, alignment=Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(3)
        layout.setContentsMargins(80, 40, 80, 40)

    def show_progress(self, done: int, title: str) -> None:
        self.bar.setValue(done)
        self.label.setText(f"Loading {title}…" if title else "Opening the workspaces…")

    def show_failure(self, text: str) -> None:
        self.bar.hide()
        self.label.setText(text)
        self.label.setWordWrap(True)


class LaunchWindow(QMainWindow):
    """The top-level window: the start page first, then the main window inside it (`main`, None until then).
    `ready` fires once the main window is in place and has begun loading the built-in model."""

    ready = Signal()

    def __init__(self, load_default: bool = True):
        super().__init__()
        self.setWindowTitle("AdvLens")
        self.started = time.perf_counter()
        self.shown_after: float | None = None  # seconds from construction to the first show
        self.torch_at_show: bool | None = None  # whether PyTorch had begun loading then (it should not have)
        self.main = None
        self._load_default = load_default
        self.page = StartPage()
        self.setCentralWidget(self.page)
        self.imports = HeavyImports(self)
        self.imports.progress.connect(self._on_progress)
        self.imports.failed.connect(self.page.show_failure)

    def begin(self) -> None:
        self.imports.start()

    def showEvent(self, event: QShowEvent) -> None:
        if self.shown_after is None:
            self.shown_after = time.perf_counter() - self.started
            self.torch_at_show = "torch" in sys.modules
        super().showEvent(event)

    @Slot(int, str)
    def _on_progress(self, done: int, title: str) -> None:
        self.page.show_progress(done, title)
        if done == len(HEAVY_MODULES):
            self._open_main_window()

    def _open_main_window(self) -> None:
        self.imports.wait()
        from gui.shell import MainWindow  # imported by the worker already: this only looks it up

        window = MainWindow()
        window.windowTitleChanged.connect(self.setWindowTitle)
        self.setCentralWidget(window)  # the start page goes; the main window's menu and status bar show inside
        self.page = None
        self.main = window
        self.setWindowTitle(window.windowTitle())
        if self._load_default:
            window.load_default()
        self.ready.emit()

    def closeEvent(self, event: QCloseEvent) -> None:
        """The main window's own close handling (stop and wait for every computation) runs first; while the
        engine still loads, the import thread is waited for, so nothing outlives the window."""
        if self.main is not None:
            self.main.close()
        else:
            self.imports.wait()
        super().closeEvent(event)


def initial_size() -> tuple[int, int]:
    """The preferred size, shrunk to fit the screen's available area (small laptop screens)."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return PREFERRED_SIZE
    area = screen.availableGeometry()
    return min(PREFERRED_SIZE[0], area.width()), min(PREFERRED_SIZE[1], area.height())


def launch(argv: list[str] | None = None, load_default: bool = True) -> tuple[QApplication, LaunchWindow]:
    """Create the application and show the window at once; the engine loads behind it."""
    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv[:1]))
    app.setApplicationName("AdvLens")
    window = LaunchWindow(load_default)
    window.resize(*initial_size())
    window.show()
    window.begin()
    return app, window


def run(argv: list[str] | None = None) -> int:
    app, _window = launch(argv)
    return app.exec()
