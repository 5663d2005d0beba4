"""The Compare workspace driven through its widgets (pytest-qt, offscreen), built on a session as the shell
builds it: models from the window and from a file (loaded in a job), the robustness table and the transfer matrix
run as jobs and drawn as shaded tables, a click on a cell shows its images, Stop keeps the rows reached, Export
writes CSV + PNG that load again, and the cross-training-set run adds two halves and makes their matrix."""
import csv
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from workspace_helpers import RUN_TIMEOUT_MS, loaded_session, shown_on_screen

COUNT = 20  # held-out digits per comparison: enough for every class twice, a second or two per run
LIGHT = {"pgd": {"steps": 5, "step": 0.1}, "adef": {"max_iter": 5, "candidates": 1},
         "deepfool": {"max_iter": 15, "candidates": 2}}


@pytest.fixture(scope="module")
def mlp_file(tmp_path_factory):
    """A quickly trained MLP saved as a state dict with its sidecar (one epoch: ~90% held-out accuracy)."""
    from engine.core.run import run_to_end
    from engine.training import new_trainer, train_steps, training_digits
    from engine.training.saving import save_trained

    data = training_digits()
    trainer = run_to_end(train_steps(new_trainer("mlp", data, {"epochs": 1, "robust_steps": 0}), data))
    path = tmp_path_factory.mktemp("models") / "mlp.pt"
    save_trained(trainer, path)
    return str(path)


@pytest.fixture
def compare(qtbot):
    from gui.workspaces.compare import CompareWorkspace

    workspace = shown_on_screen(qtbot, CompareWorkspace(loaded_session(qtbot)))
    workspace.resize(1280, 800)
    workspace.images.form.fill({"count": COUNT})
    for attack, values in LIGHT.items():
        workspace.robustness_settings.fill(attack, values)
    workspace.transfer_settings.fill("pgd", LIGHT["pgd"])
    said = []
    workspace.message.connect(lambda text, *_: said.append(text))
    workspace.said = said
    yield workspace
    workspace.shutdown()


