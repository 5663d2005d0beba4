"""A corpus of hostile but fair inputs, built here, each given to the command line as a user would: every one
ends with exit 2 and one line that names the file or parameter and what to do; no Python traceback, no code run
from a model file, no output touched, and quickly (nothing hangs, nothing allocates what a header claims)."""
from __future__ import annotations

import os
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import main
from engine.core.errors import ImageError, ParameterError
from engine.data import load_images
from test_model_safety import _NaNNet, _OneClass, _pickled_weight_pt2, _script, _tiny_net

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")


def _png_declaring(path: Path, width: int, height: int) -> Path:
    """A real PNG of a few bytes whose header declares `width` x `height` pixels (a decompression bomb)."""
    Image.new("L", (4, 4)).save(path)
    data = bytearray(path.read_bytes())
    header = struct.pack(">II", width, height) + data[24:29]  # width, height, depth, colour, compression, ...
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    path.write_bytes(bytes(data))
    return path


def _npy_declaring(path: Path, shape: tuple[int, ...]) -> Path:
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(b"0123456789")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """name -> path of each hostile file, built once."""
    folder = tmp_path_factory.mktemp("corpus")
    files = {"bomb": _png_declaring(folder / "bomb.png", 30000, 30000),
             "huge_npy": _npy_declaring(folder / "huge.npy", (100000, 3, 1000, 1000))}
    os.mkfifo(folder / "fifo.png")
    files["fifo"] = folder / "fifo.png"
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    files["pickled_npy"] = folder / "objects.npy"
    np.save(folder / "zero.npy", np.zeros((0, 28, 28), np.uint8))
    files["zero_images"] = folder / "zero.npy"
    files["empty_png"] = folder / "empty.png"
    files["empty_png"].write_bytes(b"")
    files["garbage_model"] = folder / "garbage.pt"
    files["garbage_model"].write_bytes(os.urandom(4096))
    os.mkfifo(folder / "fifo_model.pt")
    files["fifo_model"] = folder / "fifo_model.pt"
    files["evil_pt2"] = _pickled_weight_pt2(folder, folder / "pwned")
    files["nan_model"] = _script(folder / "nan.pt", _NaNNet(), {"input_shape": [1, 28, 28]})
    files["one_class"] = _script(folder / "one.pt", _OneClass(), {"input_shape": [1, 28, 28]})
    files["bad_sidecar"] = _script(folder / "sidecar.pt", _tiny_net().eval(),
                                   {"input_shape": [3, 2, 2], "mean": [0.5, 0.5], "std": [0.2, 0.2, 0.2]})
    torch.save({"w": torch.zeros(3)}, folder / "foreign.pth")
    files["foreign_state"] = folder / "foreign.pth"
    files["folder"] = folder
    return files


