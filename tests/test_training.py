"""Training from scratch (issue 14, first part): the shipped training digits, the architectures, the training
loop with stop and continue, the defenses' losses, and a trained model saved and loaded again by file name."""
import csv
import time

import numpy as np
import pytest
import torch

from engine.architectures import ARCHITECTURES
from engine.attacks.base import RunControl
from engine.core.errors import ModelError, ParameterError
from engine.core.run import run_to_end
from engine.models import load_model
from engine.training import batch_loss, defense_params, new_trainer, train_steps, training_digits
from engine.training.saving import save_trained


@pytest.fixture(scope="module")
def digits():
    return training_digits()


def test_the_training_digits_ship_and_never_overlap_the_heldout_ones(digits):
    assert digits.images.shape == (4000, 1, 28, 28) and len(digits.heldout_images) == 1000
    assert np.bincount(digits.labels.numpy()).tolist() == [400] * 10
    train = {bytes(image) for image in (digits.images.numpy() * 255).round().astype(np.uint8)}
    heldout = {bytes(image) for image in (digits.heldout_images.numpy() * 255).round().astype(np.uint8)}
    assert len(train & heldout) <= 5  # MNIST holds a few identical digits; the split is by position


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_architecture_builds_for_digits_and_says_what_it_cannot_take(arch):
    net = ARCHITECTURES[arch].create((1, 28, 28), 10)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    if ARCHITECTURES[arch].digits_only:
        with pytest.raises(ModelError, match="1x28x28"):
            ARCHITECTURES[arch].create((3, 32, 32), 10)


def test_the_builtin_architecture_reaches_97_percent_within_three_minutes(digits, tmp_path):
    """Seeds 0, 1, 2 first reach >= 0.97 (on all 1,000 held-out digits) at epochs 5, 3, 3 (6 epochs: 19-36 s
    here); the test allows 8 epochs, the bound of 3 minutes is the issue's."""
    trainer = new_trainer("mnist-cnn", digits, {"epochs": 8, "robust_steps": 0, "eval_images": 1000})
    started = time.perf_counter()
    for progress in train_steps(trainer, digits):
        if progress.record and progress.record.clean_accuracy >= 0.97:
            break
    assert trainer.history[-1].clean_accuracy >= 0.97
    assert time.perf_counter() - started < 180
    model_file, sidecar = save_trained(trainer, tmp_path / "digits.pt")
    loaded = load_model(str(model_file), "cpu")
    assert loaded.input_shape == (1, 28, 28) and loaded.class_names == digits.class_names
    assert sidecar.is_file() and "mnist-cnn" in loaded.source
    with torch.no_grad():
        torch.testing.assert_close(loaded(digits.heldout_images[:50]), trainer.model(digits.heldout_images[:50]))


def test_a_stopped_run_keeps_its_epochs_and_continues_from_its_weights(digits):
    small = type(digits)(digits.images[:256], digits.labels[:256], digits.heldout_images[:100],
                         digits.heldout_labels[:100], digits.class_names, "small", "mnist", digits.mean, digits.std)
    settings = {"epochs": 2, "robust_steps": 0, "batch_size": 32, "seed": 3}
    whole = run_to_end(train_steps(new_trainer("mlp", small, settings), small))

    control = RunControl(frame_interval=None)
    resumed = new_trainer("mlp", small, settings)
    for progress in train_steps(resumed, small, control=control):
        if progress.epoch == 2 and progress.batch == 3:
            control.stop()
    assert resumed.stopped and resumed.epochs_done == 1
    # a stop ends the epoch early; continuing starts epoch 2 again from the weights reached
    run_to_end(train_steps(resumed, small))
    assert resumed.epochs_done == 2 and not resumed.stopped and len(resumed.history) == 2
    first, same = resumed.history[0], whole.history[0]
    assert (first.loss, first.clean_accuracy) == (same.loss, same.clean_accuracy)  # seeded: the same epoch 1


def test_defended_losses_use_the_engines_attacks(digits):
    trainer = new_trainer("mlp", digits, {"seed": 1})
    x, y = digits.images[:16], digits.labels[:16]
    clean = batch_loss(trainer.model, x, y, "none", {}, seed=0)
    for defense in ("fgsm", "pgd"):
        options = defense_params(defense, {"steps": 5} if defense == "pgd" else {})
        loss = batch_loss(trainer.model, x, y, defense, options, seed=0)
        assert loss > clean  # adversarial examples raise the loss of an untrained net
        loss.backward()  # the loss reaches the weights
    with pytest.raises(ParameterError, match="unknown defense"):
        defense_params("magic")


def test_training_refuses_images_of_another_shape(digits):
    trainer = new_trainer("mlp", digits)
    other = type(digits)(torch.rand(4, 3, 8, 8), torch.zeros(4, dtype=torch.long), torch.rand(2, 3, 8, 8),
                         torch.zeros(2, dtype=torch.long), digits.class_names, "other")
    with pytest.raises(ParameterError, match="3x8x8"):
        run_to_end(train_steps(trainer, other))


