"""Training input and output (issue 14, points 1 and 6): image folders in ImageFolder layout as training data,
torchvision networks trained on them, the three save formats (.pt, .ts, .pt2) loaded again with the same
predictions, and a run stopped, saved and continued from its file; bad input is one readable line each."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from engine.architectures import get_architecture
from engine.attacks.base import RunControl
from engine.core.errors import ImageError, ModelError, ParameterError
from engine.core.run import run_to_end
from engine.exported import pt2_code_risks
from engine.models import load_model
from engine.training import folders, image_folder, new_trainer, train_steps, training_digits
from engine.training.loop import batches_of
from engine.training.saving import continue_trainer, save_trained, saved_run

ROOT = Path(__file__).resolve().parent.parent
COLOURS = {"blue": 2, "green": 1, "red": 0}  # class name -> the channel that is bright


def make_folder(root: Path, per_class: int = 6, size=(32, 32), classes=COLOURS, seed: int = 0) -> Path:
    """One subfolder per class of small noisy PNGs whose class is the bright channel (learnable in an epoch)."""
    rng = np.random.default_rng(seed)
    for name, channel in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            pixels = rng.integers(0, 90, (size[1], size[0], 3), dtype=np.uint8)
            pixels[..., channel] += 150
            Image.fromarray(pixels).save(root / name / f"{index:02d}.png")
    return root


def write_grey(path: Path, size=(32, 32), value: int = 128) -> None:
    Image.fromarray(np.full((size[1], size[0]), value, dtype=np.uint8), mode="L").save(path)


def one_line(error) -> str:
    text = str(error.value)
    assert "\n" not in text and text
    return text


# --- image folders ---------------------------------------------------------------------------------------------

def test_a_folder_becomes_training_data_with_a_stratified_seeded_heldout_share(tmp_path):
    root = make_folder(tmp_path / "colours", per_class=10, size=(12, 12))
    data = image_folder(root, {"heldout": 0.3, "split_seed": 4})
    assert data.class_names == ("blue", "green", "red") and data.domain == "custom" and data.name == "colours"
    assert data.images.shape == (21, 3, 12, 12) and data.heldout_images.shape == (9, 3, 12, 12)
    assert data.images.dtype == torch.float32 and 0 <= data.images.min() and data.images.max() <= 1
    assert torch.bincount(data.labels).tolist() == [7] * 3 and torch.bincount(data.heldout_labels).tolist() == [3] * 3
    assert data.heldout_labels[:3].tolist() == [0, 1, 2]  # interleaved: any first eval_images are balanced
    train_keys = {image.numpy().tobytes() for image in data.images}
    heldout_keys = {image.numpy().tobytes() for image in data.heldout_images}
    assert len(train_keys | heldout_keys) == 30  # every image once, none in both parts
    # the normalisation is the training part's own, per channel
    pixels = data.images.double()
    torch.testing.assert_close(torch.tensor(data.mean, dtype=torch.float64), pixels.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(torch.tensor(data.std, dtype=torch.float64), pixels.std(dim=(0, 2, 3), correction=0))
    blue = data.images[data.labels == 0]
    assert (blue[:, 2].mean() > blue[:, 0].mean() + 0.4).item()  # labels follow the folders
    same = image_folder(root, {"heldout": 0.3, "split_seed": 4})
    other = image_folder(root, {"heldout": 0.3, "split_seed": 5})
    assert torch.equal(same.heldout_images, data.heldout_images)
    assert not torch.equal(other.heldout_images, data.heldout_images)
    assert data.recipe["data"] == str(root.resolve()) and data.recipe["split_seed"] == 4


def test_size_resizes_and_centre_crops_every_image_as_torchvision_does(tmp_path):
    root = make_folder(tmp_path / "d", per_class=3, size=(40, 30))
    make_folder(tmp_path / "d", per_class=2, size=(20, 20), seed=1)  # 00.png and 01.png become 20 x 20
    data = image_folder(root, {"size": 16})
    assert data.images.shape[1:] == (3, 16, 16) and len(data.images) + len(data.heldout_images) == 9
    expected = v2.Compose([v2.Resize(16, antialias=True), v2.CenterCrop(16)])(
        v2.functional.to_dtype(v2.functional.pil_to_tensor(Image.open(root / "red" / "02.png")), torch.float32,
                               scale=True))
    all_images = torch.cat([data.images, data.heldout_images])
    assert min(float((image - expected).abs().max()) for image in all_images) < 1e-6


def test_mixed_sizes_without_size_name_two_files_and_suggest_the_size_option(tmp_path):
    root = make_folder(tmp_path / "d", per_class=3)
    Image.new("RGB", (20, 24)).save(root / "red" / "big.png")
    with pytest.raises(ImageError) as error:
        image_folder(root)
    message = one_line(error)
    assert "blue/00.png is 32x32" in message and "red/big.png is 20x24" in message and "--param size=" in message


def test_mixed_grey_and_colour_images_become_rgb_with_a_note(tmp_path):
    root = make_folder(tmp_path / "d", per_class=3)
    write_grey(root / "green" / "grey.png", value=100)
    data = image_folder(root)
    assert data.images.shape[1] == 3 and any("converted 1 grey images to RGB" in note for note in data.notes)
    everything = torch.cat([data.images, data.heldout_images])
    grey = [image for image in everything if torch.allclose(image, torch.full_like(image, 100 / 255))]
    assert len(grey) == 1  # the grey image, repeated in the three channels
    grey_root = tmp_path / "grey"
    for name in ("a", "b"):
        (grey_root / name).mkdir(parents=True)
        for index in range(2):
            write_grey(grey_root / name / f"{index}.png", value=40 * index + (100 if name == "b" else 0))
    assert image_folder(grey_root).images.shape[1] == 1
    assert image_folder(grey_root, {"channels": "rgb"}).images.shape[1] == 3


def test_corrupt_images_are_skipped_with_a_note(tmp_path):
    root = make_folder(tmp_path / "d", per_class=3)
    (root / "red" / "broken.png").write_bytes(b"not a png at all")
    data = image_folder(root)
    assert len(data.images) + len(data.heldout_images) == 9
    assert any(note.startswith("skipped") and "broken.png" in note for note in data.notes)


def _no_subfolders(root):
    root.mkdir()
    Image.new("RGB", (8, 8)).save(root / "loose.png")


def _one_class(root):
    make_folder(root, per_class=2, classes={"only": 0})


def _empty_class(root):
    make_folder(root, per_class=2)
    (root / "violet").mkdir()
    (root / "violet" / "readme.txt").write_text("no images here")


def _unreadable_class(root):
    make_folder(root, per_class=2)
    (root / "violet").mkdir()
    (root / "violet" / "bad.jpg").write_bytes(b"\xff\xd8 truncated")


def _a_file(root):
    root.write_text("a file, not a folder")


@pytest.mark.parametrize("make,message", [
    (_no_subfolders, "has no class subfolders (it holds 1 images directly)"),
    (_one_class, "has one class folder (only)"),
    (_empty_class, "violet holds no images"),
    (_unreadable_class, "violet has no readable images"),
    (_a_file, "is a file, not a folder"),
    (lambda root: None, "no folder"),
])
def test_a_folder_that_is_not_in_imagefolder_layout_is_one_readable_line(tmp_path, make, message):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(ImageError) as error:
        image_folder(root)
    assert message in one_line(error)


def test_the_memory_bound_is_checked_before_the_images_are_kept(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "d", per_class=3)
    monkeypatch.setattr(folders, "MAX_TRAINING_BYTES", 9 * 3 * 32 * 32 * 4 - 1)
    with pytest.raises(ImageError, match=r"9 images of 3x32x32 take .* GiB as float32, more than the limit"):
        image_folder(root)  # at the first image, which gives the size of all
    for image in root.glob("*/*.png"):
        image.write_bytes(b"unreadable")  # with a size, the bound comes before any image is read
    monkeypatch.setattr(folders, "MAX_TRAINING_BYTES", 9 * 3 * 16 * 16 * 4 - 1)
    with pytest.raises(ImageError, match="9 images of 3x16x16"):
        image_folder(root, {"size": 16})


# --- torchvision networks and the save formats -----------------------------------------------------------------

def test_torchvision_names_are_architectures_and_unknown_ones_get_a_hint():
    net = get_architecture("mobilenet_v3_small").create((3, 32, 32), 4)
    net.eval()
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 4)
    with pytest.raises(ModelError, match=r"did you mean resnet18\?"):
        get_architecture("resnet19")
    with pytest.raises(ModelError, match="takes 3-channel"):
        get_architecture("resnet18").create((1, 28, 28), 10)
    with pytest.raises(ModelError, match="does not take 3x16x16 images"):
        get_architecture("inception_v3").create((3, 16, 16), 3)


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    """resnet18 trained for 1 epoch on a tiny 3x32x32 folder (3 classes of 6 images)."""
    root = make_folder(tmp_path_factory.mktemp("colours") / "colours")
    data = image_folder(root)
    trainer = new_trainer("resnet18", data, {"epochs": 1, "batch_size": 4, "robust_steps": 1, "eval_images": 20})
    run_to_end(train_steps(trainer, data))
    return trainer, data


def test_resnet18_trains_an_epoch_on_a_folder(resnet):
    trainer, data = resnet
    record = trainer.history[0]
    assert trainer.epochs_done == 1 and np.isfinite(record.loss) and record.robust_accuracy is not None
    assert trainer.model.input_shape == (3, 32, 32) and trainer.model.class_names == data.class_names


@pytest.mark.parametrize("suffix", [".pt", ".ts", ".pt2"])
def test_each_save_format_loads_again_with_the_same_predictions(resnet, tmp_path, suffix):
    trainer, data = resnet
    model_file, sidecar = save_trained(trainer, tmp_path / f"net{suffix}")
    assert sidecar == tmp_path / "net.json" and sidecar.is_file()
    loaded = load_model(str(model_file), "cpu")  # no trust given: a .pt2 we wrote holds nothing that runs code
    assert loaded.input_shape == (3, 32, 32) and loaded.class_names == data.class_names
    images = torch.cat([data.heldout_images, data.images])
    with torch.no_grad():
        expected, got = trainer.model(images), loaded(images)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert torch.equal(got.argmax(dim=1), expected.argmax(dim=1))
    if suffix == ".pt":
        stored = torch.load(model_file, weights_only=True)
        assert set(stored) == {"state_dict", "resume"} and loaded.warning is None
        assert loaded.training["epochs_done"] == 1
    else:
        assert "program" in loaded.warning  # TorchScript and torch.export files run code when called
    if suffix == ".pt2":
        assert pt2_code_risks(model_file.read_bytes()) == []


def test_a_name_whose_sidecar_belongs_to_another_model_file_is_refused(resnet, tmp_path):
    trainer, _ = resnet
    save_trained(trainer, tmp_path / "net.pt")
    before = (tmp_path / "net.json").read_text()
    with pytest.raises(ParameterError, match="would overwrite net.json, the sidecar of net.pt"):
        save_trained(trainer, tmp_path / "net.pt2")
    assert (tmp_path / "net.json").read_text() == before and not (tmp_path / "net.pt2").exists()
    with pytest.raises(ParameterError, match="not as .onnx"):
        save_trained(trainer, tmp_path / "net.onnx")


# --- stop and continue from a file -----------------------------------------------------------------------------

def small_digits(count: int = 300):
    digits = training_digits()
    chosen = torch.randperm(len(digits.images), generator=torch.Generator().manual_seed(0))[:count]
    return type(digits)(digits.images[chosen], digits.labels[chosen], digits.heldout_images[:100],
                        digits.heldout_labels[:100], digits.class_names, "small", "mnist", digits.mean, digits.std)


def test_a_run_stopped_mid_epoch_and_continued_from_its_file_ends_as_an_uninterrupted_one(tmp_path):
    """mnist-cnn has dropout: the global generator is saved too, so even its masks continue as they would."""
    data = small_digits()
    settings = {"epochs": 2, "batch_size": 32, "robust_steps": 0, "seed": 3}
    whole = run_to_end(train_steps(new_trainer("mnist-cnn", data, settings), data))

    control = RunControl(frame_interval=None)
    stopped = new_trainer("mnist-cnn", data, settings)
    for progress in train_steps(stopped, data, control=control):
        if progress.epoch == 2 and progress.batch == 4:
            control.stop()
    assert stopped.stopped and stopped.epochs_done == 1 and stopped.partial.batches_done == 4
    save_trained(stopped, tmp_path / "stopped.pt")
    assert load_model(str(tmp_path / "stopped.pt"), "cpu").training["stopped_after_batches"] == 4

    torch.manual_seed(12345)  # whatever ran in between
    resumed = continue_trainer(saved_run(tmp_path / "stopped.pt"), data)
    assert resumed.epochs_done == 1 and resumed.partial.batches_done == 4 and len(resumed.history) == 1
    run_to_end(train_steps(resumed, data))
    assert resumed.epochs_done == 2 and resumed.partial is None
    for name, tensor in whole.model.module.state_dict().items():
        assert torch.equal(tensor, resumed.model.module.state_dict()[name]), name
    assert [(r.loss, r.clean_accuracy) for r in resumed.history] == [(r.loss, r.clean_accuracy)
                                                                      for r in whole.history]


def test_programs_and_files_without_their_training_state_cannot_be_continued(resnet, tmp_path):
    trainer, _ = resnet
    for suffix, message in ((".ts", "a TorchScript program is not trainable here"),
                            (".pt2", "a torch.export program is not trainable here")):
        path, _ = save_trained(trainer, tmp_path / suffix.strip(".") / f"net{suffix}")
        with pytest.raises(ModelError, match=message):
            saved_run(path)
    path, sidecar = save_trained(trainer, tmp_path / "plain" / "net.pt")
    torch.save(trainer.model.module.net.state_dict(), path)  # the weights only, as another tool saves them
    with pytest.raises(ModelError, match="without the training state"):
        saved_run(path)
    sidecar.unlink()
    with pytest.raises(ModelError, match="has no sidecar net.json"):
        saved_run(path)


def test_a_lone_last_image_joins_the_batch_before_it():
    assert [len(chunk) for chunk in batches_of(torch.arange(9), 4)] == [4, 5]
    assert [len(chunk) for chunk in batches_of(torch.arange(9), 3)] == [3, 3, 3]
    assert [len(chunk) for chunk in batches_of(torch.arange(1), 4)] == [1]


# --- the command line ------------------------------------------------------------------------------------------

def test_cli_trains_a_folder_with_resnet18_saves_each_format_and_continues(tmp_path, capsys):
    import main

    root = make_folder(tmp_path / "colours")
    out = tmp_path / "out"
    common = ["--param", "robust_steps=0", "--param", "batch_size=8"]
    assert main.main(["train", "--arch", "resnet18", "--data", str(root), "--param", "epochs=1", *common,
                      "--param", "heldout=0.34", "--out", str(out / "net.pt")]) == 0
    assert "held-out accuracy" in capsys.readouterr().out
    assert main.main(["train", "--resume", str(out / "net.pt"), "--param", "epochs=2",
                      "--out", str(out / "more.pt")]) == 0
    captured = capsys.readouterr()
    assert "continuing net.pt: 1 epoch done, up to 2 epochs" in captured.err and "2 of 2 epochs" in captured.out
    more = load_model(str(out / "more.pt"), "cpu")
    assert more.training["epochs_done"] == 2 and len(more.training["history"]) == 2
    assert more.training["data"]["heldout"] == 0.34  # the folder options travel with the run
    assert main.main(["train", "--resume", str(out / "more.pt"), "--out", str(out / "final.pt2")]) == 2
    assert "has done 2 of its 2 epochs" in capsys.readouterr().err
    assert main.main(["train", "--arch", "mobilenet_v3_small", "--data", str(root), "--param", "epochs=1",
                      *common, "--out", str(out / "mobile.ts")]) == 0
    assert load_model(str(out / "mobile.ts"), "cpu").class_names == ("blue", "green", "red")


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, resnet):
    """Folders and model files that `train` must refuse."""
    tmp_path = tmp_path_factory.mktemp("bad")
    good = make_folder(tmp_path / "good", per_class=2)
    _no_subfolders(tmp_path / "flat")
    _empty_class(tmp_path / "empty")
    mixed = make_folder(tmp_path / "mixed", per_class=2)
    Image.new("RGB", (16, 16)).save(mixed / "red" / "small.png")
    save_trained(resnet[0], tmp_path / "models" / "net.ts")
    save_trained(resnet[0], tmp_path / "bare" / "net.pt")
    (tmp_path / "bare" / "net.json").unlink()
    return tmp_path, good


@pytest.mark.parametrize("args,message", [
    (["--arch", "mlp", "--data", "{root}/flat"], "has no class subfolders"),
    (["--arch", "mlp", "--data", "{root}/empty"], "violet holds no images"),
    (["--arch", "mlp", "--data", "{root}/mixed"], "--param size=N"),
    (["--arch", "mlp", "--data", "{root}/missing"], "no folder"),
    (["--arch", "mlp", "--data", "{root}/good", "--param", "lr=nan"], "lr must be a finite number"),
    (["--arch", "mlp", "--data", "{root}/good", "--param", "heldout=1"], "heldout must be below 1"),
    (["--arch", "mlp", "--param", "size=32"], "size is an option of image folders"),
    (["--arch", "resnet18"], "resnet18 takes 3-channel"),
    (["--resume", "{root}/models/net.ts"], "a TorchScript program is not trainable here"),
    (["--resume", "{root}/bare/net.pt"], "has no sidecar"),
    (["--resume", "{root}/missing.pt"], "no model file"),
])
def test_cli_bad_input_is_one_readable_line_and_writes_nothing(bad_inputs, tmp_path, capsys, args, message):
    import main

    root, _ = bad_inputs
    out = tmp_path / "out"
    status = main.main(["train", *[arg.format(root=root) for arg in args], "--out", str(out / "m.pt")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and message in lines[0], lines
    assert not out.exists() or not list(out.iterdir())


def test_cli_refuses_another_arch_or_defense_for_a_continued_run(resnet, tmp_path, capsys):
    import main

    save_trained(resnet[0], tmp_path / "net.pt")
    for flag, value in (("--arch", "mlp"), ("--defense", "pgd")):
        status = main.main(["train", "--resume", str(tmp_path / "net.pt"), flag, value, "--out",
                            str(tmp_path / "o.pt")])
        assert status == 2 and f"was trained with {flag} " in capsys.readouterr().err
    status = main.main(["train", "--resume", str(tmp_path / "net.pt"), "--param", "lr=0.1", "--out",
                        str(tmp_path / "o.pt")])
    assert status == 2 and "only epochs can be given" in capsys.readouterr().err
    assert not (tmp_path / "o.pt").exists()


def test_ctrl_c_saves_the_weights_reached_and_the_run_continues_from_them(tmp_path):
    root = make_folder(tmp_path / "colours", per_class=4, size=(8, 8))
    out = tmp_path / "net.pt"
    command = [sys.executable, str(ROOT / "main.py"), "train", "--arch", "mlp", "--data", str(root),
               "--param", "epochs=10000", "--param", "robust_steps=0", "--param", "hidden=16", "--out", str(out)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in process.stdout:
            if line.startswith("epoch 3:"):
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "stopped by SIGINT" in err and f"--resume {out}" in err
    saved = saved_run(out)
    done = int(saved.state["epochs_done"])
    assert 3 <= done < 10000
    import main
    assert main.main(["train", "--resume", str(out), "--param", f"epochs={done + 2}", "--out", str(out)]) == 0
    assert load_model(str(out), "cpu").training["epochs_done"] == done + 2


def test_batch_norm_networks_refuse_batches_of_one_image(tmp_path):
    data = image_folder(make_folder(tmp_path / "d", per_class=2))
    with pytest.raises(ParameterError, match="batch_size=1: resnet18 has batch norm"):
        new_trainer("resnet18", data, {"batch_size": 1})
    assert new_trainer("mlp", data, {"batch_size": 1}).params["batch_size"] == 1
