"""The visualization engine (no Qt): guided backprop / deconvnet leave the model as it was, saliency is the
autograd gradient, patches are the brute-force top k with receptive-field crops, and the ascent methods raise
what they claim to raise."""
import subprocess
import sys

import pytest
import torch
from torch import nn

from conftest import ROOT
from engine.core.errors import ParameterError
from engine.core.run import run_to_end
from engine.models import load_model
from engine.visualize import (CLASS_MODEL, DECONVNET, GUIDED, SALIENCY, RunControl, class_model, deepdream,
                              default_settings, first_layer_filters, gradient_maps, list_layers, max_activating_patches,
                              receptive_field, relus_replaced, unit_visualization)
from engine.visualize.layers import activations, find_layer
from engine.visualize.patches import crop_field


@pytest.fixture(scope="module")
def resnet():
    return load_model("resnet18:random", "cpu")


def module_list(model):
    return [(name, type(module), id(module), getattr(module, "inplace", None))
            for name, module in model.module.named_modules()]


@pytest.mark.parametrize("which", ["mnist", "resnet18"])
def test_guided_backprop_and_deconvnet_leave_the_model_exactly_as_before(which, mnist_model, resnet):
    model = mnist_model if which == "mnist" else resnet
    x = torch.rand(1, *model.input_shape, generator=torch.Generator().manual_seed(0))
    modules_before = module_list(model)
    with torch.no_grad():
        outputs_before = model(x).clone()
    plain = gradient_maps(model, x, SALIENCY).gradients
    for method in (DECONVNET, GUIDED):
        maps = gradient_maps(model, x, method)
        assert maps.swapped >= 5 and maps.gradients.shape == x.shape
        assert torch.isfinite(maps.gradients).all() and maps.gradients.abs().sum() > 0
        assert not torch.allclose(maps.gradients, plain)  # the swapped ReLUs did act on the way back
    assert module_list(model) == modules_before
    with torch.no_grad():
        assert torch.equal(model(x), outputs_before)
    assert torch.equal(gradient_maps(model, x, SALIENCY).gradients, plain)


def test_relu_rules_match_the_papers_formulas():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(inplace=True), nn.Linear(8, 1))
    x = torch.randn(1, 6)
    hidden = net[0](x)
    upstream = net[2].weight[0]  # the gradient arriving at the ReLU's output
    expected = {DECONVNET: upstream.clamp(min=0) @ net[0].weight,
                GUIDED: (upstream.clamp(min=0) * (hidden[0] > 0)) @ net[0].weight}
    for method, want in expected.items():
        variable = x.clone().requires_grad_(True)
        with torch.enable_grad(), relus_replaced(net, method) as swapped:
            (grad,) = torch.autograd.grad(net(variable).sum(), variable)
        assert swapped == 1 and isinstance(net[1], nn.ReLU) and net[1].inplace
        torch.testing.assert_close(grad[0], want)


def test_saliency_is_the_largest_absolute_gradient_over_channels(mnist_model, heldout, resnet):
    for model, images in ((mnist_model, heldout.images[:6]), (resnet, torch.rand(2, 3, 224, 224))):
        x = images.clone().requires_grad_(True)
        logits = model(x)
        predicted = logits.argmax(dim=1)
        logits.gather(1, predicted[:, None]).sum().backward()
        direct = x.grad.abs().amax(dim=1)
        maps = gradient_maps(model, images, SALIENCY)
        assert torch.equal(maps.classes, predicted)
        torch.testing.assert_close(maps.saliency, direct, atol=1e-6, rtol=0)
    chosen = gradient_maps(mnist_model, heldout.images[:2], SALIENCY, target=7)
    assert chosen.classes.tolist() == [7, 7]


# Hand-derived from MnistNet: 3x3 convs (the first padded by 1) and 2x2 max pools.
BUILTIN_FIELDS = {"features.0": (3, 1), "features.2": (5, 1), "features.4": (6, 2), "features.5": (10, 2),
                  "features.7": (14, 2), "features.9": (16, 4)}


