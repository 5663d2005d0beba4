"""Images in, model-ready tensors out: files, folders, arrays and the built-in samples.

Everything returned is pixel space [0, 1], float32, (N, C, H, W) at the model's input shape: channels are
converted (luminance for grey models, repeated grey for colour ones), then resized and centre-cropped as
torchvision's presets do.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image, UnidentifiedImageError

from . import builtin_mnist
from .core.errors import ImageError
from .models import LoadedModel

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")
ARRAY_SUFFIXES = (".npy", ".npz")
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, what Pillow's convert("L") uses


@dataclass
class ImageBatch:
    """Model-ready images with a name each, and the inputs that had to be skipped (with why)."""

    images: torch.Tensor
    names: list[str]
    labels: torch.Tensor | None = None  # true labels where the source knows them (the held-out digits)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    def select(self, indices: Sequence[int]) -> ImageBatch:
        index = torch.as_tensor(list(indices), dtype=torch.long)
        labels = None if self.labels is None else self.labels[index]
        return ImageBatch(self.images[index], [self.names[i] for i in index.tolist()], labels)

    def extend(self, other: ImageBatch) -> ImageBatch:
        labels = None
        if self.labels is not None and other.labels is not None:
            labels = torch.cat([self.labels, other.labels])
        return ImageBatch(torch.cat([self.images, other.images]), self.names + other.names, labels,
                          self.skipped + other.skipped)


# --- reading ---------------------------------------------------------------------------------------------------

def read_image(path: str | Path) -> np.ndarray:
    """An image file as float32 HWC in [0, 1] with 1 or 3 channels. Grey, RGBA (composited on white),
    palette, CMYK and 16-bit images are all accepted; corrupt or truncated files raise ImageError."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()  # decode now, so a truncated file fails here and not later
            return _pil_to_array(image)
    except FileNotFoundError:
        raise ImageError(f"image not found: {path}")
    except UnidentifiedImageError:
        raise ImageError(f"{path.name} is not an image Pillow can read")
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{path.name} could not be decoded (corrupt or truncated?): {exc}")


def _pil_to_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return (np.asarray(image, dtype=np.float32) / 65535.0)[..., None]
    if image.mode == "I":  # 32-bit integer; in practice 16-bit PNG/TIFF data
        data = np.asarray(image, dtype=np.float32)
        return (data / (65535.0 if data.max() > 255 else 255.0)).clip(0, 1)[..., None]
    if image.mode == "F":
        data = np.asarray(image, dtype=np.float32)
        top = 1.0 if data.max() <= 1.0 else 255.0 if data.max() <= 255 else 65535.0
        return (data / top).clip(0, 1)[..., None]
    if image.mode in ("1", "L"):
        return (np.asarray(image.convert("L"), dtype=np.float32) / 255.0)[..., None]
    if image.mode in ("LA", "RGBA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def read_array(path: str | Path) -> np.ndarray:
    """A .npy/.npz image array as float32 NCHW in [0, 1]; accepts N,C,H,W floats in [0, 1] or N,H,W,C uint8."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path.name} is not a readable NumPy file: {exc}")
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = [k for k in ("images", "original", "x") if k in loaded.files] or loaded.files
            if not keys:
                raise ImageError(f"{path.name} holds no arrays")
            array = loaded[keys[0]]
    else:
        array = loaded
    return _array_to_nchw(array, path.name)


def _array_to_nchw(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 3:  # a single image or a stack of grey images
        array = array[None] if array.shape[-1] in (1, 3, 4) or array.shape[0] in (1, 3) else array[:, None]
    if array.ndim != 4:
        raise ImageError(f"{name}: expected images of shape N,C,H,W or N,H,W,C, got {array.shape}")
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
        if array.shape[-1] in (1, 3, 4) and array.shape[1] not in (1, 3, 4):
            array = array.transpose(0, 3, 1, 2)
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
        if not np.isfinite(array).all():
            raise ImageError(f"{name}: the array holds NaN or infinite values")
        if array.min() < 0 or array.max() > 1:
            raise ImageError(f"{name}: float images must lie in [0, 1], found [{array.min():.3g}, {array.max():.3g}]")
        if array.shape[1] not in (1, 3, 4) and array.shape[-1] in (1, 3, 4):
            array = array.transpose(0, 3, 1, 2)
    else:
        raise ImageError(f"{name}: unsupported array type {array.dtype}; use uint8 or float in [0, 1]")
    if array.shape[1] == 4:
        array = array[:, :3] * array[:, 3:] + (1 - array[:, 3:])  # composite on white, like files
    if array.shape[1] not in (1, 3):
        raise ImageError(f"{name}: images must have 1, 3 or 4 channels, found {array.shape[1]}")
    return np.ascontiguousarray(array)


# --- converting ------------------------------------------------------------------------------------------------

def to_model_input(images: torch.Tensor, model: LoadedModel) -> torch.Tensor:
    """(N, C, H, W) or (C, H, W) images in [0, 1] -> the model's channels and size (resize shorter side,
    centre crop, as torchvision's classification presets)."""
    if images.dim() == 3:
        images = images[None]
    images = convert_channels(images.float(), model.input_shape[0])
    _, height, width = model.input_shape
    if images.shape[-2:] != (height, width):
        images = TF.resize(images, [model.resize_size or min(height, width)], antialias=True)
        images = TF.center_crop(images, [height, width])
    return images.clamp(0, 1).contiguous()


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    have = images.shape[1]
    if have == channels:
        return images
    if have == 3 and channels == 1:
        weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        return (images * weights).sum(dim=1, keepdim=True)
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1)
    raise ImageError(f"cannot convert {have}-channel images to the model's {channels} channels")


