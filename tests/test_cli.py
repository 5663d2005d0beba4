"""The headless contract: `main.py run/list`, exit codes and one readable error line."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory, correct_digits):
    path = tmp_path_factory.mktemp("inputs") / "digits.npz"
    images = (correct_digits[0][:8].numpy().transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)  # N,H,W,C
    np.savez(path, images=images)
    return path


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, mnist_model):
    folder = tmp_path_factory.mktemp("models")
    x = torch.rand(4, 1, 28, 28)
    torch.jit.trace(mnist_model.module, x).save(str(folder / "digits_ts.pt"))
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(mnist_model.module, (x,), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, folder / "digits.pt2")
    return [folder / "digits_ts.pt", folder / "digits.pt2"]


@pytest.mark.parametrize("which", [0, 1], ids=["torchscript", "torch.export"])
def test_run_writes_the_npz_contract(tmp_path, digits_npz, model_files, which):
    out = tmp_path / "out.npz"
    done = cli("run", "pgd", "--model", model_files[which], "--images", digits_npz, "--out", out,
               "--param", "eps=0.3", "--param", "steps=40", "--param", "step=0.01", "--device", "cpu",
               "--export-dir", tmp_path / "export")
    assert done.returncode == 0, done.stderr
    assert "fooled" in done.stdout and "mean L2" in done.stdout
    assert "program" in done.stderr  # the user is told the file's code runs when the model is called
    with np.load(out) as arrays:
        assert arrays["original"].shape == arrays["adversarial"].shape == (8, 1, 28, 28)
        assert arrays["original"].dtype == arrays["adversarial"].dtype == np.float32
        assert arrays["pred_before"].dtype == arrays["pred_after"].dtype == np.int64
        assert arrays["fooled"].dtype == bool and arrays["fooled"].mean() >= 0.875
        assert np.abs(arrays["adversarial"] - arrays["original"]).max() <= 0.3 + 1e-6
    assert (tmp_path / "export" / "metrics.csv").exists()


def test_targeted_run_by_class_name(tmp_path, digits_npz):
    out = tmp_path / "t.npz"
    done = cli("run", "pgd", "--images", digits_npz, "--out", out, "--target", "3", "--param", "steps=100")
    assert done.returncode == 0, done.stderr
    with np.load(out) as arrays:
        assert (arrays["target"] == 3).all() and (arrays["pred_after"] == 3).mean() >= 0.75


@pytest.mark.parametrize("args,message", [
    (["run", "pgd", "--images", "missing.png", "--out", "o.npz"], "no images could be loaded"),
    (["run", "pgd", "--images", "samples", "--out", "o.npz", "--param", "eps=-1"], "eps must be at least"),
    (["run", "pgd", "--images", "samples", "--out", "o.npz", "--param", "eps"], "NAME=VALUE"),
    (["run", "nope", "--images", "samples", "--out", "o.npz"], "unknown attack"),
    (["run", "pgd", "--model", "resnet9000", "--images", "samples", "--out", "o.npz"], "unknown model"),
    (["run", "ll", "--images", "samples", "--out", "o.npz", "--target", "3"], "untargeted"),
])
def test_errors_are_one_readable_line_and_a_nonzero_exit(tmp_path, args, message):
    done = cli(*args)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr


def test_list_names_models_attacks_and_parameters():
    done = cli("list")
    assert done.returncode == 0
    for word in ("mnist-cnn", "resnet18", "inception_v3", "fgsm", "bim", "ll", "pgd", "eps=", "step=",
                 "steps=", "norm=", "random_start="):
        assert word in done.stdout
    attacks, universal = done.stdout.split("\nUniversal attacks")
    assert "uap:" in universal and "uap:" not in attacks and "xi=" in universal
    visualizations, playground = universal.split("\nVisualizations")[1].split("\nPlayground")
    for kind in ("filters", "patches", "saliency", "guided-backprop", "class-model", "unit", "deepdream"):
        assert f"  {kind}:" in visualizations
    assert "k=9" in visualizations and "blur_sigma=" in visualizations and "(mnist: 150)" in visualizations
    for word in ("hidden=32, 32", "learning_rate=", "pgd_steps=", "method=PGD", "adversarial=", "copies="):
        assert word in playground


def test_adef_run_adds_the_field_and_stats_print_the_papers_table(tmp_path, digits_npz):
    out = tmp_path / "adef.npz"
    done = cli("run", "adef", "--images", digits_npz, "--out", out, "--param", "preset=mnist")
    assert done.returncode == 0, done.stderr
    with np.load(out) as arrays:
        assert arrays["field"].shape == (8, 2, 28, 28) and arrays["field"].dtype == np.float32
    done = cli("stats", "deepfool", "--images", digits_npz, "--out", tmp_path / "stats")
    assert done.returncode == 0, done.stderr
    assert "success=1.0" in done.stdout and "average_iterations=" in done.stdout
    assert (tmp_path / "stats" / "statistics.csv").exists()


def bad_outputs(tmp_path):
    """--out values no run could write: a folder where a file is expected, a path under a regular file (which
    fails for root too), and for folder outputs a regular file."""
    plain = tmp_path / "plain.txt"
    plain.write_text("not a folder")
    return plain


@pytest.mark.parametrize("command,out,expected", [
    ("run", "{tmp}", "is a folder, but a file is expected"),
    ("run", "{plain}/out.npz", "plain.txt is a file, not a folder"),
    ("run", "{plain}/deeper/out.npz", "plain.txt is a file, not a folder"),
    ("stats", "{plain}", "is a file, but a folder is expected"),
    ("stats", "{plain}/stats", "plain.txt is a file, not a folder"),
    ("visualize", "{plain}/vis", "plain.txt is a file, not a folder"),
    ("gallery", "{plain}", "is a file, but a folder is expected"),
    ("screenshot", "{plain}/shot.png", "plain.txt is a file, not a folder"),
], ids=["run-folder", "run-under-file", "run-under-file-deeper", "stats-file", "stats-under-file",
        "visualize-under-file", "gallery-file", "screenshot-under-file"])
def test_a_bad_output_path_is_refused_before_the_model_loads(tmp_path, command, out, expected):
    plain = bad_outputs(tmp_path)
    out = out.format(tmp=tmp_path, plain=plain)
    missing_model = tmp_path / "no-such-model.pt"  # would fail the load, so the path must be checked first
    args = {"run": ["run", "pgd", "--model", missing_model, "--images", "samples", "--out", out],
            "stats": ["stats", "pgd", "--model", missing_model, "--images", "samples", "--out", out],
            "visualize": ["visualize", "saliency", "--model", missing_model, "--images", "samples", "--out", out],
            "gallery": ["gallery", "--model", missing_model, "--images", "samples", "--out", out],
            "screenshot": ["screenshot", out, "--model", missing_model]}[command]
    done = cli(*args, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and expected in lines[0] and "no-such-model" not in lines[0], done.stderr
    assert "Traceback" not in done.stderr and plain.read_text() == "not a folder"


def test_run_export_dir_is_checked_before_the_model_loads(tmp_path):
    plain = bad_outputs(tmp_path)
    done = cli("run", "pgd", "--model", tmp_path / "no-such-model.pt", "--images", "samples",
               "--out", tmp_path / "out.npz", "--export-dir", plain / "export", timeout=120)
    assert done.returncode == 2 and "--export-dir" in done.stderr and "plain.txt is a file" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.npz").exists()


def test_run_replaces_an_existing_out_atomically(tmp_path, digits_npz):
    out = tmp_path / "out.npz"
    out.write_bytes(b"previous")
    done = cli("run", "fgsm", "--model", "mnist-cnn", "--images", digits_npz, "--out", out, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert set(np.load(out).files) >= {"adversarial", "original"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]  # no temporary file left
