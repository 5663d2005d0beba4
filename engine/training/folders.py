"""Training images from a folder in torchvision's ImageFolder layout, DIR/<class>/<images>: the classes are the
sorted subfolder names, a stratified share of every class is held out to measure on, and each image is read
through engine.data's bounded reader (regular files only, pixel-bomb limits), so one bad file costs a note.

The normalisation is each channel's mean and std over the *training* part (not 0.5 / 0.5): a net trained from
scratch learns faster on standardised inputs (the MLP and the Madry CNN have no batch norm to do it for them),
the held-out images never leak into it, and it travels inside the model (`Normalize`) and in the sidecar, so
the model still takes pixel space [0, 1]."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torchvision.transforms import v2

from ..core.errors import ImageError, ParameterError
from ..core.params import Param, ParamSet
from ..data import IMAGE_SUFFIXES, convert_channels, read_image
from .loop import TrainingData, disjoint_halves, training_digits

FOLDER = ParamSet("folder", (
    Param("heldout", float, 0.2, "share of each class's images held out to measure on", 0.0, 1.0, above=True,
          below=True),
    Param("split_seed", int, 0, "seed of the choice of the held-out images", 0, 2**31 - 1),
    Param("size", int, None, "side every image is resized (shorter side) and centre-cropped to; none: "
          "their own size, which all must share", 4, 4096, auto="none"),
    Param("channels", str, "auto", "colour of the training images: rgb when any image is in colour, else grey",
          choices=("auto", "rgb", "grey"), titles=("as the images are", "RGB", "grey")),
), summary="an image folder in ImageFolder layout, DIR/<class>/<images> (train --data DIR)")

# 4 GiB of float32 pixels: ~3,500 RGB images at 224 x 224, ~1 million at 32 x 32. The images are held in memory
# for the whole run; beyond this a desktop would swap.
MAX_TRAINING_BYTES = 4 * 2**30


def image_folder(folder: str | Path, options: Mapping[str, Any] | None = None) -> TrainingData:
    """The images of `folder` (one subfolder per class) as training data, the share `heldout` of each class
    held out (chosen with `split_seed`). Without `size` every image must have the same size; mixed grey and
    colour images become RGB (noted). ImageError (one line) for a folder that is not in that layout, a class
    without readable images, fewer than two classes, mixed sizes or too many pixels."""
    options = FOLDER.resolve(dict(options or {}))
    root = _checked_root(Path(folder))
    notes: list[str] = []
    files = {name: _image_files(root, name) for name in _class_folders(root, notes)}
    most_channels = 1 if options["channels"] == "grey" else 3
    _check_bytes(sum(map(len, files.values())), most_channels, options["size"])
    images, labels = _read_classes(root, files, options["size"], most_channels, notes)
    channels = _channels(images, options["channels"], notes)
    train, heldout = _stratified_split(labels, len(files), options["heldout"], options["split_seed"], root, files)
    train_images, mean, std = _stack(images, train, channels, with_statistics=True)
    heldout_images, _, _ = _stack(images, heldout, channels)
    return TrainingData(train_images, labels[train], heldout_images, labels[heldout], tuple(files), root.name,
                        "custom", mean, std, notes, recipe={"data": str(root.resolve()), **options})


def _checked_root(root: Path) -> Path:
    if not root.exists():
        raise ImageError(f"no folder {root}: give a folder with one subfolder of images per class")
    if not root.is_dir():
        raise ImageError(f"{root} is a file, not a folder; give a folder with one subfolder of images per class")
    return root


def _listing(folder: Path) -> list[os.DirEntry]:
    """The visible entries of `folder` by name (hidden ones, such as .git or leftovers of atomic writes, are
    skipped)."""
    try:
        with os.scandir(folder) as entries:
            return sorted((entry for entry in entries if not entry.name.startswith(".")), key=lambda e: e.name)
    except OSError as exc:
        raise ImageError(f"cannot list the folder {folder}: {exc.strerror or exc}") from None


def _class_folders(root: Path, notes: list[str]) -> list[str]:
    entries = _listing(root)
    classes = [entry.name for entry in entries if entry.is_dir()]
    loose = [entry.name for entry in entries if not entry.is_dir() and _is_image_name(entry.name)]
    if not classes:
        held = f" (it holds {len(loose)} images directly)" if loose else ""
        raise ImageError(f"{root} has no class subfolders{held}: put each class's images in its own subfolder, "
                         f"{root}/<class>/<images>")
    if len(classes) == 1:
        raise ImageError(f"{root} has one class folder ({classes[0]}); a classifier needs at least 2 classes, one "
                         "subfolder each")
    if loose:
        notes.append(f"ignored {len(loose)} images directly in {root} (e.g. {loose[0]}): only the images in its "
                     "subfolders are classes")
    return classes


def _is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def _image_files(root: Path, name: str) -> list[Path]:
    """The class folder's image files, its subfolders included (as ImageFolder reads them), by path."""
    found, pending = [], [root / name]
    while pending:
        for entry in _listing(pending.pop()):
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            elif _is_image_name(entry.name):
                found.append(Path(entry.path))
    if not found:
        raise ImageError(f"the class folder {root / name} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(found)


def _check_bytes(count: int, channels: int, size: int | None, first: torch.Tensor | None = None) -> None:
    """Refuse, before reading them, `count` images of `size` (else of the first image's size) that would take
    more than MAX_TRAINING_BYTES as float32."""
    if size is None and first is None:
        return
    height, width = (size, size) if size else first.shape[1:]
    needed = count * channels * height * width * 4
    if needed > MAX_TRAINING_BYTES:
        raise ImageError(f"{count} images of {channels}x{height}x{width} take {needed / 2**30:.1f} GiB as float32, "
                         f"more than the limit of {MAX_TRAINING_BYTES / 2**30:g} GiB; give a smaller size "
                         "(--param size=N) or fewer images")


def _read_classes(root: Path, files: dict[str, list[Path]], size: int | None, most_channels: int,
                  notes: list[str]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every readable image as a (C, H, W) tensor in [0, 1] and its class index. Unreadable files are skipped
    with a note; a class left without images, or (without `size`) an image of another size, is an ImageError.
    Without `size` the memory bound is checked at the first image, which gives the size of all."""
    resize = v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)]) if size else None
    images, labels, first = [], [], None
    for label, (name, paths) in enumerate(files.items()):
        skipped = []
        for path in paths:
            try:
                image = torch.from_numpy(read_image(path, needed_side=size)).permute(2, 0, 1)
            except ImageError as exc:
                skipped.append(str(exc))
                continue
            image = resize(image).clamp(0, 1) if resize else image
            if first is None:
                first = (path, image)
                _check_bytes(sum(map(len, files.values())), most_channels, None, image)
            elif image.shape[1:] != first[1].shape[1:]:
                raise ImageError(_mixed_sizes(root, first, (path, image)))
            images.append(image.contiguous())
            labels.append(label)
        notes.extend(f"skipped {reason}" for reason in skipped)
        if len(skipped) == len(paths):
            raise ImageError(f"the class folder {root / name} has no readable images: {skipped[0]}")
    return images, torch.tensor(labels, dtype=torch.long)


def _mixed_sizes(root: Path, first: tuple[Path, torch.Tensor], other: tuple[Path, torch.Tensor]) -> str:
    (one, a), (two, b) = first, other
    return (f"the images differ in size: {one.relative_to(root)} is {a.shape[2]}x{a.shape[1]}, "
            f"{two.relative_to(root)} is {b.shape[2]}x{b.shape[1]} (width x height); give --param size=N to "
            f"resize and centre-crop every image to N x N (e.g. size={min(a.shape[1:])})")


def _channels(images: list[torch.Tensor], wanted: str, notes: list[str]) -> int:
    """1 or 3: RGB when asked, or (auto) when any image is in colour; the grey ones are then repeated."""
    colour = sum(1 for image in images if image.shape[0] == 3)
    if wanted == "grey":
        return 1
    if wanted == "rgb" or colour == len(images):
        return 3
    if colour:
        notes.append(f"converted {len(images) - colour} grey images to RGB (the folder mixes grey and colour "
                     "images; --param channels=grey trains on grey instead)")
        return 3
    return 1


def _stratified_split(labels: torch.Tensor, classes: int, share: float, seed: int, root: Path,
                      files: dict[str, list[Path]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the training and the held-out images: round(share x n) of each class's n images held out (at
    least one, and one left to train on), chosen with `seed`. The held-out images interleave the classes, so
    any first `eval_images` of them are balanced."""
    generator = torch.Generator().manual_seed(seed)
    train, heldout, rank = [], [], []
    for label, name in zip(range(classes), files):
        members = torch.nonzero(labels == label).flatten()
        if len(members) < 2:
            raise ImageError(f"the class folder {root / name} has {len(members)} readable image; every class "
                             "needs at least 2 (one to train on, one held out)")
        members = members[torch.randperm(len(members), generator=generator)]
        count = min(max(round(share * len(members)), 1), len(members) - 1)
        heldout.append(members[:count])
        rank.append(torch.arange(count))
        train.append(members[count:])
    heldout_all, rank_all = torch.cat(heldout), torch.cat(rank)
    interleaved = torch.argsort(rank_all * classes + labels[heldout_all], stable=True)
    return torch.cat(train).sort().values, heldout_all[interleaved]


def _stack(images: list[torch.Tensor], chosen: torch.Tensor, channels: int, with_statistics: bool = False
           ) -> tuple[torch.Tensor, tuple[float, ...], tuple[float, ...]]:
    """The chosen images as one (N, channels, H, W) tensor, each list entry released once copied (the peak
    stays near one copy of the pixels); with `with_statistics`, each channel's mean and std over them."""
    height, width = images[int(chosen[0])].shape[1:]
    stacked = torch.empty(len(chosen), channels, height, width)
    sums = torch.zeros(2, channels, dtype=torch.float64)
    for row, index in enumerate(chosen.tolist()):
        stacked[row] = convert_channels(images[index][None], channels)[0]
        if with_statistics:
            pixels = stacked[row].double().flatten(1)
            sums += torch.stack([pixels.sum(dim=1), (pixels * pixels).sum(dim=1)])
        images[index] = None  # type: ignore[call-overload]  # its pixels now live in `stacked`
    if not with_statistics:
        return stacked, (), ()
    count = len(chosen) * height * width
    mean = sums[0] / count
    std = (sums[1] / count - mean * mean).clamp(min=0).sqrt().clamp(min=1 / 255)  # a constant channel: not 0
    return stacked, tuple(mean.tolist()), tuple(std.tolist())


def training_data(source: str | Path, options: Mapping[str, Any] | None = None) -> TrainingData:
    """`samples` (the shipped training digits; no folder options) or an image folder read with `options`."""
    if str(source) == "samples":
        if options:
            raise ParameterError(f"{', '.join(options)}: options of image folders (--data DIR), not of the "
                                 "shipped digits (--data samples)")
        return training_digits()
    return image_folder(source, options)


def data_of_recipe(recipe: Mapping[str, Any], source: str | Path | None = None) -> TrainingData:
    """The training data a trainer's `data_recipe` describes, read again (from `source` when the folder has
    moved): the same images, held-out split and, for a run on one of `disjoint_halves`, the same half."""
    source = source or recipe.get("data")
    if source is None:
        raise ParameterError("the training data of this run is not recorded; name it (--data samples or DIR)")
    options = {name: recipe[name] for name in FOLDER.names if name in recipe and str(source) != "samples"}
    data = training_data(source, options)
    if "half" in recipe:
        data = disjoint_halves(data, int(recipe.get("halves_seed", 0)))[int(recipe["half"]) - 1]
    return data
