"""Inputs bounded and checked before they are read: special files are never opened, oversized images and arrays
are refused from their headers, and API misuse gives a readable ImageError instead of a crash or a hang."""
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import data
from engine.core.errors import AdvLensError, ImageError
from engine.data import load_images, read_array, read_image

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def resnet():
    from engine.models import load_model
    return load_model("resnet18:random", "cpu")


def write_png(path, size=(28, 28)):
    Image.fromarray(np.full(size[::-1], 128, np.uint8)).save(path)
    return path


def png_declaring(path, width, height):
    """A real, tiny PNG whose IHDR declares width x height (the CRC recomputed, so Pillow trusts the header)."""
    write_png(path, (8, 8))
    raw = bytearray(path.read_bytes())
    raw[16:24] = struct.pack(">II", width, height)  # after the 8-byte signature, IHDR's length and type
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])))  # CRC of the chunk type and its 13 bytes
    path.write_bytes(bytes(raw))
    return path


def finishes(body, seconds=20):
    """Run `body` in a thread and return its result; fail (instead of hanging) if it blocks."""
    outcome = {}

    def run():
        try:
            outcome["value"] = body()
        except AdvLensError as exc:  # re-raised in the test's thread (anything else fails the assert below)
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: a special file was opened?"
    if "error" in outcome:
        raise outcome["error"]
    assert "value" in outcome, "the body raised an unexpected exception (see the thread's traceback)"
    return outcome["value"]


# --- special files ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_in_a_folder_is_skipped_without_being_opened(tmp_path, mnist_model):
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "c.png")
    os.mkfifo(tmp_path / "x.png")
    os.mkfifo(tmp_path / "y.npy")
    started = time.perf_counter()
    batch = finishes(lambda: load_images([tmp_path], mnist_model))
    assert time.perf_counter() - started < 10
    assert batch.names == ["a.png", "c.png"]
    assert sorted(batch.skipped) == ["x.png is not a regular file (a FIFO), so it was not opened",
                                     "y.npy is not a regular file (a FIFO), so it was not opened"]
    for reader in (read_image, read_array):  # named directly, too
        with pytest.raises(ImageError, match="x.png is not a regular file"):
            finishes(lambda reader=reader: reader(tmp_path / "x.png"))


