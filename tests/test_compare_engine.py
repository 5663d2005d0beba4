"""What the comparisons keep per cell (the images each cell counted, shared with the run rather than copied), the
labelled image folders they read, the two halves of the cross-training-set case, and `transfer --cross-halves`."""
import csv

import numpy as np
import pytest
import torch
from PIL import Image

from engine.core import RunControl
from engine.core.errors import ImageError, ParameterError
from engine.core.run import run_to_end

LIGHT = {"pgd": {"steps": 5, "step": 0.1}, "adef": {"max_iter": 5, "candidates": 1},
         "deepfool": {"max_iter": 15, "candidates": 2}}


@pytest.fixture(scope="module")
def halves():
    from engine.training.halves import train_halves
    return run_to_end(train_halves("mlp", {"epochs": 1, "seed": 3}))


def test_two_halves_are_named_and_trained_on_different_digits(halves):
    assert [m.name for m in halves] == ["mlp half 1", "mlp half 2"]
    assert [m.source for m in halves] == ["trained here: mlp on samples half 1", "trained here: mlp on samples half 2"]
    first, second = (dict(m.module.named_parameters()) for m in halves)
    assert not torch.equal(first["net.1.weight"], second["net.1.weight"])


def test_a_stop_during_the_first_half_returns_no_net():
    from engine.training.halves import train_halves

    control = RunControl(frame_interval=None)
    run = train_halves("mlp", {"epochs": 2}, control=control)
    next(run)
    control.stop()
    assert run_to_end(run) == []


def test_half_settings_route_training_and_architecture_values():
    from engine.training.halves import half_settings

    training, options = half_settings("mlp", {"epochs": "2", "hidden": "32"})
    assert training["epochs"] == 2 and training["robust_steps"] == 0 and options["hidden"] == (32,)
    with pytest.raises(ParameterError, match="unknown parameter 'eps'.*epochs"):
        half_settings("mlp", {"eps": "0.1"})


def test_robustness_cells_are_the_runs_own_images(mnist_model, heldout, halves):
    from engine.training.comparisons import robustness_table

    images = heldout.select(range(20))
    rows = run_to_end(robustness_table([mnist_model, halves[0]], images, LIGHT))
    for row in rows:
        for attack, rate in row.success.items():
            cell = row.cell(attack)
            run = row.runs[attack]
            assert cell.adversarial is run.result.adversarial and cell.clean is run.result.original  # no copies
            assert cell.adversarial.device.type == "cpu" and len(cell) == len(run.fooled)
            assert float(cell.fooled.float().mean()) == pytest.approx(rate)
            assert list(cell.names) == [images.names[i] for i in run.indices]
            assert torch.equal(cell.labels, images.labels[torch.as_tensor(run.indices)])  # correctly classified
            assert (cell.probs_before.argmax(dim=1) == cell.labels).all()
    adef = rows[0].cell("adef")
    assert "<= 3" in adef.counted  # deformations count within ||tau||_T <= 3 pixels, as the talk's table


def test_transfer_cells_count_the_flips_of_their_column(mnist_model, heldout, halves):
    from engine.training.comparisons import transfer_matrix

    images = heldout.select(range(20))
    matrix = run_to_end(transfer_matrix([mnist_model, *halves], images, "pgd", LIGHT["pgd"]))
    for r in range(len(matrix.sources)):
        for c in range(len(matrix.targets)):
            cell = matrix.cell(r, c)
            assert cell.adversarial is matrix.shown[r] and cell.clean is matrix.clean
            assert float(cell.fooled.float().mean()) == pytest.approx(matrix.flip_rate[r, c])
            wrong = (cell.probs_after.argmax(dim=1) != cell.labels).float().mean()
            assert float(wrong) == pytest.approx(matrix.error[r, c])
    assert matrix.cell(3, 0).title == "Gaussian noise · shown to mnist-cnn"
    assert matrix.cell(1, 2).title == "made on mlp half 1 · shown to mlp half 2"


