"""The Train tab driven through its widgets (pytest-qt, offscreen): a live run draws both curves, Stop keeps the
weights and Continue trains on, the model goes to the other workspaces and is saved to a file that loads."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt

from engine.models import load_model
from workspace_helpers import RUN_TIMEOUT_MS, loaded_session, shown_on_screen


@pytest.fixture
def train(qtbot):
    from gui.workspaces.train import TrainWorkspace

    session = loaded_session(qtbot)
    workspace = shown_on_screen(qtbot, TrainWorkspace(session))
    workspace.controls.arch.setCurrentText("mlp")
    workspace.controls.training_form.fill({"epochs": 1, "robust_steps": 3, "eval_images": 200})
    yield workspace
    workspace.shutdown()


def click_and_wait(qtbot, workspace, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert workspace.busy
    with qtbot.waitSignal(workspace.slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass


def test_one_epoch_in_the_window_shows_both_curves_and_the_accuracy(qtbot, train):
    click_and_wait(qtbot, train, train.controls.train_button)
    batches, losses = train.curves.batch_loss.getData()
    assert len(batches) == 63 and losses[-1] < losses[0]  # 4000 digits in batches of 64, the loss going down
    epochs, clean = train.curves.clean.getData()
    _, robust = train.curves.robust.getData()
    assert list(epochs) == [1.0] and clean[0] > 0.8 and robust[0] < clean[0]
    assert "held-out accuracy" in train.controls.summary.text()
    assert train.controls.use_button.isEnabled() and not train.controls.stop_button.isEnabled()


def test_stop_keeps_the_weights_and_continue_trains_on(qtbot, train):
    train.controls.training_form.fill({"epochs": 3})
    qtbot.mouseClick(train.controls.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(train.curves.batch_x) >= 5, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(train.slot.job.done, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(train.controls.stop_button, Qt.MouseButton.LeftButton)
    assert train.trainer.stopped and train.trainer.epochs_done == 0
    assert "stopped" in train.controls.summary.text()
    train.controls.training_form.fill({"epochs": 1})
    click_and_wait(qtbot, train, train.controls.continue_button)
    assert train.trainer.epochs_done == 1 and not train.trainer.stopped and len(train.history) == 1


def test_the_trained_model_goes_to_the_window_and_to_a_file(qtbot, train, tmp_path):
    click_and_wait(qtbot, train, train.controls.train_button)
    with qtbot.waitSignal(train.session.model_changed, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(train.controls.use_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not train.session.busy and train.session.batch is not None, timeout=RUN_TIMEOUT_MS)
    assert train.session.model.name == "trained mlp" and train.session.model is not train.trainer.model
    said = []
    train.message.connect(lambda *args: said.append(args))
    train.save_to(str(tmp_path / "mlp.pt"))
    qtbot.waitUntil(lambda: bool(train.saved) or bool(said), timeout=RUN_TIMEOUT_MS)
    assert not said
    loaded = load_model(str(tmp_path / "mlp.pt"), "cpu")
    assert loaded.training["defense"] == "none" and loaded.training["epochs_done"] == 1


def test_a_bad_setting_is_a_message_and_nothing_starts(qtbot, train):
    train.controls.arch.setCurrentText("mlp")
    train.controls.arch_form.editor("hidden").widget.setText("ten")
    with qtbot.waitSignal(train.message, timeout=5_000) as said:
        qtbot.mouseClick(train.controls.train_button, Qt.MouseButton.LeftButton)
    assert "hidden" in said.args[0] and not train.busy
