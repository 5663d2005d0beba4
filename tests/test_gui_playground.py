"""The Playground tab driven through its widgets (pytest-qt, offscreen): points placed with the mouse, live
training, an attack drawn as an arrow with its eps-ball and kind, attack all, a defense, export, Stop, bad
input, and closing the window mid-training."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import csv
import inspect
import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

import engine.playground
from engine.playground import kind_title
from gui.jobs import running_jobs
from gui.workspaces.playground import runs

JOB_TIMEOUT_MS = 30_000
CATS = [(0.22, 0.3), (0.3, 0.42), (0.33, 0.25), (0.2, 0.4)]  # inside the "two blobs" cat disc
DOGS = [(0.75, 0.7), (0.66, 0.6), (0.7, 0.77), (0.8, 0.6)]
ATTACKED = 1  # the cat nearest the dogs


@pytest.fixture
def workspace(qtbot):
    """The workspace alone, on a session of its own, the size the shell gives it."""
    from gui.session import Session
    from gui.workspaces.playground import PlaygroundWorkspace

    session = Session()
    workspace = PlaygroundWorkspace(session)
    qtbot.addWidget(workspace)
    workspace.resize(1230, 850)
    workspace.show()
    workspace.tabs.setCurrentIndex(0)
    yield workspace
    workspace.shutdown()
    assert running_jobs() == 0


def plane_pixel(plane, x: float, y: float) -> QPoint:
    """Where the plane point (x, y) is drawn in the view's viewport."""
    scene = plane.view_box.mapViewToScene(QPointF(x, y))
    return plane.mapFromScene(scene)


def click(qtbot, plane, x, y, button=Qt.MouseButton.LeftButton):
    qtbot.mouseClick(plane.viewport(), button, pos=plane_pixel(plane, x, y))


def drag(plane, start, end, steps=6):
    """Press on `start`, move in steps with the left button held, release on `end` (QTest's moves carry no
    buttons, so the events are sent by hand)."""
    viewport = plane.viewport()

    def send(kind, where, buttons):
        point = QPointF(plane_pixel(plane, *where))
        event = QMouseEvent(kind, point, QPointF(viewport.mapToGlobal(point.toPoint())), Qt.MouseButton.LeftButton,
                            buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)

    send(QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton)
    for t in np.linspace(0, 1, steps)[1:]:
        send(QEvent.Type.MouseMove, np.add(start, t * np.subtract(end, start)), Qt.MouseButton.LeftButton)
    send(QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)


def wait_idle(qtbot, workspace, timeout=JOB_TIMEOUT_MS):
    qtbot.waitUntil(lambda: not workspace.busy, timeout=timeout)


def place_points(qtbot, workspace):
    controls, plane = workspace.controls, workspace.plane
    controls.preset.setCurrentText("two blobs")
    qtbot.mouseClick(controls.clear_button, Qt.MouseButton.LeftButton)
    for label, places in enumerate((CATS, DOGS)):
        controls.add_as.setCurrentIndex(label)
        for x, y in places:
            click(qtbot, plane, x, y)


def train(qtbot, workspace, steps=300):
    workspace.controls.set_values(steps=steps)
    qtbot.mouseClick(workspace.controls.train_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace)


def wait_first_frame(qtbot, workspace):
    """Until a frame of the training has been drawn ("step i / n", not the last run's "n steps")."""
    qtbot.waitUntil(lambda: workspace.controls.train_status.text().startswith("step "), timeout=JOB_TIMEOUT_MS)


def test_place_points_train_and_attack_one_shows_the_arrow_eps_ball_and_kind(qtbot, workspace):
    place_points(qtbot, workspace)
    points = workspace.points
    np.testing.assert_allclose(points.xy, CATS + DOGS, atol=0.01)
    assert points.labels.tolist() == [0] * 4 + [1] * 4

    train(qtbot, workspace)
    assert workspace.training.accuracy == 1.0, workspace.message
    assert workspace.plane.shading.image.shape == (200, 200)
    assert len(workspace.plane.boundary.getData()[0]) > 10  # the p = 0.5 line is drawn

    click(qtbot, workspace.plane, *CATS[ATTACKED])  # a click on a point selects it
    assert workspace.selected == ATTACKED
    workspace.controls.set_values(eps=0.3)
    qtbot.mouseClick(workspace.controls.attack_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace)

    attack = workspace.attack
    assert attack is not None and attack.successful.tolist() == [True], workspace.message
    shaft_x, shaft_y = workspace.plane.arrows.getData()
    assert (shaft_x[0], shaft_y[0]) == tuple(np.float64(attack.start[0]))
    assert (shaft_x[1], shaft_y[1]) == tuple(np.float64(attack.end[0]))
    ball_x, _ = workspace.plane.ball.getData()
    assert ball_x.min() == pytest.approx(attack.start[0, 0] - 0.3, abs=1e-6)  # the eps-ball around the point
    expected = kind_title(int(attack.kinds[0]), ("cat", "dog"), 0)
    assert workspace.plane.kind_label.isVisible() and workspace.plane.kind_text == expected
    assert expected in workspace.controls.attack_status.text()


