"""The GUI driven through its real widgets (pytest-qt, offscreen): runs, stopping, closing mid-run, the generated
parameter form, bad input files, and what the plots and the batch table show after a run."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc
import inspect
import threading
import time
import weakref

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox

from engine.attacks import ATTACKS
from engine.attacks.base import PER_IMAGE, UNIVERSAL
from gui.widgets.param_form import ChoiceEditor, FloatEditor, IntEditor, TextEditor, editor_for
from gui.jobs import Job, running_jobs

from conftest import GUI_SAMPLE_COUNT as SAMPLE_COUNT
LOAD_TIMEOUT_MS = 60_000
RUN_TIMEOUT_MS = 30_000
PER_IMAGE_ATTACKS = [name for name, spec in ATTACKS.items() if spec.family == PER_IMAGE]


def set_pgd(window, eps=0.3, steps=40, run_on_all=False):
    panel = window.attack_panel
    panel.choose_attack("pgd")
    panel.form.editor("eps").spin.setValue(eps)
    panel.form.editor("steps").spin.setValue(steps)
    (panel.all_radio if run_on_all else panel.selected_radio).setChecked(True)


def run_and_wait(qtbot, window):
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(window.attack_panel.run_button, Qt.MouseButton.LeftButton)
    return finished.args[0]


def start_long_run(qtbot, window):
    """All loaded images, far more steps than a test lasts; returns once the first step has arrived."""
    set_pgd(window, steps=100_000, run_on_all=True)
    with qtbot.waitSignal(window.run_model.stepped, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(window.attack_panel.run_button, Qt.MouseButton.LeftButton)
    assert window.run_model.busy


def test_window_opens_with_the_builtin_model_and_digits(window):
    assert window.session.model.name == "mnist-cnn"
    assert window.images_panel.list.count() == SAMPLE_COUNT
    assert window.session.selected == 0
    assert window.attack.triptych.natural.item.image.shape == (28, 28)
    assert window.attack_panel.run_button.isEnabled()


def test_pgd_run_fools_the_model_and_shows_the_adversarial_image(qtbot, window):
    window.images_panel.list.setCurrentRow(1)
    set_pgd(window, eps=0.3, steps=40)

    result = run_and_wait(qtbot, window)

    triptych = window.attack.triptych
    assert window.run_model.request.indices == (1,)
    assert triptych.natural_class == int(window.session.probs[1].argmax())
    assert triptych.adversarial_class is not None and triptych.adversarial_class != triptych.natural_class
    assert window.session.class_name(triptych.adversarial_class) in triptych.adversarial.title
    np.testing.assert_allclose(triptych.adversarial.item.image, result.adversarial[0, 0].numpy(), atol=1e-6)
    delta = triptych.perturbation.item.image
    assert np.abs(delta).max() <= 0.3 + 1e-5
    assert triptych.perturbation.item.levels is not None
    low, high = np.ravel(triptych.perturbation.item.levels)[:2]
    assert low == pytest.approx(-high) and high == pytest.approx(np.abs(delta).max(), rel=1e-5)
    assert "/255" in triptych.perturbation.title
    # published for the other workspaces through the session
    attacked, probs = window.session.attacked(1)
    np.testing.assert_array_equal(attacked, result.adversarial[0].numpy())
    np.testing.assert_array_equal(probs, result.probs_after[0].numpy())
    assert window.session.attacked(0) is None
    verdict = window.session.verdicts[1]
    assert verdict.predicted == triptych.adversarial_class and verdict.fooled
    assert window.session.class_name(verdict.predicted) in window.images_panel.list.item(1).text()


def record_steps(control) -> list[bool]:
    """Every step the engine makes calls `frame_due` once: the returned list gets, per step made from now on,
    whether the stop had been asked for by then."""
    stopped_at_step, frame_due = [], control.frame_due

    def recording(final: bool = False) -> bool:
        stopped_at_step.append(control.stop_requested)
        return frame_due(final)

    control.frame_due = recording
    return stopped_at_step


def test_stop_ends_a_long_run_within_one_step(qtbot, window):
    start_long_run(qtbot, window)
    steps = record_steps(window.run_model.control)
    qtbot.waitUntil(lambda: len(steps) > 0, timeout=RUN_TIMEOUT_MS)
    started = time.perf_counter()
    with qtbot.waitSignal(window.run_model.finished, timeout=1000) as finished:
        qtbot.mouseClick(window.attack_panel.stop_button, Qt.MouseButton.LeftButton)
    assert time.perf_counter() - started < 1.0
    assert sum(steps) <= 1  # the step under way when Stop was clicked, no further one
    result = finished.args[0]
    assert result.stopped and len(result.adversarial) == SAMPLE_COUNT
    assert "stopped early" in window.attack.batch_table.summary.text()
    assert window.attack_panel.run_button.isEnabled() and not window.attack_panel.stop_button.isEnabled()
    assert not window.attack.busy and window.progress.format().startswith("stopped at iteration")


def test_the_attack_chooser_lists_per_image_attacks_only(window):
    window.show_workspace("Universal")  # its engine registers the universal attacks
    universal = {name for name, spec in ATTACKS.items() if spec.family == UNIVERSAL}
    assert universal
    window.show_workspace("Attack")
    combo = window.attack_panel.attack_combo
    listed = [combo.itemData(i) for i in range(combo.count())]
    assert listed == [name for name, spec in ATTACKS.items() if spec.family == PER_IMAGE]
    assert not universal & set(listed)
    with pytest.raises(Exception, match="not a per-image attack"):
        window.attack_panel.choose_attack(sorted(universal)[0])


def test_closing_the_window_mid_run_leaves_no_thread_running(qtbot, window):
    start_long_run(qtbot, window)
    window.close()
    assert running_jobs() == 0
    assert inspect.getgeneratorstate(window.run_model.generator) == inspect.GEN_CLOSED
    qtbot.waitUntil(lambda: not window.attack.busy, timeout=1000)  # its slot hears that the job is done


@pytest.mark.parametrize("name", PER_IMAGE_ATTACKS)
def test_the_parameter_form_matches_the_declared_params(window, name):
    panel = window.attack_panel
    panel.choose_attack(name)
    spec = ATTACKS[name]
    assert list(panel.form.editors) == [p.name for p in spec.params]
    for param in spec.params:
        editor = panel.form.editor(param.name)
        if param.kind is bool:
            assert isinstance(editor.widget, QCheckBox)
        elif param.kind is str:
            assert isinstance(editor.widget, QComboBox)
            assert [editor.widget.itemText(i) for i in range(editor.widget.count())] == list(param.choices)
        elif param.kind is int:
            assert isinstance(editor, IntEditor) and isinstance(editor.spin, QSpinBox)
            assert (editor.auto is not None) == bool(param.auto)
            if param.auto:
                assert param.auto in editor.auto.toolTip()
        else:
            assert isinstance(editor, FloatEditor) and isinstance(editor.spin, QDoubleSpinBox)
            assert (editor.spin.minimum(), editor.spin.maximum()) == (param.minimum, param.maximum)
            assert (editor.grey is not None) == (param.unit == "pixel")
            assert (editor.unbounded is not None) == (not param.finite)
        assert param.help in editor.tooltip()
    # the form starts from the model's defaults, which the attack accepts as they are
    domain = window.session.model.domain
    assert panel.form.values() == spec.defaults(domain)
    assert panel.params() == spec.resolve({}, domain)


def test_choices_show_their_titles_and_free_text_gets_a_line_edit(qtbot):
    from engine.core import Param
    from engine.playground import ATTACK_PARAMS, TRAINING_PARAMS

    norm = editor_for(ATTACK_PARAMS.param("norm"))
    assert isinstance(norm, ChoiceEditor) and norm.combo.currentText() == "L∞ (square ball)"
    norm.set_value("2")
    assert norm.combo.currentText() == "L2 (round ball)" and norm.value() == "2"
    hidden_param = TRAINING_PARAMS.param("hidden")
    hidden = editor_for(hidden_param)
    assert isinstance(hidden, TextEditor)
    hidden.set_value((64, 32))
    assert hidden_param.parse(hidden.value()) == (64, 32)
    plain = editor_for(Param("mode", str, "a", "a choice without titles", choices=("a", "b")))
    plain.set_value("b")
    assert plain.combo.currentText() == "b" and plain.value() == "b"


def test_grey_levels_follow_the_pixel_value_both_ways(window):
    eps = window.attack_panel.form.editor("eps")
    eps.spin.setValue(0.1)
    assert eps.grey.value() == pytest.approx(25.5)
    eps.grey.setValue(8)
    assert eps.spin.value() == pytest.approx(8 / 255, abs=1e-6)


def test_an_invalid_eps_becomes_a_readable_message(qtbot, window):
    set_pgd(window, eps=5.0, steps=5)
    assert window.attack_panel.form.editor("norm").value() == "inf"
    with qtbot.waitSignal(window.run_model.failed, timeout=RUN_TIMEOUT_MS) as failed:
        qtbot.mouseClick(window.attack_panel.run_button, Qt.MouseButton.LeftButton)
    assert "exceeds the whole pixel range" in failed.args[0]
    assert "exceeds the whole pixel range" in window.last_message
    assert "Traceback" not in window.last_message
    assert window._message_box.isVisible()
    assert window.attack_panel.run_button.isEnabled()  # the window stays usable
    qtbot.waitUntil(lambda: not window.attack.busy, timeout=RUN_TIMEOUT_MS)
    assert "running" not in window.status_label.text().lower(), window.status_label.text()
    assert window.progress.maximum() != 0  # no busy indicator left behind


def test_an_unknown_target_class_is_refused_before_running(qtbot, window):
    panel = window.attack_panel
    panel.targeted_radio.setChecked(True)
    panel.target_combo.setEditText("banana")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert not window.run_model.busy
    assert "no class named 'banana'" in window.last_message


def drop_files(window, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def test_a_corrupt_image_shows_a_message_and_keeps_the_loaded_images(qtbot, window, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(os.urandom(200))
    names = list(window.session.batch.names)
    with qtbot.waitSignal(window.session.failed, timeout=LOAD_TIMEOUT_MS):
        drop_files(window, [bad])
    assert "bad.png" in window.last_message
    assert window.session.batch.names == names
    assert window.images_panel.list.count() == len(names)
    qtbot.waitUntil(lambda: window.images_panel.samples_button.isEnabled())


def test_dropped_files_are_appended_and_unreadable_ones_listed(qtbot, window, tmp_path):
    good = tmp_path / "seven.png"
    Image.fromarray(np.pad(np.full((12, 4), 255, np.uint8), 8)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with qtbot.waitSignal(window.session.warned, timeout=LOAD_TIMEOUT_MS):
        drop_files(window, [good, bad])
    assert window.session.batch.names[-1] == "seven.png"
    assert window.images_panel.list.count() == SAMPLE_COUNT + 1
    assert "bad.png" in window.last_message


def test_bars_and_batch_table_after_a_run_on_all_images(qtbot, window):
    set_pgd(window, eps=0.1, steps=10, run_on_all=True)  # a small budget: some digits may hold
    result = run_and_wait(qtbot, window)

    natural, adversarial = window.attack.bars.values()
    for heights in (natural, adversarial):
        assert heights.shape == (5,) and np.all((heights >= 0) & (heights <= 1))
    selected = window.session.selected
    assert natural.max() == pytest.approx(float(window.session.probs[selected].max()), abs=1e-6)
    assert adversarial.sum() > 0

    fooled = result.fooled
    assert f"fooled {int(fooled.sum())}/{len(fooled)}" in window.attack.batch_table.summary.text()
    table = window.attack.batch_table.table
    assert table.rowCount() == SAMPLE_COUNT
    assert [table.item(row, 3).text() == "yes" for row in range(table.rowCount())] == fooled.tolist()

    # a click on a row shows that image in the views
    table.setCurrentCell(2, 0)
    assert window.session.selected == 2
    np.testing.assert_allclose(window.attack.triptych.adversarial.item.image, result.adversarial[2, 0].numpy(),
                               atol=1e-6)


def test_selecting_another_image_mid_run_watches_it(qtbot, window):
    start_long_run(qtbot, window)
    window.images_panel.list.setCurrentRow(2)
    assert window.run_model.control.watched == [2]
    qtbot.waitUntil(lambda: window.run_model.adversarial_of(2) is not None, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS):
        window.run_model.stop()


def test_a_runtime_error_in_a_computation_is_reported_not_swallowed(qtbot):
    # torch raises most of its errors as RuntimeError: they must reach the user as a message
    def broken():
        yield 1
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    job = Job(broken())
    with qtbot.waitSignal(job.done, timeout=5000):
        with qtbot.waitSignal(job.failed, timeout=5000) as failed:
            job.start()
    assert failed.args[0] == "RuntimeError: mat1 and mat2 shapes cannot be multiplied"
    assert not job.running


def test_garbage_is_collected_in_the_gui_thread_while_a_job_runs(qtbot):
    # Python's collector freeing Qt objects inside a worker thread deadlocked it against the GUI thread; the
    # cyclic garbage here stands for a closed window's widgets, and the job allocates enough to trigger it
    freed_in = []

    class Node:
        pass

    def leave_cyclic_garbage():
        node = Node()
        node.itself = node
        weakref.finalize(node, lambda: freed_in.append(threading.current_thread()))

    def allocating():
        for _ in range(30):
            yield len([[] for _ in range(20_000)])

    leave_cyclic_garbage()
    job = Job(allocating())
    with qtbot.waitSignal(job.done, timeout=20_000):
        job.start()
        assert not gc.isenabled()
    qtbot.waitUntil(gc.isenabled, timeout=5000)  # automatic collection is back once no job runs
    gc.collect()
    assert freed_in == [threading.main_thread()]


def test_export_writes_files_and_reports(qtbot, window, tmp_path):
    set_pgd(window, eps=0.3, steps=20)
    run_and_wait(qtbot, window)
    assert window.attack_panel.export_button.isEnabled()
    window.attack.export_to(tmp_path / "out")
    qtbot.waitUntil(lambda: not window.attack.exporting, timeout=RUN_TIMEOUT_MS)
    assert (tmp_path / "out" / "metrics.csv").exists()
    assert window.last_message.startswith("Exported")


def test_a_file_that_is_not_a_model_shows_a_message_and_keeps_the_model(qtbot, window, tmp_path):
    garbage = tmp_path / "weights.pt"
    garbage.write_bytes(os.urandom(300))
    model = window.session.model
    with qtbot.waitSignal(window.session.failed, timeout=LOAD_TIMEOUT_MS) as failed:
        window.session.load_model(str(garbage), "cpu", "resnet18")
    assert "weights.pt" in failed.args[0] and "Traceback" not in failed.args[0]
    qtbot.waitUntil(lambda: not window.session.busy, timeout=LOAD_TIMEOUT_MS)
    assert window.session.model is model and window.session.batch is not None


def test_a_model_file_that_could_run_code_is_loaded_only_after_the_user_agrees(qtbot, window, tmp_path):
    from PySide6.QtWidgets import QMessageBox

    from test_model_safety import _pickled_weight_pt2

    marker = tmp_path / "ran"
    evil = _pickled_weight_pt2(tmp_path, marker)
    model = window.session.model
    with qtbot.waitSignal(window.session.trust_requested, timeout=LOAD_TIMEOUT_MS):
        window.session.load_model(str(evil), "cpu")
    qtbot.waitUntil(lambda: not window.session.busy, timeout=LOAD_TIMEOUT_MS)
    assert not marker.exists() and window.session.model is model
    question = window.trust_question
    assert question is not None and "could run code" in question.text()
    question.button(QMessageBox.StandardButton.No).click()
    assert not marker.exists() and not window.session.busy
    with qtbot.waitSignal(window.session.trust_requested, timeout=LOAD_TIMEOUT_MS) as asked:
        window.session.load_model(str(evil), "cpu")
    qtbot.waitUntil(lambda: window.trust_question is not question, timeout=LOAD_TIMEOUT_MS)
    window.trust_question.button(QMessageBox.StandardButton.Yes).click()  # the user trusts the file: torch reads it
    qtbot.waitUntil(lambda: marker.exists() and not window.session.busy, timeout=LOAD_TIMEOUT_MS)
    assert asked.args[0].spec == str(evil)


def test_the_status_bar_follows_the_current_workspace(qtbot, window):
    start_long_run(qtbot, window)
    window.show_workspace("Playground")
    frozen = window.progress.value()
    qtbot.waitUntil(lambda: window.attack.report.value > frozen, timeout=RUN_TIMEOUT_MS)  # going on, unseen
    assert window.progress.value() == frozen
    assert not window.model_panel.load_button.isEnabled()  # the run still uses the loaded model and images
    window.show_workspace("Attack")
    assert window.progress.value() == window.attack.report.value
    assert window.progress.format() == "iteration %v / %m"
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS):
        window.attack.stop()
    assert window.status_label.text().startswith("PGD") and "stopped early" in window.status_label.text()
    assert window.model_panel.load_button.isEnabled()


def test_a_workspace_without_its_own_progress_shows_a_busy_bar_then_gives_it_back(qtbot, window):
    set_pgd(window, steps=5)
    run_and_wait(qtbot, window)
    assert window.progress.format() == "done: 5 iterations"
    workspace = window.show_workspace("Visualize")
    lines = []
    workspace.status.connect(lines.append)
    job = workspace.showcase()
    assert workspace.busy and window.progress.maximum() == 0  # a busy indicator while it works
    with qtbot.waitSignal(job.done, timeout=RUN_TIMEOUT_MS):
        pass
    qtbot.waitUntil(lambda: not workspace.busy, timeout=RUN_TIMEOUT_MS)
    assert window.progress.maximum() == 1 and window.progress.format() == ""  # idle, not the Attack run's bar
    assert lines and window.status_label.text() == lines[-1]  # the current workspace's line
    window.show_workspace("Attack")  # which gets its own bar back
    assert window.progress.format() == "done: 5 iterations" and window.progress.value() == 1


def test_the_curves_fit_one_iteration_and_a_low_probability(qtbot, window):
    panel = window.attack_panel
    panel.choose_attack("fgsm")
    panel.form.editor("eps").spin.setValue(0.001)  # far too small: the target's probability stays near 0
    panel.selected_radio.setChecked(True)
    panel.targeted_radio.setChecked(True)
    panel.target_combo.setEditText("7")
    run_and_wait(qtbot, window)
    curves = window.attack.curves
    low, high = curves.loss_plot.viewRange()[0]
    assert -1.5 <= low and high <= 2.5, (low, high)  # FGSM's one iteration, not -15..20
    top = curves.goal_plot.viewRange()[1][1]
    goal = curves.goal_curve.getData()[1]
    assert float(goal.max()) < 0.1 and top < 0.5 and top >= float(goal.max()), (top, goal)