def test_a_folder_named_like_an_image_is_skipped(tmp_path, mnist_model):
    write_png(tmp_path / "a.png")
    (tmp_path / "album.png").mkdir()
    batch = load_images([tmp_path], mnist_model)
    assert batch.names == ["a.png"] and batch.skipped == ["album.png is not a regular file (a folder), so it was not opened"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_device_is_refused(mnist_model):
    with pytest.raises(ImageError, match="zero is not a regular file \\(a device\\)"):
        finishes(lambda: load_images(["/dev/zero"], mnist_model))


def test_a_symlink_to_an_image_is_read(tmp_path, mnist_model):
    target = write_png(tmp_path / "real.png")
    (tmp_path / "link.png").symlink_to(target)
    assert load_images([tmp_path / "link.png"], mnist_model).names == ["link.png"]


# --- oversized images ------------------------------------------------------------------------------------------

def test_a_png_declaring_30000_x_30000_pixels_is_skipped_quickly(tmp_path, mnist_model):
    write_png(tmp_path / "good.png")
    bomb = png_declaring(tmp_path / "bomb.png", 30_000, 30_000)
    assert bomb.stat().st_size < 200
    started = time.perf_counter()
    batch = load_images([tmp_path], mnist_model)  # Pillow's own DecompressionBombError, caught
    assert time.perf_counter() - started < 5
    assert batch.names == ["good.png"]
    assert len(batch.skipped) == 1 and batch.skipped[0].startswith("bomb.png declares more pixels than")
    assert "downscale it first" in batch.skipped[0]


def test_the_pixel_limit_is_checked_before_decoding(tmp_path):
    # 81 megapixels: under Pillow's own limits, over MAX_PIXELS (64); the file holds 8 x 8 pixels of data
    big = png_declaring(tmp_path / "big.png", 9000, 9000)
    with pytest.raises(ImageError, match=r"^big.png declares 9000 x 9000 pixels \(81 megapixels\), more than "
                                         r"the limit of 64; downscale it first$"):
        read_image(big)


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillows_bomb_warning_made_an_error_is_an_image_error(tmp_path):
    big = png_declaring(tmp_path / "big.png", 10_000, 10_000)  # 100 MP: Pillow warns, here an error
    with pytest.raises(ImageError, match="big.png declares more pixels than AdvLens decodes"):
        read_image(big)


def test_large_jpegs_decode_at_reduced_scale_never_below_the_needed_side(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (900, 1300, 3), dtype=np.uint8)
    path = tmp_path / "photo.jpg"
    Image.fromarray(rgb).save(path, quality=90)
    assert read_image(path).shape == (900, 1300, 3)
    assert read_image(path, needed_side=224).shape == (225, 325, 3)  # 1/4: the shorter side stays >= 224
    assert read_image(path, needed_side=100).shape == (113, 163, 3)  # 1/8, rounded up
    assert read_image(path, needed_side=451).shape == (900, 1300, 3)  # less than twice as large: decoded in full
    png = tmp_path / "photo.png"
    Image.fromarray(rgb).save(png)
    assert read_image(png, needed_side=100).shape == (900, 1300, 3)  # only JPEG can decode at reduced scale


def test_small_images_read_exactly_as_before(tmp_path, resnet):
    """A JPEG under twice the model's resize side decodes in full: the model input is torchvision's resize of it."""
    import torch
    import torchvision.transforms.v2.functional as F
    rgb = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "small.jpg")
    full = np.asarray(Image.open(tmp_path / "small.jpg").convert("RGB"), dtype=np.float32) / 255
    expected = F.center_crop(F.resize(torch.from_numpy(full).permute(2, 0, 1)[None], [256], antialias=True), [224, 224])
    assert torch.equal(load_images(tmp_path / "small.jpg", resnet).images, expected.clamp(0, 1))


