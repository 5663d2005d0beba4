"""ADef's parts against their definitions, and the attack against the paper's bars on the built-in model."""
import math

import pytest
import torch

from engine.attacks import get_attack, run_to_end
from engine.attacks.adef import PRESETS, field_norm, image_gradient, smooth, warp
from engine.transforms import gaussian_kernel


def test_warping_with_a_zero_field_returns_the_image():
    images = torch.rand(3, 2, 7, 9)
    assert torch.allclose(warp(images, torch.zeros(3, 2, 7, 9)), images, atol=1e-6)


def test_a_constant_unit_field_along_the_width_shifts_by_one_pixel():
    images = torch.rand(2, 1, 5, 6)
    field = torch.zeros(2, 2, 5, 6)
    field[:, 0] = 1.0
    shifted = warp(images, field)
    assert torch.allclose(shifted[..., :-1], images[..., 1:], atol=1e-6)  # x_tau(s) = x(s + tau)
    assert torch.allclose(shifted[..., -1], images[..., -1], atol=1e-6)  # border padding


def test_smoothing_kernel_is_normalised_with_the_stated_radius():
    for sigma in (0.5, 1.0, 2.3):
        kernel = gaussian_kernel(sigma, int(4 * sigma + 0.5))
        assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-6)
        assert len(kernel) == 2 * int(4 * sigma + 0.5) + 1
    field = torch.zeros(1, 2, 9, 9)
    field[0, :, 4, 4] = 1.0
    assert float(smooth(field, 1.0).sum()) == pytest.approx(2.0, abs=1e-5)  # mass kept away from the border
    assert torch.equal(smooth(field, 0.0), field)


def test_field_norm_is_the_largest_vector_length():
    field = torch.zeros(2, 2, 4, 4)
    field[0, 0, 1, 1], field[0, 1, 1, 1] = 3.0, 4.0
    field[1, 1, 2, 3] = -2.0
    assert field_norm(field).tolist() == [5.0, 2.0]


def test_image_gradient_central_inside_one_sided_at_the_edges():
    ramp = torch.arange(5.0).pow(2).view(1, 1, 1, 5).expand(1, 1, 3, 5)
    d_width, d_height = image_gradient(ramp)
    assert d_width[0, 0, 0].tolist() == [1.0, 2.0, 4.0, 6.0, 7.0]
    assert torch.equal(d_height, torch.zeros_like(ramp))


def adef(model, images, **given):
    spec = get_attack("adef")
    return run_to_end(spec.fn(model, images, **spec.resolve(given, model.domain)))


def test_batched_fields_equal_image_by_image_fields(mnist_model, correct_digits):
    images = correct_digits[0][:6]
    batched = adef(mnist_model, images, preset="mnist")
    single = torch.cat([torch.from_numpy(adef(mnist_model, images[i:i + 1], preset="mnist").extras["field"])
                        for i in range(6)])
    assert torch.allclose(torch.from_numpy(batched.extras["field"]), single, atol=1e-5)


def test_mnist_preset_fools_heldout_digits_with_small_fields(mnist_model, correct_digits):
    images = correct_digits[0][::4]  # a quarter of the set keeps the test under a minute
    result = adef(mnist_model, images, preset="mnist")
    norms = torch.from_numpy(result.extras["field_norm"])
    # On all 988 correct digits: 100% fooled, 96.7% with ||tau||_T <= 3, 3.1 iterations on average.
    assert result.fooled.float().mean() >= 0.99
    assert (result.fooled & (norms <= 3)).float().mean() >= 0.95
    assert result.extras["field"].shape == (len(images), 2, 28, 28)
    assert torch.allclose(result.adversarial, warp(result.original, torch.from_numpy(result.extras["field"])),
                          atol=1e-6)


def test_presets_and_domain_defaults():
    spec = get_attack("adef")
    assert {k: spec.resolve({}, "mnist")[k] for k in PRESETS["mnist"]} == PRESETS["mnist"]
    chosen = spec.resolve({"preset": "imagenet", "sigma": "2"}, "mnist")
    assert chosen["candidates"] == 1 and chosen["sigma"] == 2.0 and chosen["overshoot"] == 1.1
    assert spec.resolve({"max_norm": "inf"}, "mnist")["max_norm"] == math.inf


def test_targeted_adef_reaches_the_target(mnist_model, correct_digits):
    images, labels = correct_digits[0][:8], correct_digits[1][:8]
    targets = (labels + 1) % 10
    spec = get_attack("adef")
    result = run_to_end(spec.fn(mnist_model, images, target=targets, **spec.resolve({}, "mnist")))
    assert (result.pred_after == targets).float().mean() >= 0.75


def test_rank_targeted_adef_lands_only_on_the_chosen_ranks(mnist_model, correct_digits):
    """Targeted at ranks 3..5 of the clean image: success means the new label is one of those three classes,
    and the exported target is that set per image."""
    images = correct_digits[0][:16]
    spec = get_attack("adef")
    params = spec.resolve({"preset": "mnist", "candidates": "3", "first_rank": "3", "rank_targeted": "yes"}, "mnist")
    result = run_to_end(spec.fn(mnist_model, images, **params))
    ranked = result.probs_before.argsort(dim=1, descending=True)
    assert torch.equal(result.target, ranked[:, 3:6])
    in_ranks = (result.pred_after[:, None] == ranked[:, 3:6]).any(dim=1)
    assert torch.equal(result.fooled, in_ranks)
    assert in_ranks.float().mean() >= 0.9
    assert result.arrays()["target"].shape == (16, 3)


def test_untargeted_adef_counts_any_change_but_rank_targeted_does_not(mnist_model, correct_digits):
    """An untargeted run from rank 9 may stop on any other class; the same run targeted at rank 9 may not."""
    images = correct_digits[0][:16]
    untargeted = adef(mnist_model, images, preset="mnist", candidates=1, first_rank=9)
    targeted = adef(mnist_model, images, preset="mnist", candidates=1, first_rank=9, rank_targeted=True)
    ninth = untargeted.probs_before.argsort(dim=1, descending=True)[:, 9]
    assert untargeted.fooled.all()
    assert torch.equal(targeted.fooled, targeted.pred_after.eq(ninth))
    assert targeted.fooled.float().mean() >= 0.75
    # the ninth-ranked class is far: its fields are longer than those of the untargeted run
    assert targeted.extras["field_norm"].mean() > untargeted.extras["field_norm"].mean()


def test_rank_parameters_are_checked(mnist_model, correct_digits):
    from engine.core.errors import ParameterError
    with pytest.raises(ParameterError, match="first_rank"):
        adef(mnist_model, correct_digits[0][:2], first_rank=10)
    spec = get_attack("adef")
    with pytest.raises(ParameterError, match="not both"):
        run_to_end(spec.fn(mnist_model, correct_digits[0][:2], target=3, rank_targeted=True))
