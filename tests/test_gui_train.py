"""The Train tab driven through its widgets (pytest-qt, offscreen): a live run draws both curves, Stop keeps the
weights and Continue trains on, the model goes to the other workspaces and is saved to a file that loads; an
image folder is read in the job and what was read is shown; a bad folder or architecture is one message and the
trained model stays; the save dialog's suffix chooses .pt, .ts or .pt2; a saved run is opened and continued."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from engine.architectures import ARCHITECTURES
from engine.models import load_model
from workspace_helpers import RUN_TIMEOUT_MS, loaded_session, shown_on_screen

COLOURS = ("blue", "green", "red")  # class -> its bright channel (2, 1, 0): learnable in one epoch
TINY = {"epochs": 1, "robust_steps": 0, "eval_images": 10, "batch_size": 4}  # a run of a second or two


@pytest.fixture
def train(qtbot):
    from gui.workspaces.train import TrainWorkspace

    session = loaded_session(qtbot)
    workspace = shown_on_screen(qtbot, TrainWorkspace(session))
    workspace.controls.arch.setCurrentText("mlp")
    workspace.controls.training_form.fill({"epochs": 1, "robust_steps": 3, "eval_images": 200})
    yield workspace
    workspace.shutdown()


def make_folder(root: Path, per_class: int = 6, sizes=((16, 16),)) -> Path:
    """3 classes of `per_class` noisy RGB PNGs each, the class's channel bright; image i has sizes[i % len]."""
    rng = np.random.default_rng(0)
    for channel, name in zip((2, 1, 0), COLOURS, strict=True):
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            width, height = sizes[index % len(sizes)]
            pixels = rng.integers(0, 90, (height, width, 3), dtype=np.uint8)
            pixels[..., channel] += 150
            Image.fromarray(pixels).save(root / name / f"{index:02d}.png")
    return root


def click_and_wait(qtbot, workspace, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert workspace.busy
    with qtbot.waitSignal(workspace.slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass


def choose_folder(monkeypatch, controls, folder: Path) -> None:
    """Pick "an image folder…" in the data chooser, the folder dialog answering `folder`."""
    from gui.session import FOLDER

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(folder))
    controls.data.activated.emit(controls.data.findData(FOLDER))
    assert controls.chosen_folder() == str(folder)


def train_on_folder(qtbot, monkeypatch, train, folder: Path) -> None:
    said = []
    train.message.connect(lambda *args: said.append(args))
    choose_folder(monkeypatch, train.controls, folder)
    train.controls.training_form.fill(TINY)
    click_and_wait(qtbot, train, train.controls.train_button)
    assert not said and train.trainer is not None and train.trainer.epochs_done == 1


def refused(qtbot, workspace, button) -> str:
    """Click `button` for a job that must fail; its one-line message, once the job is over."""
    with qtbot.waitSignal(workspace.message, timeout=RUN_TIMEOUT_MS) as said:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not workspace.busy, timeout=RUN_TIMEOUT_MS)
    assert "\n" not in said.args[0]
    return said.args[0]


def refused_at_once(qtbot, workspace, button) -> str:
    """Click `button` for something refused before any job starts: its message."""
    with qtbot.waitSignal(workspace.message, timeout=5_000) as said:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not workspace.busy
    return said.args[0]


def test_one_epoch_in_the_window_shows_both_curves_and_the_accuracy(qtbot, train):
    click_and_wait(qtbot, train, train.controls.train_button)
    batches, losses = train.curves.batch_loss.getData()
    assert len(batches) == 63 and losses[-1] < losses[0]  # 4000 digits in batches of 64, the loss going down
    epochs, clean = train.curves.clean.getData()
    _, robust = train.curves.robust.getData()
    assert list(epochs) == [1.0] and clean[0] > 0.8 and robust[0] < clean[0]
    summary = train.controls.summary.text()
    assert "held-out accuracy" in summary and "the shipped digits: 10 classes, 4000 training and 1000" in summary
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
    # done: Continue with the epochs already reached says so instead of doing nothing
    assert "set epochs above 1" in refused_at_once(qtbot, train, train.controls.continue_button)


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


# --- image folders ---------------------------------------------------------------------------------------------

