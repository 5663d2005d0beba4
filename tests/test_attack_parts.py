"""The parts every attack shares: the per-norm classes (step, projection, random start, dual norm) and the success
criteria (untargeted, targeted, a set of allowed classes)."""
import numpy as np
import pytest
import torch

from engine.attacks import AttackResult, Misclassification, OneOfClasses, TargetedMisclassification
from engine.attacks.base import concat_results
from engine.attacks.criteria import concat_criteria
from engine.attacks.norms import NORM_NAMES, get_norm
from engine.core.errors import ParameterError


def norm_of(name: str, x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    return flat.abs().amax(dim=1) if name == "inf" else flat.norm(dim=1)


def samples(count=16, seed=0) -> torch.Tensor:
    return torch.randn(count, 1, 5, 5, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", NORM_NAMES)
def test_direction_has_unit_norm_and_ascends(name):
    grad = samples()
    step = get_norm(name).direction(grad)
    assert torch.allclose(norm_of(name, step), torch.ones(len(grad)), atol=1e-5)
    assert ((step * grad).flatten(1).sum(dim=1) > 0).all()


@pytest.mark.parametrize("name", NORM_NAMES)
def test_projection_reaches_the_ball_and_keeps_points_inside(name):
    norm, delta, eps = get_norm(name), samples(), 0.5
    projected = norm.project(delta, eps)
    assert (norm_of(name, projected) <= eps + 1e-6).all()
    inside = delta * 1e-3
    assert torch.equal(norm.project(inside, eps), inside)


@pytest.mark.parametrize("name", NORM_NAMES)
def test_random_start_lies_in_the_ball_and_the_image_range(name):
    norm, x0, eps = get_norm(name), torch.rand(64, 1, 5, 5), 0.3
    start = norm.random_start(x0, eps, torch.Generator().manual_seed(1))
    assert (norm_of(name, start - x0) <= eps + 1e-6).all() and start.min() >= 0 and start.max() <= 1
    again = norm.random_start(x0, eps, torch.Generator().manual_seed(1))
    assert torch.equal(start, again)


@pytest.mark.parametrize("name", NORM_NAMES)
def test_a_step_along_a_linear_function_changes_it_by_length_times_the_dual_norm(name):
    norm, w = get_norm(name), samples(8)
    length = torch.linspace(0.1, 1.0, 8)
    step = norm.along(w, length)
    assert torch.allclose(norm_of(name, step), length, atol=1e-5)
    change = (step * w).flatten(1).sum(dim=1)
    assert torch.allclose(change, length * norm.dual(w.flatten(1)), rtol=1e-5)


def test_unknown_norm_and_linf_radius_beyond_the_pixel_range_are_refused():
    with pytest.raises(ParameterError, match="norm must be one of"):
        get_norm("1")
    with pytest.raises(ParameterError, match="exceeds the whole pixel range"):
        get_norm("inf").check_radius(1.5)
    get_norm("2").check_radius(1.5)  # an L2 radius above 1 is an ordinary budget


def test_criteria_say_who_is_fooled():
    labels, pred = torch.tensor([0, 1, 2]), torch.tensor([0, 2, 1])
    assert Misclassification(labels).reached(pred).tolist() == [False, True, True]
    assert TargetedMisclassification(torch.tensor([0, 1, 1])).reached(pred).tolist() == [True, False, True]
    allowed = OneOfClasses(torch.tensor([[3, 0], [1, 3], [1, 2]]))
    assert allowed.reached(pred).tolist() == [True, False, True]


def test_criteria_cut_join_and_describe():
    allowed = OneOfClasses(torch.tensor([[3, 0], [1, 3], [1, 2]]), first_rank=2)
    part = allowed[torch.tensor([2])]
    assert isinstance(part, OneOfClasses) and part.first_rank == 2 and part.classes.tolist() == [[1, 2]]
    assert torch.equal(concat_criteria([allowed[:1], allowed[1:]]).classes, allowed.classes)
    names = ["zero", "one", "two", "three"]
    assert allowed.describe(names) == " towards ranks 2..3"
    assert OneOfClasses(allowed.classes).describe(names) == " towards one of 2 classes"
    assert TargetedMisclassification(torch.tensor([3, 3])).describe(names) == " towards three"
    assert Misclassification(torch.tensor([0])).describe(names) == ""
    assert not Misclassification(torch.tensor([0])).targeted and allowed.targeted


def result_with(criterion, labels, after) -> AttackResult:
    count = len(labels)
    images = torch.zeros(count, 1, 2, 2)
    probs_before = torch.nn.functional.one_hot(labels, 4).float()  # the model gave each image its label
    probs_after = torch.nn.functional.one_hot(after, 4).float()
    return AttackResult("test", {}, images, images, labels, criterion, probs_before, probs_after,
                        torch.ones(count, dtype=torch.long), 0.0)


def test_a_result_keeps_its_target_array_and_judges_by_its_criterion():
    labels, after = torch.tensor([0, 1]), torch.tensor([2, 1])
    given = result_with(TargetedMisclassification(torch.tensor([2, 2])), labels, after)
    assert given.fooled.tolist() == [True, False]
    assert np.array_equal(given.arrays()["target"], [2, 2])
    untargeted = result_with(Misclassification(labels), labels, after)
    assert untargeted.target is None and "target" not in untargeted.arrays()
    assert untargeted.fooled.tolist() == [True, False]
    ranks = result_with(OneOfClasses(torch.tensor([[2, 3], [3, 0]])), labels, after)
    joined = concat_results([ranks, ranks])
    assert joined.target.shape == (4, 2) and joined.fooled.tolist() == [True, False, True, False]