def add_file(qtbot, workspace, path):
    assert workspace.add_model_file(path)
    with qtbot.waitSignal(workspace.side_slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert not workspace.said, workspace.said


def click_and_wait(qtbot, workspace, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert workspace.slot.busy, workspace.said
    with qtbot.waitSignal(workspace.slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert not workspace.said, workspace.said


def click_cell(qtbot, table, row, column):
    table.scrollToItem(table.item(row, column))
    rect = table.visualItemRect(table.item(row, column))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def percent_of(text: str) -> float:
    return float(text.rstrip("%")) / 100


def test_models_come_from_the_window_and_from_files(qtbot, compare, mlp_file):
    assert [m.name for m in compare.models.models] == ["mnist-cnn"]  # the loaded model, at once
    compare.add_loaded_model()
    assert len(compare.models.models) == 1  # the same network is not listed twice
    add_file(qtbot, compare, mlp_file)
    add_file(qtbot, compare, mlp_file)  # another load of the same file: its own entry, renamed
    assert [m.name for m in compare.models.models] == ["mnist-cnn", "mlp", "mlp (2)"]
    compare.models.list.item(2).setCheckState(Qt.CheckState.Unchecked)
    assert [m.name for m in compare.models.chosen()] == ["mnist-cnn", "mlp"]
    compare.models.list.setCurrentRow(2)
    qtbot.mouseClick(compare.models.remove_button, Qt.MouseButton.LeftButton)
    assert len(compare.models.models) == 2


def test_a_model_handed_over_by_the_train_workspace_joins_the_list(qtbot, compare):
    from engine.core.run import run_to_end
    from engine.training.halves import train_halves

    trained = run_to_end(train_halves("mlp", {"epochs": 1}))
    for model in trained:
        with qtbot.waitSignal(compare.session.model_changed, timeout=RUN_TIMEOUT_MS):
            compare.session.use_model(model)  # as the Train workspace's "Use this model" does
        qtbot.waitUntil(lambda: not compare.session.busy, timeout=RUN_TIMEOUT_MS)  # its images converted
    assert [m.name for m in compare.models.models] == ["mnist-cnn", "mlp half 1", "mlp half 2"]
    compare.session.load_model("mnist-cnn", "cpu")  # a model loaded from its file is added on request only
    qtbot.waitUntil(lambda: not compare.session.busy and compare.session.batch is not None, timeout=RUN_TIMEOUT_MS)
    assert len(compare.models.models) == 3


def test_a_file_that_is_no_model_is_a_message(qtbot, compare, tmp_path):
    bad = tmp_path / "net.pt"
    bad.write_bytes(b"not a model")
    assert compare.add_model_file(str(bad))
    with qtbot.waitSignal(compare.side_slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert compare.said and "net.pt" in compare.said[0] and len(compare.models.models) == 1


def test_robustness_table_shows_the_numbers_and_a_cell_opens_its_images(qtbot, compare, mlp_file):
    add_file(qtbot, compare, mlp_file)
    click_and_wait(qtbot, compare, compare.buttons["robustness"])
    table, rows = compare.tables.robustness, compare.rows
    assert table.rowCount() == 2 and [r.model for r in rows] == ["mnist-cnn", "mlp"]
    for r, row in enumerate(rows):
        assert table.verticalHeaderItem(r).text() == row.model
        assert percent_of(table.text(r, 1)) == pytest.approx(row.accuracy, abs=5e-4)
        for offset, attack in enumerate(("fgsm", "pgd", "adef", "deepfool")):
            assert percent_of(table.text(r, 2 + offset)) == pytest.approx(row.success[attack], abs=5e-4)
    assert rows[0].success["pgd"] >= 0.9  # eps 0.3 in 5 steps of 0.1 fools the undefended CNN
    shaded = table.item(0, 3).background().color()
    assert shaded.red() > shaded.green() + 50  # a high success is shaded red, as in the exported picture

    click_cell(qtbot, table, 1, 3)  # the MLP under PGD
    view = compare.cell_view
    cell = view.cell
    assert cell is not None and cell.title == "mlp · pgd" and view.strip.count() == len(cell)
    assert len(cell) == len(rows[1].runs["pgd"].fooled)  # the correctly classified digits, attacked
    shown = view.adversarial.item.image
    assert shown.shape == (28, 28) and np.allclose(shown, cell.adversarial[view.index, 0].numpy())
    assert not np.allclose(view.natural.item.image, shown)
    assert ("fooled" if bool(cell.fooled[view.index]) else "held") in view.adversarial.label.text()
    view.strip.setCurrentRow(len(cell) - 1)  # browsing
    assert view.index == len(cell) - 1 and f"image {len(cell)} of {len(cell)}" in view.adversarial.label.text()
    click_cell(qtbot, table, 0, 1)  # accuracy: no images of its own
    assert view.cell is cell


def test_transfer_matrix_cells_show_what_they_count(qtbot, compare, mlp_file):
    add_file(qtbot, compare, mlp_file)
    click_and_wait(qtbot, compare, compare.buttons["transfer"])
    table, matrix = compare.tables.transfer, compare.matrix
    assert (table.rowCount(), table.columnCount()) == (3, 2)
    assert table.verticalHeaderItem(2).text().startswith("noise")
    assert np.diag(matrix.flip_rate[:2]).min() >= 0.9  # white box
    for r in range(3):
        for c in range(2):
            assert percent_of(table.text(r, c)) == pytest.approx(matrix.flip_rate[r, c], abs=5e-4)
    click_cell(qtbot, table, 0, 1)  # made on the CNN, shown to the MLP
    cell = compare.cell_view.cell
    assert cell.title == "made on mnist-cnn · shown to mlp" and len(cell) == COUNT
    assert float(cell.fooled.float().mean()) == pytest.approx(matrix.flip_rate[0, 1])
    fooled = [compare.cell_view.strip.item(i).foreground().color().name() for i in range(COUNT)]
    assert fooled.count("#c83232") == int(cell.fooled.sum())  # the fooled thumbnails captioned in red
    compare.tables.quantity.setCurrentIndex(1)  # error against the true labels
    assert percent_of(table.text(1, 0)) == pytest.approx(matrix.error[1, 0], abs=5e-4)


def test_stop_keeps_the_rows_reached(qtbot, compare):
    compare.robustness_settings.fill("pgd", {"steps": 5000, "step": 0.001})
    qtbot.mouseClick(compare.buttons["robustness"], Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(compare.slot.job.stepped, timeout=RUN_TIMEOUT_MS):
        pass
    with qtbot.waitSignal(compare.slot.job.done, timeout=30_000):
        qtbot.mouseClick(compare.buttons["stop"], Qt.MouseButton.LeftButton)
    assert len(compare.rows) == 1 and set(compare.rows[0].runs) <= {"fgsm", "pgd"}
    assert "stopped" in compare.tables.robustness_note.text()


def test_export_writes_tables_that_load_again(qtbot, compare, tmp_path):
    assert not compare.buttons["export"].isEnabled()
    click_and_wait(qtbot, compare, compare.buttons["robustness"])
    click_and_wait(qtbot, compare, compare.buttons["transfer"])
    assert compare.buttons["export"].isEnabled()
    compare.export_to(str(tmp_path / "out"))
    with qtbot.waitSignal(compare.side_slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    names = sorted(path.name for path in compare.exported)
    assert names == ["errors.csv", "matrix.csv", "matrix.png", "robustness.csv", "robustness.png"]
    with open(tmp_path / "out" / "robustness.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["model"] for row in rows] == ["mnist-cnn"]
    assert float(rows[0]["pgd_success"]) == pytest.approx(compare.rows[0].success["pgd"], abs=1e-4)
    with open(tmp_path / "out" / "matrix.csv", newline="") as handle:
        matrix = list(csv.reader(handle))
    assert matrix[0] == ["source", "mnist-cnn"] and [r[0] for r in matrix[1:]] == ["mnist-cnn", "noise"]
    for picture in ("robustness.png", "matrix.png"):
        with Image.open(tmp_path / "out" / picture) as image:
            assert image.width > 200 and image.height > 50


def test_export_into_a_file_is_refused_with_a_message(qtbot, compare, tmp_path):
    click_and_wait(qtbot, compare, compare.buttons["transfer"])
    target = tmp_path / "taken"
    target.write_text("a file")
    compare.export_to(str(target))
    with qtbot.waitSignal(compare.side_slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert compare.said and "is a file" in compare.said[0] and target.read_text() == "a file"


def test_images_without_labels_are_a_message(qtbot, compare, tmp_path):
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "digit.png")  # no class subfolders
    compare.images.dataset.choose("folder", str(tmp_path))
    qtbot.mouseClick(compare.buttons["transfer"], Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(compare.slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert compare.said and "no class subfolders" in compare.said[0] and compare.matrix is None


def test_cross_training_set_trains_two_halves_and_compares_them(qtbot, compare):
    qtbot.mouseClick(compare.buttons["cross"], Qt.MouseButton.LeftButton)
    dialog = compare.cross_dialog
    assert dialog.isVisible()
    dialog.arch.setCurrentText("mlp")
    dialog.training_form.fill({"epochs": 1})
    dialog.accept()  # OK starts the run
    assert compare.slot.busy
    with qtbot.waitSignal(compare.slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert not compare.said, compare.said
    assert [m.name for m in compare.models.models] == ["mnist-cnn", "mlp half 1", "mlp half 2"]
    matrix = compare.matrix
    assert matrix.targets == ("mnist-cnn", "mlp half 1", "mlp half 2")
    assert compare.tables.transfer.rowCount() == 4 and compare.tables.currentIndex() == 1
    click_cell(qtbot, compare.tables.transfer, 1, 2)  # the cross-training-set cell
    assert compare.cell_view.cell.title == "made on mlp half 1 · shown to mlp half 2"


def test_the_window_offers_the_compare_workspace(qtbot, window):
    workspace = window.show_workspace("Compare")
    assert [m.name for m in workspace.models.models] == ["mnist-cnn"]
    assert workspace.buttons["robustness"].isEnabled() and not workspace.buttons["stop"].isEnabled()