def test_receptive_fields_of_the_builtin_layers(mnist_model, resnet):
    for layer, (size, jump) in BUILTIN_FIELDS.items():
        field = receptive_field(mnist_model, layer)
        assert (field.size, field.jump, field.start) == ((size, size), (jump, jump), (-1, -1)), layer
    assert receptive_field(mnist_model, "classifier.1").whole_image
    # torchvision's residual blocks: 7x7/2 conv, 3x3/2 pool, then 3x3 convs (the published 43 px for layer1)
    assert receptive_field(resnet, "layer1").size == (43, 43) and receptive_field(resnet, "layer1").jump == (4, 4)


def test_patches_are_the_brute_force_top_k_with_receptive_field_crops(mnist_model, heldout):
    images, layer, channel, k = heldout.images[:150], "features.5", 3, 7
    with torch.no_grad():
        maps = activations(mnist_model, find_layer(mnist_model, layer), images)[:, channel]
    best, where = maps.flatten(1).max(dim=1)
    values, indices = torch.topk(best, k)

    found = run_to_end(max_activating_patches(mnist_model, images, layer, channel, k=k, batch_size=32))

    torch.testing.assert_close(found.values, values, atol=1e-5, rtol=0)
    assert found.image_indices.tolist() == indices.tolist() and found.images_seen == len(images)
    width = maps.shape[2]
    expected_positions = torch.stack([where[indices] // width, where[indices] % width], dim=1)
    assert torch.equal(found.positions, expected_positions)
    assert found.crops.shape == (k, 1, 10, 10)
    for crop, index, (row, col) in zip(found.crops, found.image_indices, found.positions.tolist()):
        top, left = 2 * row - 1, 2 * col - 1
        visible = images[index][:, max(top, 0): top + 10, max(left, 0): left + 10]
        assert torch.equal(crop[:, max(0, -top):, max(0, -left):][:, : visible.shape[1], : visible.shape[2]],
                           visible)


def test_a_crop_past_the_edge_is_padded_to_the_field_size(mnist_model):
    image = torch.ones(1, 28, 28)
    crop = crop_field(image, receptive_field(mnist_model, "features.7"), 0, 0)
    assert crop.shape == (1, 14, 14) and crop[:, 0].sum() == 0 and crop[:, 1:, 1:].min() == 1


def test_class_models_reach_099_for_every_digit_from_the_zero_image(mnist_model):
    result = run_to_end(class_model(mnist_model, list(range(10)), start="zero"))
    assert result.settings.steps == default_settings(CLASS_MODEL, mnist_model).steps == len(result.scores)
    assert result.start.abs().sum() == 0
    reached = result.probs[torch.arange(10), result.targets]
    assert (reached >= 0.99).all(), reached
    assert result.images.min() >= 0 and result.images.max() <= 1


def test_unit_visualization_raises_a_channel_tenfold(mnist_model):
    layer = "features.3"
    module = find_layer(mnist_model, layer)
    start = run_to_end(unit_visualization(mnist_model, layer, 0, steps=1)).start
    with torch.no_grad():
        start_means = activations(mnist_model, module, start)[0].mean(dim=(1, 2))
    # a channel that responds a little to the start image (not one that is already strongly on, as a channel
    # answering to the blank background is)
    channel = int(torch.nonzero((start_means > 1e-3) & (start_means < 0.05))[0])
    result = run_to_end(unit_visualization(mnist_model, layer, channel))
    with torch.no_grad():
        final_mean = activations(mnist_model, module, result.images)[0, channel].mean()
    assert final_mean >= 10 * start_means[channel], (channel, float(start_means[channel]), float(final_mean))


def test_deepdream_raises_the_layer_energy_and_keeps_pixels_valid(mnist_model, heldout):
    result = run_to_end(deepdream(mnist_model, heldout.images[:3], "features.5", steps=20))
    assert result.scores.shape == (20, 3)
    assert (result.final_scores > 1.1 * result.scores[0]).all()
    assert result.images.min() >= 0 and result.images.max() <= 1


def test_regularizers_each_change_the_image(mnist_model):
    def image(**switched_on):
        settings = {"steps": 12, "decay": 0, "blur_sigma": 0, "jitter": 0, **switched_on}
        return run_to_end(unit_visualization(mnist_model, "features.7", 2, **settings)).images
    plain = image()
    for setting in ({"decay": 0.1}, {"blur_sigma": 1.0, "blur_every": 4}, {"norm_percentile": 50},
                    {"contribution_percentile": 50}, {"jitter": 2}):
        assert not torch.allclose(image(**setting), plain), setting


def test_stop_ends_an_ascent_with_what_it_reached(mnist_model):
    control = RunControl(frame_interval=None)

    def stop_at_five(step):
        if step.iteration == 5:
            control.stop()

    result = run_to_end(class_model(mnist_model, [3], control=control, steps=10_000), stop_at_five)
    assert result.stopped and len(result.scores) == 5


def test_first_layer_filters_are_tiles_stretched_to_their_range(mnist_model, resnet):
    grey = first_layer_filters(mnist_model)
    assert grey.tiles.shape == (32, 1, 3, 3) and grey.grid.shape[0] == 1
    assert torch.allclose(grey.tiles.amin(dim=(1, 2, 3)), torch.zeros(32))
    assert torch.allclose(grey.tiles.amax(dim=(1, 2, 3)), torch.ones(32))
    colour = first_layer_filters(resnet)
    assert colour.layer == "conv1" and colour.tiles.shape == (64, 3, 7, 7) and colour.grid.shape[0] == 3


def test_layers_list_shapes_and_shared_modules(mnist_model, resnet):
    layers = {info.name: info for info in list_layers(mnist_model)}
    assert layers["features.5"].output_shape == (64, 11, 11) and layers["classifier.1"].channels == 128
    shared = {info.name: info for info in list_layers(resnet)}["layer1.0.relu"]
    assert shared.calls == 2  # torchvision calls one ReLU module twice per block


@pytest.mark.parametrize("call, message", [
    (lambda m: run_to_end(unit_visualization(m, "features.99", 0)), "no layer 'features.99'"),
    (lambda m: run_to_end(unit_visualization(m, "features.5", 64)), "channel 64 is out of range"),
    (lambda m: run_to_end(unit_visualization(m, "features.5", 0, decay=float("nan"))), "decay must be"),
    (lambda m: run_to_end(class_model(m, [3], blur_sigma=-1)), "blur_sigma must be"),
    (lambda m: run_to_end(class_model(m, [10])), "class index in 0..9"),
    (lambda m: run_to_end(class_model(m, [3], strength=2)), "unknown parameter 'strength' of class-model"),
    (lambda m: run_to_end(max_activating_patches(m, torch.rand(2, 1, 28, 28), "features.5", 0, k=0)), "k must be"),
    (lambda m: gradient_maps(m, torch.rand(2, 3, 28, 28), GUIDED), "images must have shape"),
])
def test_bad_input_is_a_parameter_error(mnist_model, call, message):
    with pytest.raises(ParameterError, match=message):
        call(mnist_model)


def test_engine_visualize_imports_no_qt():
    code = ("import sys, engine.visualize, engine.visualize.report;"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'superqt')];"
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_a_channel_that_never_fires_is_reported_as_such(mnist_model, heldout, tmp_path):
    """features.5 channel 0 of the built-in model is negative on every held-out digit (the ReLU after it,
    features.6, gives 0 everywhere): its "top" patches are ties or the least negative responses, and say so."""
    from engine.visualize import never_fires
    from engine.visualize.report import PATCHES, Request, write_visualization

    images = heldout.images[:200]
    for layer in ("features.5", "features.6"):
        with torch.no_grad():
            assert float(activations(mnist_model, find_layer(mnist_model, layer), images)[:, 0].max()) <= 0
        found = run_to_end(max_activating_patches(mnist_model, images, layer, 0, k=5))
        assert found.never_fires and len(found.values) == 5
    assert not run_to_end(max_activating_patches(mnist_model, images, "features.5", 3, k=5)).never_fires
    assert not never_fires(torch.empty(0))  # nothing seen: nothing to say

    _, summary = write_visualization(Request(PATCHES, mnist_model, tmp_path, images, layer="features.6", channel=0))
    assert "features.6 channel 0 never fires on these images" in summary
    _, summary = write_visualization(Request(PATCHES, mnist_model, tmp_path, images, layer="features.6", channel=3))
    assert "never fires" not in summary
