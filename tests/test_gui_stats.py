"""Runs over a dataset and their statistics view, the ADef field overlay, and ADef on an ImageNet-sized model,
driven through the real widgets (pytest-qt, offscreen)."""
import inspect
import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from engine.data import heldout_digits
from gui.jobs import running_jobs

DATASET_COUNT = 64
LOAD_TIMEOUT_MS = 60_000
RUN_TIMEOUT_MS = 60_000


def click(qtbot, widget, pos=None):
    if pos is None:
        qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)
    else:
        qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)


def run_selected(qtbot, window, row: int):
    window.images_panel.list.setCurrentRow(row)
    window.attack_panel.selected_radio.setChecked(True)
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS) as finished:
        click(qtbot, window.attack_panel.run_button)
    return finished.args[0]


def arrows_of(curve) -> np.ndarray:
    """The drawn segments as (arrows, 3 strokes, 2 ends, xy): shaft, then the two strokes of the head."""
    xs, ys = curve.getData()
    return np.stack([xs, ys], axis=1).reshape(-1, 3, 2, 2)


def click_row(qtbot, table, row: int) -> None:
    table.scrollToItem(table.item(row, 0))
    click(qtbot, table.viewport(), table.visualItemRect(table.item(row, 0)).center())


def test_the_adef_field_is_one_curve_of_segments_that_can_be_hidden(qtbot, window, tmp_path):
    window.attack_panel.choose_attack("adef")
    run_selected(qtbot, window, 1)

    triptych = window.attack.triptych
    curve, check = triptych.field_curve, triptych.field_bar.check
    xs, ys = curve.getData()
    assert curve.opts["connect"] == "pairs"
    assert len(xs) > 0 and len(xs) % 2 == 0 and len(xs) == len(ys)
    # each shaft starts at a pixel centre and ends where that pixel samples from, at the shown length factor
    field = window.run_model.field_of(1)
    shafts = arrows_of(curve)[:, 0]
    cols, rows = (shafts[:, 0, 0] - 0.5).astype(int), (shafts[:, 0, 1] - 0.5).astype(int)
    np.testing.assert_allclose(shafts[:, 0] - 0.5, np.stack([cols, rows], axis=1))
    scale = triptych.arrows.scale
    np.testing.assert_allclose(shafts[:, 1, 0] - shafts[:, 0, 0], scale * field[0, rows, cols], atol=1e-4)
    np.testing.assert_allclose(shafts[:, 1, 1] - shafts[:, 0, 1], scale * field[1, rows, cols], atol=1e-4)

    assert check.isEnabled() and check.isChecked() and curve.isVisible()
    click(qtbot, check)
    assert not check.isChecked() and not curve.isVisible()
    click(qtbot, check)
    assert curve.isVisible()

    # zoomed to pixel level the grid thins no more: an arrow from every (deformed) pixel in view
    triptych.natural.plot.vb.setRange(xRange=(8, 16), yRange=(8, 16), padding=0)
    (x_min, x_max), (y_min, y_max) = triptych.adversarial.plot.vb.viewRange()
    assert triptych.arrows.stride == 1
    starts = arrows_of(curve)[:, 0, 0]
    assert len(starts) and np.all((starts[:, 0] > x_min - 1) & (starts[:, 0] < x_max + 1))
    assert np.all((starts[:, 1] > y_min - 1) & (starts[:, 1] < y_max + 1))
    assert "every pixel" in triptych.field_bar.note.text()

    assert window.attack.save_field_view_to(tmp_path / "field_view")  # written by a job
    qtbot.waitUntil(lambda: not window.attack.exporting, timeout=RUN_TIMEOUT_MS)
    assert "Saved the field view" in window.status_label.text()
    image = QImage(str(tmp_path / "field_view.png"))
    assert not image.isNull() and image.width() > triptych.adversarial.widget.width()
    assert not window.attack.save_field_view_to(tmp_path / "missing" / "field_view.png")
    assert "Could not save the field view" in window.last_message