def _hwc_to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


# --- sources ---------------------------------------------------------------------------------------------------

def load_images(sources: Iterable[str | Path], model: LoadedModel) -> ImageBatch:
    """Files, folders and arrays, converted for `model`. Unreadable files are skipped and reported in
    `skipped`; if nothing at all could be read, ImageError says why."""
    converted, names, skipped = [], [], []
    for source in sources:
        source = Path(source)
        if source.is_dir():
            files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES + ARRAY_SUFFIXES)
            if not files:
                skipped.append(f"{source}: no images in this folder")
            paths = files
        else:
            paths = [source]
        for path in paths:
            try:
                batch, batch_names = _load_one(path, model)
            except ImageError as exc:
                skipped.append(str(exc))
                continue
            converted.append(batch)
            names.extend(batch_names)
    if not converted:
        raise ImageError("no images could be loaded: " + ("; ".join(skipped) or "nothing was given"))
    return ImageBatch(torch.cat(converted), names, skipped=skipped)


def _load_one(path: Path, model: LoadedModel) -> tuple[torch.Tensor, list[str]]:
    if path.suffix.lower() in ARRAY_SUFFIXES:
        array = torch.from_numpy(read_array(path))
        return to_model_input(array, model), [f"{path.stem}[{i}]" for i in range(len(array))]
    if not path.exists():
        raise ImageError(f"not found: {path}")
    return to_model_input(_hwc_to_tensor(read_image(path)), model), [path.name]


def sample_images(model: LoadedModel, count: int = 16) -> ImageBatch:
    """The built-in samples: held-out digits for digit models, packaged photographs for the others."""
    if model.domain == "mnist":
        return heldout_digits(model, count)
    return sample_photographs(model)


def heldout_digits(model: LoadedModel, count: int | None = None) -> ImageBatch:
    """The held-out MNIST digits (never trained on), a balanced first `count` of them."""
    images, labels = builtin_mnist.load_heldout()
    order = _balanced_order(labels)[:count] if count else np.arange(len(labels))
    tensor = to_model_input(torch.from_numpy(images[order]), model)
    return ImageBatch(tensor, [f"held-out #{i} (true {labels[i]})" for i in order],
                      labels=torch.from_numpy(labels[order]))


def _balanced_order(labels: np.ndarray) -> np.ndarray:
    """Indices interleaving the classes (0, 1, 2, ... 9, 0, 1, ...), so any prefix shows every digit."""
    rank = np.zeros(len(labels), dtype=np.int64)
    for value in np.unique(labels):
        where = np.flatnonzero(labels == value)
        rank[where] = np.arange(len(where))
    return np.lexsort((labels, rank))


PHOTOGRAPHS = ("astronaut", "chelsea", "coffee", "rocket", "cat", "camera")


def sample_photographs(model: LoadedModel) -> ImageBatch:
    """Natural photographs that scikit-image and scikit-learn ship with their wheels (no download)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    arrays, names = [], []
    for name in PHOTOGRAPHS:
        arrays.append(getattr(skimage.data, name)())
        names.append(f"{name} (scikit-image)")
    sklearn_images = load_sample_images()
    for filename, image in zip(sklearn_images.filenames, sklearn_images.images):
        arrays.append(image)
        names.append(f"{Path(filename).stem} (scikit-learn)")
    tensors = []
    for array in arrays:
        hwc = array.astype(np.float32) / 255.0
        hwc = hwc[..., None] if hwc.ndim == 2 else hwc[..., :3]
        tensors.append(to_model_input(_hwc_to_tensor(hwc), model))
    return ImageBatch(torch.cat(tensors), names)
