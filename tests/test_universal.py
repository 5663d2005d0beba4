"""Universal perturbations: the projection, UAP and the targeted universal image on the shipped model (the
issue's acceptance numbers), the augmentations, the cross-model table and the resumable gallery."""
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

import engine.universal  # noqa: F401  (registers the universal attacks)
from engine.attacks import RunControl, get_attack, run_to_end
from engine.attacks.gradient_sign import project
from engine.universal.targeted import target_rate
from engine.universal.uap import fooling_rate, noise_fooling_rate, random_perturbation
from engine.core.errors import ParameterError
from engine.universal.augment import Augmentations, augment
from engine.universal.cross_model import cross_model_table, export_table
from engine.universal.gallery import GalleryFolder, export_gallery, gallery_steps

from test_deepfool import linear_model


def run(name, model, images, **given):
    spec = get_attack(name)
    heldout = given.pop("heldout", None)
    target = given.pop("target", None)
    return run_to_end(spec.fn(model, images, target=target, heldout=heldout, **spec.resolve(given, model.domain)))


@pytest.fixture(scope="module")
def halves(heldout):
    """The held-out digits split in two fixed halves: one to compute on, one to measure on."""
    order = torch.randperm(len(heldout), generator=torch.Generator().manual_seed(1))
    half = len(order) // 2
    return heldout.images[order[:half]], heldout.images[order[half:]]


# --- the projection --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", ["inf", "2"])
def test_projection_keeps_v_in_the_ball_and_leaves_points_inside_alone(norm):
    xi = 0.5
    outside = torch.randn(1, 3, 8, 8) * 10
    projected = project(outside, xi, norm)
    size = projected.abs().max() if norm == "inf" else projected.norm()
    assert size <= xi + 1e-6
    if norm == "2":  # L2 scales the direction, never changes it
        assert torch.allclose(projected / projected.norm(), outside / outside.norm(), atol=1e-6)
    inside = outside / (outside.abs().max() if norm == "inf" else outside.norm()) * xi * 0.3
    assert torch.equal(project(inside, xi, norm), inside)  # never rescaled up to the radius


@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("method", ["deepfool", "sgd"])
def test_uap_stays_within_xi_and_reports_per_pass_rates(norm, method):
    model = linear_model(classes=4, side=6)
    images = torch.rand(40, 1, 6, 6)
    xi = 0.2 if norm == "inf" else 1.0
    result = run("uap", model, images, xi=xi, norm=norm, method=method, passes=3, batch_size=8, delta=0.0)
    v = torch.from_numpy(result.extras["perturbation"])
    assert v.shape == (1, 1, 6, 6)
    assert (v.abs().max() if norm == "inf" else v.norm()) <= xi + 1e-5
    assert len(result.extras["fooling_rates"]) == 3
    # the result is the pass that fooled most images of the set
    assert result.extras["fooling_rates"].max() == pytest.approx(fooling_rate(model, images, v))
    assert float(result.extras["fooling_rates"].max()) > 0.3


@pytest.mark.parametrize("method", ["sgd", "deepfool"])
def test_uap_on_the_builtin_model_beats_random_noise_tenfold(mnist_model, halves, method):
    """Acceptance: Linf xi 0.3, held-out fooling rate >= 40% and >= 10x that of random +-xi noise; with the
    gradient steps (the digits' default) and with the paper's DeepFool loop."""
    computed_on, measured_on = halves
    result = run("uap", mnist_model, computed_on, heldout=measured_on, xi=0.3, passes=10, method=method)
    heldout_rate = float(result.extras["heldout_fooling_rate"])
    noise_rate = float(result.extras["noise_fooling_rate"])
    v = torch.from_numpy(result.extras["perturbation"])
    assert v.abs().max() <= 0.3 + 1e-6
    assert heldout_rate == pytest.approx(fooling_rate(mnist_model, measured_on, v))
    assert heldout_rate >= 0.40
    assert heldout_rate >= 10 * noise_rate
    assert noise_rate == pytest.approx(noise_fooling_rate(mnist_model, measured_on, 0.3, "inf"))


def test_random_baseline_has_the_norm_of_the_perturbation():
    assert random_perturbation((1, 3, 8, 8), 0.1, "inf").abs().unique().tolist() == pytest.approx([0.1])
    assert float(random_perturbation((1, 3, 8, 8), 2.0, "2").norm()) == pytest.approx(2.0)


def test_uap_refuses_a_target_and_stops_on_request(mnist_model, halves):
    with pytest.raises(ParameterError, match="untargeted"):
        run("uap", mnist_model, halves[0][:10], target=3)
    control = RunControl(frame_interval=None)
    steps = get_attack("uap").fn(mnist_model, halves[0][:100], control=control, xi=0.3, batch_size=10)
    next(steps)
    control.stop()
    result = run_to_end(steps)
    assert result.stopped and result.extras["perturbation"].shape == (1, 1, 28, 28)


# --- targeted universal images ---------------------------------------------------------------------------------