def test_statistics_over_64_heldout_digits_match_the_engine(qtbot, window, mnist_model, tmp_path):
    panel = window.attack_panel
    panel.choose_attack("deepfool")
    panel.choose_dataset("heldout", DATASET_COUNT)
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS):
        click(qtbot, panel.dataset_button)

    view = window.attack.stats_view
    stats = view.stats
    assert stats is window.run_model.stats and window.attack.bottom_tabs.currentWidget() is view
    # the dataset is the first 64 held-out digits, held by the workspace beside the samples; the correct ones
    # attacked
    expected = heldout_digits(mnist_model, DATASET_COUNT)
    assert window.attack.shown.dataset.batch.names == expected.names
    _, predictions = mnist_model.predict(expected.images)
    correct = (predictions == expected.labels).numpy()
    assert stats.accuracy == pytest.approx(correct.mean())
    np.testing.assert_array_equal(stats.indices, np.flatnonzero(correct))
    assert stats.success_rate == pytest.approx(stats.result.fooled.numpy().mean())

    assert f"{100 * stats.success_rate:.1f}%" in view.success_label.text()
    assert f"{100 * stats.accuracy:.1f}%" in view.accuracy_label.text()
    assert f"{stats.mean_iterations:.2f}" in view.iterations_label.text()
    heights = np.asarray(view.histogram.bars.opts["height"])
    assert heights.sum() == stats.fooled.sum()  # every successful perturbation in one BarGraphItem

    # the threshold line starts at the median L2 of the successful ones; moving it updates the label
    assert stats.size_name == "L2"
    assert view.threshold == pytest.approx(np.median(stats.sizes[stats.fooled]))
    for threshold in (0.5 * view.threshold, float(stats.sizes.max()), 0.0):
        with qtbot.waitSignal(view.histogram.line.sigPositionChanged, timeout=1000):
            view.histogram.line.setValue(threshold)
        assert f"{100 * stats.success_under(threshold):.1f}%" in view.threshold_label.text()
        assert f"≤ {threshold:.3f}" in view.threshold_label.text()
    assert "0.0%" in view.threshold_label.text()

    # a click on a row opens that image in the side-by-side view
    table = view.table
    assert table.rowCount() == len(stats.names)
    click_row(qtbot, table, 5)
    loaded = table.loaded_index(5)
    k = int(np.flatnonzero(stats.indices == loaded)[0])  # the dataset was read as it is: positions = indices
    assert window.attack.shown.selected == loaded and table.item(5, 0).text() == stats.names[k]
    np.testing.assert_allclose(window.attack.triptych.natural.item.image, expected.images[loaded, 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(window.attack.triptych.adversarial.item.image, stats.result.adversarial[k, 0].numpy(),
                               atol=1e-6)

    # sorted by size, the first row is the smallest perturbation
    table.sortItems(3, Qt.SortOrder.AscendingOrder)
    click_row(qtbot, table, 0)
    assert window.attack.shown.selected == stats.indices[int(np.argmin(stats.sizes))]

    assert window.attack.export_statistics_to(tmp_path)  # written by a job
    qtbot.waitUntil(lambda: not window.attack.exporting, timeout=RUN_TIMEOUT_MS)
    assert window.last_message.startswith("Exported")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["histogram.png", "statistics.csv", "summary.json"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["table"]["success"] == pytest.approx(stats.success_rate, abs=1e-4)
    assert QImage(str(tmp_path / "histogram.png")).width() >= 1000


def test_an_adef_dataset_run_stops_and_shows_the_3_pixel_threshold(qtbot, window):
    panel = window.attack_panel
    panel.choose_attack("adef")
    panel.form.editor("preset").combo.setCurrentText("mnist")
    panel.choose_dataset("heldout")  # all 1000: far more than the test waits for
    with qtbot.waitSignal(window.run_model.progressed, timeout=RUN_TIMEOUT_MS):
        click(qtbot, panel.dataset_button)
    assert len(window.attack.shown.dataset.batch) == 1000 and panel.stop_button.isEnabled()
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS):
        click(qtbot, panel.stop_button)

    stats = window.attack.stats_view.stats
    assert stats.result.stopped and len(stats.fooled) < 1000
    assert "stopped early" in window.attack.stats_view.title.text()
    assert stats.size_name == "tau_T" and window.attack.stats_view.threshold == 3.0
    label = window.attack.stats_view.threshold_label.text()
    assert f"{100 * stats.success_under(3.0):.1f}%" in label and "≤ 3.00 px" in label
    click_row(qtbot, window.attack.stats_view.table, 2)
    k = int(np.flatnonzero(stats.indices == window.attack.shown.selected)[0])
    np.testing.assert_array_equal(window.attack.triptych.field, stats.result.extras["field"][k])
    assert window.attack_panel.dataset_button.isEnabled()


@pytest.mark.parametrize("name,side", [("inception_v3:random", 299), ("resnet101:random", 224)])
def test_adef_on_a_photograph_with_an_imagenet_sized_model_shows_the_field(qtbot, window, name, side):
    window.model_panel.set_spec(name)
    click(qtbot, window.model_panel.load_button)
    qtbot.waitUntil(lambda: not window.session.busy and window.session.model.name == name
                    and window.session.batch is not None, timeout=LOAD_TIMEOUT_MS)
    panel = window.attack_panel
    panel.choose_attack("adef")
    panel.form.editor("max_iter").spin.setValue(2)
    run_selected(qtbot, window, 1)

    assert window.attack.triptych.natural.item.image.shape == (side, side, 3)
    field = window.run_model.field_of(1)
    assert field.shape == (2, side, side) and np.abs(field).max() > 0
    xs, _ = window.attack.triptych.field_curve.getData()
    assert len(xs) > 0 and len(xs) % 2 == 0
    assert len(xs) // 6 <= 21 * 21  # decimated: about 20 arrows per side, not one per pixel
    assert window.attack.triptych.field_curve.isVisible() and window.attack.triptych.field_bar.save_button.isEnabled()


def test_a_folder_dataset_without_labels_attacks_every_image(qtbot, window, mnist_model, tmp_path):
    digits = heldout_digits(mnist_model, 3)
    for i, image in enumerate(digits.images):
        QImage(np.ascontiguousarray((image[0].numpy() * 255).astype(np.uint8)).data, 28, 28, 28,
               QImage.Format.Format_Grayscale8).save(str(tmp_path / f"digit{i}.png"))
    panel = window.attack_panel
    panel.choose_attack("deepfool")
    panel.set_dataset_folder(str(tmp_path))
    panel.count_spin.setValue(2)
    assert panel.dataset_combo.currentText() == f"folder: {tmp_path.name}"
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS):
        click(qtbot, panel.dataset_button)

    stats = window.attack.stats_view.stats
    assert window.attack.shown.dataset.batch.names == ["digit0.png", "digit1.png"]
    assert stats.accuracy is None and stats.names == ["digit0.png", "digit1.png"]
    assert "no labels" in window.attack.stats_view.accuracy_label.text()
    assert f"{100 * stats.success_rate:.1f}%" in window.attack.stats_view.success_label.text()


def test_closing_the_window_mid_dataset_run_leaves_no_thread_running(qtbot, window):
    panel = window.attack_panel
    panel.choose_attack("adef")
    panel.choose_dataset("heldout")
    with qtbot.waitSignal(window.run_model.progressed, timeout=RUN_TIMEOUT_MS):
        click(qtbot, panel.dataset_button)
    window.close()
    assert running_jobs() == 0
    assert inspect.getgeneratorstate(window.run_model.generator) == inspect.GEN_CLOSED
