"""Images in, model-ready tensors out: files, folders, arrays and the built-in samples.

Everything returned is pixel space [0, 1], float32, (N, C, H, W) at the model's input shape: channels are
converted (luminance for grey models, repeated grey for colour ones), then resized and centre-cropped as
torchvision's presets do.
"""
from __future__ import annotations

import math
import os
import reprlib
import stat
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

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
# Every input is bounded before it is decoded: a header may declare any size, and one bad file must cost a skip
# note, not the run (or the machine's memory).

# 64 megapixels: above every full-frame camera sensor (61 MP at most), and already 768 MB as the
# float32 RGB array read_image returns. Large JPEGs are decoded at reduced scale first (see _decode_smaller).
MAX_PIXELS = 64_000_000
# 2 GiB: ~14,000 ImageNet-size uint8 images. A uint8 array grows 4x when converted to float32, so an array larger
# than this would not fit in a desktop's memory anyway.
MAX_ARRAY_BYTES = 2 * 2**30
_NOT_REGULAR = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder"))


def _require_regular_file(path: Path) -> int:
    """The file's size in bytes; ImageError unless `path` is a regular file (or a link to one). Checked before
    any open: opening a FIFO blocks until someone writes to it, and a device may never end."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"not found: {path}") from None
    except OSError as exc:
        raise ImageError(f"{path.name} cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(status.st_mode):
        kind = next((what for is_kind, what in _NOT_REGULAR if is_kind(status.st_mode)), "not a file")
        raise ImageError(f"{path.name} is not a regular file ({kind}), so it was not opened")
    return status.st_size


def read_image(path: str | Path, *, needed_side: int | None = None) -> np.ndarray:
    """An image file as float32 HWC in [0, 1] with 1 or 3 channels. Grey, RGBA (composited on white),
    palette, CMYK and 16-bit images are all accepted; corrupt, truncated or oversized (more than MAX_PIXELS)
    files raise ImageError. `needed_side` is the shorter side the caller resizes to: a JPEG at least twice
    that size is decoded at 1/2, 1/4 or 1/8 scale, its shorter side staying >= `needed_side`."""
    path = Path(path)
    _require_regular_file(path)
    try:
        with Image.open(path) as image:  # reads the header only
            if needed_side:
                _decode_smaller(image, needed_side)
            _check_pixel_count(image, path.name)
            image.load()  # decode now, so a truncated file fails here and not later
            return _pil_to_array(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # the warning if made an error
        raise ImageError(f"{path.name} declares more pixels than AdvLens decodes ({exc}); downscale it first")
    except UnidentifiedImageError:
        raise ImageError(f"{path.name} is not an image Pillow can read")
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{path.name} could not be decoded (corrupt or truncated?): {exc}")


def _decode_smaller(image: Image.Image, needed_side: int) -> None:
    """Have a JPEG decode at reduced scale (libjpeg's DCT scaling): it is resized to `needed_side` anyway, and
    a 12000 x 12000 photo then takes ~1500 x 1500 pixels of memory instead of 144 million. Other formats ignore
    draft(); smaller JPEGs are left alone, so their pixels stay exactly what a full decode gives."""
    if min(image.size) >= 2 * needed_side:
        image.draft(image.mode, (needed_side, needed_side))  # the result is at least this size on both sides


def _check_pixel_count(image: Image.Image, name: str) -> None:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name} declares {width} x {height} pixels ({width * height / 1e6:.0f} megapixels), "
                         f"more than the limit of {MAX_PIXELS // 10**6}; downscale it first")


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
    """A .npy/.npz image array as float32 NCHW in [0, 1]; accepts N,C,H,W floats in [0, 1] or N,H,W,C uint8.
    The header is checked before the data is read: arrays over MAX_ARRAY_BYTES, truncated files and pickled
    objects raise ImageError."""
    path = Path(path)
    file_size = _require_regular_file(path)
    try:
        with open(path, "rb") as file:
            start = file.read(len(np.lib.format.MAGIC_PREFIX))
            file.seek(0)
            if start.startswith(b"PK"):
                array = _read_npz(file, path.name)
            elif start == np.lib.format.MAGIC_PREFIX:
                array = _read_npy(file, path.name, file_size)
            elif start.startswith(b"\x80"):  # a pickle's protocol byte
                raise ImageError(_PICKLED.format(path.name))
            else:
                raise ImageError(f"{path.name} is not a NumPy .npy or .npz file")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ImageError(f"{path.name} is not a readable NumPy file: {exc}") from None
    return _array_to_nchw(array, path.name)


_PICKLED = "{} holds Python objects (pickled), which AdvLens does not load: they could run code"


def _read_npz(file: BinaryIO, name: str) -> np.ndarray:
    """The images of an .npz: the member named images, original or x, else the first (as np.load names them)."""
    with zipfile.ZipFile(file) as archive:
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
        keys = [k for k in ("images", "original", "x") if k in members] or list(members)
        if not keys:
            raise ImageError(f"{name} holds no arrays")
        member = members[keys[0]]
        if member.file_size > MAX_ARRAY_BYTES:  # what the zip declares, checked before decompressing anything
            raise ImageError(f"{name}: {member.filename} decompresses to {member.file_size / 2**30:.1f} GiB, "
                             f"more than the limit of {MAX_ARRAY_BYTES / 2**30:g} GiB")
        with archive.open(member) as data:  # yields at most file_size bytes, whatever the compressed data says
            return _read_npy(data, name, member.file_size)


def _read_npy(file: BinaryIO, name: str, file_size: int) -> np.ndarray:
    """An .npy stream of `file_size` bytes, read only if its header declares a bounded, complete, plain array."""
    version = np.lib.format.read_magic(file)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(file)
    if dtype.hasobject:
        raise ImageError(_PICKLED.format(name))
    declared = math.prod(shape) * dtype.itemsize
    if declared > MAX_ARRAY_BYTES:
        raise ImageError(f"{name} declares a {' x '.join(map(str, shape))} {dtype} array "
                         f"({declared / 2**30:.1f} GiB), more than the limit of {MAX_ARRAY_BYTES / 2**30:g} GiB")
    if declared > file_size - file.tell():
        raise ImageError(f"{name} is truncated: its header declares {declared} bytes of data, "
                         f"the file holds {file_size - file.tell()}")
    file.seek(0)
    return np.lib.format.read_array(file, allow_pickle=False)


def _array_to_nchw(array: np.ndarray, name: str) -> np.ndarray:
    if array.size == 0:
        raise ImageError(f"{name} holds no images (its shape is {array.shape})")
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
        images = TF.resize(images, [_resize_target(model)], antialias=True)
        images = TF.center_crop(images, [height, width])
    return images.clamp(0, 1).contiguous()


def _resize_target(model: LoadedModel) -> int:
    """The shorter side images are resized to before the centre crop."""
    return model.resize_size or min(model.input_shape[1:])


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

def load_images(sources: str | Path | Iterable[str | Path], model: LoadedModel) -> ImageBatch:
    """Files, folders and arrays, converted for `model`. A lone path (str or Path) is one source, as if in a
    list: `load_images("photos", model)` reads the folder. Unreadable files are skipped and reported in
    `skipped`; if nothing at all could be read, or `sources` is not paths, ImageError says why."""
    converted, names, skipped = [], [], []
    for source in _source_paths(sources):
        paths = _folder_files(source, skipped) if source.is_dir() else [source]
        for path in paths:
            try:
                batch, batch_names = _load_one(path, model)
            except ImageError as exc:
                skipped.append(str(exc))
                continue
            converted.append(batch)
            names.extend(batch_names)
    if not converted:
        raise ImageError("no images could be loaded: " + "; ".join(skipped))
    return ImageBatch(torch.cat(converted), names, skipped=skipped)


def _source_paths(sources: str | Path | Iterable[str | Path]) -> list[Path]:
    """`sources` as a non-empty list of paths; a lone path is one source (iterating a str gives characters)."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    elif not isinstance(sources, Iterable):
        raise ImageError(f"images must be given as file or folder paths, not {reprlib.repr(sources)}")
    sources = list(sources)
    if not sources:
        raise ImageError("no images given")
    for source in sources:
        if not isinstance(source, (str, os.PathLike)) or not str(source).strip():
            raise ImageError(f"not a file or folder path: {reprlib.repr(source)}")
    return [Path(source) for source in sources]


def _folder_files(folder: Path, skipped: list[str]) -> list[Path]:
    """The folder's image and array files by name (not its subfolders); a note in `skipped` when there are none."""
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES + ARRAY_SUFFIXES)
    except OSError as exc:
        skipped.append(f"{folder}: cannot list this folder: {exc.strerror or exc}")
        return []
    if not files:
        skipped.append(f"{folder}: no images in this folder")
    return files


def _load_one(path: Path, model: LoadedModel) -> tuple[torch.Tensor, list[str]]:
    if path.suffix.lower() in ARRAY_SUFFIXES:
        array = torch.from_numpy(read_array(path))
        return to_model_input(array, model), [f"{path.stem}[{i}]" for i in range(len(array))]
    image = read_image(path, needed_side=_resize_target(model))
    return to_model_input(_hwc_to_tensor(image), model), [path.name]


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