def test_attack_all_defend_and_export(qtbot, workspace, tmp_path):
    place_points(qtbot, workspace)
    train(qtbot, workspace, steps=200)
    workspace.controls.set_values(eps=0.25)
    qtbot.mouseClick(workspace.controls.attack_all_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace)
    counts = workspace.attack.counts()
    assert counts.attacked == 8 and counts.successful > 0
    assert len(workspace.plane.kind_marks.data) == counts.successful  # one digit per adversarial image

    workspace.controls.set_values(rounds=2)
    qtbot.mouseClick(workspace.controls.defend_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace)
    defense = workspace.defense
    assert defense is not None, workspace.message
    assert len(workspace.plane.before_boundary.getData()[0]) > 10  # the boundary before, beside the new one
    assert len(workspace.plane.added.data) == len(defense.added) > 0
    assert "before" in workspace.controls.defense_status.text()

    assert workspace.export_to(tmp_path)  # written in a job
    wait_idle(qtbot, workspace)
    assert [f.name for f in workspace.exported] == ["plane.png", "points.csv", "counts.csv"], workspace.message
    assert sorted(path.name for path in tmp_path.iterdir()) == ["counts.csv", "plane.png", "points.csv"]
    with (tmp_path / "counts.csv").open() as handle:
        rows = {row["run"]: row for row in csv.DictReader(handle)}
    assert int(rows["before defense"]["successful"]) == defense.counts_before.successful
    assert int(rows["after defense"]["successful"]) == defense.counts_after.successful
    assert (tmp_path / "plane.png").stat().st_size > 10_000


def test_an_unwritable_export_folder_gets_a_message(qtbot, workspace, tmp_path):
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    assert workspace.export_to(blocked / "export")
    wait_idle(qtbot, workspace)
    assert workspace.exported == [] and "Exporting to" in workspace.message


def test_the_settings_forms_are_built_from_the_declared_parameters(qtbot, workspace):
    from engine.playground import AttackSettings, DefenseSettings, MlpConfig

    controls = workspace.controls
    for form, settings in ((controls.model_form, MlpConfig), (controls.attack_form, AttackSettings),
                           (controls.defense_form, DefenseSettings)):
        assert set(form.editors) <= set(settings.PARAMS.names)
        for name, editor in form.editors.items():
            assert editor.param == settings.PARAMS.param(name)
    controls.set_values(hidden=(8, 4), activation="tanh", learning_rate=0.05, method="DeepFool", eps=0.2,
                        augment=True, copies=3)
    assert controls.mlp_config() == MlpConfig(hidden=(8, 4), activation="tanh", learning_rate=0.05)
    assert controls.attack_settings() == AttackSettings(method="DeepFool", eps=0.2)
    assert controls.defense_settings() == DefenseSettings(augment=True, copies=3)
    qtbot.mouseClick(controls.reseed_button, Qt.MouseButton.LeftButton)  # "New seed" retrains from seed 1
    wait_idle(qtbot, workspace)
    assert workspace.training.config.seed == 1
    controls.set_values(adversarial=False, augment=False)
    qtbot.mouseClick(controls.defend_button, Qt.MouseButton.LeftButton)
    assert "choose a defense" in workspace.message and not workspace.busy


def test_the_workspace_keeps_the_shells_protocol(qtbot, workspace):
    from gui.workspaces.protocol import Workspace

    assert isinstance(workspace, Workspace) and workspace.title == "Playground"
    busy, lines = [], []
    workspace.busy_changed.connect(busy.append)
    workspace.status.connect(lines.append)
    qtbot.mouseClick(workspace.controls.train_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace)
    assert busy[0] is True and busy[-1] is False  # what the shell's status bar follows
    assert lines[0].startswith("Training") and lines[-1].startswith("Trained")


def test_the_linearity_curve_is_computed_off_the_gui_thread_when_first_shown(qtbot, workspace):
    panel = workspace.linearity
    workspace.tabs.setCurrentWidget(panel)
    assert panel.slot.busy and workspace.busy  # a job; the GUI thread only draws it
    wait_idle(qtbot, workspace)
    assert panel.flips is not None
    np.testing.assert_allclose(panel.measured.yData, panel.flips.median_step)  # as given (drawn on log axes)
    workspace.tabs.setCurrentIndex(0)
    workspace.tabs.setCurrentWidget(panel)
    assert not workspace.busy  # computed once


def test_right_click_removes_and_drag_moves_a_point(qtbot, workspace):
    place_points(qtbot, workspace)
    click(qtbot, workspace.plane, *DOGS[0], button=Qt.MouseButton.RightButton)
    assert len(workspace.points) == 7
    drag(workspace.plane, CATS[0], (0.1, 0.9))
    np.testing.assert_allclose(workspace.points.xy[0], (0.1, 0.9), atol=0.01)
    np.testing.assert_allclose(workspace.points.xy[1:4], CATS[1:], atol=0.01)  # the others stay


