"""The Visualize workspace driven through its widgets (pytest-qt, offscreen): each of the six outputs shows a
picture, saliency covers the attacked image beside the natural one, Stop keeps a partial result, Export writes
PNG and .npy."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import Qt

RUN_TIMEOUT_MS = 60_000


@pytest.fixture
def workspace(qtbot, window):
    page = window.show_workspace("Visualize")
    qtbot.waitUntil(lambda: page.browser.layer is not None and page.outputs[1].run_button.isEnabled(),
                    timeout=RUN_TIMEOUT_MS)
    return page


def _start(qtbot, workspace, tab):
    qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    assert workspace.busy, workspace.status.text()
    return workspace.job


def click_run_and_wait(qtbot, workspace, tab):
    workspace.tabs.setCurrentWidget(tab)
    job = _start(qtbot, workspace, tab)
    with qtbot.waitSignal(job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert "failed" not in workspace.status.text(), workspace.status.text()


def shown(view) -> np.ndarray:
    assert view.item.image is not None, view.name
    return np.asarray(view.item.image)


def test_the_six_outputs_each_show_a_picture(qtbot, workspace):
    grid = shown(workspace.filters.view)
    assert grid.ndim == 2 and grid.max() == pytest.approx(1.0)
    assert "32 filters" in workspace.filters.view.title

    workspace.browser.choose("features.5")
    workspace.browser.channel.setValue(3)
    click_run_and_wait(qtbot, workspace, workspace.patches)
    found = workspace.patches.found
    assert found is not None and found.crops.shape[-2:] == (10, 10)
    assert len(workspace.patches.labels) == len(found.values) > 0
    assert "receptive field 10x10" in workspace.patches.view.label.text()

    click_run_and_wait(qtbot, workspace, workspace.saliency)
    for method in ("image", "saliency", "deconvnet", "guided-backprop", "overlay"):
        assert shown(workspace.saliency.views["natural", method]).size > 0

    workspace.class_model.rows["steps"].spin.setValue(30)
    workspace.target_box.setCurrentIndex(workspace.target_box.findData(4))
    click_run_and_wait(qtbot, workspace, workspace.class_model)
    assert workspace.class_model.result.targets.tolist() == [4]
    assert shown(workspace.class_model.output_view).shape == (28, 28)
    assert len(workspace.class_model.curve.curve.getData()[0]) == 30

    workspace.unit.rows["steps"].spin.setValue(30)
    click_run_and_wait(qtbot, workspace, workspace.unit)
    assert workspace.unit.result.final_scores[0] > workspace.unit.result.scores[0, 0]
    assert "features.5 channel 3" in workspace.unit.output_view.title

    workspace.deepdream.rows["steps"].spin.setValue(10)
    click_run_and_wait(qtbot, workspace, workspace.deepdream)
    dream, image = shown(workspace.deepdream.views[1]), shown(workspace.deepdream.views[0])
    assert dream.shape == image.shape == (28, 28) and not np.array_equal(dream, image)


def test_saliency_compares_the_natural_and_the_attacked_image(qtbot, window, workspace):
    window.show_workspace("Attack")
    window.attack_panel.choose_attack("pgd")
    window.attack_panel.selected_radio.setChecked(True)
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS):
        window.start_run()
    window.show_workspace("Visualize")

    click_run_and_wait(qtbot, workspace, workspace.saliency)

    tab = workspace.saliency
    adversarial = window.run_model.adversarial_of(window.session.selected)[0]
    np.testing.assert_allclose(shown(tab.views["adversarial", "image"]), adversarial[0], atol=1e-6)
    for which in ("natural", "adversarial"):
        overlay = shown(tab.views[which, "overlay"])
        assert overlay.shape == (28, 28, 3) and 0 <= overlay.min() and overlay.max() <= 1
    assert not np.array_equal(shown(tab.views["natural", "saliency"]), shown(tab.views["adversarial", "saliency"]))
    tab.overlay_method.setCurrentIndex(0)  # saliency instead of guided backprop, redrawn without a run
    assert "saliency over the image" in tab.views["natural", "overlay"].title


def test_stop_keeps_what_the_unit_reached_and_export_writes_png_and_npy(qtbot, workspace, tmp_path):
    tab = workspace.unit
    tab.rows["steps"].spin.setValue(100_000)
    workspace.tabs.setCurrentWidget(tab)
    job = _start(qtbot, workspace, tab)
    with qtbot.waitSignal(job.stepped, timeout=RUN_TIMEOUT_MS):
        pass
    assert tab.stop_button.isEnabled()
    with qtbot.waitSignal(job.done, timeout=5_000):
        qtbot.mouseClick(tab.stop_button, Qt.MouseButton.LeftButton)
    assert tab.result.stopped and 0 < len(tab.result.scores) < 100_000
    assert "(stopped)" in tab.output_view.title
    assert tab.run_button.isEnabled() and not tab.stop_button.isEnabled()

    files = tab.export_to(tmp_path)
    assert sorted(f.suffix for f in files) == [".npy", ".png"]
    saved = np.load(next(f for f in files if f.suffix == ".npy"))
    np.testing.assert_allclose(saved, tab.result.images[0].numpy())


def test_closing_the_window_mid_run_stops_the_visualization(qtbot, window, workspace):
    workspace.class_model.rows["steps"].spin.setValue(100_000)
    job = _start(qtbot, workspace, workspace.class_model)
    with qtbot.waitSignal(job.stepped, timeout=RUN_TIMEOUT_MS):
        pass
    workspace.shutdown()
    assert not job.running
