"""The offscreen render of the window after a finished attack (the README picture) and the waits it needs; the
interactive window starts in `launch.py`."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from engine.attacks import get_attack
from engine.core.errors import AdvLensError
from engine.core.files import atomic_path

from .shell import MainWindow

SCREENSHOT_SIZE = (1500, 900)  # the README's picture; `--size` renders others (docs/screens: 1024x640, 1600x1000)


def application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv if argv is not None else sys.argv[:1]))
        app.setApplicationName("AdvLens")
    return app


def wait_for(signal, timeout_s: float, what: str):
    """Run an event loop until `signal` fires (returning its arguments) or the timeout passes."""
    loop = QEventLoop()
    received: list = []

    def on_signal(*args):
        received.append(args)
        loop.quit()

    signal.connect(on_signal)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    try:
        loop.exec()
    finally:
        signal.disconnect(on_signal)
    if not received:
        raise TimeoutError(f"gave up waiting for {what} after {timeout_s:.0f} s")
    return received[0]


def wait_until_idle(window: MainWindow, timeout_s: float) -> None:
    """Until the session has loaded everything it was asked to (a model load chains an image load)."""
    while window.session.busy:
        wait_for(window.session.busy_changed, timeout_s, "the model and images to load")
    if window.session.batch is None:
        raise AdvLensError(f"loading failed: {window.last_message}")


def check_size(window: MainWindow, size: tuple[int, int]) -> None:
    """AdvLensError when the window could not take `size` (its minimum is larger: something does not fit)."""
    if window.size().toTuple() != tuple(size):
        minimum = window.minimumSizeHint()
        raise AdvLensError(f"--size {size[0]}x{size[1]}: the window does not fit (it needs at least "
                           f"{minimum.width()}x{minimum.height()}; it is {window.width()}x{window.height()})")


def render_screenshot(path: str | Path, attack: str = "pgd", model: str | None = None, image_index: int = 3,
                      run_on_all: bool = True, timeout_s: float = 600, workspace: str | None = None,
                      size: tuple[int, int] = SCREENSHOT_SIZE) -> None:
    """Build the window offscreen at `size` (width, height; 1500x900 by default), load a model (the built-in
    one by default) and its samples, select one image, run `attack` to the end and save the window as a PNG;
    with `workspace`, that workspace is shown instead, after running its showcase (if it has one) to the end.
    A size below the window's minimum is refused: the picture would not be of that size."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    get_attack(attack)  # an unknown name fails here, before the window is built
    application()
    window = MainWindow()
    window.resize(*size)
    window.show()
    try:
        if model is None:
            window.load_default()
        else:
            window.model_panel.set_spec(model)
            window.session.load_model(model, "cpu")
        wait_until_idle(window, timeout_s)
        window.session.select(min(image_index, window.session.image_count - 1))
        attacking = window.attack
        attacking.attack_panel.choose_attack(attack)
        attacking.attack_panel.all_radio.setChecked(run_on_all)
        attacking.attack_panel.selected_radio.setChecked(not run_on_all)
        attacking.start_run()
        if not attacking.run_model.busy:
            raise AdvLensError(f"the attack did not start: {window.last_message}")
        while attacking.run_model.busy:
            wait_for(attacking.run_model.busy_changed, timeout_s, "the attack to finish")
        if attacking.run_model.result is None:
            raise AdvLensError(f"the attack failed: {window.last_message}")
        if workspace is not None:
            page = window.show_workspace(workspace)
            job = page.showcase() if hasattr(page, "showcase") else None
            if job is not None:
                wait_for(job.done, timeout_s, f"the {workspace} workspace")
        QApplication.processEvents()  # the last results drawn, the layouts settled
        check_size(window, size)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temporary:  # the suffix is kept: Qt picks the format from it
            if not window.grab().save(str(temporary)):
                raise AdvLensError(f"could not write the screenshot to {path}")
    finally:
        window.close()
