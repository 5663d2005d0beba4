"""The Universal workspace driven through its widgets (pytest-qt, offscreen), built on a session as the shell
builds it: UAP shows v, its per-pass curve and the rates against noise; the targeted image streams delta (also
for an ImageNet-sized network) and the model's verdicts on the selected image come from a job; the gallery fills
in, resumes from its folder (read by the worker) and exports a page; the cross-model table fills; Stop keeps what
a run reached; exports are written by jobs; shutting down mid-run leaves no thread running."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt

from test_universal import _Links

from workspace_helpers import (RUN_TIMEOUT_MS, close_mid_run, export_and_wait, loaded_session, note_steps,
                               run_and_wait, shown_on_screen, start, stop_and_wait)


def open_workspace(qtbot, session):
    from gui.workspaces.universal import UniversalWorkspace
    page = shown_on_screen(qtbot, UniversalWorkspace(session))
    qtbot.waitUntil(lambda: page.uap.run_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
    return page


@pytest.fixture
def workspace(qtbot):
    page = open_workspace(qtbot, loaded_session(qtbot))
    yield page
    page.shutdown()


def record_threads(monkeypatch, owner, name: str) -> set:
    """Replace `owner.name` by a wrapper that notes which thread calls it."""
    threads = set()
    original = getattr(owner, name)

    def recorded(*args, **kwargs):
        threads.add(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return threads


def set_params(form, **values):
    for name, value in values.items():
        editor = form.form.editor(name)
        editor.set_value(value)


def test_uap_shows_v_the_curve_per_pass_and_the_rates_against_noise(qtbot, workspace):
    assert workspace.source().kind == "heldout"
    set_params(workspace.uap.settings, passes=2, delta=0.0)
    run_and_wait(qtbot, workspace, workspace.uap)
    result = workspace.uap.result
    assert result is not None and result.extras["perturbation"].shape == (1, 1, 28, 28)
    v_picture = np.asarray(workspace.uap.v_view.item.image)
    assert v_picture.shape == (28, 28, 3) and v_picture.std() > 0  # coloured, not blank
    assert workspace.uap.curve.values == pytest.approx(result.extras["fooling_rates"].tolist())
    assert len(workspace.uap.curve.values) == 2
    assert "held-out fooling rate" in workspace.uap.v_view.title and "random noise" in workspace.uap.v_view.label.text()
    assert workspace.uap.export_button.isEnabled()


def test_targeted_image_streams_delta_and_applies_it_to_the_selected_image(qtbot, workspace, tmp_path,
                                                                           monkeypatch):
    tab = workspace.targeted
    tab.target_box.setCurrentIndex(tab.target_box.findData(2))
    set_params(tab.settings, steps=60, eval_every=20)
    run_and_wait(qtbot, workspace, tab)
    assert tab.curve.xs == [20, 40, 60]
    assert tab.delta is not None and np.abs(tab.delta).max() < 0.3
    qtbot.waitUntil(lambda: tab.applied_view.item.image is not None and "%" in tab.applied_view.title,
                    timeout=RUN_TIMEOUT_MS)
    applied = np.asarray(tab.applied_view.item.image)
    natural = np.asarray(tab.natural_view.item.image)
    assert applied.shape == natural.shape == (28, 28) and not np.array_equal(applied, natural)

    writers = record_threads(monkeypatch, np, "save")
    export_and_wait(qtbot, workspace, tab, tmp_path)
    assert writers and threading.get_ident() not in writers
    assert np.allclose(np.load(tmp_path / "targeted_2_delta.npy"), tab.delta)
    assert {path.name for path in tmp_path.iterdir()} == {"targeted_2_delta.npy", "targeted_2_delta_amplified.png",
                                                          "targeted_2_delta_amplified.npy"}


def test_the_verdicts_on_a_newly_selected_image_come_from_a_job(qtbot, workspace):
    session, tab = workspace.session, workspace.targeted
    qtbot.waitUntil(lambda: tab.natural_view.item.image is not None and not tab.previews.slot.busy,
                    timeout=RUN_TIMEOUT_MS)
    threads = set()
    hook = session.model.module.register_forward_pre_hook(lambda *_: threads.add(threading.get_ident()))
    try:
        for index in (1, 2, 3):
            session.select(index)  # selections come faster than the job: only the newest is drawn last
        qtbot.waitUntil(lambda: not tab.previews.slot.busy and bool(threads), timeout=RUN_TIMEOUT_MS)
    finally:
        hook.remove()
    assert threading.get_ident() not in threads
    np.testing.assert_allclose(np.asarray(tab.natural_view.item.image), session.batch.images[3, 0].numpy(),
                               atol=1e-6)


def test_targeted_image_on_resnet18_at_224_shows_delta_updating(qtbot):
    """Acceptance: resnet18 with random weights, the sample photographs at 224x224, 20 steps, no error, and the
    GUI shows delta changing while it learns."""
    workspace = open_workspace(qtbot, loaded_session(qtbot, "resnet18:random"))
    assert workspace.source().kind == "loaded"
    tab = workspace.targeted
    tab.target_box.setCurrentIndex(tab.target_box.findData(1))
    set_params(tab.settings, steps=20, batch_size=4, eval_every=10)
    pictures = []
    workspace.tabs.setCurrentWidget(tab)
    job = start(qtbot, workspace, tab)
    job.stepped.connect(lambda step: pictures.append(np.array(tab.delta_view.item.image))
                        if step.frame is not None else None)
    with qtbot.waitSignal(job.done, timeout=RUN_TIMEOUT_MS * 3):
        pass
    assert "failed" not in workspace.status_line.text(), workspace.status_line.text()
    assert len(pictures) >= 2 and pictures[0].shape == (224, 224, 3)
    assert any(not np.array_equal(pictures[0], later) for later in pictures[1:])
    assert tab.curve.xs == [10, 20]
    assert tab.delta.shape == (3, 224, 224) and np.abs(tab.delta).max() < 10 / 255 + 1e-6
    workspace.shutdown()


def test_gallery_fills_in_resumes_from_its_folder_and_exports_a_page(qtbot, workspace, tmp_path, monkeypatch):
    from gui.workspaces.universal import computations
    gallery = workspace.gallery
    gallery.folder_edit.setText(str(tmp_path / "gallery"))
    gallery.classes_edit.setText("0-2")
    set_params(workspace.targeted.settings, steps=4, eval_every=2)
    run_and_wait(qtbot, workspace, gallery)
    assert gallery.grid.count() == 3 and sorted(gallery.entries) == [0, 1, 2]
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "gallery" / "classes").glob("*.npz")}

    readers = record_threads(monkeypatch, computations, "read_gallery")
    gallery.classes_edit.setText("0-3")
    job = start(qtbot, workspace, gallery)
    assert gallery.grid.count() == 0
    qtbot.waitUntil(lambda: gallery.grid.count() == 3, timeout=RUN_TIMEOUT_MS)  # from disk, before class 3
    with qtbot.waitSignal(job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert gallery.grid.count() == 4
    assert readers and threading.get_ident() not in readers
    assert {n: (tmp_path / "gallery" / "classes" / n).stat().st_mtime_ns for n in stamps} == stamps

    gallery.grid.setCurrentRow(1)
    assert gallery.enlarged.item.image is not None and "1: 1" in gallery.enlarged.title
    assert list(gallery.enlarged.item.levels) == [0, 255]  # shown once, it must not stay at pyqtgraph's 0..1
    export_and_wait(qtbot, workspace, gallery, tmp_path / "export")
    assert "index.html" in workspace.status_line.text()
    page = tmp_path / "export" / "index.html"
    links = _Links()
    links.feed(page.read_text())
    assert len(links.targets) >= 4 and all((page.parent / target).is_file() for target in links.targets)


def test_cross_model_table_compares_the_loaded_model_with_another(qtbot, workspace, tmp_path, mnist_model):
    import torch
    model_file = tmp_path / "digits.pt"
    torch.jit.trace(mnist_model.module, torch.rand(2, 1, 28, 28)).save(str(model_file))
    assert workspace.cross_model.add_model(str(model_file))  # loaded and checked by a job
    qtbot.waitUntil(lambda: len(workspace.cross_model.others) == 1, timeout=RUN_TIMEOUT_MS)
    set_params(workspace.uap.settings, passes=1)
    run_and_wait(qtbot, workspace, workspace.cross_model)
    table = workspace.cross_model.table
    assert table.rowCount() == 2 and table.columnCount() == 3  # the rates, then the clean accuracy
    assert all(table.item(i, j).text().endswith("%") for i in range(2) for j in range(3))
    export_and_wait(qtbot, workspace, workspace.cross_model, tmp_path / "out")
    csv_path, = (tmp_path / "out").glob("*.csv")
    png_path, = (tmp_path / "out").glob("*.png")
    assert csv_path.read_text().count("\n") == 3 and png_path.stat().st_size > 0


def test_bad_classes_are_a_message_and_stop_keeps_the_delta_reached(qtbot, workspace):
    workspace.gallery.classes_edit.setText("3-42")
    workspace.tabs.setCurrentWidget(workspace.gallery)
    qtbot.mouseClick(workspace.gallery.run_button, Qt.MouseButton.LeftButton)
    assert not workspace.runs.busy and "0..9" in workspace.status_line.text()

    tab = workspace.targeted
    set_params(tab.settings, steps=100_000, eval_every=1_000_000)
    produced = note_steps(workspace)
    stop_and_wait(qtbot, tab, start(qtbot, workspace, tab), produced)
    assert tab.delta is not None and "(stopped)" in tab.delta_view.title and produced[-1] < 100_000


def test_closing_the_window_mid_run_leaves_no_thread_running(qtbot, window):
    from gui.workspaces.protocol import Workspace
    page = window.show_workspace("Universal")
    assert isinstance(page, Workspace) and page.title == "Universal"
    qtbot.waitUntil(lambda: page.uap.run_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
    set_params(page.targeted.settings, steps=100_000)
    close_mid_run(qtbot, window, start(qtbot, page, page.targeted))
