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

from engine.playground import kind_title
from gui.worker import running_jobs

JOB_TIMEOUT_MS = 30_000
CATS = [(0.22, 0.3), (0.3, 0.42), (0.33, 0.25), (0.2, 0.4)]  # inside the "two blobs" cat disc
DOGS = [(0.75, 0.7), (0.66, 0.6), (0.7, 0.77), (0.8, 0.6)]
ATTACKED = 1  # the cat nearest the dogs


def playground(window):
    workspace = window.show_workspace("Playground")
    workspace.tabs.setCurrentIndex(0)
    return workspace


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
    workspace.controls.steps.setValue(steps)
    qtbot.mouseClick(workspace.controls.train_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace)


def wait_first_frame(qtbot, workspace):
    """Until a frame of the training has been drawn ("step i / n", not the last run's "n steps")."""
    qtbot.waitUntil(lambda: workspace.controls.train_status.text().startswith("step "), timeout=JOB_TIMEOUT_MS)


def test_place_points_train_and_attack_one_shows_the_arrow_eps_ball_and_kind(qtbot, window):
    workspace = playground(window)
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
    workspace.controls.eps.setValue(0.3)
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


def test_attack_all_defend_and_export(qtbot, window, tmp_path):
    workspace = playground(window)
    place_points(qtbot, workspace)
    train(qtbot, workspace, steps=200)
    workspace.controls.eps.setValue(0.25)
    qtbot.mouseClick(workspace.controls.attack_all_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace)
    counts = workspace.attack.counts()
    assert counts.attacked == 8 and counts.successful > 0
    assert len(workspace.plane.kind_marks.data) == counts.successful  # one digit per adversarial image

    workspace.controls.rounds.setValue(2)
    qtbot.mouseClick(workspace.controls.defend_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace)
    defense = workspace.defense
    assert defense is not None, workspace.message
    assert len(workspace.plane.before_boundary.getData()[0]) > 10  # the boundary before, beside the new one
    assert len(workspace.plane.added.data) == len(defense.added) > 0
    assert "before" in workspace.controls.defense_status.text()

    files = workspace.export_to(tmp_path)
    assert [f.name for f in files] == ["plane.png", "points.csv", "counts.csv"]
    with (tmp_path / "counts.csv").open() as handle:
        rows = {row["run"]: row for row in csv.DictReader(handle)}
    assert int(rows["before defense"]["successful"]) == defense.counts_before.successful
    assert int(rows["after defense"]["successful"]) == defense.counts_after.successful
    assert (tmp_path / "plane.png").stat().st_size > 10_000


def test_right_click_removes_and_drag_moves_a_point(qtbot, window):
    workspace = playground(window)
    place_points(qtbot, workspace)
    click(qtbot, workspace.plane, *DOGS[0], button=Qt.MouseButton.RightButton)
    assert len(workspace.points) == 7
    drag(workspace.plane, CATS[0], (0.1, 0.9))
    np.testing.assert_allclose(workspace.points.xy[0], (0.1, 0.9), atol=0.01)
    np.testing.assert_allclose(workspace.points.xy[1:4], CATS[1:], atol=0.01)  # the others stay


def test_painting_draws_the_true_regions(qtbot, window):
    workspace = playground(window)
    workspace.controls.preset.setCurrentText("two blobs")
    workspace.controls.mouse_mode.setCurrentText("paint the dog region")
    assert workspace.regions.code_at(np.array([[0.15, 0.85], [0.5, 0.85]])).tolist() == [-1, -1]
    drag(workspace.plane, (0.15, 0.85), (0.5, 0.85))
    assert workspace.regions.code_at(np.array([[0.15, 0.85], [0.3, 0.85], [0.5, 0.85]])).tolist() == [1, 1, 1]
    assert workspace.controls.shading.currentText() == "true regions"
    assert len(workspace.points) == 12  # painting adds no points


def test_bad_input_gets_a_message_instead_of_a_run(qtbot, window):
    workspace = playground(window)
    qtbot.mouseClick(workspace.controls.clear_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(workspace.controls.train_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace)
    assert "no training points" in workspace.message
    workspace.controls.hidden.setText("many")
    qtbot.mouseClick(workspace.controls.train_button, Qt.MouseButton.LeftButton)
    assert "hidden layers" in workspace.message and not workspace.busy


def test_stop_keeps_what_was_learned_and_closing_mid_training_stops_the_thread(qtbot, window):
    workspace = playground(window)
    workspace.controls.steps.setValue(100_000)
    qtbot.mouseClick(workspace.controls.train_button, Qt.MouseButton.LeftButton)
    wait_first_frame(qtbot, workspace)
    qtbot.mouseClick(workspace.controls.stop_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, workspace, timeout=5000)
    assert 0 < workspace.training.steps_done < 100_000

    qtbot.mouseClick(workspace.controls.train_button, Qt.MouseButton.LeftButton)
    wait_first_frame(qtbot, workspace)
    generator = workspace._job.generator
    started = time.perf_counter()
    window.close()
    assert time.perf_counter() - started < 5
    assert running_jobs() == 0
    assert inspect.getgeneratorstate(generator) == inspect.GEN_CLOSED
