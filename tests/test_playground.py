"""The 2-D playground's engine (no Qt): true regions and sampling, the MLP and its training, the engine's attacks
in the plane and the post's three kinds, defenses, the linearity numbers and the CSV export."""
import csv
import math

import numpy as np
import pytest
import torch
from torch import nn

from engine.core import RunControl
from engine.core.errors import ParameterError
from engine.core.run import run_to_end
from engine.models import Classifier, LoadedModel
from engine.playground import (NEITHER, NEITHER_CLASS, NOT_SUCCESSFUL, OTHER_CLASS, PRESETS, SAME_CLASS,
                               AttackSettings, DefenseSettings, MlpConfig, Points, Regions, attack_points,
                               classify_kinds, defend, dog_probability, flip_steps, jittered_copies, kind_title,
                               parse_hidden, preset, probability_grid, sample_points, seed_example, sum_terms, train,
                               write_counts_csv, write_points_csv)
from engine.playground.mlp import TrainStep

ATTACK_CASES = [(method, norm) for method in ("FGSM", "PGD", "DeepFool") for norm in ("inf", "2")]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """These networks are tiny: on a CPU shared with other jobs, OpenMP teams of two threads make each of their
    small operations wait for a busy core (100x slower here). The results do not depend on the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def moons():
    regions = preset("two moons")
    points = sample_points(regions, 12, seed=1)
    return regions, points, run_to_end(train(points, MlpConfig(seed=1)))


def lane_regions() -> Regions:
    """Hand-made truth: cats where pixel 1 < 0.4, meaningless images up to 0.6, dogs beyond."""
    codes = np.full((100, 100), NEITHER, dtype=np.int8)
    codes[:, :40] = 0
    codes[:, 60:] = 1
    return Regions(codes)


def vertical_boundary(at: float) -> LoadedModel:
    """A linear classifier whose boundary is the line pixel 1 = `at`: cat on the left, dog on the right."""
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[-10.0, 0.0], [10.0, 0.0]]))
        layer.bias.copy_(torch.tensor([10 * at, -10 * at]))
    return LoadedModel(Classifier(nn.Sequential(nn.Flatten(), layer), (0.0,), (1.0,)), "line", (1, 1, 2),
                       ("cat", "dog"), "test", "custom")


# --- regions and points ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_have_both_classes_and_meaningless_images_and_samples_land_in_their_region(name):
    regions = preset(name)
    assert regions.area(0) > 0.03 and regions.area(1) > 0.03 and regions.area(NEITHER) > 0.4
    points = sample_points(regions, 20, seed=3)
    assert len(points) == 40 and set(points.labels) == {0, 1}
    np.testing.assert_array_equal(regions.code_at(points.xy), points.labels)
    assert points.xy.min() >= 0 and points.xy.max() <= 1


def test_painting_sets_the_cells_within_the_brush():
    regions = lane_regions()
    regions.paint((0.5, 0.5), (0.5, 0.5), 0.05, 1)  # a dab
    assert regions.code_at(np.array([[0.5, 0.5], [0.53, 0.5]])).tolist() == [1, 1]
    assert regions.code_at(np.array([[0.5, 0.6]]))[0] == NEITHER
    regions.paint((0.45, 0.2), (0.55, 0.3), 0.02, 0)  # a stroke covers the whole segment
    assert regions.code_at(np.array([[0.45, 0.2], [0.5, 0.25], [0.55, 0.3]])).tolist() == [0, 0, 0]
    assert regions.code_at(np.array([[0.45, 0.3]]))[0] == NEITHER
    with pytest.raises(ParameterError):
        regions.paint((0.5, 0.5), (0.5, 0.5), 0.05, 7)


def test_sampling_an_empty_region_says_which():
    regions = lane_regions()
    regions.codes[regions.codes == 1] = NEITHER
    with pytest.raises(ParameterError, match="dog region is empty"):
        sample_points(regions, 3)


def test_jittered_copies_stay_near_their_point_with_its_label():
    points = Points([[0.2, 0.3], [0.99, 0.5]], [0, 1])
    copies = jittered_copies(points, 5, 0.04, seed=1)
    assert len(copies) == 10 and copies.labels.tolist() == [0] * 5 + [1] * 5
    origin = np.repeat(points.xy, 5, axis=0)
    assert np.abs(copies.xy - origin).max() <= 0.04 + 1e-6 and copies.xy.max() <= 1


# --- the MLP ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["two blobs", "odd shapes (the post)"])
def test_the_mlp_fits_a_separable_training_set_perfectly(name):
    regions = preset(name)
    points = sample_points(regions, 10, seed=0)
    training = run_to_end(train(points, MlpConfig(hidden=(16, 16), steps=400)))
    assert training.accuracy == 1.0
    assert training.steps_done == 400 and training.loss < 0.05
    assert training.grid.shape == (200, 200) and 0 <= training.grid.min() and training.grid.max() <= 1


def test_training_streams_probability_frames_and_another_seed_draws_another_boundary():
    points = sample_points(preset("two blobs"), 6, seed=0)
    steps = []
    first = run_to_end(train(points, MlpConfig(steps=30, seed=0), control=RunControl(frame_interval=0.0),
                             resolution=50), steps.append)
    assert [s.iteration for s in steps] == list(range(1, 31))
    assert all(isinstance(s, TrainStep) and s.grid.shape == (50, 50) for s in steps)
    other = run_to_end(train(points, MlpConfig(steps=30, seed=1), resolution=50))
    again = run_to_end(train(points, MlpConfig(steps=30, seed=0), resolution=50))
    np.testing.assert_array_equal(first.grid, again.grid)  # seeded: the same seed, the same boundary
    assert np.abs(first.grid - other.grid).max() > 0.05


def test_bad_training_input_gets_a_clear_message():
    with pytest.raises(ParameterError, match="no training points"):
        run_to_end(train(Points.empty(), MlpConfig()))
    with pytest.raises(ParameterError, match="no dog"):
        run_to_end(train(Points([[0.1, 0.1], [0.2, 0.2]], [0, 0]), MlpConfig()))
    with pytest.raises(ParameterError, match="learning_rate must be a finite number"):
        run_to_end(train(Points([[0.1, 0.1], [0.9, 0.9]], [0, 1]), MlpConfig(learning_rate=math.nan)))
    with pytest.raises(ParameterError, match="activation"):
        MlpConfig(activation="softmax").check()
    assert parse_hidden("32, 16") == (32, 16)
    for text in ("", "a, 3"):
        with pytest.raises(ParameterError, match="hidden layers"):
            parse_hidden(text)


# --- attacks ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, norm", ATTACK_CASES)
def test_every_successful_attack_crosses_the_learned_boundary_within_eps(moons, method, norm):
    regions, points, training = moons
    eps = 0.08 if norm == "inf" else 0.11
    attack = run_to_end(attack_points(training.model, points, regions, AttackSettings(method, eps, norm)))
    success = attack.successful
    assert success.any()
    start_side = dog_probability(training.model, attack.start[success]) > 0.5
    end_side = dog_probability(training.model, attack.end[success]) > 0.5
    np.testing.assert_array_equal(end_side, ~start_side)
    np.testing.assert_array_equal(start_side, points.labels[success] == 1)  # it started on its own side
    delta = attack.end[success] - attack.start[success]
    length = np.abs(delta).max(axis=1) if norm == "inf" else np.linalg.norm(delta, axis=1)
    assert length.max() <= eps + 1e-5
    counts = attack.counts()
    assert counts.successful == success.sum() and counts.successful + counts.failed == counts.attacked


def test_deepfool_beyond_eps_is_not_a_success():
    model = vertical_boundary(0.3)
    points = Points([[0.1, 0.5]], [0])
    attack = run_to_end(attack_points(model, points, lane_regions(), AttackSettings("DeepFool", 0.1, "2")))
    assert attack.pred_after[0] == 1 and attack.size[0] > 0.2  # fooled, but 0.2 away
    assert not attack.successful[0] and attack.kinds[0] == NOT_SUCCESSFUL


@pytest.mark.parametrize("boundary, start, label, eps, kind", [
    (0.3, 0.25, 0, 0.1, SAME_CLASS),  # a cat moved within the cat region across a boundary drawn through it
    (0.5, 0.35, 0, 0.2, NEITHER_CLASS),  # a cat moved into meaningless images
    (0.65, 0.38, 0, 0.3, OTHER_CLASS),  # a cat moved into the dogs' region: the meaning changed
    (0.75, 0.8, 1, 0.1, SAME_CLASS),  # a dog moved within the dog region
    (0.5, 0.65, 1, 0.2, NEITHER_CLASS),
    (0.3, 0.1, 0, 0.05, NOT_SUCCESSFUL),  # too far from the boundary for this eps
])
def test_the_three_kinds_are_judged_by_the_true_region_where_the_attack_ends(boundary, start, label, eps, kind):
    points = Points([[start, 0.5]], [label])
    attack = run_to_end(attack_points(vertical_boundary(boundary), points, lane_regions(),
                                      AttackSettings("FGSM", eps, "inf")))
    assert attack.kinds.tolist() == [kind]
    np.testing.assert_allclose(attack.end[0, 0], start + (eps if label == 0 else -eps), atol=1e-6)


def test_kind_classification_and_titles():
    kinds = classify_kinds(np.array([0, NEITHER, 1, 1, 0]), np.array([0, 0, 0, 1, 1]),
                           np.array([True, True, True, True, False]))
    assert kinds.tolist() == [SAME_CLASS, NEITHER_CLASS, OTHER_CLASS, SAME_CLASS, NOT_SUCCESSFUL]
    assert kind_title(SAME_CLASS, ("cat", "dog"), 0) == "1: still a cat, misclassified"
    assert "now really a cat" in kind_title(OTHER_CLASS, ("cat", "dog"), 1)


def test_points_the_model_already_gets_wrong_are_counted_apart():
    points = Points([[0.2, 0.5], [0.35, 0.5]], [0, 0])  # the second one is on the dog side of 0.3
    attack = run_to_end(attack_points(vertical_boundary(0.3), points, lane_regions(), AttackSettings("FGSM", 0.15)))
    counts = attack.counts()
    assert (counts.attacked, counts.already_wrong, counts.same_class) == (1, 1, 1)


@pytest.mark.parametrize("eps", [math.nan, math.inf, -0.1, 0.0, 1.5])
def test_a_bad_eps_gets_a_clear_message(eps):
    with pytest.raises(ParameterError, match="eps"):
        run_to_end(attack_points(vertical_boundary(0.5), Points([[0.2, 0.5]], [0]), lane_regions(),
                                 AttackSettings("PGD", eps)))


# --- defenses --------------------------------------------------------------------------------------------------

def test_adversarial_training_lowers_successful_attacks_at_the_same_eps(moons):
    regions, points, training = moons
    attack = AttackSettings("PGD", 0.08, "inf")
    steps = []
    defense = run_to_end(defend(training.model, points, regions, MlpConfig(seed=1), attack,
                                DefenseSettings(adversarial=True, rounds=3)), steps.append)
    assert defense.counts_before.successful >= 5
    assert defense.counts_after.successful < defense.counts_before.successful / 2
    assert defense.after.settings == attack and np.array_equal(defense.after.start, points.xy)
    assert len(defense.added) > len(points) and steps  # the retraining streamed its steps


def test_augmentation_adds_jittered_copies_and_needs_a_defense_chosen(moons):
    regions, points, training = moons
    config = MlpConfig(steps=50, seed=1)
    defense = run_to_end(defend(training.model, points, regions, config, AttackSettings("FGSM", 0.05),
                                DefenseSettings(adversarial=False, augment=True, copies=3, jitter=0.02)))
    assert len(defense.added) == 3 * len(points)
    assert defense.training.points.xy.shape == (4 * len(points), 2)
    with pytest.raises(ParameterError, match="choose a defense"):
        run_to_end(defend(training.model, points, regions, config, AttackSettings(),
                          DefenseSettings(adversarial=False, augment=False)))


# --- linearity and export --------------------------------------------------------------------------------------

def test_the_lectures_dot_product_changes_sign_after_a_half_step():
    example = seed_example()
    assert sum_terms(example.terms_before) == "-2 + 1 + 3 + 2 + 2 - 2 + 1 - 4 - 5 + 1"
    assert example.score_before == -3 and example.score_after == 2
    assert example.flip_step == pytest.approx(0.3)
    assert seed_example(0.3).score_after == pytest.approx(0)


def test_the_step_that_flips_a_score_shrinks_like_one_over_sqrt_n():
    steps = flip_steps(dims=(10, 100, 1000, 10_000), trials=200, seed=0)
    assert np.all(np.diff(steps.median_step) < 0)
    ratio = steps.median_step[-1] / steps.median_step[0]
    assert ratio == pytest.approx(math.sqrt(10 / 10_000), rel=0.35)
    np.testing.assert_allclose(steps.sqrt_law, steps.median_step, rtol=0.35)


def test_csv_export_writes_points_with_their_attacks_and_the_counts(tmp_path):
    regions = lane_regions()
    points = Points([[0.25, 0.5], [0.1, 0.5]], [0, 0])
    attack = run_to_end(attack_points(vertical_boundary(0.3), points, regions, AttackSettings("FGSM", 0.1)))
    write_points_csv(tmp_path / "points.csv", points, regions, attack)
    write_counts_csv(tmp_path / "counts.csv", {"attack all": attack.counts()})
    with (tmp_path / "points.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["label"], r["true_region"], r["kind"], r["successful"]) for r in rows] == [
        ("cat", "cat", "1", "True"), ("cat", "cat", "0", "False")]
    with (tmp_path / "counts.csv").open() as handle:
        counts = list(csv.DictReader(handle))
    assert counts[0]["run"] == "attack all" and counts[0]["kind1_same_class"] == "1" and counts[0]["failed"] == "1"
    write_points_csv(tmp_path / "bare.csv", Points([[0.9, 0.9]], [1]), regions)  # no attack yet: no attack columns
    assert (tmp_path / "bare.csv").read_text().splitlines()[0] == "index,pixel1,pixel2,label,true_region"


def test_probability_grid_is_row_major_with_pixel_2_upwards():
    grid = probability_grid(vertical_boundary(0.5), resolution=10)
    assert grid.shape == (10, 10)
    assert (grid[:, :5] < 0.5).all() and (grid[:, 5:] > 0.5).all()  # columns run along pixel 1
