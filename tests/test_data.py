"""Images from files, folders and arrays, converted to what the model expects; bad input skipped with a reason."""
import numpy as np
import pytest
import torch
from PIL import Image

from engine.data import heldout_digits, load_images, read_image, sample_images, to_model_input
from engine.core.errors import ImageError


@pytest.fixture(scope="module")
def resnet():
    from engine.models import load_model
    return load_model("resnet18:random", "cpu")


def write(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


def test_every_common_format_and_mode_reads_to_unit_range(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    files = {
        "rgb.png": write(tmp_path / "rgb.png", rgb),
        "rgb.jpg": write(tmp_path / "rgb.jpg", rgb),
        "rgb.bmp": write(tmp_path / "rgb.bmp", rgb),
        "rgb.tif": write(tmp_path / "rgb.tif", rgb),
        "grey.png": write(tmp_path / "grey.png", rgb[..., 0]),
        "rgba.png": write(tmp_path / "rgba.png", np.dstack([rgb, rgb[..., :1]])),
    }
    deep = tmp_path / "deep.png"
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).save(deep)
    files["deep.png"] = deep
    for name, path in files.items():
        image = read_image(path)
        assert image.dtype == np.float32 and image.shape[:2] == (20, 30), name
        assert 0 <= image.min() and image.max() <= 1, name
    assert np.allclose(read_image(deep)[..., 0], rgb[..., 0] / 255, atol=1e-6)
    assert read_image(files["grey.png"]).shape[2] == 1 and read_image(files["rgba.png"]).shape[2] == 3


def test_transparent_pixels_are_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)  # fully transparent black
    image = read_image(write(tmp_path / "clear.png", rgba))
    assert np.allclose(image, 1.0)


def test_corrupt_and_truncated_files_raise_a_readable_error(tmp_path):
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image")
    with pytest.raises(ImageError, match="garbage.png"):
        read_image(garbage)
    good = write(tmp_path / "good.png", np.full((64, 64, 3), 128, np.uint8))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(ImageError, match="truncated.png"):
        read_image(truncated)


def test_folder_loading_skips_bad_files_and_keeps_the_rest(tmp_path, mnist_model):
    write(tmp_path / "a.png", np.zeros((28, 28), np.uint8))
    write(tmp_path / "b.jpg", np.full((40, 50, 3), 200, np.uint8))
    (tmp_path / "c.png").write_bytes(b"junk")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    batch = load_images([tmp_path], mnist_model)
    assert batch.names == ["a.png", "b.jpg"] and batch.images.shape == (2, 1, 28, 28)
    assert len(batch.skipped) == 1 and "c.png" in batch.skipped[0]


def test_an_empty_folder_is_an_error(tmp_path, mnist_model):
    with pytest.raises(ImageError, match="no images"):
        load_images([tmp_path], mnist_model)


def test_conversion_follows_torchvision_resize_and_centre_crop(resnet):
    wide = torch.rand(1, 3, 300, 400)
    converted = to_model_input(wide, resnet)
    assert converted.shape == (1, 3, 224, 224)
    import torchvision.transforms.v2.functional as F
    expected = F.center_crop(F.resize(wide, [256], antialias=True), [224, 224])
    assert torch.allclose(converted, expected.clamp(0, 1))


def test_channels_are_converted_both_ways(resnet, mnist_model):
    grey = torch.rand(2, 1, 224, 224)
    assert to_model_input(grey, resnet).shape == (2, 3, 224, 224)
    colour = torch.rand(2, 3, 28, 28)
    converted = to_model_input(colour, mnist_model)
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    assert torch.allclose(converted, (colour * weights).sum(1, keepdim=True))


def test_arrays_in_both_layouts(tmp_path, mnist_model):
    floats = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    np.save(tmp_path / "nchw.npy", floats)
    np.savez(tmp_path / "nhwc.npz", images=(floats.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8))
    a = load_images([tmp_path / "nchw.npy"], mnist_model)
    b = load_images([tmp_path / "nhwc.npz"], mnist_model)
    assert torch.allclose(a.images, torch.from_numpy(floats))
    assert torch.allclose(a.images, b.images, atol=0.5 / 255 + 1e-6)
    bad = tmp_path / "bad.npy"
    np.save(bad, floats * 3)
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        load_images([bad], mnist_model)
    np.save(tmp_path / "nan.npy", floats * np.nan)
    with pytest.raises(ImageError, match="NaN"):
        load_images([tmp_path / "nan.npy"], mnist_model)


def test_wrong_channel_counts_are_refused(tmp_path, mnist_model):
    np.save(tmp_path / "five.npy", np.zeros((2, 5, 28, 28), np.float32))
    with pytest.raises(ImageError, match="channels"):
        load_images([tmp_path / "five.npy"], mnist_model)


def test_samples_for_each_domain(mnist_model, resnet):
    digits = sample_images(mnist_model, count=20)
    assert digits.images.shape == (20, 1, 28, 28)
    assert sorted(digits.labels[:10].tolist()) == list(range(10))  # every digit appears in a short prefix
    photos = sample_images(resnet)
    assert photos.images.shape == (8, 3, 224, 224) and len(photos.names) == 8
    assert 0 <= float(photos.images.min()) and float(photos.images.max()) <= 1


def test_heldout_digits_are_the_whole_heldout_set(mnist_model):
    digits = heldout_digits(mnist_model)
    assert len(digits) == 1000 and torch.bincount(digits.labels).tolist() == [100] * 10
