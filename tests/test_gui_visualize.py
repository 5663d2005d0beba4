"""The Visualize workspace driven through its widgets (pytest-qt, offscreen), built on a session as the shell
builds it: each of the six outputs shows a picture, saliency covers the attacked image the session publishes
beside the natural one, Stop ends a run within one step keeping what it reached, exports are written by a job,
and closing mid-run leaves no thread running."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading

import numpy as np
import pytest

from workspace_helpers import (RUN_TIMEOUT_MS, close_mid_run, export_and_wait, note_steps,
                               run_and_wait, shown_visualize_workspace, start, stop_and_wait)


@pytest.fixture
def workspace(qtbot):
    page = shown_visualize_workspace(qtbot)
    yield page
    page.shutdown()


def shown(view) -> np.ndarray:
    assert view.item.image is not None, view.name
    return np.asarray(view.item.image)


def test_the_six_outputs_each_show_a_picture(qtbot, workspace):
    grid = shown(workspace.filters.view)
    assert grid.ndim == 2 and grid.max() == pytest.approx(1.0)
    assert "32 filters" in workspace.filters.view.title

    workspace.browser.choose("features.5")
    workspace.browser.channel.setValue(3)
    run_and_wait(qtbot, workspace, workspace.patches)
    found = workspace.patches.found
    assert found is not None and found.crops.shape[-2:] == (10, 10)
    assert len(workspace.patches.labels) == len(found.values) > 0
    assert "receptive field 10x10" in workspace.patches.view.label.text()

    run_and_wait(qtbot, workspace, workspace.saliency)
    for method in ("image", "saliency", "deconvnet", "guided-backprop", "overlay"):
        assert shown(workspace.saliency.views["natural", method]).size > 0

    workspace.class_model.form.editor("steps").set_value(30)
    workspace.target_box.setCurrentIndex(workspace.target_box.findData(4))
    run_and_wait(qtbot, workspace, workspace.class_model)
    assert workspace.class_model.result.targets.tolist() == [4]
    assert shown(workspace.class_model.output_view).shape == (28, 28)
    assert len(workspace.class_model.curve.curve.getData()[0]) == 30

    workspace.unit.form.editor("steps").set_value(30)
    run_and_wait(qtbot, workspace, workspace.unit)
    assert workspace.unit.result.final_scores[0] > workspace.unit.result.scores[0, 0]
    assert "features.5 channel 3" in workspace.unit.output_view.title

    workspace.deepdream.form.editor("steps").set_value(10)
    run_and_wait(qtbot, workspace, workspace.deepdream)
    dream, image = shown(workspace.deepdream.views[1]), shown(workspace.deepdream.views[0])
    assert dream.shape == image.shape == (28, 28) and not np.array_equal(dream, image)


def test_the_receptive_fields_are_measured_off_the_gui_thread_and_the_newest_layer_wins(qtbot, workspace):
    from engine.visualize import receptive_field
    model = workspace.session.model
    expected = receptive_field(model, "features.2")  # before the hook: this one is measured in the test's thread
    qtbot.waitUntil(lambda: not workspace.fields.slot.busy, timeout=RUN_TIMEOUT_MS)  # the layer chosen at first
    threads = set()
    hook = model.module.register_forward_pre_hook(lambda *_: threads.add(threading.get_ident()))
    try:
        workspace.browser.choose("features.7")
        workspace.browser.choose("features.2")  # while features.7 is measured: it waits, and is the one drawn
        qtbot.waitUntil(lambda: "receptive field" in workspace.browser.field_note.text()
                        and not workspace.fields.slot.busy, timeout=RUN_TIMEOUT_MS)
    finally:
        hook.remove()
    assert threads and threading.get_ident() not in threads
    assert f"{expected.size[0]}x{expected.size[1]} px" in workspace.browser.field_note.text()


def test_saliency_compares_the_natural_and_the_attacked_image(qtbot, workspace):
    from engine.attacks import get_attack
    from engine.core import run_to_end
    session = workspace.session
    index = session.selected
    result = run_to_end(get_attack("pgd").fn(session.model, session.batch.images[index:index + 1]))
    adversarial = result.adversarial[0].numpy()
    session.publish_attacked(lambda i: (adversarial, None) if i == index else None)

    run_and_wait(qtbot, workspace, workspace.saliency)

    tab = workspace.saliency
    np.testing.assert_allclose(shown(tab.views["adversarial", "image"]), adversarial[0], atol=1e-6)
    for which in ("natural", "adversarial"):
        overlay = shown(tab.views[which, "overlay"])
        assert overlay.shape == (28, 28, 3) and 0 <= overlay.min() and overlay.max() <= 1
    assert not np.array_equal(shown(tab.views["natural", "saliency"]), shown(tab.views["adversarial", "saliency"]))
    tab.overlay_method.setCurrentIndex(0)  # saliency instead of guided backprop, redrawn without a run
    assert "saliency over the image" in tab.views["natural", "overlay"].title


def test_stop_ends_the_unit_within_one_step_and_a_job_writes_png_and_npy(qtbot, workspace, tmp_path,
                                                                          monkeypatch):
    tab = workspace.unit
    tab.form.editor("steps").set_value(100_000)
    produced = note_steps(workspace)
    stop_and_wait(qtbot, tab, start(qtbot, workspace, tab), produced)
    assert tab.result.stopped and 0 < len(tab.result.scores) < 100_000
    assert "(stopped)" in tab.output_view.title
    qtbot.waitUntil(lambda: tab.run_button.isEnabled() and not tab.stop_button.isEnabled(), timeout=5_000)

    writers = set()
    save = np.save
    monkeypatch.setattr(np, "save", lambda *args, **kwargs: (writers.add(threading.get_ident()),
                                                             save(*args, **kwargs)))
    export_and_wait(qtbot, workspace, tab, tmp_path)
    assert writers and threading.get_ident() not in writers
    assert sorted(f.suffix for f in tmp_path.iterdir()) == [".npy", ".png"]
    saved = np.load(next(tmp_path.glob("*.npy")))
    np.testing.assert_allclose(saved, tab.result.images[0].numpy())


def test_the_ascent_settings_are_the_engines_declarations_with_the_models_defaults(workspace):
    from engine.visualize import ascent_params
    for tab in (workspace.class_model, workspace.unit, workspace.deepdream):
        params = ascent_params(tab.kind)
        assert list(tab.form.editors) == list(tab.setting_names)
        defaults = params.defaults("mnist")
        assert tab.settings() == pytest.approx({name: defaults[name] for name in tab.setting_names})
        steps = tab.form.editor("steps").spin
        assert (steps.minimum(), steps.maximum()) == (params.param("steps").minimum, params.param("steps").maximum)
    assert workspace.class_model.settings()["start"] in ("zero", "mean")


def test_closing_the_window_mid_run_leaves_no_thread_running(qtbot, window):
    from gui.workspaces.protocol import Workspace
    page = window.show_workspace("Visualize")
    assert isinstance(page, Workspace) and page.title == "Visualize"
    qtbot.waitUntil(lambda: page.unit.run_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
    page.unit.form.editor("steps").set_value(100_000)
    close_mid_run(qtbot, window, start(qtbot, page, page.unit))