def test_painting_draws_the_true_regions(qtbot, workspace):
    workspace.controls.preset.setCurrentText("two blobs")
    workspace.controls.mouse_mode.setCurrentText("paint the dog region")
    assert workspace.regions.code_at(np.array([[0.15, 0.85], [0.5, 0.85]])).tolist() == [-1, -1]
    drag(workspace.plane, (0.15, 0.85), (0.5, 0.85))
    assert workspace.regions.code_at(np.array([[0.15, 0.85], [0.3, 0.85], [0.5, 0.85]])).tolist() == [1, 1, 1]
    assert workspace.controls.shading.currentText() == "true regions"
    assert len(workspace.points) == 12  # painting adds no points


def test_bad_input_gets_a_message_instead_of_a_run(qtbot, workspace):
    qtbot.mouseClick(workspace.controls.clear_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(workspace.controls.train_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace)
    assert "no training points" in workspace.message
    workspace.controls.model_form.editor("hidden").line.setText("many")
    qtbot.mouseClick(workspace.controls.train_button, Qt.MouseButton.LeftButton)
    assert "hidden layers" in workspace.message and not workspace.busy


def test_closing_the_window_mid_training_stops_the_thread(qtbot, window):
    workspace = window.show_workspace("Playground")
    workspace.controls.set_values(steps=100_000)
    qtbot.mouseClick(workspace.controls.train_button, Qt.MouseButton.LeftButton)
    wait_first_frame(qtbot, workspace)
    generator = workspace.job.generator
    started = time.perf_counter()
    window.close()
    assert time.perf_counter() - started < 5
    assert running_jobs() == 0
    assert inspect.getgeneratorstate(generator) == inspect.GEN_CLOSED

def recording(computation, seen):
    """`computation` (an engine generator function) wrapped so that each run records what it does into `seen`:
    the true regions' codes when it starts and when it ends, and for every step whether Stop had been asked."""
    def wrapped(*args, **kwargs):
        regions = next((arg for arg in args if isinstance(arg, engine.playground.Regions)), None)
        control = kwargs.get("control", args[-1])
        seen["codes at start"] = None if regions is None else regions.codes.copy()
        seen["steps after stop"] = 0
        steps = computation(*args, **kwargs)
        try:
            while True:
                step = next(steps)
                seen["steps after stop"] += control.stop_requested
                yield step
        except StopIteration as end:
            seen["codes at end"] = None if regions is None else regions.codes.copy()
            return end.value
    return wrapped


def test_painting_while_a_defense_trains_leaves_the_regions_it_reads_unchanged(qtbot, workspace, monkeypatch):
    place_points(qtbot, workspace)
    train(qtbot, workspace, steps=100)
    seen = {}
    monkeypatch.setattr(runs, "defend", recording(engine.playground.defend, seen))
    workspace.controls.set_values(steps=100_000)  # the defense retrains: long enough to paint during it
    workspace.controls.set_values(rounds=1)
    qtbot.mouseClick(workspace.controls.defend_button, Qt.MouseButton.LeftButton)
    wait_first_frame(qtbot, workspace)
    workspace.controls.mouse_mode.setCurrentText("paint the dog region")
    drag(workspace.plane, (0.05, 0.05), (0.95, 0.95))  # across both discs and the meaningless gap
    assert workspace.regions.code_at(np.array([[0.5, 0.5]])).tolist() == [1]
    qtbot.mouseClick(workspace.controls.stop_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace)
    assert workspace.defense is not None, workspace.message
    np.testing.assert_array_equal(seen["codes at start"], seen["codes at end"])
    # the result is judged against the truth shown now: the end points on the painted diagonal are dogs
    after = workspace.defense.after
    np.testing.assert_array_equal(after.end_regions, workspace.regions.code_at(after.end))


def test_stop_ends_a_training_within_one_step(qtbot, workspace, monkeypatch):
    seen = {}
    monkeypatch.setattr(runs, "train", recording(engine.playground.train, seen))
    workspace.controls.set_values(steps=100_000)
    qtbot.mouseClick(workspace.controls.train_button, Qt.MouseButton.LeftButton)
    wait_first_frame(qtbot, workspace)
    qtbot.mouseClick(workspace.controls.stop_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace, timeout=5000)
    assert seen["steps after stop"] <= 1
    assert 0 < workspace.training.steps_done < 100_000  # the model reached is kept
    assert "(stopped)" in workspace.controls.train_status.text()

    qtbot.mouseClick(workspace.controls.train_button, Qt.MouseButton.LeftButton)  # a Stop leaves it ready
    wait_first_frame(qtbot, workspace)
    assert workspace.busy