def write_digits(folder, heldout, classes):
    for label in classes:
        (folder / str(label)).mkdir(parents=True)
        for index in np.flatnonzero(heldout.labels.numpy() == label)[:3]:
            pixels = np.rint(heldout.images[index, 0].numpy() * 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / str(label) / f"{index}.png")


def test_a_folder_of_class_subfolders_gives_true_labels_classes_taking_turns(mnist_model, heldout, tmp_path):
    from engine.training.comparisons import labelled_folder

    write_digits(tmp_path, heldout, (3, 7))
    (tmp_path / "8").mkdir()  # a class without images: skipped with a note
    batch = labelled_folder(tmp_path, mnist_model)
    assert batch.labels.tolist() == [3, 7, 3, 7, 3, 7]
    assert len(batch.skipped) == 1 and "8" in batch.skipped[0]
    _, predictions = mnist_model.predict(batch.images)
    assert (predictions == batch.labels).float().mean() >= 5 / 6  # the digits read back as themselves


def test_folders_without_a_class_layout_are_one_readable_error(mnist_model, heldout, tmp_path):
    from engine.training.comparisons import labelled_folder

    with pytest.raises(ImageError, match="no class subfolders"):
        labelled_folder(tmp_path, mnist_model)
    (tmp_path / "cats").mkdir()
    with pytest.raises(ImageError, match="no class called 'cats'"):
        labelled_folder(tmp_path, mnist_model)


def test_cli_transfer_trains_the_two_halves_into_the_matrix(tmp_path, capsys):
    import main

    out = tmp_path / "transfer"
    assert main.main(["transfer", "--cross-halves", "mlp", "--models", "mnist-cnn", "--param", "epochs=1",
                      "--param", "steps=5", "--param", "step=0.1", "--count", "30", "--out", str(out)]) == 0
    with open(out / "matrix.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["source", "mnist-cnn", "mlp half 1", "mlp half 2"]
    assert [row[0] for row in rows[1:]] == ["mnist-cnn", "mlp half 1", "mlp half 2", "noise"]
    flips = np.array([[float(v) for v in row[1:]] for row in rows[1:]])
    assert (np.diag(flips[:3]) >= 0.9).all() and (flips[3] <= 0.1).all()
    assert "half 2, epoch 1" in capsys.readouterr().out


def test_cli_transfer_of_a_labelled_folder(mnist_model, heldout, tmp_path):
    import main

    write_digits(tmp_path / "digits", heldout, (1, 2, 3))
    assert main.main(["transfer", "--models", "mnist-cnn", "--images", str(tmp_path / "digits"), "--param",
                      "steps=5", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "matrix.csv").read_text().splitlines()[0] == "source,mnist-cnn"


@pytest.mark.parametrize("args,message", [
    ([], "--models: name the models"),
    (["--cross-halves", "nope"], "unknown architecture 'nope'"),
    (["--cross-halves", "mlp", "--param", "magic=1"], "unknown parameter 'magic'"),
    (["--models", "mnist-cnn", "--param", "epochs=1"], "pgd has no parameter 'epochs'"),
    (["--cross-halves", "mlp", "--models", "resnet18:random"], "resnet18:random takes 3x224x224 images"),
])
def test_cli_transfer_refuses_bad_settings_before_any_training(tmp_path, capsys, args, message):
    import main

    status = main.main(["transfer", *args, "--out", str(tmp_path / "out")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and message in lines[-1], lines
    assert not (tmp_path / "out" / "matrix.csv").exists()


def test_the_halves_of_repu_train_with_its_recipe():
    from engine.training.halves import half_settings

    training, _ = half_settings("repu", {"epochs": "2"})
    assert training["optimizer"] == "krotov" and training["lr"] == 0.04 and training["epochs"] == 2
    assert training["robust_steps"] == 0