def test_one_epoch_on_an_image_folder_shows_the_curves_and_what_was_read(qtbot, train, tmp_path, monkeypatch):
    root = make_folder(tmp_path / "colours")
    (root / "red" / "broken.png").write_bytes(b"not a png")  # skipped, with a note
    Image.fromarray(np.full((16, 16), 200, np.uint8), mode="L").save(root / "blue" / "grey.png")  # made RGB
    choose_folder(monkeypatch, train.controls, root)
    assert train.controls.folder_form.isVisible() and "folder colours" in train.controls.data.currentText()
    train_on_folder(qtbot, monkeypatch, train, root)
    # held out: one of each class (round(0.2 x 6 or 7)); trained on 5 + 5 + 6 images, in 4 batches of 4
    batches, _ = train.curves.batch_loss.getData()
    epochs, clean = train.curves.clean.getData()
    robust_epochs, _ = train.curves.robust.getData()  # None: robust_steps=0 measures nothing to draw
    assert len(batches) == 4 and list(epochs) == [1.0] and 0 <= clean[0] <= 1 and robust_epochs is None
    summary = train.controls.summary.text()
    assert "folder colours: 3 classes, 16 training and 3 held-out images of 3x16x16" in summary
    assert "skipped" in summary and "broken.png" in summary and "converted 1 grey images to RGB" in summary
    model = train.trainer.model
    assert model.class_names == COLOURS and model.input_shape == (3, 16, 16) and model.name == "trained mlp"


def test_a_bad_folder_or_architecture_is_one_message_and_the_trained_model_stays(qtbot, train, tmp_path,
                                                                                 monkeypatch):
    from gui.workspaces.train.runs import SAMPLES

    train_on_folder(qtbot, monkeypatch, train, make_folder(tmp_path / "good"))
    trainer, summary = train.trainer, train.controls.summary.text()
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(flat / "loose.png")
    mixed = make_folder(tmp_path / "mixed", sizes=((16, 16), (20, 12)))
    empty = make_folder(tmp_path / "empty")
    (empty / "nothing").mkdir()
    for folder, arch, expected in ((flat, "mlp", "has no class subfolders (it holds 1 images directly)"),
                                   (mixed, "mlp", "the images differ in size"),
                                   (empty, "mlp", "holds no images"),
                                   (tmp_path / "good", "mnist-cnn", "mnist-cnn is made for 1x28x28 digits"),
                                   (None, "resnet18", "resnet18 takes 3-channel (RGB) images, not 1x28x28"),
                                   (None, "resnet1", "unknown architecture 'resnet1'")):
        if folder is None:
            train.controls.data.choose(SAMPLES)
        else:
            choose_folder(monkeypatch, train.controls, folder)
        train.controls.arch.setCurrentText(arch)
        if arch == "resnet1":  # a name the engine does not know is refused before any job
            assert expected in refused_at_once(qtbot, train, train.controls.train_button)
            continue
        assert expected in refused(qtbot, train, train.controls.train_button)
        assert train.trainer is trainer and train.controls.summary.text() == summary
        assert list(train.curves.clean.getData()[0]) == [1.0] and len(train.curves.batch_x) == 4
        assert train.controls.continue_button.isEnabled() and train.controls.save_button.isEnabled()


def test_a_run_failing_after_its_first_batch_gives_back_the_kept_curves(qtbot, train, tmp_path, monkeypatch):
    from engine.core.errors import ParameterError
    from engine.training import TrainProgress
    from gui.workspaces.train import runs

    train_on_folder(qtbot, monkeypatch, train, make_folder(tmp_path / "colours"))
    trainer = train.trainer

    def failing(trainer, data, epochs, control):
        yield TrainProgress(1, 1, 1, 9, 2.5)
        raise ParameterError("lr: the loss became NaN")

    monkeypatch.setattr(runs, "train_steps", failing)
    train.controls.data.choose(runs.SAMPLES)  # other data: the summary must come back to the folder's
    drawn = []  # what the curves held after each step of the new run, noted from its start on

    def note(_step):
        drawn.append((len(train.curves.batch_x), len(train.history)))

    train.slot.busy_changed.connect(lambda busy: busy and train.slot.job.stepped.connect(note))
    with qtbot.waitSignal(train.message, timeout=RUN_TIMEOUT_MS) as said:
        qtbot.mouseClick(train.controls.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not train.busy, timeout=RUN_TIMEOUT_MS)
    assert drawn[-1] == (1, 0)  # the new run had replaced the kept one's curves
    assert said.args[0] == "lr: the loss became NaN" and train.trainer is trainer
    assert list(train.curves.clean.getData()[0]) == [1.0] and train.history == trainer.history
    text = train.controls.summary.text()
    assert "the run failed" in text and "folder colours: 3 classes" in text and "shipped digits" not in text


def test_the_architecture_entry_takes_torchvision_names_and_repu_brings_its_recipe(qtbot, train, tmp_path,
                                                                                   monkeypatch):
    controls = train.controls
    training = controls.training_form
    recipe = ARCHITECTURES["repu"].training_defaults  # Krotov's
    controls.arch.setCurrentText("repu")
    assert {name: training.values()[name] for name in recipe} == dict(recipe) and recipe["optimizer"] == "krotov"
    assert "n" in controls.arch_form.editors
    controls.arch.setCurrentText("resn")  # half typed: no options, the recipe left as it is
    assert controls.arch_form.editors == {} and training.values()["optimizer"] == "krotov"
    controls.arch.setCurrentText("resnet18")  # leaving repu restores the defaults
    assert training.values()["optimizer"] == "adam" and training.values()["epochs"] == 10
    assert controls.arch_form.editors == {} and "torchvision" in controls.arch.toolTip()
    assert controls.arch.findText("mobilenet_v3_small") > controls.arch.findText("repu")  # in the list too
    train_on_folder(qtbot, monkeypatch, train, make_folder(tmp_path / "colours"))
    assert train.trainer.arch == "resnet18" and train.trainer.model.name == "trained resnet18"
    controls.arch.setCurrentText("mlp")
    assert "hidden" in controls.arch_form.editors and training.values()["optimizer"] == "adam"