def test_targeted_image_for_most_digits_on_the_builtin_model(mnist_model, halves):
    """Acceptance: eps 0.3; for at least 7 of the 10 digits, at least 40% of held-out digits of other classes
    are classified as the target once it is added."""
    computed_on, measured_on = halves
    rates = []
    for digit in range(10):
        result = run("targeted-universal", mnist_model, computed_on, target=digit, heldout=measured_on, eps=0.3)
        delta = torch.from_numpy(result.extras["perturbation"])
        assert delta.abs().max() < 0.3
        rates.append(target_rate(mnist_model, measured_on, delta, digit))
        assert rates[-1] == pytest.approx(float(result.extras["target_rates"][-1]))
    print("target rates per digit:", [round(r, 3) for r in rates])
    assert sum(rate >= 0.4 for rate in rates) >= 7


def test_targeted_image_needs_one_target_and_stops_on_request(mnist_model, halves):
    images = halves[0][:20]
    with pytest.raises(ParameterError, match="target"):
        run("targeted-universal", mnist_model, images)
    with pytest.raises(ParameterError, match="one target"):
        run("targeted-universal", mnist_model, images, target=torch.arange(20) % 10)
    control = RunControl(frame_interval=0.0)
    steps = get_attack("targeted-universal").fn(mnist_model, images, target=1, control=control, steps=100)
    first = next(steps)
    assert first.frame is not None and first.frame.extras["perturbation"].shape == (1, 1, 28, 28)
    control.stop()
    result = run_to_end(steps)
    assert result.stopped and int(result.steps_used[0]) == 1


@pytest.mark.parametrize("switch", ["flip", "blur", "crop"])
def test_each_augmentation_changes_the_batch_and_passes_gradients(switch):
    x = torch.rand(16, 3, 32, 32, requires_grad=True)
    options = Augmentations(**{name: name == switch for name in ("flip", "blur", "crop")})
    out = augment(x, options, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert not torch.allclose(out, x)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_flip_mirrors_exactly():
    x = torch.rand(64, 1, 5, 7)
    out = augment(x, Augmentations(flip=True, blur=False, crop=False), torch.Generator().manual_seed(0))
    mirrored = torch.isclose(out, x.flip(-1), atol=1e-5).flatten(1).all(1)
    same = torch.isclose(out, x, atol=1e-5).flatten(1).all(1)
    assert bool((mirrored | same).all()) and 10 < int(mirrored.sum()) < 54


# --- cross-model table -----------------------------------------------------------------------------------------

def test_cross_model_table_tests_every_v_on_every_model(tmp_path):
    models = [linear_model(classes=3, side=6, seed=s) for s in (0, 1)]
    images = torch.rand(30, 1, 6, 6)
    table = run_to_end(cross_model_table(models, images, params={"xi": 0.3, "passes": 2, "method": "sgd"}))
    assert table.rates.shape == (2, 2) and not np.isnan(table.rates).any()
    for row, v in enumerate(table.perturbations):
        for column, model in enumerate(models):
            assert table.rates[row, column] == pytest.approx(
                fooling_rate(model, images, torch.from_numpy(v)[None]))
    csv_path, png_path = export_table(table, tmp_path)
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "computed on,linear,linear" and len(lines) == 3
    assert png_path.stat().st_size > 0
    with pytest.raises(ParameterError, match="input shapes"):
        run_to_end(cross_model_table([models[0], linear_model(side=5)], images))


# --- the gallery -----------------------------------------------------------------------------------------------

class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets = []

    def handle_starttag(self, tag, attrs):
        self.targets += [value for name, value in attrs if name in ("src", "href")]


def test_gallery_resumes_after_an_interruption_and_links_every_image(mnist_model, halves, tmp_path):
    images, params = halves[0][:60], {"eps": 0.3, "steps": 4, "eval_every": 2}
    control = RunControl(frame_interval=None)
    finished_first = []
    for progress in gallery_steps(mnist_model, images, tmp_path, params=params, control=control):
        if progress.finished is not None:
            finished_first.append(progress.class_index)
            if len(finished_first) == 3:
                control.stop()  # as if the window closed mid-run
    assert finished_first == [0, 1, 2]
    kept = {path.name: path.stat().st_mtime_ns for path in (tmp_path / "classes").glob("*.npz")}
    assert sorted(kept) == ["0000.npz", "0001.npz", "0002.npz"]

    computed_again = []
    entries = run_to_end(gallery_steps(mnist_model, images, tmp_path, params=params),
                         lambda p: computed_again.append(p.class_index) if p.finished else None)
    assert computed_again == list(range(3, 10))
    assert sorted(entries) == list(range(10))
    assert {name: (tmp_path / "classes" / name).stat().st_mtime_ns for name in kept} == kept

    with pytest.raises(ParameterError, match="other settings"):
        run_to_end(gallery_steps(mnist_model, images, tmp_path, params={**params, "eps": 0.1}))

    files = export_gallery(GalleryFolder(tmp_path).finished(), tmp_path / "export", example=images[0].numpy())
    page = tmp_path / "export" / "index.html"
    assert page in files
    links = _Links()
    links.feed(page.read_text())
    pictures = [t for t in links.targets if t.endswith(".png")]
    assert len([t for t in pictures if re.fullmatch(r"classes/\d{4}\.png", t)]) >= 10
    assert all((page.parent / target).is_file() for target in links.targets)
    rows = (tmp_path / "export" / "target_rates.csv").read_text().splitlines()
    assert len(rows) == 11 and rows[1].startswith("0,0,")
