"""What a fooling run leaves for a report, all written atomically into one folder: `elites.npz` (the archive;
`images` (K, C, H, W) float32 in [0, 1], `classes` (K,) int64, `confidence` (K,), and what resuming needs), a
PNG per class, a captioned contact sheet, `confidence.csv` (per generation, each class's elite confidence) and
`elites.csv` (per class: confidence, the generation it was found in, a second model's verdict when given).

Also here: how far the rubbish transfers, the verdict of another model on the elites."""
from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..core.files import atomic_open, check_output_dir
from ..export import _font, save_image, save_png, to_uint8
from ..models import LoadedModel
from .archive import EMPTY
from .runs import FoolingResult

CONTACT_TILE = 112  # px: digits are enlarged without smoothing to this side, ImageNet images shrunk to it
CONTACT_COLUMNS = 10


@dataclass(frozen=True)
class SecondOpinion:
    """Another model's view of the elites: its top class per elite, its probability of the elite's class, and
    whether its top class is the elite's."""

    predicted: np.ndarray  # (K,) int64
    probability: np.ndarray  # (K,) float32
    agrees: np.ndarray  # (K,) bool

    @property
    def share(self) -> float:
        """The share of elites the other model gives the same class (the transfer rate)."""
        return float(self.agrees.mean()) if len(self.agrees) else 0.0


@torch.no_grad()
def second_opinion(model: LoadedModel, images: torch.Tensor, classes: torch.Tensor,
                   batch_size: int = 256) -> SecondOpinion:
    """`model`'s verdict on fooling images made for `classes` (indices into the same class list)."""
    device = next(model.module.parameters()).device
    probs = torch.cat([torch.softmax(model(chunk.to(device)), dim=1).float().cpu()
                       for chunk in images.split(batch_size)])
    classes = classes.to(torch.int64)
    predicted = probs.argmax(1)
    return SecondOpinion(predicted.numpy(), probs.gather(1, classes.view(-1, 1)).squeeze(1).numpy(),
                         (predicted == classes).numpy())


def class_label(names: Sequence[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)


def file_stem(index: int, name: str) -> str:
    """`class_0207_golden_retriever`: sortable, and safe on every file system."""
    safe = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:40]
    return f"class_{index:04d}" + (f"_{safe}" if safe and safe != str(index) else "")


def contact_sheet(images: np.ndarray, captions: Sequence[str], columns: int = CONTACT_COLUMNS,
                  tile: int = CONTACT_TILE) -> Image.Image:
    """The images in a grid, each at `tile` px (nearest-neighbour when enlarged), a caption under each."""
    count = len(images)
    columns = max(1, min(columns, count))
    rows = max(1, math.ceil(count / columns))
    margin, caption_h = 8, 34
    sheet = Image.new("RGB", (margin + columns * (tile + margin), margin + rows * (tile + caption_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (image, caption) in enumerate(zip(images, captions)):
        picture = Image.fromarray(to_uint8(image)).convert("RGB")
        smaller = max(picture.size) > tile
        picture = picture.resize((tile, tile), Image.BILINEAR if smaller else Image.NEAREST)
        left = margin + (index % columns) * (tile + margin)
        top = margin + (index // columns) * (tile + caption_h)
        sheet.paste(picture, (left, top))
        plain = caption.replace("≈", "~").replace("—", "-")  # Pillow's built-in font has neither glyph
        draw.multiline_text((left, top + tile + 3), plain, fill="black", font=_font(11), spacing=2)
    return sheet


def confidence_text(value: float) -> str:
    """99.99% style, with as many decimals as it takes to tell 99.9% from 99.99%, never rounded up to a 100% the
    model did not give ("≈100%" only within float32 precision of 1; "—" for a cell not reached)."""
    if value <= EMPTY:
        return "—"
    if value < 0.99:
        return f"{100 * value:.1f}%"
    if 1 - value < 5e-7:
        return "≈100%"
    decimals = min(4, max(1, math.floor(-math.log10(1 - value)) - 1))
    text = f"{100 * value:.{decimals}f}"
    return f">{100 - 10 ** -decimals:.{decimals}f}%" if text.startswith("100") else f"{text}%"


def export_fooling(result: FoolingResult, names: Sequence[str], directory: str | Path,
                   opinion: SecondOpinion | None = None, other_name: str = "") -> list[Path]:
    """Write the run's files into `directory` (checked first); the paths written."""
    directory = check_output_dir(directory)
    directory.mkdir(parents=True, exist_ok=True)
    archive = result.archive
    images = archive.images.numpy()
    classes = archive.classes.tolist()
    labels = [class_label(names, c) for c in classes]
    written = [result.save(directory / "elites.npz")]
    written += [save_png(directory / f"{file_stem(c, label)}.png", to_uint8(image))
                for c, label, image in zip(classes, labels, images)]
    captions = [f"{label[:16]}\n{confidence_text(float(value))}" for label, value in zip(labels, archive.confidence)]
    written.append(save_image(directory / "contact_sheet.png", contact_sheet(images, captions)))
    written.append(_write_history(directory / "confidence.csv", archive.history, labels, result.method))
    written.append(_write_elites(directory / "elites.csv", result, labels, opinion, other_name, names))
    return written


# Confidences are written with 9 significant digits: a float32 probability of 0.99999994 must not read 1.000000.
def _write_history(path: Path, history: Sequence[np.ndarray], labels: Sequence[str], method: str) -> Path:
    step = "step" if method == "gradient" else "generation"
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([step, *labels])
        for index, row in enumerate(history):
            writer.writerow([index, *(f"{v:.9g}" if v > EMPTY else "" for v in row.tolist())])
    return path


def _write_elites(path: Path, result: FoolingResult, labels: Sequence[str], opinion: SecondOpinion | None,
                  other_name: str, names: Sequence[str]) -> Path:
    archive = result.archive
    found = "step" if result.method == "gradient" else "generation"
    header = ["class", "name", "confidence", f"found_{found}"]
    thresholds = sorted(result.first_step or {})
    header += [f"first_step_{100 * t:g}%" for t in thresholds]
    if opinion is not None:
        header += ["other_model", "other_prediction", "other_probability", "other_agrees"]
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for k, (c, label) in enumerate(zip(archive.classes.tolist(), labels)):
            row = [c, label, f"{float(archive.confidence[k]):.9g}", int(archive.found[k])]
            row += [int(result.first_step[t][k]) for t in thresholds]
            if opinion is not None:
                row += [other_name, class_label(names, int(opinion.predicted[k])),
                        f"{float(opinion.probability[k]):.9g}", int(opinion.agrees[k])]
            writer.writerow(row)
    return path


def first_generation_reaching(history: Sequence[np.ndarray], threshold: float) -> np.ndarray:
    """(K,) the first generation (or step) at which each cell's confidence passed `threshold`; -1: never."""
    if not len(history):
        return np.zeros(0, dtype=np.int64)
    passed = np.stack(history) > threshold
    return np.where(passed.any(0), passed.argmax(0), -1).astype(np.int64)