# --- save formats and saved runs -------------------------------------------------------------------------------

def save_through_the_dialog(qtbot, monkeypatch, train, typed: Path, chosen_filter: str):
    """Click Save…, the dialog answering the name `typed` and the filter that names `chosen_filter`."""
    from gui.workspaces.train.workspace import SAVE_FILTERS

    answer = (str(typed), next(choice for choice in SAVE_FILTERS if chosen_filter in choice))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: answer)
    train.saved = []
    qtbot.mouseClick(train.controls.save_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(train.save_slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass


def test_saved_as_torchscript_and_torch_export_by_the_suffix_and_loaded_again(qtbot, train, tmp_path,
                                                                              monkeypatch):
    train_on_folder(qtbot, monkeypatch, train, make_folder(tmp_path / "colours"))
    out = tmp_path / "out"
    save_through_the_dialog(qtbot, monkeypatch, train, out / "model", "*.ts")  # no suffix: the filter's
    save_through_the_dialog(qtbot, monkeypatch, train, out / "other.pt2", "*.pt")  # a typed suffix wins
    assert (out / "model.ts").is_file() and (out / "other.pt2").is_file() and train.saved[0] == out / "other.pt2"
    x = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = train.trainer.model.module(x)
    for name in ("model.ts", "other.pt2"):
        loaded = load_model(str(out / name), "cpu")
        assert loaded.class_names == COLOURS and loaded.input_shape == (3, 16, 16)
        with torch.no_grad():
            torch.testing.assert_close(loaded.module(x), expected, rtol=1e-4, atol=1e-5)
    said = []
    train.message.connect(lambda *args: said.append(args))
    save_through_the_dialog(qtbot, monkeypatch, train, out / "model", "*.pt2")  # model.json is model.ts's
    assert "would overwrite model.json" in said[-1][0] and not (out / "model.pt2").exists()


def test_an_opened_run_shows_its_curves_and_continues_one_more_epoch(qtbot, train, tmp_path, monkeypatch):
    from gui.session import FOLDER
    from gui.workspaces.train import TrainWorkspace

    root = make_folder(tmp_path / "colours")
    train_on_folder(qtbot, monkeypatch, train, root)
    train.save_to(str(tmp_path / "run.pt"))
    with qtbot.waitSignal(train.save_slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    train.save_to(str(tmp_path / "program.ts"))
    with qtbot.waitSignal(train.save_slot.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    first = train.trainer.history[0]
    other = shown_on_screen(qtbot, TrainWorkspace(train.session))  # a window that has trained nothing
    try:
        assert not other.controls.continue_button.isEnabled()
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "run.pt"), ""))
        click_and_wait(qtbot, other, other.controls.open_button)
        assert other.trainer.epochs_done == 1 and other.trainer.history == [first]
        assert list(other.curves.clean.getData()[1]) == [first.clean_accuracy]
        controls = other.controls
        assert controls.continue_button.isEnabled() and controls.arch.name() == "mlp"
        assert controls.training_form.values()["epochs"] == 2 and controls.training_form.values()["batch_size"] == 4
        assert controls.data.currentData() == FOLDER and Path(controls.chosen_folder()) == root.resolve()
        assert "Continue trains it up to 2 epochs" in controls.summary.text()
        click_and_wait(qtbot, other, controls.continue_button)
        assert other.trainer.epochs_done == 2 and [r.epoch for r in other.history] == [1, 2]
        assert list(other.curves.clean.getData()[0]) == [1.0, 2.0] and len(other.curves.batch_x) == 4
        continued = other.trainer
        weights_only = tmp_path / "weights.pt"  # a state dict and its sidecar, without the training state
        torch.save({"state_dict": continued.model.module.net.state_dict()}, weights_only)
        weights_only.with_suffix(".json").write_text((tmp_path / "run.json").read_text())
        for path, expected in ((tmp_path / "program.ts", "a TorchScript program is not trainable here"),
                               (weights_only, "without the training state")):
            monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, p=path, **k: (str(p), ""))
            assert expected in refused(qtbot, other, controls.open_button)
            assert other.trainer is continued and controls.continue_button.isEnabled()
    finally:
        other.shutdown()
