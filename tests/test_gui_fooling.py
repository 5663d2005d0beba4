"""The Fooling workspace driven through its widgets (pytest-qt, offscreen): a run fills the archive grid and
draws one point per generation; Stop keeps the archive and Resume reaches the archive of an uninterrupted run
with the same seed (also from an exported file); a wrong setting is one message and nothing starts; Export
writes files that reload; a second model's agreement is shown per cell and in all; a clicked elite is shown
beside held-out digits of its class; gradient ascent runs and cannot be resumed; the ImageNet path (direct and
CPPN on resnet18:random at 224 x 224) completes; the window holds the workspace and closing it mid-run leaves
nothing running."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from engine.core.run import run_to_end
from engine.fooling.export import confidence_text, second_opinion
from engine.fooling.runs import fooling_run
from workspace_helpers import RUN_TIMEOUT_MS, close_mid_run, loaded_session, shown_on_screen

SMALL = {"initial_population": 20, "population": 20, "generations": 6}  # about a second on the digit model
DIGITS = list(range(10))


@pytest.fixture
def session(qtbot):
    return loaded_session(qtbot)


@pytest.fixture
def fooling(qtbot, session):
    from gui.workspaces.fooling import FoolingWorkspace

    workspace = shown_on_screen(qtbot, FoolingWorkspace(session))
    workspace.said = []
    workspace.message.connect(lambda text, *_: workspace.said.append(text))
    yield workspace
    workspace.shutdown()


def click_and_wait(qtbot, workspace, button, slot=None) -> list:
    """Click, wait for the job; the steps it delivered."""
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    slot = slot or workspace.slot
    assert slot.busy, workspace.said
    steps = []
    slot.job.stepped.connect(steps.append)  # delivered by the event loop: none is missed
    with qtbot.waitSignal(slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert not workspace.said, workspace.said
    return steps


def run_small(qtbot, workspace, **values):
    workspace.controls.fill({**SMALL, **values})
    click_and_wait(qtbot, workspace, workspace.controls.run_button)
    return workspace.result


def refused_at_once(qtbot, workspace, act) -> str:
    with qtbot.waitSignal(workspace.message, timeout=5_000) as said:
        act()
    assert not workspace.slot.busy
    return said.args[0]


def engine_run(model, generations, **values):
    """The uninterrupted run the GUI's must equal."""
    return run_to_end(fooling_run(model, "direct", DIGITS, {**SMALL, **values, "generations": generations})).archive


def test_a_run_fills_the_grid_and_draws_one_point_per_generation(qtbot, fooling, session):
    said = []
    fooling.status.connect(said.append)
    result = run_small(qtbot, fooling)
    archive = result.archive
    assert result.method == "direct" and archive.generation == 6 and archive.classes.tolist() == DIGITS
    grid = fooling.grid
    assert [cell.title for cell in grid.cells] == [str(d) for d in DIGITS]
    assert all(cell.pixmap is not None and cell.pixmap.width() == 28 for cell in grid.cells)
    assert np.array_equal(grid.drawn_images, archive.images.numpy())
    assert [cell.confidence for cell in grid.cells] == pytest.approx(archive.confidence.tolist())
    xs, means = fooling.curves.mean.getData()
    _, medians = fooling.curves.median.getData()
    assert list(xs) == list(range(7))  # generation 0 (the initial population) to 6
    mean, median = archive.summary()
    assert means[-1] == pytest.approx(mean, abs=1e-6) and medians[-1] == pytest.approx(median, abs=1e-6)
    assert means[-1] > means[0]  # the archive only improves
    assert any(text.startswith("generation ") and "generations/s" in text for text in said)
    assert "6 / 6" in fooling.status_line.text() and "generation 6 of 6" in fooling.controls.summary.text()
    assert fooling.controls.resume_button.isEnabled() and fooling.controls.export_button.isEnabled()
    # another model in the window: the archive (someone else's) goes
    session.use_model(session.model)
    qtbot.waitUntil(lambda: fooling.result is None and not session.busy, timeout=RUN_TIMEOUT_MS)
    assert not grid.cells and not fooling.controls.resume_button.isEnabled()