def test_cli_train_writes_a_model_that_the_other_commands_load(tmp_path, capsys):
    import main

    out = tmp_path / "mlp.pt"
    status = main.main(["train", "--arch", "mlp", "--param", "epochs=1", "--param", "robust_steps=2",
                        "--param", "hidden=64", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "held-out accuracy" in captured.out and "--model" in captured.out
    assert main.main(["run", "fgsm", "--model", str(out), "--images", "samples", "--out",
                      str(tmp_path / "o.npz")]) == 0
    with np.load(tmp_path / "o.npz") as arrays:
        assert arrays["fooled"].mean() > 0.5  # an undefended MLP falls to FGSM at eps 0.3


@pytest.mark.parametrize("args,message", [
    (["--arch", "nope"], "unknown architecture"),
    (["--arch", "mlp", "--param", "hidden=abc"], "hidden"),
    (["--arch", "mlp", "--param", "eps=0.1"], "unknown parameter 'eps'"),
    (["--arch", "mlp", "--defense", "magic"], "unknown defense"),
    (["--arch", "mlp", "--param", "lr=nan"], "lr must be a finite number"),
    (["--arch", "mnist-cnn", "--data", "elsewhere/"], "only `samples`"),
])
def test_cli_train_refuses_bad_settings_before_the_work(tmp_path, capsys, args, message):
    import main

    status = main.main(["train", *args, "--out", str(tmp_path / "m.pt")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and message in lines[0]
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def two_mlps(digits):
    """One architecture trained on two disjoint halves: the cross-training-set case."""
    from engine.training import disjoint_halves

    models = []
    for half in disjoint_halves(digits):
        trainer = new_trainer("mlp", half, {"epochs": 2, "robust_steps": 0, "seed": 5})
        models.append(run_to_end(train_steps(trainer, half)).model)
    return models


def test_transfer_matrix_has_a_strong_diagonal_and_a_weak_noise_row(two_mlps, mnist_model, heldout, tmp_path):
    from engine.training.comparisons import export_transfer, transfer_matrix

    images = heldout.select(range(200))
    matrix = run_to_end(transfer_matrix([mnist_model, *two_mlps], images, "pgd", {"steps": 20}))
    assert matrix.sources[-1] == "noise" and matrix.flip_rate.shape == (4, 3)
    assert (np.diag(matrix.flip_rate[:3]) >= 0.9).all()  # white box
    assert (matrix.flip_rate[-1] <= 0.1).all()  # noise of the same L2 size
    assert matrix.flip_rate[1, 2] > matrix.flip_rate[-1, 2]  # images made on one half fool the other half's net
    files = export_transfer(matrix, tmp_path)
    with open(tmp_path / "matrix.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][1:] == list(matrix.targets) and [row[0] for row in rows[1:]] == list(matrix.sources)
    assert all(0 <= float(v) <= 1 for row in rows[1:] for v in row[1:])
    assert (tmp_path / "matrix.png") in files


def test_robustness_table_counts_success_on_correctly_classified_images(two_mlps, mnist_model, heldout, tmp_path):
    from engine.training.comparisons import ROBUSTNESS_ATTACKS, export_robustness, robustness_table

    images = heldout.select(range(60))
    rows = run_to_end(robustness_table([mnist_model, two_mlps[0]], images,
                                       {"adef": {"max_iter": 20}, "deepfool": {"max_iter": 20}}))
    assert [row.defense for row in rows] == ["none", "none"]
    assert set(rows[0].success) == set(ROBUSTNESS_ATTACKS)
    assert rows[0].success["pgd"] >= 0.95 and rows[1].success["fgsm"] >= rows[0].success["fgsm"]
    export_robustness(rows, tmp_path)
    lines = (tmp_path / "robustness.csv").read_text().splitlines()
    assert lines[0].startswith("model,defense,accuracy") and len(lines) == 3


def test_models_of_different_inputs_are_refused_before_any_attack(mnist_model, heldout):
    from engine.models import load_model
    from engine.training.comparisons import transfer_matrix

    with pytest.raises(ParameterError, match="different inputs"):
        run_to_end(transfer_matrix([mnist_model, load_model("resnet18:random", "cpu")], heldout.select(range(4))))


@pytest.mark.parametrize("power", [2, 30])
def test_repu_learns_for_small_and_large_powers(digits, power):
    """max(h, 0)^30 overflowed before the units were normalised (loss 1e15); now n = 30 learns like n = 2."""
    trainer = new_trainer("repu", digits, {"epochs": 1, "robust_steps": 0, "lr": 3e-3}, {"n": power})
    record = run_to_end(train_steps(trainer, digits)).history[0]
    assert np.isfinite(record.loss) and record.loss < 2.2  # chance: ln 10 = 2.30; measured 1.76-1.81 (seeds 0-2)
    assert record.clean_accuracy > 0.5  # chance is 0.1; measured 0.69-0.92 after one epoch (seeds 0-2)


def test_cli_transfer_and_robustness_write_their_tables(tmp_path, capsys):
    import main

    model_file = tmp_path / "mlp.pt"
    assert main.main(["train", "--arch", "mlp", "--param", "epochs=1", "--param", "robust_steps=0",
                      "--out", str(model_file)]) == 0
    models = ["mnist-cnn", str(model_file)]
    assert main.main(["transfer", "--models", *models, "--count", "40", "--param", "steps=10",
                      "--out", str(tmp_path / "transfer")]) == 0
    rows = (tmp_path / "transfer" / "matrix.csv").read_text().splitlines()
    assert rows[0] == "source,mnist-cnn,mlp" and [r.split(",")[0] for r in rows[1:]] == ["mnist-cnn", "mlp", "noise"]
    assert main.main(["robustness", "--models", *models, "--count", "30", "--param", "adef.max_iter=10",
                      "--param", "deepfool.max_iter=10", "--out", str(tmp_path / "table")]) == 0
    lines = (tmp_path / "table" / "robustness.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[1].startswith("mnist-cnn,none,") and lines[2].startswith("mlp,none,")
    assert "label-flip rate" in capsys.readouterr().out
    assert main.main(["robustness", "--models", "mnist-cnn", "--param", "eps=0.1", "--out", str(tmp_path / "x")]) == 2
