"""The menu bar (gui/menus.py) driven through its actions and its keys (pytest-qt, offscreen): every menu and
shortcut is there and shown; Ctrl+R runs the workspace shown (the Attack run, and each other workspace's job),
Esc stops it; Ctrl+E exports the workspace shown into the folder chosen; Ctrl+1..7 switch tabs; the model
column leaves the Playground and comes back; items are disabled while they cannot act; Ctrl+C copies the
selected image, or the text of a focused field; the file dialogs open where the user last was; the image views
say and do what a double click does; Help lists the shortcuts and the versions."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import PySide6
import pytest
import torch
from conftest import GUI_LOAD_TIMEOUT_MS
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QFileDialog

RUN_TIMEOUT_MS = 120_000
STOP_TIMEOUT_MS = 30_000
TITLES = ("Attack", "Visualize", "Universal", "Playground", "Train", "Compare", "Fooling")


@pytest.fixture(autouse=True)
def own_settings(monkeypatch, tmp_path):
    """The remembered folders of each test in a file of its own."""
    settings = tmp_path / "settings" / "advlens.ini"
    monkeypatch.setenv("ADVLENS_SETTINGS", str(settings))
    return settings


@pytest.fixture
def asked(monkeypatch):
    """Replaces the folder dialog: answers with `asked.answer` and notes the folder it was opened in."""
    asked = SimpleNamespace(answer="", started_in=[])

    def dialog(_parent, _caption, start="", *args, **kwargs):
        asked.started_in.append(start)
        return asked.answer

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", dialog)
    return asked


def action(window, name):
    return window.menus.actions[name]


def trigger_when_enabled(qtbot, window, name):
    item = action(window, name)
    qtbot.waitUntil(item.isEnabled, timeout=RUN_TIMEOUT_MS)
    item.trigger()


def activate(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)


def set_pgd(window, steps):
    panel = window.attack_panel
    panel.choose_attack("pgd")
    panel.form.editor("eps").spin.setValue(0.3)
    panel.form.editor("steps").spin.setValue(steps)


# --- the menus -------------------------------------------------------------------------------------------------

def test_every_menu_is_there_with_its_shortcuts_shown(window):
    bar = window.menuBar()
    assert [menu.title().replace("&", "") for menu in window.menus.menus] == ["File", "Edit", "View", "Run", "Help"]
    assert bar.isVisible() and [a.text().replace("&", "") for a in bar.actions()] == ["File", "Edit", "View",
                                                                                       "Run", "Help"]
    keys = {name: item.shortcut().toString() for name, item in window.menus.actions.items()}
    assert {name: keys[name] for name in ("open_images", "open_model", "export", "quit", "copy_image", "run",
                                          "stop", "column")} == {
        "open_images": "Ctrl+O", "open_model": "Ctrl+Shift+O", "export": "Ctrl+E", "quit": "Ctrl+Q",
        "copy_image": "Ctrl+C", "run": "Ctrl+R", "stop": "Esc", "column": "Ctrl+B"}
    assert [keys[f"workspace:{title}"] for title in TITLES] == [f"Ctrl+{n}" for n in range(1, 8)]
    every = [item for menu in window.menus.menus for item in menu.actions() if not item.isSeparator()]
    assert {"Sample images", "Open image folder…", "About AdvLens", "Keyboard shortcuts and mouse"} <= {
        item.text() for item in every}
    shown = {keys for keys, _what in window.menus.shortcut_lines()}
    assert {"Ctrl+R", "Esc", "Ctrl+E", "Ctrl+O", "Ctrl+1", "Ctrl+7"} <= shown


def test_items_that_cannot_act_are_disabled(qtbot):
    from gui.shell import MainWindow

    window = MainWindow(sample_count=4)  # nothing loaded yet
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: "Attack" in window.opened_workspaces)
    for name in ("run", "stop", "export", "copy_image", "copy_attacked", "open_images", "samples"):
        assert not action(window, name).isEnabled(), name
    assert action(window, "open_model").isEnabled() and action(window, "quit").isEnabled()
    window.load_default()
    qtbot.waitUntil(lambda: action(window, "run").isEnabled(), timeout=GUI_LOAD_TIMEOUT_MS)
    assert action(window, "copy_image").isEnabled() and action(window, "open_images").isEnabled()
    assert not action(window, "export").isEnabled()  # no result yet
    window.close()


def test_the_attack_panel_leaves_its_keys_to_the_menu(window):
    """Two owners of one key are ambiguous in Qt, and then neither acts."""
    panel = window.attack_panel
    assert panel.run_button.shortcut().isEmpty() and panel.stop_button.shortcut().isEmpty()
    assert "Ctrl+R" in panel.run_button.toolTip() and "Esc" in panel.stop_button.toolTip()


# --- run, stop, export -----------------------------------------------------------------------------------------

def test_ctrl_r_runs_the_attack_and_esc_stops_it(qtbot, window):
    set_pgd(window, steps=5)
    activate(qtbot, window)
    qtbot.waitUntil(action(window, "run").isEnabled)
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.keyClick(window.images_panel.list, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert not finished.args[0].stopped and len(finished.args[0].adversarial) == 1
    qtbot.waitUntil(lambda: action(window, "copy_attacked").isEnabled())
    set_pgd(window, steps=100_000)
    with qtbot.waitSignal(window.run_model.stepped, timeout=RUN_TIMEOUT_MS):
        action(window, "run").trigger()
    qtbot.waitUntil(action(window, "stop").isEnabled)
    with qtbot.waitSignal(window.run_model.finished, timeout=STOP_TIMEOUT_MS) as finished:
        qtbot.keyClick(window.images_panel.list, Qt.Key.Key_Escape)
    assert finished.args[0].stopped
    qtbot.waitUntil(lambda: not action(window, "stop").isEnabled())


def prepare_visualize(workspace):
    workspace.tabs.setCurrentWidget(workspace.class_model)


def prepare_universal(workspace):
    workspace.tabs.setCurrentWidget(workspace.uap)


def prepare_fooling(workspace):
    workspace.controls.fill({"initial_population": 10, "population": 10, "generations": 100_000})


OTHERS = {"Visualize": prepare_visualize, "Universal": prepare_universal, "Playground": None, "Train": None,
          "Compare": None, "Fooling": prepare_fooling}


@pytest.mark.parametrize("title", list(OTHERS))
def test_run_starts_the_job_of_the_workspace_shown_and_stop_ends_it(qtbot, window, title):
    workspace = window.show_workspace(title)
    qtbot.waitUntil(lambda: not workspace.busy, timeout=RUN_TIMEOUT_MS)  # reading the layers, for one
    if OTHERS[title] is not None:
        OTHERS[title](workspace)
    qtbot.waitUntil(action(window, "run").isEnabled, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(workspace.busy_changed, timeout=RUN_TIMEOUT_MS, check_params_cb=bool):
        action(window, "run").trigger()
    qtbot.waitUntil(action(window, "stop").isEnabled)
    assert not action(window, "run").isEnabled()  # one at a time
    action(window, "stop").trigger()
    qtbot.waitUntil(lambda: not workspace.busy, timeout=STOP_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not action(window, "stop").isEnabled())


def test_run_does_nothing_on_a_tab_that_shows_at_once(qtbot, window):
    workspace = window.show_workspace("Visualize")
    qtbot.waitUntil(lambda: not workspace.busy, timeout=RUN_TIMEOUT_MS)
    workspace.tabs.setCurrentWidget(workspace.filters)  # first-layer filters: shown without a run
    window.menus.refresh()
    assert not action(window, "run").isEnabled() and workspace.run() is False


def test_ctrl_e_exports_the_attack_result_into_the_folder_chosen(qtbot, window, asked, tmp_path):
    set_pgd(window, steps=5)
    assert not action(window, "export").isEnabled()
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS):
        trigger_when_enabled(qtbot, window, "run")
    asked.answer = str(tmp_path / "chosen")
    Path(asked.answer).mkdir()
    activate(qtbot, window)
    qtbot.waitUntil(action(window, "export").isEnabled)
    qtbot.keyClick(window.images_panel.list, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert asked.started_in == [str(Path.home())]  # nothing remembered yet: the home folder, not the project's
    qtbot.waitUntil(lambda: (tmp_path / "chosen" / "metrics.csv").exists() and not window.attack.exporting,
                    timeout=RUN_TIMEOUT_MS)
    asked.answer = ""  # cancelled: nothing written, nothing forgotten
    action(window, "export").trigger()
    assert asked.started_in[-1] == str(tmp_path / "chosen")


def test_ctrl_e_exports_the_playground_shown(qtbot, window, asked, tmp_path):
    workspace = window.show_workspace("Playground")
    asked.answer = str(tmp_path)
    trigger_when_enabled(qtbot, window, "export")
    qtbot.waitUntil(lambda: bool(workspace.exported), timeout=RUN_TIMEOUT_MS)
    assert {f.name for f in workspace.exported} >= {"plane.png", "points.csv"}
    assert all(Path(f).parent == tmp_path for f in workspace.exported)


# --- the view --------------------------------------------------------------------------------------------------

def test_ctrl_1_to_7_switch_the_workspaces(qtbot, window):
    activate(qtbot, window)
    for number, title in reversed(list(enumerate(TITLES, start=1))):
        qtbot.keyClick(window.workspaces, Qt.Key(Qt.Key.Key_0.value + number), Qt.KeyboardModifier.ControlModifier)
        assert window.current_title == title
        assert action(window, f"workspace:{title}").isChecked()
    assert window.current_title == "Attack"


def test_the_model_column_leaves_the_playground_and_comes_back(qtbot, window):
    column = window.column
    width = column.width()
    assert column.isVisible() and width > 100
    window.show_workspace("Playground")
    assert not column.isVisible() and not action(window, "column").isEnabled()
    window.show_workspace("Train")
    assert column.isVisible()
    qtbot.waitUntil(lambda: abs(column.width() - width) <= 2)
    action(window, "column").trigger()  # Ctrl+B: the user hides it
    assert not column.isVisible()
    window.show_workspace("Playground")
    window.show_workspace("Attack")
    assert not column.isVisible()  # the user's choice holds on the other tabs
    action(window, "column").trigger()
    assert column.isVisible()


# --- edit ------------------------------------------------------------------------------------------------------

def test_ctrl_c_copies_the_selected_image_or_the_focused_text(qtbot, window):
    session = window.session
    session.select(2)
    activate(qtbot, window)
    window.images_panel.list.setFocus()
    qtbot.keyClick(window.images_panel.list, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    copied = QGuiApplication.clipboard().image()
    assert (copied.width(), copied.height()) == (28, 28)
    pixels = np.array([[copied.pixelColor(x, y).red() for x in range(28)] for y in range(28)])
    expected = np.rint(session.batch.images[2, 0].numpy() * 255)
    assert np.abs(pixels - expected).max() <= 1
    field = window.model_panel.name_combo.lineEdit()
    field.setFocus()
    field.selectAll()
    qtbot.waitUntil(field.hasFocus)
    qtbot.keyClick(field, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "mnist-cnn"
    QGuiApplication.clipboard().clear()
    action(window, "copy_image").trigger()  # the item, with the text field focused: the text still
    assert QGuiApplication.clipboard().text() == "mnist-cnn"


# --- dialogs ---------------------------------------------------------------------------------------------------

def test_the_dialogs_remember_the_last_folder_of_each_kind(qtbot, asked, own_settings, tmp_path, monkeypatch):
    from gui.widgets import dialogs

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    asked.answer = str(first)
    assert dialogs.choose_folder(None, "export", dialogs.EXPORTS) == str(first)
    asked.answer = str(second)
    dialogs.choose_folder(None, "export", dialogs.EXPORTS)
    dialogs.choose_folder(None, "images", dialogs.IMAGES)
    assert asked.started_in == [str(Path.home()), str(first), str(Path.home())]  # one memory per kind
    assert own_settings.exists() and str(second) in own_settings.read_text()
    opened = []
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        lambda _p, _c, start, _f: (opened.append(start), ([str(second / "a.png")], ""))[1])
    assert dialogs.choose_open_files(None, "images", dialogs.IMAGES, "*") == [str(second / "a.png")]
    dialogs.choose_open_files(None, "images", dialogs.IMAGES, "*")
    assert opened == [str(second), str(second)]  # the folder of the files chosen
    second.rmdir()
    dialogs.choose_folder(None, "export", dialogs.EXPORTS)
    assert asked.started_in[-1] == str(Path.home())  # a remembered folder that is gone: home again


def test_the_workspaces_export_buttons_open_the_remembered_folder(qtbot, window, asked, tmp_path):
    from gui.widgets import dialogs

    dialogs.remember_folder(dialogs.EXPORTS, tmp_path)
    window.attack.controller.choose_export_folder()
    playground = window.show_workspace("Playground")
    playground.controls.export_button.click()
    assert asked.started_in == [str(tmp_path), str(tmp_path)] and os.getcwd() not in asked.started_in


# --- image views and help --------------------------------------------------------------------------------------

def test_image_views_say_that_a_double_click_fits_the_image_and_do_it(qtbot):
    from gui.widgets.image_view import ImageView

    view = ImageView("test")
    qtbot.addWidget(view.widget)
    view.widget.resize(300, 300)
    view.widget.show()
    view.show(np.random.default_rng(0).random((28, 28), dtype=np.float32), (0.0, 1.0))
    view.fit()
    whole = np.array(view.plot.vb.viewRange())
    view.plot.vb.scaleBy((0.2, 0.2))
    view.plot.vb.translateBy((5, 5))
    assert not np.allclose(np.array(view.plot.vb.viewRange()), whole, atol=0.5)
    assert "double-click" in view.plot.vb.toolTip()
    centre = QPoint(150, 150)
    # a double click as the mouse makes it: press, release, double-click, release (QTest's mouseDClick sends only
    # the third, and pyqtgraph reports a click when the button is released)
    qtbot.mouseClick(view.widget.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(view.widget.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseRelease(view.widget.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert np.allclose(np.array(view.plot.vb.viewRange()), whole, atol=0.5)


def test_help_lists_the_shortcuts_and_mouse_and_about_the_versions(qtbot, window):
    action(window, "shortcuts").trigger()
    text = window.menus.help_box.text()
    assert window.menus.help_box.isVisible()
    assert "Ctrl+R" in text and "Esc" in text and "Ctrl+E" in text and "double-click" in text
    action(window, "about").trigger()
    text = window.menus.help_box.text()
    assert torch.__version__ in text and PySide6.__version__ in text
    window.menus.help_box.close()


def test_the_launch_window_shows_the_main_windows_menu_and_its_keys_work(qtbot):
    from gui.launch import LaunchWindow

    launch = LaunchWindow(load_default=False)
    qtbot.addWidget(launch)
    launch.resize(1200, 800)
    launch.show()
    with qtbot.waitSignal(launch.ready, timeout=GUI_LOAD_TIMEOUT_MS):
        launch.begin()
    bar = launch.main.menuBar()
    qtbot.waitUntil(bar.isVisible)  # the main window's layout shows it at the next turn of the event loop
    assert bar.window() is launch and bar.height() > 0
    activate(qtbot, launch)
    qtbot.keyClick(launch.main.workspaces, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert launch.main.current_title == "Universal"
    launch.close()
