"""Fooling images end to end: the one front door (`fooling_run`), the exported folder (elites.npz contract, PNGs
that still fool the model, CSVs), `main.py fool` with resume, and the second model's verdict."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from cli import main as cli_main
from engine.core.errors import ParameterError
from engine.core.run import run_to_end
from engine.fooling.export import export_fooling, first_generation_reaching, second_opinion
from engine.fooling.runs import fooling_run, load_archive, resolved_params
from engine.models import load_model

SMALL = ["--param", "population=40", "--param", "initial_population=40"]


@pytest.fixture(scope="module")
def digits():
    return load_model("mnist-cnn")


@pytest.fixture(scope="module")
def ascent_folder(tmp_path_factory, digits):
    """Gradient ascent for three digits, exported."""
    result = run_to_end(fooling_run(digits, "gradient", [1, 4, 7], {"steps": 150}))
    folder = tmp_path_factory.mktemp("ascent")
    export_fooling(result, digits.class_names, folder, second_opinion(digits, result.archive.images,
                                                                      result.archive.classes), "itself")
    return result, folder


def probabilities(model, images):
    with torch.no_grad():
        return torch.softmax(model(images), dim=1)


def test_the_exported_elites_keep_their_contract_and_still_fool_the_model(ascent_folder, digits):
    result, folder = ascent_folder
    with np.load(folder / "elites.npz", allow_pickle=False) as saved:
        images, classes, confidence = saved["images"], saved["classes"], saved["confidence"]
    assert images.dtype == np.float32 and images.shape == (3, 1, 28, 28)
    assert classes.dtype == np.int64 and classes.tolist() == [1, 4, 7]
    assert 0.0 <= images.min() and images.max() <= 1.0
    probs = probabilities(digits, torch.from_numpy(images))
    assert np.allclose(probs[torch.arange(3), classes].numpy(), confidence, atol=1e-5)
    assert (confidence >= 0.999).all(), confidence
    for name, digit in (("class_0001.png", 1), ("class_0004.png", 4), ("class_0007.png", 7)):
        pixels = np.asarray(Image.open(folder / name), dtype=np.float32) / 255  # 8-bit, as a report shows it
        prob = probabilities(digits, torch.from_numpy(pixels)[None, None])[0]
        assert int(prob.argmax()) == digit and float(prob[digit]) >= 0.99, (name, prob)


def test_the_csvs_hold_every_step_and_each_class(ascent_folder):
    result, folder = ascent_folder
    with open(folder / "confidence.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["step", "1", "4", "7"] and len(rows) == 1 + 150
    final = np.array([float(v) for v in rows[-1][1:]])
    assert np.allclose(final, result.archive.history[-1], atol=1e-6)
    with open(folder / "elites.csv", newline="") as handle:
        elites = list(csv.DictReader(handle))
    assert [row["class"] for row in elites] == ["1", "4", "7"]
    assert all(row["other_agrees"] == "1" for row in elites)  # the model agrees with itself
    reached = first_generation_reaching(result.archive.history, 0.999)
    assert [int(row["first_step_99.9%"]) for row in elites] == reached.tolist()
    assert Image.open(folder / "contact_sheet.png").size[0] > 3 * 100


def test_cli_fool_resumed_run_equals_the_uninterrupted_one(tmp_path):
    whole, half, rest = tmp_path / "whole", tmp_path / "half", tmp_path / "rest"
    assert cli_main(["fool", "--classes", "0-4", *SMALL, "--param", "generations=8", "--out", str(whole)]) == 0
    assert cli_main(["fool", "--classes", "0-4", *SMALL, "--param", "generations=3", "--out", str(half)]) == 0
    assert cli_main(["fool", "--classes", "0-4", *SMALL, "--param", "generations=8", "--resume",
                     str(half / "elites.npz"), "--out", str(rest)]) == 0
    with np.load(whole / "elites.npz") as a, np.load(rest / "elites.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key
        assert int(a["generation"]) == 8 and a["history"].shape == (9, 5)
    assert len(list(whole.glob("class_*.png"))) == 5


def test_cppn_run_writes_grey_images_of_the_model_shape(tmp_path, digits):
    result = run_to_end(fooling_run(digits, "cppn", [0, 3], {"generations": 4, "population": 20,
                                                              "initial_population": 20}))
    files = export_fooling(result, digits.class_names, tmp_path)
    assert result.archive.images.shape == (2, 1, 28, 28) and result.archive.generation == 4
    archive = load_archive(tmp_path / "elites.npz", "cppn", digits)
    assert torch.equal(archive.images, result.archive.images) and len(files) == 6
    with pytest.raises(ParameterError, match="cppn archive, not a direct one"):
        load_archive(tmp_path / "elites.npz", "direct", digits)


def test_bad_requests_fail_before_any_work(tmp_path, digits, capsys):
    with pytest.raises(ParameterError, match="unknown fooling method 'genetic'"):
        resolved_params("genetic", digits, {})
    with pytest.raises(ParameterError, match="unknown parameter 'mutation_rate' for the cppn method"):
        resolved_params("cppn", digits, {"mutation_rate": "0.2"})
    with pytest.raises(ParameterError, match="population must be even"):
        resolved_params("direct", digits, {"population": "7"})
    with pytest.raises(ParameterError, match="only an evolution continues"):
        load_archive(tmp_path / "x.npz", "gradient", digits)
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(ParameterError, match="not a readable fooling archive"):
        load_archive(tmp_path / "broken.npz", "direct", digits)
    a_file = tmp_path / "taken"
    a_file.write_text("keep me")
    assert cli_main(["fool", "--out", str(a_file)]) == 2
    assert "is a file, but a folder is expected" in capsys.readouterr().err and a_file.read_text() == "keep me"
    assert cli_main(["fool", "--classes", "3-12", "--out", str(tmp_path / "o")]) == 2
    assert "not within 0..9" in capsys.readouterr().err and not (tmp_path / "o" / "elites.npz").exists()
    assert cli_main(["fool", "--compare", "resnet18:random", "--out", str(tmp_path / "o")]) == 2
    assert "1000 classes" in capsys.readouterr().err


def test_a_second_model_verdict_counts_agreement(digits):
    images = torch.rand(4, 1, 28, 28)
    predicted = probabilities(digits, images).argmax(1)
    classes = torch.stack([predicted[0], predicted[1], (predicted[2] + 1) % 10, (predicted[3] + 1) % 10])
    opinion = second_opinion(digits, images, classes, batch_size=3)
    assert opinion.agrees.tolist() == [True, True, False, False] and opinion.share == 0.5
    assert np.allclose(opinion.probability, probabilities(digits, images)[torch.arange(4), classes].numpy())


@pytest.mark.parametrize("method", ["direct", "cppn"])
def test_imagenet_path_five_generations_for_three_classes(method, tmp_path):
    model = load_model("resnet18:random", "cpu")
    params = {"generations": 5, "population": 8, "initial_population": 8, "batch_size": 8}
    steps = []
    result = run_to_end(fooling_run(model, method, [1, 207, 980], params), steps.append)
    archive = result.archive
    assert [step.generation for step in steps] == [0, 1, 2, 3, 4, 5]
    assert archive.images.shape == (3, 3, 224, 224) and archive.filled.all()
    assert np.all(np.diff(np.stack(archive.history), axis=0) >= 0)  # an elite is only ever replaced by a better one
    probs = probabilities(model, archive.images)[torch.arange(3), archive.classes]
    assert torch.allclose(probs, archive.confidence, atol=1e-5)
    files = export_fooling(result, model.class_names, tmp_path)
    assert (tmp_path / "class_0207_golden_retriever.png").exists() and len(files) == 7
