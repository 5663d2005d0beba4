"""State that surprises no more (issue 16), driven through the real widgets (pytest-qt, offscreen): a run over a
dataset leaves the loaded images alone, the model field names the model actually loaded after a failed load,
the cross-model list shows the loaded model and refuses one of another input shape when it is added, the status
bar shows the current workspace whatever runs behind it, and thumbnail captions are readable."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from engine.data import ImageBatch, heldout_digits
from engine.universal.gallery import split_heldout
from gui.session import SAMPLES

from conftest import GUI_SAMPLE_COUNT

RUN_TIMEOUT_MS = 120_000
CHECK_TIMEOUT_MS = 60_000  # loading a model to add to the cross-model list (resnet18 random: ~3 s)


def click(qtbot, widget, pos=None):
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, **({} if pos is None else {"pos": pos}))


def click_row(qtbot, table, row: int) -> None:
    table.scrollToItem(table.item(row, 0))
    click(qtbot, table.viewport(), table.visualItemRect(table.item(row, 0)).center())


def click_thumbnail(qtbot, window, row: int) -> None:
    view = window.images_panel.list
    click(qtbot, view.viewport(), view.visualItemRect(view.item(row)).center())


def record_sources(monkeypatch) -> list:
    """From now on, the sources of every image read the session makes (and how many images each gave)."""
    import gui.session
    read, made = gui.session.read_images, []

    def recorded(model, sources, sample_count):
        loaded = read(model, sources, sample_count)
        made.append((list(sources), len(loaded.batch)))
        return loaded

    monkeypatch.setattr(gui.session, "read_images", recorded)
    return made


# --- 1. a run over a dataset keeps the loaded images ---------------------------------------------------------

def test_a_dataset_run_leaves_the_loaded_images_and_opens_its_own(qtbot, window, mnist_model, monkeypatch):
    session, attack = window.session, window.attack
    names = list(session.batch.names)
    made = record_sources(monkeypatch)
    panel = window.attack_panel
    panel.choose_attack("deepfool")
    panel.choose_dataset("heldout", 64)
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS):
        click(qtbot, panel.dataset_button)

    # the images column is as it was; the 64 digits were read for the run only
    assert session.batch.names == names and window.images_panel.list.count() == GUI_SAMPLE_COUNT
    assert session.sources == [SAMPLES] and session.verdicts == {}
    assert len(made) == 1 and made[0][1] == 64
    stats = attack.stats_view.stats
    expected = heldout_digits(mnist_model, 64)
    assert attack.shown.dataset.batch.names == expected.names and stats.dataset_size == 64

    # a row of the statistics opens the dataset's image with its attacked version; no thumbnail is selected
    table = attack.stats_view.table
    click_row(qtbot, table, 3)
    position = table.loaded_index(3)
    k = int(np.flatnonzero(stats.indices == position)[0])
    assert session.selected == -1 and window.images_panel.list.currentRow() == -1
    np.testing.assert_allclose(attack.triptych.natural.item.image, expected.images[position, 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(attack.triptych.adversarial.item.image, stats.result.adversarial[k, 0].numpy(),
                               atol=1e-6)
    assert expected.names[position] in attack.triptych.natural.label.text()

    # a thumbnail shows a loaded image again, which this run did not attack
    click_thumbnail(qtbot, window, 1)
    assert session.selected == 1 and not attack.shown.on_dataset
    np.testing.assert_allclose(attack.triptych.natural.item.image, session.batch.images[1, 0].numpy(), atol=1e-6)
    assert "not attacked yet" in attack.triptych.adversarial.title
    assert not attack.bars.values()[1].any() and session.attacked(1) is None

    # loading a model again converts the loaded images only, and the run and its images are forgotten
    made.clear()
    window.model_panel.set_spec("mnist-cnn")
    click(qtbot, window.model_panel.load_button)
    qtbot.waitUntil(lambda: not session.busy and session.batch is not None and bool(made), timeout=RUN_TIMEOUT_MS)
    assert made == [([SAMPLES], GUI_SAMPLE_COUNT)] and session.batch.names == names
    assert attack.shown.dataset is None and attack.stats_view.stats is None


# --- 2. the model field after a failed load ------------------------------------------------------------------

def test_after_a_failed_load_the_model_field_names_the_model_still_loaded(qtbot, window):
    panel = window.model_panel
    panel.set_spec("no-such-network")
    with qtbot.waitSignal(window.session.failed, timeout=RUN_TIMEOUT_MS):
        click(qtbot, panel.load_button)
    qtbot.waitUntil(lambda: not window.session.busy, timeout=RUN_TIMEOUT_MS)
    assert window.session.model.name == "mnist-cnn"
    assert panel.name_combo.currentText() == "mnist-cnn" and panel.spec() == "mnist-cnn"
    assert "no-such-network" in window.last_message and window._message_box.isVisible()  # the error stays said
    assert not window.session.busy and panel.load_button.isEnabled()


def test_a_model_file_refused_as_code_leaves_the_field_on_the_loaded_model(qtbot, window, tmp_path):
    from test_model_safety import _pickled_weight_pt2
    program = _pickled_weight_pt2(tmp_path, tmp_path / "ran")
    panel = window.model_panel
    panel.set_spec(str(program))
    with qtbot.waitSignal(window.session.trust_requested, timeout=RUN_TIMEOUT_MS):
        click(qtbot, panel.load_button)
    qtbot.waitUntil(lambda: window.trust_question is not None, timeout=RUN_TIMEOUT_MS)
    window.trust_question.button(QMessageBox.StandardButton.No).click()
    assert panel.name_combo.currentText() == "mnist-cnn" and window.session.model.name == "mnist-cnn"


# --- 3. the cross-model list ---------------------------------------------------------------------------------

def cross_model_tab(qtbot, window):
    workspace = window.show_workspace("Universal")
    qtbot.waitUntil(lambda: workspace.uap.run_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
    workspace.tabs.setCurrentWidget(workspace.cross_model)
    return workspace, workspace.cross_model


def test_the_cross_model_list_heads_with_the_loaded_model_and_follows_it(qtbot, window, mnist_model):
    import dataclasses
    _, tab = cross_model_tab(qtbot, window)
    first = tab.models.item(0)
    assert tab.models.count() == 1 and first.text().startswith("mnist-cnn")
    assert not first.flags() & Qt.ItemFlag.ItemIsUserCheckable  # always compared
    tab.models.setCurrentRow(0)
    click(qtbot, tab.remove_button)
    assert tab.models.count() == 1 and not tab.remove_button.isEnabled()

    window.session.use_model(dataclasses.replace(mnist_model, name="digits-b"))  # another model of one shape
    qtbot.waitUntil(lambda: not window.session.busy and window.session.model.name == "digits-b",
                    timeout=RUN_TIMEOUT_MS)
    assert tab.models.count() == 1 and tab.models.item(0).text().startswith("digits-b")


def test_a_model_of_another_input_shape_is_refused_when_added_and_loaded_in_a_job(qtbot, window, monkeypatch):
    import gui.workspaces.universal.computations as computations
    workspace, tab = cross_model_tab(qtbot, window)
    threads, load = set(), computations.load_model

    def recorded(*args, **kwargs):
        threads.add(threading.get_ident())
        return load(*args, **kwargs)

    monkeypatch.setattr(computations, "load_model", recorded)
    tab.spec_edit.setText("resnet18:random")
    qtbot.keyClick(tab.spec_edit, Qt.Key.Key_Return)
    assert [tab.models.item(row).text() for row in range(tab.models.count())] == ["mnist-cnn (loaded)"]
    assert tab.checks.busy and not tab.add_button.isEnabled()  # loading: the window goes on drawing
    qtbot.waitUntil(lambda: "not added" in workspace.status_line.text(), timeout=CHECK_TIMEOUT_MS)
    assert not tab.checks.busy and threads and threading.get_ident() not in threads
    assert tab.others == [] and tab.models.count() == 1
    line = workspace.status_line.text()
    assert "resnet18" in line and "3×224×224" in line and "1×28×28" in line and "not added" in line
    assert tab.spec_edit.text() == "resnet18:random"  # left to correct


def test_the_cross_model_table_has_each_models_clean_accuracy(qtbot, window, mnist_model, tmp_path):
    workspace, tab = cross_model_tab(qtbot, window)
    model_file = tmp_path / "digits.pt"
    torch.jit.trace(mnist_model.module, torch.rand(2, 1, 28, 28)).save(str(model_file))
    tab.spec_edit.setText(str(model_file))
    qtbot.keyClick(tab.spec_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: tab.models.count() == 2, timeout=CHECK_TIMEOUT_MS)  # the loaded one, then this
    assert tab.models.item(1).checkState() == Qt.CheckState.Checked and tab.spec_edit.text() == ""
    workspace.choose_set("loaded")
    workspace.uap.settings.form.editor("passes").set_value(1)
    click(qtbot, tab.run_button)
    with qtbot.waitSignal(workspace.runs.job.done, timeout=RUN_TIMEOUT_MS):
        pass

    table = tab.table
    assert table.columnCount() == 3 and table.horizontalHeaderItem(2).text() == "clean accuracy"
    batch = window.session.batch  # the held-out samples, with their true labels
    _, measured = split_heldout(torch.arange(len(batch)), fraction=0.5)
    expected = float((mnist_model.predict(batch.images[measured])[1] == batch.labels[measured]).float().mean())
    assert [table.item(row, 2).text() for row in range(2)] == [f"{expected:.1%}"] * 2  # one network, twice


# --- 4. the status bar ---------------------------------------------------------------------------------------

def test_the_status_bar_shows_the_current_workspace_while_another_runs_behind_it(qtbot, window):
    panel = window.attack_panel
    panel.choose_attack("pgd")
    panel.form.editor("steps").spin.setValue(100_000)
    panel.all_radio.setChecked(True)
    with qtbot.waitSignal(window.run_model.stepped, timeout=RUN_TIMEOUT_MS):
        click(qtbot, panel.run_button)
    attack_line = window.status_label.text()
    assert attack_line.startswith("PGD") and window.progress.format() == "iteration %v / %m"

    workspace = window.show_workspace("Universal")  # built now: its own line, not the Attack run's
    bar = (window.progress.value(), window.progress.maximum(), window.progress.format())
    assert window.status_label.text() != attack_line and bar[2] != "iteration %v / %m"
    seen = window.attack.report.value
    qtbot.waitUntil(lambda: window.attack.report.value > seen + 5, timeout=RUN_TIMEOUT_MS)  # going on, unseen
    assert (window.progress.value(), window.progress.maximum(), window.progress.format()) == bar

    workspace.choose_set("loaded")
    workspace.uap.settings.form.editor("passes").set_value(1)
    click(qtbot, workspace.uap.run_button)
    assert window.progress.maximum() == 0  # the Universal run's busy indicator
    with qtbot.waitSignal(workspace.runs.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert window.status_label.text() == workspace.status_line.text() == "UAP: done"
    assert window.progress.maximum() == 1 and window.progress.format() == ""  # not the Attack run's bar

    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS):
        window.attack.stop()  # its end, said behind the Universal workspace, changes nothing shown
    assert window.status_label.text() == "UAP: done" and window.progress.format() == ""
    window.show_workspace("Attack")
    assert "stopped early" in window.status_label.text()
    assert window.progress.format().startswith("stopped at iteration")


# --- 5. thumbnail captions -----------------------------------------------------------------------------------

IMAGENET_NAMES = ("bull mastiff", "black-and-tan coonhound", "German short-haired pointer", "ox", "Granny Smith")


def test_thumbnail_captions_keep_the_name_and_the_probability_readable(qtbot, window):
    from gui.session import Verdict
    # the column at its default width (270 pixels with the window of the fixture)
    panel, count = window.images_panel, len(IMAGENET_NAMES)
    probs = torch.eye(count) * 0.02 + (1 - torch.eye(count)) * 0.001
    batch = ImageBatch(torch.rand(count, 3, 16, 16), [f"photo{i}.jpg" for i in range(count)])
    panel.show_images(batch, probs, IMAGENET_NAMES)
    panel.show_outcomes({i: Verdict((i + 1) % count, 0.9, True) for i in range(count)}, IMAGENET_NAMES)

    view = panel.list
    metrics, cell = view.fontMetrics(), view.gridSize()
    assert view.viewport().width() >= 3 * cell.width()  # three thumbnails across
    captions = [view.item(i).text() for i in range(count)]
    assert captions[0].split("\n")[:2] == ["bull mastiff", "2%"]  # whole, not "bull m… 2%"
    assert captions[1].startswith("black-and-\ntan") and captions[3].startswith("ox 2%")
    for i, caption in enumerate(captions):
        lines = caption.split("\n")
        assert lines[-2].endswith("2%") and lines[-1].startswith("→")  # the probability always stays
        assert all(metrics.horizontalAdvance(line) <= cell.width() - 6 for line in lines)
        assert len(lines) <= 3 and view.iconSize().height() + len(lines) * metrics.lineSpacing() < cell.height()
        tooltip = view.item(i).toolTip()
        assert IMAGENET_NAMES[i] in tooltip and IMAGENET_NAMES[(i + 1) % count] in tooltip