RUN = ["run", "pgd", "--out", "{out}/o.npz", "--device", "cpu"]
CASES = {  # case: (argv, what the one line must contain; {name} stands for a file of the corpus)
    "decompression bomb": (RUN + ["--images", "{bomb}"], "bomb.png declares more pixels than AdvLens decodes"),
    "FIFO named like an image": (RUN + ["--images", "{fifo}"], "fifo.png is not a regular file"),
    "header declaring 1 TiB": (RUN + ["--images", "{huge_npy}"], "huge.npy declares"),
    "pickled array": (RUN + ["--images", "{pickled_npy}"], "objects.npy holds Python objects (pickled)"),
    "zero images": (RUN + ["--images", "{zero_images}"], "zero.npy holds no images"),
    "empty image file": (RUN + ["--images", "{empty_png}"], "empty.png is not an image"),
    "device as image": (RUN + ["--images", "/dev/zero"], "zero is not a regular file"),
    "random bytes as model": (RUN + ["--images", "samples", "--model", "{garbage_model}"],
                              "garbage.pt is not a readable PyTorch checkpoint"),
    "FIFO as model": (RUN + ["--images", "samples", "--model", "{fifo_model}"], "fifo_model.pt is not a regular"),
    "pickled .pt2 weight": (RUN + ["--images", "samples", "--model", "{evil_pt2}"], "--trust-model-code"),
    "NaN outputs": (RUN + ["--images", "samples", "--model", "{nan_model}"], "non-finite"),
    "one class": (RUN + ["--images", "samples", "--model", "{one_class}"], "at least 2"),
    "sidecar mean of the wrong length": (RUN + ["--images", "samples", "--model", "{bad_sidecar}"], "sidecar.json"),
    "state dict of another net": (RUN + ["--images", "samples", "--model", "{foreign_state}", "--arch",
                                         "mnist-cnn"], "does not fit mnist-cnn"),
    "eps NaN": (RUN + ["--images", "samples", "--param", "eps=nan"], "eps must be a finite number"),
    "steps absurd": (RUN + ["--images", "samples", "--param", "steps=1e9"], "steps must be at most"),
    "target out of range": (RUN + ["--images", "samples", "--target", "99999"], "target 99999"),
    "batch size 0": (RUN + ["--images", "samples", "--batch-size", "0"], "--batch-size"),
    "out is a folder": (["run", "pgd", "--images", "samples", "--out", "{folder}"], "is a folder"),
    "out under a file": (["run", "pgd", "--images", "samples", "--out", "{bomb}/o.npz"], "is a file"),
    "billion classes": (["gallery", "--images", "samples", "--classes", "0-999999999", "--out", "{out}/g"],
                        "'0-999999999' is not within 0..9"),
    "negative threshold": (["stats", "pgd", "--images", "samples", "--threshold", "-1", "--out", "{out}/s"],
                           "--threshold"),
    "unknown layer": (["visualize", "patches", "--images", "samples", "--layer", "nope", "--out", "{out}/v"],
                      "no layer 'nope'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_hostile_input_is_one_line_and_exit_2(case, corpus, tmp_path, capsys):
    argv, expected = CASES[case]
    names = {key: str(path) for key, path in corpus.items()} | {"out": str(tmp_path)}
    started = time.perf_counter()
    status = main.main([arg.format(**names) for arg in argv])
    seconds = time.perf_counter() - started
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert status == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("advlens: error: "), captured.err
    assert expected.format(**names) in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert seconds < 60  # nothing hangs on a FIFO or decodes a bomb
    assert not (corpus["folder"] / "pwned").exists()  # the pickled weight never ran
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing written


def test_skipped_inputs_are_noted_and_the_rest_is_used(corpus, tmp_path, capsys, correct_digits):
    good = tmp_path / "digits.npz"
    np.savez(good, images=correct_digits[0][:4].numpy())
    status = main.main(["run", "fgsm", "--images", str(good), str(corpus["bomb"]), str(corpus["fifo"]),
                        str(corpus["huge_npy"]), "--out", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err
    assert status == 0, err
    assert err.count("advlens: skipped") == 3 and "Traceback" not in err
    with np.load(tmp_path / "o.npz") as arrays:
        assert len(arrays["original"]) == 4


@pytest.mark.parametrize("images,message", [
    ("a string that is no path/", "no images could be loaded"),
    ([], "no images given"),
    ([3], "not a file or folder path"),
    (None, "not None"),
])
def test_python_api_misuse_of_load_images_is_a_readable_error(mnist_model, images, message):
    with pytest.raises(ImageError, match=message):
        load_images(images, mnist_model)


@pytest.mark.parametrize("images,message", [
    (["x.png"], "must be a tensor"),
    (torch.zeros(0, 1, 28, 28), "no images given"),
    (torch.zeros(2, 28, 28), "must have shape N x 1x28x28"),
    (torch.zeros(2, 1, 28, 28, dtype=torch.uint8), "divide 8-bit pixels by 255"),
    (torch.full((2, 1, 28, 28), float("nan")), "NaN"),
    (torch.full((2, 1, 28, 28), -0.42), "pixels in \\[0, 1\\]"),
])
def test_python_api_misuse_of_an_attack_is_a_readable_error(mnist_model, images, message):
    from engine.attacks import get_attack, run_to_end
    import engine.universal  # noqa: F401  (the universal attacks check their images the same way)

    for name in ("pgd", "deepfool", "adef", "uap"):
        spec = get_attack(name)
        with pytest.raises(ParameterError, match=message):
            run_to_end(spec.fn(mnist_model, images, **spec.resolve({}, mnist_model.domain)))


def test_a_numpy_array_of_pixels_is_accepted_by_the_api(mnist_model, correct_digits):
    from engine.attacks import get_attack, run_to_end

    spec = get_attack("fgsm")
    result = run_to_end(spec.fn(mnist_model, correct_digits[0][:2].numpy(), **spec.resolve({}, "mnist")))
    assert len(result.original) == 2

