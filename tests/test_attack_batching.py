"""Clean passes and DeepFool / ADef iterations go through the model a bounded number of images at a time (a folder
of thousands of ImageNet images must not exhaust GPU memory), with the same numbers as one pass over the set."""
import pytest
import torch

from engine.attacks import get_attack, run_to_end
from engine.attacks.base import BATCH_SIZE, prepare_inputs
from engine.models import Classifier, LoadedModel

SIDE = 6
MORE_THAN_A_BATCH = BATCH_SIZE + 44


class BatchRecorder(torch.nn.Module):
    """A tiny seeded classifier that remembers the largest batch it was called with."""

    def __init__(self, classes=4):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
                                       torch.nn.Linear(3 * SIDE * SIDE, classes))
        with torch.no_grad():  # no class wins every image by its bias alone
            self.net[0].weight.mul_(3)
            self.net[3].bias.zero_()
        self.largest = 0

    def forward(self, x):
        self.largest = max(self.largest, len(x))
        return self.net(x)


def recording_model() -> tuple[LoadedModel, BatchRecorder]:
    recorder = BatchRecorder()
    model = LoadedModel(Classifier(recorder, (0.5,), (0.25,)).eval(), "recorder", (1, SIDE, SIDE),
                        tuple(f"c{i}" for i in range(4)), "test", "custom")
    return model, recorder


def images(count: int) -> torch.Tensor:
    return torch.rand(count, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(3))


def attack(model, name, x, **given):
    spec = get_attack(name)
    return run_to_end(spec.fn(model, x, **spec.resolve(given, model.domain)))


def test_prepare_inputs_classifies_a_large_set_in_bounded_batches():
    model, recorder = recording_model()
    x = images(MORE_THAN_A_BATCH)
    _, labels, _, probs = prepare_inputs(model, x, None, None)
    assert 0 < recorder.largest <= BATCH_SIZE
    with torch.no_grad():
        whole = torch.softmax(model(x), dim=1)  # one pass over the whole set
    assert torch.allclose(probs, whole, atol=1e-6) and torch.equal(labels, whole.argmax(dim=1))


@pytest.mark.parametrize("name, given", [("deepfool", {"max_iter": 5}), ("adef", {"max_iter": 5})])
def test_attack_iterations_go_through_the_model_in_bounded_batches(name, given):
    model, recorder = recording_model()
    attack(model, name, images(MORE_THAN_A_BATCH), **given)
    assert 0 < recorder.largest <= BATCH_SIZE


@pytest.mark.parametrize("name, given", [("deepfool", {"norm": "2"}), ("deepfool", {"norm": "inf"}),
                                         ("adef", {"candidates": 3, "max_iter": 20}), ("adef", {"target": 0, "max_iter": 20})])
def test_small_batches_give_the_numbers_of_one_pass(name, given):
    model, recorder = recording_model()
    x = images(40)
    spec = get_attack(name)
    target = given.pop("target", None)
    params = spec.resolve(given, model.domain)
    chunked = run_to_end(spec.fn(model, x, target=target, batch_size=7, **params))
    assert recorder.largest <= 7
    whole = run_to_end(spec.fn(model, x, target=target, batch_size=len(x), **params))
    assert recorder.largest == len(x)
    assert torch.equal(chunked.fooled, whole.fooled) and torch.equal(chunked.steps_used, whole.steps_used)
    assert torch.allclose(chunked.adversarial, whole.adversarial, atol=1e-5)
    assert torch.allclose(chunked.probs_after, whole.probs_after, atol=1e-5)
