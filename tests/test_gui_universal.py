"""The Universal workspace driven through its widgets (pytest-qt, offscreen): UAP shows v, its per-pass curve and
the rates against noise; the targeted image streams delta (also for an ImageNet-sized network); the gallery fills
in, resumes from its folder and exports a page; the cross-model table fills; closing mid-run stops the job."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import Qt

from test_universal import _Links

RUN_TIMEOUT_MS = 120_000
LOAD_TIMEOUT_MS = 120_000


@pytest.fixture
def workspace(qtbot, window):
    page = window.show_workspace("Universal")
    qtbot.waitUntil(lambda: page.uap.run_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
    return page


def start(qtbot, workspace, tab):
    workspace.tabs.setCurrentWidget(tab)
    qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    assert workspace.busy, workspace.status.text()
    return workspace.job


def run_and_wait(qtbot, workspace, tab):
    job = start(qtbot, workspace, tab)
    with qtbot.waitSignal(job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert "failed" not in workspace.status.text(), workspace.status.text()


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


def test_targeted_image_streams_delta_and_applies_it_to_the_selected_image(qtbot, workspace, tmp_path):
    tab = workspace.targeted
    tab.target_box.setCurrentIndex(tab.target_box.findData(2))
    set_params(tab.settings, steps=60, eval_every=20)
    run_and_wait(qtbot, workspace, tab)
    assert tab.curve.xs == [20, 40, 60]
    assert tab.delta is not None and np.abs(tab.delta).max() < 0.3
    applied = np.asarray(tab.applied_view.item.image)
    natural = np.asarray(tab.natural_view.item.image)
    assert applied.shape == natural.shape == (28, 28) and not np.array_equal(applied, natural)
    assert "%" in tab.applied_view.title
    files = tab.export_to(tmp_path)
    assert all(path.is_file() for path in files)
    assert np.allclose(np.load(tmp_path / "targeted_2_delta.npy"), tab.delta)


def test_targeted_image_on_resnet18_at_224_shows_delta_updating(qtbot, window):
    """Acceptance: resnet18 with random weights, the sample photographs at 224x224, 20 steps, no error, and the
    GUI shows delta changing while it learns."""
    window.model_panel.set_spec("resnet18:random")
    qtbot.mouseClick(window.model_panel.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.session.busy and window.session.model.name == "resnet18:random"
                    and window.session.batch is not None, timeout=LOAD_TIMEOUT_MS)
    workspace = window.show_workspace("Universal")
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
    assert "failed" not in workspace.status.text(), workspace.status.text()
    assert len(pictures) >= 2 and pictures[0].shape == (224, 224, 3)
    assert any(not np.array_equal(pictures[0], later) for later in pictures[1:])
    assert tab.curve.xs == [10, 20]
    assert tab.delta.shape == (3, 224, 224) and np.abs(tab.delta).max() < 10 / 255 + 1e-6


def test_gallery_fills_in_resumes_from_its_folder_and_exports_a_page(qtbot, workspace, tmp_path):
    gallery = workspace.gallery
    gallery.folder_edit.setText(str(tmp_path / "gallery"))
    gallery.classes_edit.setText("0-2")
    set_params(workspace.targeted.settings, steps=4, eval_every=2)
    run_and_wait(qtbot, workspace, gallery)
    assert gallery.grid.count() == 3 and sorted(gallery.entries) == [0, 1, 2]
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "gallery" / "classes").glob("*.npz")}

    gallery.classes_edit.setText("0-3")
    job = start(qtbot, workspace, gallery)
    assert gallery.grid.count() == 3  # the finished classes come from disk at once
    with qtbot.waitSignal(job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert gallery.grid.count() == 4
    assert {n: (tmp_path / "gallery" / "classes" / n).stat().st_mtime_ns for n in stamps} == stamps

    gallery.grid.setCurrentRow(1)
    assert gallery.enlarged.item.image is not None and "1: 1" in gallery.enlarged.title
    assert list(gallery.enlarged.item.levels) == [0, 255]  # shown once, it must not stay at pyqtgraph's 0..1
    files = gallery.export_to(tmp_path / "export")
    page = tmp_path / "export" / "index.html"
    assert page in files
    links = _Links()
    links.feed(page.read_text())
    assert len(links.targets) >= 4 and all((page.parent / target).is_file() for target in links.targets)


def test_cross_model_table_compares_the_loaded_model_with_another(qtbot, workspace, tmp_path, mnist_model):
    import torch
    model_file = tmp_path / "digits.pt"
    torch.jit.trace(mnist_model.module, torch.rand(2, 1, 28, 28)).save(str(model_file))
    workspace.cross_model.add_model(str(model_file))
    set_params(workspace.uap.settings, passes=1)
    run_and_wait(qtbot, workspace, workspace.cross_model)
    table = workspace.cross_model.table
    assert table.rowCount() == table.columnCount() == 2
    assert all(table.item(i, j).text().endswith("%") for i in range(2) for j in range(2))
    csv_path, png_path = workspace.cross_model.export_to(tmp_path / "out")
    assert csv_path.read_text().count("\n") == 3 and png_path.stat().st_size > 0


def test_bad_classes_are_a_message_and_closing_mid_run_stops_the_job(qtbot, window, workspace):
    workspace.gallery.classes_edit.setText("3-42")
    workspace.tabs.setCurrentWidget(workspace.gallery)
    qtbot.mouseClick(workspace.gallery.run_button, Qt.MouseButton.LeftButton)
    assert not workspace.busy and "0..9" in workspace.status.text()

    set_params(workspace.targeted.settings, steps=100_000)
    job = start(qtbot, workspace, workspace.targeted)
    with qtbot.waitSignal(job.stepped, timeout=RUN_TIMEOUT_MS):
        pass
    window.close()
    assert not job.running
