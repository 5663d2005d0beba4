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
from engine.universal.batches import EVAL_BATCH
from engine.universal.cross_model import cross_model_table, export_table
from engine.universal.gallery import GalleryEntry, GalleryFolder, export_gallery, gallery_steps, read_gallery

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
    # the result is the v that fooled most images of the set among those measured: at least each pass's end
    kept = float(result.extras["kept_fooling_rate"])
    assert kept == pytest.approx(fooling_rate(model, images, v))
    assert kept >= float(result.extras["fooling_rates"].max()) and kept > 0.3
    if method == "sgd":  # measured once a pass
        assert kept == pytest.approx(float(result.extras["fooling_rates"].max()))


@pytest.mark.parametrize("method", ["sgd", "deepfool"])
def test_uap_on_the_builtin_model_beats_random_noise_tenfold(mnist_model, halves, method):
    """Acceptance: Linf xi 0.3, held-out fooling rate >= 40% and >= 10x that of random +-xi noise; with the
    gradient steps (the digits' default) and with the paper's DeepFool loop. The paper's loop is chaotic: over the
    image-order seeds 0, 1, 2 it measured 57.4%, 51.4%, 53.2% held-out with 1 thread and 51.0%, 51.2% (seeds 0,
    1) with 2 threads (spread 6.4 points, the lowest 11 points above the bar; `python benchmarks/universal.py
    --rates` measures all three seeds)."""
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


def _recording_batches(model):
    """The model, recording the size of every batch it is given."""
    seen = []
    model.module.register_forward_pre_hook(lambda module, inputs: seen.append(len(inputs[0])))
    return model, seen


@pytest.mark.parametrize("name, given", [("uap", {"method": "deepfool", "passes": 1}),
                                         ("uap", {"method": "sgd", "passes": 1}),
                                         ("targeted-universal", {"target": 1, "steps": 3, "eval_every": 1})])
def test_universal_runs_never_pass_the_whole_set_through_the_model(name, given):
    model, seen = _recording_batches(linear_model(classes=3, side=6))
    images = torch.rand(3 * EVAL_BATCH, 1, 6, 6)
    run(name, model, images, heldout=images[:EVAL_BATCH + 10], batch_size=8, **given)
    assert seen and max(seen) <= EVAL_BATCH


def test_the_cross_model_table_passes_its_images_in_batches():
    models = [_recording_batches(linear_model(classes=3, side=6, seed=s)) for s in (0, 1)]
    images = torch.rand(2 * EVAL_BATCH + 10, 1, 6, 6)
    run_to_end(cross_model_table([m for m, _ in models], images, heldout=images,
                                 params={"xi": 0.3, "passes": 1, "method": "sgd", "batch_size": 8}))
    assert all(seen and max(seen) <= EVAL_BATCH for _, seen in models)


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
    assert lines[0] == "computed on,linear,linear,clean accuracy" and len(lines) == 3
    assert np.isnan(table.accuracies).all() and lines[1].endswith(",")  # no labels: no accuracy
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


def _learn_gallery(model, images, folder, classes, params):
    computed, notes = [], []

    def seen(progress):
        if progress.finished is not None:
            computed.append(progress.class_index)
        if progress.note:
            notes.append(progress.note)
    return run_to_end(gallery_steps(model, images, folder, classes, params), seen), computed, notes


def test_gallery_resume_ignores_partial_files_and_computes_damaged_ones_again(mnist_model, halves, tmp_path):
    """A crash mid-write leaves NNNN.partial.npz; a damaged disk leaves a truncated NNNN.npz: resume must use
    neither, and say which files it computes again."""
    images, params = halves[0][:40], {"eps": 0.3, "steps": 2, "eval_every": 2}
    entries, computed, _ = _learn_gallery(mnist_model, images, tmp_path, [0, 1, 2], params)
    assert computed == [0, 1, 2]
    classes = tmp_path / "classes"
    whole = (classes / "0001.npz").read_bytes()
    (classes / "0003.partial.npz").write_bytes(whole[: len(whole) // 2])  # a write cut short by a crash
    (classes / "0004.partial.npz").write_bytes((classes / "0002.npz").read_bytes())  # never renamed
    (classes / "0001.npz").write_bytes(whole[: len(whole) // 2])  # truncated
    (classes / "0002.npz").write_bytes(b"")  # emptied

    contents = GalleryFolder(tmp_path).read((1, 28, 28))
    assert sorted(contents.entries) == [0]
    assert [note.split(":")[0] for note in contents.damaged] == ["0001.npz", "0002.npz"]
    entries, computed, notes = _learn_gallery(mnist_model, images, tmp_path, range(5), params)
    assert computed == [1, 2, 3, 4]
    assert sorted(entries) == list(range(5))
    assert len(notes) == 1 and "0001.npz" in notes[0] and "0002.npz" in notes[0] and "partial" not in notes[0]
    assert sorted(GalleryFolder(tmp_path).read().entries) == list(range(5))


def test_reading_a_gallery_that_does_not_exist_yet_finds_nothing(tmp_path):
    contents = read_gallery(tmp_path / "not yet")
    assert contents.entries == {} and contents.damaged == ()
    assert not (tmp_path / "not yet").exists()


def test_a_class_file_holding_another_shape_is_computed_again(tmp_path):
    folder = GalleryFolder(tmp_path)
    folder.classes_dir.mkdir(parents=True)
    folder.save(GalleryEntry(5, "five", 0.5, np.zeros((3, 8, 8), np.float32), np.zeros(2, np.float32)))
    assert sorted(folder.read().entries) == [5]
    assert folder.read((1, 28, 28)).entries == {}
    assert "shape" in folder.read((1, 28, 28)).damaged[0]


def test_the_cross_model_table_gives_each_models_clean_accuracy_on_the_images_it_tests_on(tmp_path):
    models = [linear_model(classes=3, side=6, seed=s) for s in (0, 1)]
    images, heldout = torch.rand(20, 1, 6, 6), torch.rand(30, 1, 6, 6)
    labels = models[0].predict(heldout)[1]
    labels[:10] = (labels[:10] + 1) % 3  # the first model is wrong on exactly a third of them
    table = run_to_end(cross_model_table(models, images, heldout=heldout, labels=labels,
                                         params={"xi": 0.3, "passes": 1, "method": "sgd"}))
    expected = [float((model.predict(heldout)[1] == labels).float().mean()) for model in models]
    assert table.accuracies[0] == pytest.approx(2 / 3) and table.accuracies == pytest.approx(expected)
    rows = export_table(table, tmp_path)[0].read_text().splitlines()[1:]
    assert [float(row.split(",")[-1]) for row in rows] == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ParameterError, match="29 labels for 30 images"):
        run_to_end(cross_model_table(models, images, heldout=heldout, labels=labels[:29]))
