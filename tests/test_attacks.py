"""The gradient-sign family on the shipped MNIST model and on tiny seeded models: bounds, success rates,
targeting, cancellation and frame throttling."""
import numpy as np
import pytest
import torch

from engine.attacks import RunControl, get_attack, run_to_end
from engine.attacks.gradient_sign import kurakin_steps, project
from engine.core.errors import ParameterError


def run(model, images, name, target=None, control=None, **given):
    spec = get_attack(name)
    return run_to_end(spec.fn(model, images, target=target, control=control, **spec.resolve(given, model.domain)))


@pytest.fixture(scope="module")
def pgd_result(mnist_model, correct_digits):
    images, _ = correct_digits
    return run(mnist_model, images, "pgd", eps=0.3, steps=40, step=0.01)


def test_pgd_fools_almost_every_correct_digit_within_eps(pgd_result):
    assert pgd_result.fooled.float().mean() >= 0.99
    assert float(pgd_result.linf.max()) <= 0.3 + 1e-6
    assert float(pgd_result.adversarial.min()) >= 0 and float(pgd_result.adversarial.max()) <= 1


def test_fgsm_and_bim_fool_no_more_than_pgd(mnist_model, correct_digits, pgd_result):
    images, _ = correct_digits
    fgsm = run(mnist_model, images, "fgsm", eps=0.3)
    bim = run(mnist_model, images, "bim", eps=0.3, steps=40, step=0.01)
    pgd_fooled = int(pgd_result.fooled.sum())
    assert int(fgsm.fooled.sum()) <= pgd_fooled
    assert int(bim.fooled.sum()) <= pgd_fooled
    for result in (fgsm, bim):
        assert float(result.linf.max()) <= 0.3 + 1e-6


def test_targeted_pgd_reaches_the_target(mnist_model, correct_digits):
    images, labels = correct_digits
    offsets = torch.randint(1, 10, (len(labels),), generator=torch.Generator().manual_seed(0))
    targets = (labels + offsets) % 10
    result = run(mnist_model, images, "pgd", target=targets, eps=0.3, steps=100, step=0.01)
    assert (result.pred_after == targets).float().mean() >= 0.90
    assert torch.equal(result.fooled, result.pred_after == targets)
    assert float(result.linf.max()) <= 0.3 + 1e-6


def tiny_model(channels=1, side=8, classes=4, seed=0):
    """A seeded linear classifier wrapped like a loaded model; attacks on it run in milliseconds."""
    from engine.models import Classifier, LoadedModel
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(channels * side * side, classes))
    module = Classifier(net, (0.5,) * channels, (0.25,) * channels).eval()
    return LoadedModel(module, "tiny", (channels, side, side), tuple(f"c{i}" for i in range(classes)), "test",
                       "custom")


@pytest.mark.parametrize("name", ["fgsm", "bim", "ll", "pgd"])
@pytest.mark.parametrize("norm,eps", [("inf", 0.05), ("2", 0.5)])
def test_every_attack_respects_its_ball_and_the_pixel_range(name, norm, eps):
    model = tiny_model()
    images = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    declared = {p.name for p in get_attack(name).params}
    given = {k: v for k, v in dict(eps=eps, step=eps / 4, steps=12, norm=norm).items() if k in declared}
    result = run(model, images, name, **given)
    size = result.linf if norm == "inf" else result.l2
    assert float(size.max()) <= eps + 1e-5
    assert 0 <= float(result.adversarial.min()) and float(result.adversarial.max()) <= 1
    assert result.arrays()["adversarial"].dtype == np.float32
    assert result.arrays()["pred_after"].dtype == np.int64


def test_least_likely_descends_towards_the_least_likely_class():
    model = tiny_model()
    images = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    probs, _ = model.predict(images)
    result = run(model, images, "ll", eps=1.0, step=0.05, steps=60)
    least = probs.argmin(dim=1)
    assert torch.equal(torch.as_tensor(result.extras["least_likely"]), least)
    assert (result.pred_after == least).float().mean() >= 0.9


