"""`main.py visualize KIND`: PNG and .npy files in pixel space [0, 1], one readable line for bad input."""
import numpy as np
import pytest

from test_cli import cli, digits_npz  # noqa: F401  (a fixture: 8 correctly classified digits)


def pictures(folder):
    arrays = {path.stem: np.load(path) for path in sorted(folder.glob("*.npy"))}
    assert arrays and all((folder / f"{stem}.png").exists() for stem in arrays)
    for array in arrays.values():
        assert array.dtype == np.float32 and 0 <= array.min() and array.max() <= 1
    return arrays


def test_filters_and_patches(tmp_path):
    done = cli("visualize", "filters", "--out", tmp_path / "f")
    assert done.returncode == 0, done.stderr
    assert pictures(tmp_path / "f")["filters"].shape[0] == 1

    done = cli("visualize", "patches", "--layer", "features.5", "--channel", "3", "--k", "4", "--images", "samples",
               "--out", tmp_path / "p")
    assert done.returncode == 0, done.stderr
    assert "receptive field 10x10" in done.stdout and done.stdout.count(" at (") == 4
    assert "patches_features.5_3" in pictures(tmp_path / "p")


def test_guided_backprop_for_a_chosen_class(tmp_path, digits_npz):
    kind = "guided-backprop"
    done = cli("visualize", kind, "--images", digits_npz, "--target", "3", "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    arrays = pictures(tmp_path)
    assert len(arrays) == 16 and arrays[f"000_{kind}_overlay"].shape == (3, 28, 28)


def test_class_model_with_settings(tmp_path):
    done = cli("visualize", "class-model", "--target", "5", "--param", "steps=60", "--param", "lr=2.55/255",
               "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "after 60 steps" in done.stdout and pictures(tmp_path)["class_0005"].shape == (1, 28, 28)


@pytest.mark.parametrize("args, message", [
    (["unit", "--layer", "features.99"], "no layer 'features.99'"),
    (["saliency"], "saliency needs --images"),  # the engine tests cover the other bad values
    (["patches", "--layer", "features.5", "--images", "samples", "--param", "k=0"], "k must be at least 1"),
    (["saliency", "--images", "samples", "--param", "overlay=2"], "overlay must be at most 1"),
    (["filters", "--param", "k=3"], "filters takes no --param settings"),
    (["unit", "--layer", "features.5", "--param", "strength=1"], "unknown parameter 'strength' of unit"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    done = cli("visualize", *args, "--out", tmp_path)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