MAKE_BIG_JPEG = """
import sys
from PIL import Image
gradient = Image.linear_gradient("L").resize((12_000, 12_000), Image.Resampling.NEAREST)
Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90), gradient)).save(sys.argv[1], quality=85)
"""
# VmHWM, the peak resident memory of this process image: unlike ru_maxrss it is not inherited across fork + exec
LOAD_BIG_JPEG = """
import json, re, sys, time
sys.path.insert(0, sys.argv[2])
from engine.data import load_images
from engine.models import load_model

def peak_mb():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) / 1024

model = load_model("resnet18:random", "cpu")
before = peak_mb()
started = time.perf_counter()
batch = load_images([sys.argv[1]], model)
seconds = time.perf_counter() - started
print(json.dumps({"shape": list(batch.images.shape), "before_mb": before, "after_mb": peak_mb(), "seconds": seconds}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc")
def test_a_12000_x_12000_jpeg_loads_in_well_under_a_gigabyte(tmp_path):
    path = tmp_path / "huge.jpg"
    subprocess.run([sys.executable, "-c", MAKE_BIG_JPEG, str(path)], check=True, timeout=300)  # ~1.5 GB: not here
    run = subprocess.run([sys.executable, "-W", "ignore::PIL.Image.DecompressionBombWarning", "-c", LOAD_BIG_JPEG,
                          str(path), str(ROOT)], check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    measured = json.loads(run.stdout.strip().splitlines()[-1])
    assert measured["shape"] == [1, 3, 224, 224]
    growth_mb = measured["after_mb"] - measured["before_mb"]
    assert growth_mb < 200, measured  # decoded in full, without draft(), it grows by ~2 GB


# --- oversized and unusual arrays ------------------------------------------------------------------------------

def npy_declaring(path, shape, dtype="<f4", data=b"\0" * 10):
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(file, header)
        file.write(data)
    return path


def test_an_npy_declaring_a_gigantic_shape_is_refused_from_its_header(tmp_path, mnist_model):
    path = npy_declaring(tmp_path / "huge.npy", (100_000, 3, 1000, 1000))
    started = time.perf_counter()
    with pytest.raises(ImageError, match=r"huge.npy declares a 100000 x 3 x 1000 x 1000 float32 array \(1117.6 GiB\), "
                                         r"more than the limit of 2 GiB"):
        read_array(path)
    write_png(tmp_path / "good.png")
    batch = load_images([tmp_path], mnist_model)
    assert batch.names == ["good.png"] and "huge.npy declares" in batch.skipped[0]
    assert time.perf_counter() - started < 5


def test_a_truncated_npy_is_refused(tmp_path):
    path = npy_declaring(tmp_path / "short.npy", (2, 1, 28, 28))
    with pytest.raises(ImageError, match="short.npy is truncated: its header declares 6272 bytes of data, the file holds 10"):
        read_array(path)


def test_pickled_arrays_get_a_readable_message(tmp_path):
    objects = np.array([{"a": 1}, None], dtype=object)
    np.save(tmp_path / "objects.npy", objects, allow_pickle=True)
    np.savez(tmp_path / "objects.npz", images=objects)
    (tmp_path / "raw.npy").write_bytes(__import__("pickle").dumps([1, 2]))
    for name in ("objects.npy", "objects.npz", "raw.npy"):
        with pytest.raises(ImageError, match=f"^{name} holds Python objects \\(pickled\\), which AdvLens does not load"):
            read_array(tmp_path / name)


def test_an_npz_member_too_large_when_decompressed_is_refused_before_decompressing(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_ARRAY_BYTES", 2**20)
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, images=np.zeros((2 * 2**20,), np.uint8))
    assert path.stat().st_size < 20_000
    with pytest.raises(ImageError, match=r"bomb.npz: images.npy decompresses to 0.0 GiB"):
        read_array(path)
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: pytest.fail("decompressed"))
    with pytest.raises(ImageError, match="decompresses to"):
        read_array(path)


def test_arrays_with_no_images(tmp_path, mnist_model):
    np.save(tmp_path / "none.npy", np.zeros((0, 1, 28, 28), np.float32))
    with pytest.raises(ImageError, match=r"none.npy holds no images \(its shape is \(0, 1, 28, 28\)\)"):
        read_array(tmp_path / "none.npy")
    np.savez(tmp_path / "empty.npz")
    write_png(tmp_path / "good.png")
    batch = load_images([tmp_path], mnist_model)
    assert batch.names == ["good.png"]
    assert sorted(batch.skipped) == ["empty.npz holds no arrays", "none.npy holds no images (its shape is (0, 1, 28, 28))"]


def test_valid_arrays_still_read_from_npy_and_npz(tmp_path):
    floats = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    np.save(tmp_path / "a.npy", np.asfortranarray(floats))
    np.savez_compressed(tmp_path / "b.npz", labels=np.arange(3), x=floats)
    assert np.array_equal(read_array(tmp_path / "a.npy"), floats)
    assert np.array_equal(read_array(tmp_path / "b.npz"), floats)


# --- API misuse ------------------------------------------------------------------------------------------------

def test_a_lone_path_is_one_source(tmp_path, mnist_model):
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "b.png")
    for source in (str(tmp_path), tmp_path):
        assert load_images(source, mnist_model).names == ["a.png", "b.png"]
    assert load_images(str(tmp_path / "a.png"), mnist_model).names == ["a.png"]


@pytest.mark.parametrize("sources, message", [
    ([], "no images given"),
    ((), "no images given"),
    ([3], "not a file or folder path: 3"),
    (["ok.png", None], "not a file or folder path: None"),
    ([""], "not a file or folder path: ''"),
    (3, "images must be given as file or folder paths, not 3"),
])
def test_api_misuse_is_a_readable_image_error(sources, message, mnist_model):
    with pytest.raises(ImageError, match=f"^{message}$") as raised:
        load_images(sources, mnist_model)
    assert isinstance(raised.value, AdvLensError)


def test_a_missing_file_is_named(tmp_path, mnist_model):
    with pytest.raises(ImageError, match="not found: .*missing.png"):
        load_images([tmp_path / "missing.png"], mnist_model)
