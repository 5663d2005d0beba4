"""DeepFool: exact on linear models, 100% success where a perturbation exists, batched like image-by-image."""
import pytest
import torch

from engine.attacks import RunControl, get_attack, run_to_end
from engine.attacks.deepfool import candidate_classes
from engine.core.errors import ParameterError
from engine.models import Classifier, LoadedModel


def linear_model(classes=2, side=6, seed=0, scale=1.0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(side * side, classes))
    with torch.no_grad():
        net[1].weight.mul_(scale)
    return LoadedModel(Classifier(net, (0.0,), (1.0,)).eval(), "linear", (1, side, side),
                       tuple(f"c{i}" for i in range(classes)), "test", "custom")


def deepfool(model, images, **given):
    spec = get_attack("deepfool")
    return run_to_end(spec.fn(model, images, **spec.resolve(given, model.domain)))


def test_l2_step_is_the_exact_distance_to_a_linear_boundary():
    model = linear_model(scale=1.0)  # steps of about 0.05 per pixel: no clipping at 0 or 1
    images = 0.4 + 0.2 * torch.rand(8, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    result = deepfool(model, images, overshoot=0.0)
    linear = model.module.net[1]
    w = (linear.weight[1] - linear.weight[0]).detach()
    margin = (model(images)[:, 1] - model(images)[:, 0]).detach().abs()
    assert result.fooled.all() and (result.steps_used == 1).all()
    assert torch.allclose(result.l2, margin / w.norm() + 1e-4, rtol=1e-4)


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_every_image_is_fooled_on_a_multiclass_model(norm):
    model = linear_model(classes=10, scale=1.0)
    images = torch.rand(32, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    result = deepfool(model, images, norm=norm)
    assert result.fooled.all()
    assert 0 <= float(result.adversarial.min()) and float(result.adversarial.max()) <= 1


def test_batched_run_equals_one_image_at_a_time():
    model = linear_model(classes=10, scale=1.0, seed=3)
    images = torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(4))
    batched = deepfool(model, images)
    single = torch.cat([deepfool(model, images[i:i + 1]).adversarial for i in range(6)])
    assert torch.allclose(batched.adversarial, single, atol=1e-6)


def test_builtin_model_is_fooled_on_every_correct_digit(mnist_model, correct_digits):
    images = correct_digits[0][:100]
    result = deepfool(mnist_model, images)
    assert result.fooled.all() and float(result.steps_used.float().mean()) < 20


def test_candidates_start_with_the_label_and_exclude_it_afterwards():
    logits = torch.tensor([[0.1, 3.0, 2.0, -1.0], [5.0, 0.0, 1.0, 2.0]])
    classes = candidate_classes(logits, torch.tensor([2, 0]), 3)
    assert classes.tolist() == [[2, 1, 0], [0, 3, 2]]


def test_deepfool_refuses_a_target_and_stops_on_request():
    model = linear_model(classes=10, scale=1.0)
    with pytest.raises(ParameterError, match="untargeted"):
        run_to_end(get_attack("deepfool").fn(model, torch.rand(2, 1, 6, 6), target=1))
    control = RunControl(frame_interval=None)
    control.stop()
    result = run_to_end(get_attack("deepfool").fn(model, torch.rand(2, 1, 6, 6), control=control))
    assert result.stopped and (result.steps_used == 0).all()
