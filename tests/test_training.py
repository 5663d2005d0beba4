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
from engine.training import TrainingData, batch_loss, defense_params, new_trainer, train_steps, training_digits
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
    (["--arch", "mnist-cnn", "--data", "elsewhere/"], "no folder elsewhere"),
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


def test_krotov_steps_move_each_row_by_the_learning_rate_and_clip():
    from engine.training.recipes import KrotovSteps

    weight = torch.nn.Parameter(torch.tensor([[0.5, -0.2, 0.0], [0.9, 0.0, 0.0]]))
    steps = KrotovSteps([weight], lr=0.2, momentum=0.6)
    weight.grad = torch.tensor([[1e-20, -4e-20, 2e-20], [-3.0, 0.0, 0.0]])  # scales 20 orders apart
    steps.step()
    assert torch.allclose(weight.data[0], torch.tensor([0.45, 0.0, -0.1]))  # largest step = lr, whatever the scale
    assert weight.data[1, 0] == 1.0  # 0.9 + 0.2 clipped to 1
    weight.grad = torch.zeros_like(weight)
    before = weight.data.clone()
    steps.step()  # momentum alone: the velocity decayed by 0.6, still normalised to lr
    assert torch.allclose((weight.data - before)[0].abs().max(), torch.tensor(0.2))


def test_random_affine_draws_one_transform_per_image():
    from engine.training.recipes import random_affine

    images = torch.rand(6, 1, 28, 28)
    same = random_affine(images, torch.Generator().manual_seed(0), shift=0.0, degrees=0.0, scale=0.0)
    assert torch.allclose(same, images, atol=1e-5)
    moved = random_affine(images[:1].expand(6, -1, -1, -1), torch.Generator().manual_seed(0))
    assert moved.shape == images.shape and len({round(float(m.sum()), 3) for m in moved}) == 6


def test_dense_associative_memory_scores_match_the_energy_difference_without_overflow():
    from engine.architectures import DenseAssociativeMemory

    torch.manual_seed(0)
    net = DenseAssociativeMemory(784, 10, 50, power=3, loss_power=30, temperatures=(20.0, 20.0, 0))
    v = torch.rand(4, 784) * 2 - 1
    xi = net.memories.detach().double()
    expected = torch.zeros(4, 10, dtype=torch.float64)
    for alpha in range(10):  # the definition: class unit alpha at +1 or -1, the other class units at -1
        for sign, weight in ((1, 1), (-1, -1)):
            labels = -torch.ones(4, 10, dtype=torch.float64)
            labels[:, alpha] = sign
            energy = torch.relu(torch.cat([v.double(), labels], 1) @ xi.T) ** 3
            expected[:, alpha] += weight * energy.sum(1) / 20.0 ** 3
    assert torch.allclose(net(v).double(), expected, rtol=1e-4, atol=1e-6)
    strong = DenseAssociativeMemory(784, 10, 1000, power=30, loss_power=30, temperatures=(250.0, 250.0, 0))
    assert torch.isfinite(strong(torch.ones(8, 784))).all()  # (x / T)^30, not x^30 / T^30 (1e86 overflows)


def test_repu_follows_its_recipe_and_reloads_with_its_temperature(digits, tmp_path):
    small = TrainingData(digits.images[::8], digits.labels[::8], digits.heldout_images[:200],
                         digits.heldout_labels[:200], digits.class_names, "small", "mnist")
    trainer = new_trainer("repu", small, {"epochs": 3, "robust_steps": 0}, {"n": 30, "memories": 100, "t_ramp": 4})
    assert trainer.params["optimizer"] == "krotov" and trainer.params["augment"]  # its recipe
    assert trainer.model.module.normalize.mean.flatten().tolist() == [0.5]  # pixels in [-1, 1]
    run_to_end(train_steps(trainer, small))
    net = trainer.model.module.net
    assert float(net.temperature) == pytest.approx(975 + (650 - 975) * 2 / 4)  # the ramp, at the third epoch
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.04 * 0.998 ** 3)
    assert net.memories.abs().max() <= 1.0
    model_file, _ = save_trained(trainer, tmp_path / "repu.pt")
    again = load_model(str(model_file), "cpu")
    x = digits.heldout_images[:16]
    assert torch.equal(again.module(x), trainer.model.module(x))


def test_repu_with_n_30_learns_where_plain_powers_overflowed(digits):
    """(x / T)^30 with Krotov's normalised steps: 30 short epochs of 100 memories reach 42-47% held-out accuracy
    (seeds 0-2; chance 10%, an overflow or a dead net stays at 10%); the full recipe reaches 96% in 300."""
    trainer = new_trainer("repu", digits, {"epochs": 30, "robust_steps": 0, "eval_images": 1000},
                          {"n": 30, "memories": 100, "t_ramp": 10})
    record = run_to_end(train_steps(trainer, digits)).history[-1]
    assert np.isfinite(record.loss) and record.clean_accuracy > 0.2


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
