"""Exports re-load and still fool the model; rounding that undoes an attack is reported."""
import csv
import json

import numpy as np
import torch
from PIL import Image

from engine.attacks import get_attack, run_to_end
from engine.attacks.base import AttackResult
from engine.attacks.criteria import Misclassification
from engine.data import load_images
from engine.export import export_result, perturbation_rgb, quantize


def test_exported_adversarial_pngs_reload_and_still_fool(tmp_path, mnist_model, correct_digits):
    images = correct_digits[0][:6]
    spec = get_attack("pgd")
    result = run_to_end(spec.fn(mnist_model, images, **spec.resolve({}, "mnist")))
    report = export_result(result, mnist_model, tmp_path, [f"d{i}" for i in range(6)])
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert len(rows) == 6 and rows[0]["name"] == "d0"
    reloaded = load_images([tmp_path / f"{i:04d}_adversarial.png" for i in range(6)], mnist_model)
    assert torch.allclose(reloaded.images, quantize(result.adversarial))
    _, predictions = mnist_model.predict(reloaded.images)
    still_fooled = predictions != result.labels
    assert [r["fooled_after_rounding"] == "True" for r in rows] == still_fooled.tolist()
    assert report.rounding_undone == [i for i in range(6) if result.fooled[i] and not still_fooled[i]]
    assert still_fooled.sum() >= 5
    document = json.loads((tmp_path / "metrics.json").read_text())
    assert document["attack"] == "pgd" and document["params"]["eps"] == 0.3
    with np.load(tmp_path / "result.npz") as arrays:
        assert arrays["adversarial"].shape == (6, 1, 28, 28) and arrays["fooled"].dtype == bool
    figure = Image.open(tmp_path / "0000_figure.png")
    assert figure.width > 3 * 28 * 9  # three enlarged panels
    natural = np.asarray(Image.open(tmp_path / "0000_natural.png"))
    assert natural.dtype == np.uint8 and natural.shape == (28, 28)


def test_rounding_that_undoes_an_attack_is_reported(tmp_path, mnist_model, correct_digits):
    images, labels = correct_digits[0][:2], correct_digits[1][:2]
    probs_before, _ = mnist_model.predict(images)
    claimed_after = torch.roll(probs_before, 1, dims=1)  # as if a sub-grey-level change had flipped both
    result = AttackResult("pgd", {"eps": 0.001}, images, images + 0.1 / 255, labels, Misclassification(labels),
                          probs_before, claimed_after, torch.ones(2, dtype=torch.long), 0.0)
    report = export_result(result, mnist_model, tmp_path)
    assert report.rounding_undone == [0, 1]
    assert "rounding to 8 bits undid the attack on 2" in report.message()


def test_perturbation_colours_are_symmetric():
    delta = np.zeros((1, 2, 2), np.float32)
    delta[0, 0, 0], delta[0, 0, 1] = 0.1, -0.1
    rgb = perturbation_rgb(delta)
    assert rgb[0, 0, 0] > rgb[0, 0, 2] and rgb[0, 1, 2] > rgb[0, 1, 0]  # red positive, blue negative
    assert rgb[1, 0].min() > 240  # zero is (near) white
    colour = perturbation_rgb(np.zeros((3, 2, 2), np.float32))
    assert (colour == 128).all()


def test_a_targeted_stopped_run_says_its_target_and_where_it_stopped(mnist_model, correct_digits):
    from engine.core.control import RunControl
    from engine.export import figure_title

    images = correct_digits[0][:3]
    spec = get_attack("pgd")
    control = RunControl(frame_interval=None)
    steps = spec.fn(mnist_model, images, target=7, control=control, **spec.resolve({"steps": 40}, "mnist"))
    seen = []

    def stop_after_five(step):
        seen.append(step)
        if len(seen) == 5:
            control.stop()

    result = run_to_end(steps, stop_after_five)
    assert result.stopped
    title = figure_title(result, mnist_model)
    assert "targeted at 7" in title and f"stopped at step {int(result.steps_used.max())} of 40" in title
