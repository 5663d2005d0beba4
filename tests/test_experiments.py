"""Attacks over a dataset: the papers' table numbers, threshold rates and the exported statistics."""
import csv
import json

import numpy as np
import pytest
import torch

from engine.attacks import get_attack
from engine.data import heldout_digits
from engine.experiments import attack_dataset, export_stats
from engine.export import export_result
from engine.core.run import run_to_end


def run_over(model, dataset, name, batch_size=256, **given):
    spec = get_attack(name)
    progress = []
    stats = run_to_end(attack_dataset(spec, model, dataset, spec.resolve(given, model.domain),
                                      batch_size=batch_size), progress.append)
    return stats, progress


@pytest.fixture(scope="module")
def digits(mnist_model):
    return heldout_digits(mnist_model, 48)


def test_only_correct_digits_are_attacked_and_the_table_adds_up(mnist_model, digits):
    stats, progress = run_over(mnist_model, digits, "deepfool", batch_size=20)
    _, predictions = mnist_model.predict(digits.images)
    correct = (predictions == digits.labels).numpy()
    assert stats.accuracy == pytest.approx(correct.mean())
    assert stats.indices.tolist() == np.flatnonzero(correct).tolist()
    assert stats.success_rate == 1.0 and stats.size_name == "L2"
    assert np.allclose(stats.sizes, stats.result.l2.numpy())
    assert progress[-1].done == progress[-1].total == len(stats.indices)
    assert [p.done for p in progress if p.step is None] == [20, 40, len(stats.indices)][: 3]
    row = stats.table_row()
    assert row["success"] == 1.0 and row["average_iterations"] == pytest.approx(stats.iterations.mean(), abs=0.01)


def test_adef_statistics_use_the_field_norm_and_the_three_pixel_line(mnist_model, digits):
    stats, _ = run_over(mnist_model, digits.select(range(16)), "adef", preset="mnist")
    assert stats.size_name == "tau_T" and stats.default_threshold == 3.0
    assert np.allclose(stats.sizes, stats.result.extras["field_norm"])
    under = stats.success_under(3.0)
    assert under == pytest.approx(float((stats.fooled & (stats.sizes <= 3.0)).mean()))
    assert stats.success_under(0.0) == 0.0 and stats.success_under(1e9) == stats.success_rate
    counts, edges = stats.histogram(bins=10)
    assert counts.sum() == stats.fooled.sum() and len(edges) == 11


def test_statistics_and_fields_export(tmp_path, mnist_model, digits):
    stats, _ = run_over(mnist_model, digits.select(range(4)), "adef", preset="mnist")
    files = export_stats(stats, tmp_path / "stats")
    rows = list(csv.DictReader(open(files[0])))
    assert len(rows) == len(stats.fooled) and "tau_T" in rows[0]
    summary = json.loads(files[1].read_text())
    assert summary["table"]["success_tau_T<=3"] == round(stats.success_under(3.0), 4)
    export_result(stats.result, mnist_model, tmp_path / "images")
    field = np.load(tmp_path / "images" / "0000_field.npy")
    assert field.shape == (2, 28, 28) and np.allclose(field, stats.result.extras["field"][0])
    assert (tmp_path / "images" / "0000_field.png").exists()


def test_a_dataset_the_model_gets_all_wrong_is_refused(mnist_model, digits):
    wrong = digits.select(range(4))
    _, predictions = mnist_model.predict(wrong.images)
    wrong.labels = (predictions + 1) % 10
    from engine.core.errors import AdvLensError
    with pytest.raises(AdvLensError, match="none of these images"):
        run_over(mnist_model, wrong, "fgsm")


def test_adef_runs_on_imagenet_architectures_with_random_weights():
    from engine.data import sample_photographs
    from engine.models import load_model
    for name in ("inception_v3:random", "resnet101:random"):
        model = load_model(name, "cpu")
        photo = sample_photographs(model).images[:1]
        spec = get_attack("adef")
        stats = run_to_end(attack_dataset(spec, model, _unlabelled(photo),
                                          spec.resolve({"preset": "imagenet", "max_iter": 3}, model.domain)))
        field = stats.result.extras["field"]
        assert field.shape == (1, 2) + model.input_shape[1:] and np.isfinite(field).all()


def _unlabelled(images: torch.Tensor):
    from engine.data import ImageBatch
    return ImageBatch(images, [f"photo {i}" for i in range(len(images))])


def test_summary_json_is_strict_json_and_uses_the_screens_bins(tmp_path):
    from engine.experiments import DatasetStats

    stats = DatasetStats("deepfool", "m", {"overshoot": float("inf"), "eps": np.float32(0.5)}, ["a", "b", "c"],
                         np.arange(3), np.array([True, True, False]), np.array([3, 4, 50]),
                         np.array([0.5, 1.5, np.inf]), "L2", 3, 1.0)
    export_stats(stats, tmp_path)

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    summary = json.loads((tmp_path / "summary.json").read_text(), parse_constant=refuse)
    assert summary["params"]["overshoot"] == "inf" and summary["params"]["eps"] == 0.5
    assert len(summary["histogram"]["counts"]) == stats.histogram_bins == 10
    assert sum(summary["histogram"]["counts"]) == 2