def test_stop_keeps_the_archive_and_resume_reaches_the_uninterrupted_archive(qtbot, fooling, session):
    c = fooling.controls
    c.fill({**SMALL, "initial_population": 10, "population": 10, "generations": 100_000})
    qtbot.mouseClick(c.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(fooling.curves.xs) >= 3, timeout=RUN_TIMEOUT_MS)
    assert c.stop_button.isEnabled() and not c.resume_button.isEnabled()
    with qtbot.waitSignal(fooling.slot.job.done, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(c.stop_button, Qt.MouseButton.LeftButton)
    stopped = fooling.result.archive.generation
    assert 2 <= stopped < 100_000 and len(fooling.result.archive.history) == stopped + 1
    assert "stopped" in fooling.status_line.text() and c.resume_button.isEnabled()
    # Resume with the generations already reached says so instead of doing nothing
    c.fill({"generations": stopped})
    assert f"set generations above {stopped}" in refused_at_once(qtbot, fooling, c.resume_button.click)
    fooling.said.clear()
    c.fill({"generations": stopped + 4})
    steps = click_and_wait(qtbot, fooling, c.resume_button)
    assert [step.generation for step in steps] == list(range(stopped + 1, stopped + 5))  # continued, not redone
    archive = fooling.result.archive
    assert archive.generation == stopped + 4
    assert list(fooling.curves.mean.getData()[0]) == list(range(stopped + 5))  # one point per generation
    alone = engine_run(session.model, stopped + 4, initial_population=10, population=10)
    assert torch.equal(archive.images, alone.images) and torch.equal(archive.confidence, alone.confidence)
    assert torch.equal(archive.found, alone.found)


def test_a_wrong_setting_is_one_message_and_nothing_starts(qtbot, fooling):
    c = fooling.controls
    c.fill({"population": 5})
    assert "population must be even" in refused_at_once(qtbot, fooling, c.run_button.click)
    c.fill({"population": 20})
    c.classes_edit.setText("0-12")
    assert "within 0..9" in c.classes_hint.text()
    assert "classes" in refused_at_once(qtbot, fooling, c.run_button.click)
    assert fooling.result is None and not fooling.grid.cells
    assert "Nothing to resume" in refused_at_once(qtbot, fooling, fooling.resume)
    assert "Nothing to export" in refused_at_once(qtbot, fooling, lambda: fooling.export_to("/tmp"))


def test_the_second_model_shows_its_verdict_and_a_cell_its_real_digits(qtbot, fooling, session):
    archive = run_small(qtbot, fooling).archive
    fooling.controls.second_edit.setText("mnist-cnn")  # the same network: its verdict is known exactly
    click_and_wait(qtbot, fooling, fooling.controls.load_second_button, fooling.model_slot)
    qtbot.waitUntil(lambda: fooling.opinion is not None, timeout=RUN_TIMEOUT_MS)
    expected = second_opinion(session.model, archive.images, archive.classes)
    assert np.array_equal(fooling.opinion.agrees, expected.agrees)
    assert fooling.opinion.probability == pytest.approx(archive.confidence.numpy(), abs=1e-5)
    agreed = int(expected.agrees.sum())
    assert f"gives {agreed} of 10 elites their class ({agreed / 10:.0%})" in fooling.opinion_line.text()
    for index, cell in enumerate(fooling.grid.cells):
        assert cell.verdict == (f"2nd: {int(expected.predicted[index])} · "
                                f"{confidence_text(float(expected.probability[index]))}")
    # a click on a cell: its elite beside held-out digits of its class, read in a job
    grid = fooling.grid
    point = grid.cell_rect(3).center()
    qtbot.mouseClick(grid.canvas, Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: fooling.elite_view.real_count > 0, timeout=RUN_TIMEOUT_MS)
    assert grid.selected == 3 and fooling.elite_view.real_count == 8
    assert "8 held-out digits of 3" in fooling.elite_view.real.title
    assert confidence_text(float(archive.confidence[3])) in fooling.elite_view.elite.title
    # a model of other classes is refused with one line
    with qtbot.waitSignal(fooling.message, timeout=RUN_TIMEOUT_MS) as said:
        fooling.load_second_model("resnet18:random")
    assert "has 1000 classes" in said.args[0] and "\n" not in said.args[0]
    assert fooling.other.name == "mnist-cnn"  # the model loaded before stays
    qtbot.mouseClick(fooling.controls.forget_second_button, Qt.MouseButton.LeftButton)
    assert fooling.opinion is None and all(cell.verdict == "" for cell in grid.cells)
    assert not fooling.opinion_line.isVisible()


def test_export_writes_files_that_reload_and_resume_from_file_continues_them(qtbot, fooling, session, tmp_path):
    archive = run_small(qtbot, fooling, generations=3).archive
    assert fooling.load_second_model("mnist-cnn")
    qtbot.waitUntil(lambda: fooling.other is not None, timeout=RUN_TIMEOUT_MS)
    out = tmp_path / "fooled"
    assert fooling.export_to(str(out))
    with qtbot.waitSignal(fooling.export_slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert not fooling.said and (out / "elites.npz") in fooling.exported
    with np.load(out / "elites.npz") as saved:
        assert saved["images"].dtype == np.float32 and saved["images"].shape == (10, 1, 28, 28)
        assert saved["classes"].tolist() == DIGITS
        assert saved["confidence"] == pytest.approx(archive.confidence.numpy())
    assert len(list(out.glob("class_*.png"))) == 10 and (out / "contact_sheet.png").exists()
    header = (out / "elites.csv").read_text().splitlines()[0]
    assert "other_model" in header and "other_agrees" in header
    assert len((out / "confidence.csv").read_text().splitlines()) == 1 + 4  # a header, generations 0..3
    # a file where the folder should be: one message, nothing written
    (tmp_path / "a_file").write_text("x")
    with qtbot.waitSignal(fooling.message, timeout=RUN_TIMEOUT_MS) as said:
        fooling.export_to(str(tmp_path / "a_file"))
    assert "is a file" in said.args[0]
    # the exported archive continued up to 5 generations is the uninterrupted run's
    fooling.controls.fill({"generations": 5})
    assert fooling.resume_from_file(str(out / "elites.npz"))
    steps = []
    fooling.slot.job.stepped.connect(steps.append)
    with qtbot.waitSignal(fooling.slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert [getattr(step, "generation", None) for step in steps] == [3, 4, 5]  # the archive read, then 4 and 5
    resumed = fooling.result.archive
    alone = engine_run(session.model, 5)
    assert resumed.generation == 5 and torch.equal(resumed.images, alone.images)
    assert list(fooling.curves.mean.getData()[0]) == list(range(6))
    qtbot.waitUntil(lambda: fooling.opinion is not None, timeout=RUN_TIMEOUT_MS)  # the new archive's verdict


def test_gradient_ascent_runs_and_cannot_be_resumed(qtbot, fooling):
    c = fooling.controls
    c.choose_method("gradient")
    assert not c.resume_file_button.isEnabled()
    c.classes_edit.setText("3,5")
    c.fill({"steps": 5})
    click_and_wait(qtbot, fooling, c.run_button)
    archive = fooling.result.archive
    assert archive.classes.tolist() == [3, 5] and len(fooling.grid.cells) == 2
    assert list(fooling.curves.mean.getData()[0]) == [1, 2, 3, 4, 5]  # a point per step done
    assert fooling.curves.getPlotItem().getAxis("bottom").labelText == "step"
    assert not c.resume_button.isEnabled() and "cannot be resumed" in c.resume_button.toolTip()
    assert "first step reaching" in c.summary.text()


@pytest.mark.timeout(240)  # slow-ish: two short evolutions at 224 x 224 (about 30 s on a busy 2-core CPU)
def test_the_imagenet_path_direct_and_cppn_on_a_random_resnet(qtbot):
    from gui.workspaces.fooling import FoolingWorkspace

    session = loaded_session(qtbot, "resnet18:random")
    fooling = shown_on_screen(qtbot, FoolingWorkspace(session))
    said = []
    fooling.message.connect(lambda text, *_: said.append(text))
    try:
        assert fooling.controls.classes_edit.text() == "9,145,327,429,546,779"  # a few classes by default
        assert fooling.controls.values()["population"] == 400  # the ImageNet defaults
        fooling.controls.classes_edit.setText("1,207,954")
        for method in ("direct", "cppn"):
            fooling.controls.choose_method(method)
            fooling.controls.fill({"initial_population": 8, "population": 8, "generations": 5, "batch_size": 8})
            assert fooling.run(), said
            with qtbot.waitSignal(fooling.slot.job.done, timeout=RUN_TIMEOUT_MS):
                pass
            archive = fooling.result.archive
            assert not said and fooling.result.method == method and archive.generation == 5
            assert archive.images.shape == (3, 3, 224, 224) and archive.classes.tolist() == [1, 207, 954]
            assert [cell.title for cell in fooling.grid.cells] == ["1: goldfish", "207: golden retriever",
                                                                  "954: banana"]
            assert all(cell.pixmap is not None and cell.pixmap.width() == 224 for cell in fooling.grid.cells)
            assert list(fooling.curves.mean.getData()[0]) == list(range(6))
        fooling.open_cell(1)  # the loaded photographs: the real ones of the class, or a clear word that none are
        qtbot.waitUntil(lambda: "golden retriever" in fooling.elite_view.elite.title, timeout=5_000)
        real = fooling.elite_view.real.title
        assert "no real images of this class loaded" in real or "loaded images" in real
    finally:
        fooling.shutdown()


def test_the_window_holds_the_workspace_and_closing_it_mid_run_leaves_nothing_running(qtbot, window):
    from gui.workspaces.fooling import FoolingWorkspace

    fooling = window.show_workspace("Fooling")
    assert isinstance(fooling, FoolingWorkspace) and fooling.controls.classes_edit.text() == "0-9"
    fooling.controls.fill({**SMALL, "generations": 100_000})
    assert fooling.run()
    assert not window.model_panel.load_button.isEnabled()  # no model change under a run
    close_mid_run(qtbot, window, fooling.slot.job)