def test_kurakin_step_count():
    assert kurakin_steps(8 / 255) == 10  # min(8 + 4, 10)
    assert kurakin_steps(16 / 255) == 20  # min(20, 20)
    assert kurakin_steps(0.3) == 80
    spec = get_attack("bim")
    assert spec.resolve({}, "imagenet")["steps"] is None  # "auto", resolved by the attack


def test_projection_leaves_points_inside_the_ball_alone():
    inside = torch.full((2, 1, 4, 4), 0.01)
    assert torch.equal(project(inside, 1.0, "2"), inside)
    outside = torch.ones(2, 1, 4, 4)
    assert torch.allclose(project(outside, 1.0, "2").flatten(1).norm(dim=1), torch.ones(2))
    assert float(project(outside, 0.1, "inf").max()) == pytest.approx(0.1)


@pytest.mark.parametrize("given,message", [({"eps": "nan"}, "finite"), ({"eps": -1}, "at least"),
                                           ({"steps": 2.5}, "whole"), ({"norm": "1"}, "one of"),
                                           ({"steps": 10**9}, "at most"), ({"bogus": 1}, "no parameter")])
def test_bad_parameters_are_refused_with_a_message(given, message):
    with pytest.raises(ParameterError, match=message):
        get_attack("pgd").resolve(given, "mnist")


def test_linf_eps_beyond_the_pixel_range_is_refused():
    with pytest.raises(ParameterError, match="pixel range"):
        run(tiny_model(), torch.rand(2, 1, 8, 8), "pgd", eps=2.0)


def test_stop_ends_the_run_within_one_step_with_a_partial_result():
    model = tiny_model()
    control = RunControl(frame_interval=None)
    run_steps = get_attack("pgd").fn(model, torch.rand(4, 1, 8, 8), control=control, eps=0.1, step=0.01,
                                     steps=1000)
    seen = [next(run_steps) for _ in range(3)]
    control.stop()
    result = run_to_end(run_steps)
    assert [s.iteration for s in seen] == [1, 2, 3]
    assert result.stopped and int(result.steps_used[0]) == 3


def test_frames_are_throttled_and_carry_only_watched_images():
    model = tiny_model()
    control = RunControl(frame_interval=3600, watched=[2])
    steps = []
    result = run_to_end(get_attack("pgd").fn(model, torch.rand(4, 1, 8, 8), control=control, eps=0.1,
                                             step=0.01, steps=50), steps.append)
    frames = [s.frame for s in steps if s.frame is not None]
    assert len(frames) == 2  # the first step and the last one: nothing in between within an hour
    assert frames[0].indices == (2,) and frames[0].images.shape == (1, 1, 8, 8)
    assert all(s.probs is None for s in steps if s.frame is None)
    assert result.history["loss"].shape == (50, 4)


def test_targets_outside_the_classes_are_refused():
    with pytest.raises(ParameterError, match="class index"):
        run(tiny_model(), torch.rand(2, 1, 8, 8), "pgd", target=7, eps=0.1)


def test_images_of_the_wrong_shape_are_refused():
    with pytest.raises(ParameterError, match="shape"):
        run(tiny_model(), torch.rand(2, 3, 8, 8), "fgsm", eps=0.1)


def test_an_image_already_of_the_target_class_does_not_count_as_fooled(mnist_model, correct_digits):
    images, labels = correct_digits[0][:4], correct_digits[1][:4]
    targets = labels.clone()
    targets[1:] = (labels[1:] + 1) % 10  # image 0 is already its target
    result = run(mnist_model, images, "pgd", target=targets, eps=0.3, steps=40, step=0.01)
    assert result.already_target.tolist() == [True, False, False, False]
    assert not bool(result.fooled[0]) and result.summary()["already_target"] == 1
    assert torch.equal(result.fooled[1:], result.pred_after[1:] == targets[1:])
