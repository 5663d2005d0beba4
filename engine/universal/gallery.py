"""One targeted universal image for every class (seed 000's "1,000 images, one for every class"), computed in the
background and resumable: each finished class is written to `<folder>/classes/NNNN.npz` at once (atomically), and
a later run on the same folder computes only the classes still missing.

`gallery.json` records the model and parameters a folder was started with, so a resumed run cannot mix
perturbations made under different settings."""
from __future__ import annotations

import csv
import html
import json
import math
import re
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock
from PIL import Image, ImageDraw

from ..attacks.base import RunControl, Step
from ..core.errors import ParameterError
from ..core.files import atomic_open, try_lock, unlock, write_atomically
from ..core.run import relay
from ..export import _font, perturbation_rgb, save_image, save_npz, save_png, to_uint8
from ..models import LoadedModel
from .targeted import targeted_universal

TILE_SIDE = 160  # pixels of a perturbation in the contact sheet and the HTML page


@dataclass(frozen=True)
class GalleryEntry:
    """One finished class: its perturbation (C, H, W) and the target rate on the held-out images."""

    class_index: int
    class_name: str
    target_rate: float
    perturbation: np.ndarray
    rates: np.ndarray  # the held-out target rate while it learned


@dataclass(frozen=True)
class GalleryProgress:
    """Where a gallery run is: `done` of `total` classes, the class being learned and its last step; `finished`
    is set on the progress record that follows a class's completion."""

    done: int
    total: int
    class_index: int
    step: Step | None = None
    finished: GalleryEntry | None = None
    note: str | None = None  # something to tell the user, e.g. which damaged class files are computed again


@dataclass(frozen=True)
class GalleryContents:
    """The finished classes of a gallery folder, and what was wrong with each class file that could not be used
    (those classes are computed again by the next run)."""

    entries: dict[int, GalleryEntry]
    damaged: tuple[str, ...] = ()


CLASS_FILE = re.compile(r"(\d{4,})\.npz")  # NNNN.npz; never .NNNN.npz.*.tmp.npz, the leftover of a write cut short
ENTRY_KEYS = ("class_index", "class_name", "target_rate", "perturbation", "rates")


class GalleryFolder:
    """The on-disk state of one gallery: settings and one file per finished class."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.classes_dir = self.directory / "classes"
        self.settings_path = self.directory / "gallery.json"

    def claim(self, settings: dict[str, Any]) -> str | None:
        """Start or resume: refuse a folder whose finished classes were made with another model or other
        parameters. A folder without a finished class (a first run that failed) takes the new settings; the note
        returned says so."""
        self.classes_dir.mkdir(parents=True, exist_ok=True)
        settings = json.loads(json.dumps(settings))
        with self._claim_lock():
            recorded, problem = self._recorded_settings()
            if recorded == settings:
                return None
            started_before = recorded is not None or problem is not None
            if started_before and self.read().entries:
                raise ParameterError(f"{self.directory} holds a gallery made with other settings "
                                     f"({problem or recorded}); choose a new folder or delete it")
            write_atomically(self.settings_path, json.dumps(settings, indent=2))
            return f"{self.directory} held no finished class; started again with these settings" \
                if started_before else None

    @contextmanager
    def _claim_lock(self) -> Iterator[None]:
        """Two galleries starting on one folder at once agree on its settings: one claims at a time."""
        while (lock := try_lock(self.directory / ".gallery.lock")) is None:
            time.sleep(0.05)
        try:
            yield
        finally:
            unlock(lock)

    def _recorded_settings(self) -> tuple[Any, str | None]:
        if not self.settings_path.exists():
            return None, None
        try:
            return json.loads(self.settings_path.read_text()), None
        except (OSError, ValueError) as exc:
            return None, f"{self.settings_path.name} cannot be read: {exc}"

    def read(self, input_shape: Sequence[int] | None = None) -> GalleryContents:
        """Every class file that reads back whole (and holds a perturbation of `input_shape`, when given)."""
        entries, damaged = {}, []
        if not self.classes_dir.is_dir():
            return GalleryContents({})
        for path in sorted(self.classes_dir.iterdir()):
            match = CLASS_FILE.fullmatch(path.name)
            if match is None:
                continue
            entry, problem = self._load(path, int(match.group(1)), input_shape)
            if problem:
                damaged.append(f"{path.name}: {problem}")
            else:
                entries[entry.class_index] = entry
        return GalleryContents(entries, tuple(damaged))

    def load(self, class_index: int, input_shape: Sequence[int] | None = None) -> GalleryEntry | None:
        """One class's entry if its file is there and whole (another gallery on this folder may have made it)."""
        path = self.class_path(class_index)
        if not path.exists():
            return None
        return self._load(path, class_index, input_shape)[0]

    @staticmethod
    def _load(path: Path, named: int, input_shape: Sequence[int] | None) -> tuple[GalleryEntry | None, str | None]:
        try:
            entry = _read_entry(path)
        except Exception as exc:  # zip, pickle, key and format errors all mean "not a whole class file"
            return None, str(exc)
        problem = _entry_problem(entry, named, input_shape)
        return (None, problem) if problem else (entry, None)

    def class_path(self, class_index: int) -> Path:
        return self.classes_dir / f"{class_index:04d}.npz"

    def try_claim_class(self, class_index: int) -> FileLock | None:
        """The lock of one class (None while another gallery computes it); its file is read again after this."""
        return try_lock(self.classes_dir / f".{class_index:04d}.lock")

    def finished(self, input_shape: Sequence[int] | None = None) -> dict[int, GalleryEntry]:
        return self.read(input_shape).entries

    def save(self, entry: GalleryEntry) -> Path:
        """Write through a temporary file and rename, so an interrupted write never leaves half a class."""
        path = self.class_path(entry.class_index)
        save_npz(path, class_index=entry.class_index, class_name=entry.class_name, target_rate=entry.target_rate,
                 perturbation=entry.perturbation, rates=entry.rates)
        return path


def read_gallery(directory: str | Path, input_shape: Sequence[int] | None = None) -> GalleryContents:
    """The entries already in a gallery folder (none when it does not exist yet), for a worker thread: it reads
    every class file."""
    return GalleryFolder(directory).read(input_shape)


def _read_entry(path: Path) -> GalleryEntry:
    with np.load(path, allow_pickle=False) as data:
        missing = [key for key in ENTRY_KEYS if key not in data.files]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
        return GalleryEntry(int(data["class_index"]), str(data["class_name"]), float(data["target_rate"]),
                            data["perturbation"], data["rates"])


def _entry_problem(entry: GalleryEntry, named: int, input_shape: Sequence[int] | None) -> str | None:
    if entry.class_index != named:
        return f"holds class {entry.class_index}"
    if input_shape is not None and tuple(entry.perturbation.shape) != tuple(input_shape):
        return f"perturbation of shape {tuple(entry.perturbation.shape)}, not {tuple(input_shape)}"
    if not np.isfinite(entry.perturbation).all():
        return "perturbation not finite"
    return None


def split_heldout(images: torch.Tensor, fraction: float = 0.2, seed: int = 0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random split: the perturbations learn on the first part and are measured on the second."""
    if len(images) < 2:
        raise ParameterError("a gallery needs at least 2 images: some to learn on, some to measure on")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    measured = max(1, int(round(len(images) * fraction)))
    return images[order[measured:]], images[order[:measured]]


def gallery_steps(model: LoadedModel, images: torch.Tensor, directory: str | Path,
                  classes: Sequence[int] | None = None, params: dict[str, Any] | None = None,
                  control: RunControl | None = None) -> Generator[GalleryProgress, None, dict[int, GalleryEntry]]:
    """Learn the missing classes' targeted universal images one after the other, saving each as it finishes;
    returns every finished entry of the folder. A stop request ends the run after saving what is complete."""
    params = dict(params or {})
    classes = list(range(model.num_classes)) if classes is None else [int(c) for c in classes]
    if any(not 0 <= c < model.num_classes for c in classes):
        raise ParameterError(f"gallery classes must be in 0..{model.num_classes - 1}")
    folder = GalleryFolder(directory)
    note = folder.claim({"model": model.name, "input_shape": list(model.input_shape), "images": len(images),
                         "params": params})
    train, heldout = split_heldout(images)
    contents = folder.read(model.input_shape)
    entries = contents.entries
    pending = [c for c in classes if c not in entries]
    done = len(classes) - len(pending)
    notes = [note] if note else []
    if contents.damaged:
        notes.append("computing again what these class files should hold: " + "; ".join(contents.damaged))
    if notes:
        yield GalleryProgress(done, len(classes), pending[0] if pending else -1, note="; ".join(notes))
    waiting_said = False
    while pending and not (control and control.stop_requested):
        class_index, lock = _first_claimable(folder, pending)
        if lock is None:  # every class left is being computed by another gallery on this folder: wait for it
            if not waiting_said:
                waiting_said = True
                yield GalleryProgress(done, len(classes), pending[0], note=f"waiting for another gallery on "
                                      f"{folder.directory}, which computes class(es) {_listed(pending)}")
            time.sleep(WAIT_INTERVAL)
            continue
        entry = None
        try:
            entry = folder.load(class_index, model.input_shape)  # made meanwhile by another gallery?
            if entry is None:
                entry = yield from _learn_class(model, train, heldout, class_index, params, control,
                                                (done, len(classes)))
                if entry is None:  # stopped
                    break
                folder.save(entry)
        finally:
            # the lock file goes only once the class file is whole: whoever still opens it then finds the class
            unlock(lock, remove=entry is not None)
        pending.remove(class_index)
        entries[class_index] = entry
        done += 1
        yield GalleryProgress(done, len(classes), class_index, None, entry)
    return entries


WAIT_INTERVAL = 0.5  # seconds between looks at the classes another gallery holds


def _first_claimable(folder: GalleryFolder, pending: Sequence[int]) -> tuple[int, FileLock | None]:
    for class_index in pending:
        lock = folder.try_claim_class(class_index)
        if lock is not None:
            return class_index, lock
    return pending[0], None


def _listed(classes: Sequence[int], shown: int = 8) -> str:
    text = ", ".join(str(c) for c in classes[:shown])
    return text + (f" and {len(classes) - shown} more" if len(classes) > shown else "")


def _learn_class(model: LoadedModel, train: torch.Tensor, heldout: torch.Tensor, class_index: int,
                 params: dict[str, Any], control: RunControl | None, progress: tuple[int, int]
                 ) -> Generator[GalleryProgress, None, GalleryEntry | None]:
    """One class's targeted universal image, or None when the run was stopped before it finished; `progress` is
    (classes done, classes in all) for the steps it reports."""
    run = targeted_universal(model, train, target=class_index, control=control, heldout=heldout, **params)
    result = yield from relay(run, lambda step: GalleryProgress(*progress, class_index, step))
    if result.stopped:
        return None
    rates = result.extras["target_rates"]
    return GalleryEntry(class_index, model.class_names[class_index], float(rates[-1]) if len(rates) else 0.0,
                        result.extras["perturbation"][0], rates)


# --- export ----------------------------------------------------------------------------------------------------

def export_gallery(entries: dict[int, GalleryEntry], directory: str | Path,
                   example: np.ndarray | None = None) -> list[Path]:
    """PNG files (the perturbation amplified to its full range, and applied to `example` when given), one contact
    sheet, an HTML page linking every picture, and a CSV of target rates, all under `directory`."""
    directory = Path(directory)
    pictures = directory / "classes"
    pictures.mkdir(parents=True, exist_ok=True)
    ordered = [entries[k] for k in sorted(entries)]
    written = []
    for entry in ordered:
        written.append(save_png(pictures / f"{entry.class_index:04d}.png", _enlarged(perturbation_rgb(
            entry.perturbation))))
        if example is not None:
            applied = np.clip(example + entry.perturbation, 0, 1)
            written.append(save_png(pictures / f"{entry.class_index:04d}_applied.png", _enlarged(to_uint8(applied))))
    written.append(_write_rates_csv(directory / "target_rates.csv", ordered))
    written.append(_write_contact_sheet(directory / "contact_sheet.png", ordered))
    settings, _problem = GalleryFolder(directory)._recorded_settings()
    written.append(_write_html(directory / "index.html", ordered, example is not None, settings))
    return written


def _enlarged(pixels: np.ndarray) -> np.ndarray:
    """Small images (MNIST) blown up without smoothing so the pixels stay visible."""
    zoom = max(1, math.ceil(TILE_SIDE / max(pixels.shape[:2])))
    if zoom == 1:
        return pixels
    return np.asarray(Image.fromarray(pixels).resize((pixels.shape[1] * zoom, pixels.shape[0] * zoom),
                                                      Image.NEAREST))


def _write_rates_csv(path: Path, entries: Sequence[GalleryEntry]) -> Path:
    with atomic_open(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class_index", "class_name", "target_rate", "max_abs_perturbation"])
        for entry in entries:
            writer.writerow([entry.class_index, entry.class_name, f"{entry.target_rate:.4f}",
                             f"{float(np.abs(entry.perturbation).max()):.6f}"])
    return path


def _write_contact_sheet(path: Path, entries: Sequence[GalleryEntry], columns: int = 10) -> Path:
    columns = max(1, min(columns, len(entries)))
    rows = max(1, math.ceil(len(entries) / columns))
    margin, caption = 8, 34
    sheet = Image.new("RGB", (margin + columns * (TILE_SIDE + margin),
                              margin + rows * (TILE_SIDE + caption + margin)), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(12)
    for position, entry in enumerate(entries):
        left = margin + (position % columns) * (TILE_SIDE + margin)
        top = margin + (position // columns) * (TILE_SIDE + caption + margin)
        tile = Image.fromarray(perturbation_rgb(entry.perturbation)).convert("RGB")
        sheet.paste(tile.resize((TILE_SIDE, TILE_SIDE), Image.NEAREST), (left, top))
        name = entry.class_name if len(entry.class_name) <= 22 else entry.class_name[:21] + "…"
        draw.text((left, top + TILE_SIDE + 2), f"{entry.class_index}: {name}", fill="black", font=font)
        draw.text((left, top + TILE_SIDE + 17), f"target rate {entry.target_rate:.0%}", fill="dimgray", font=font)
    save_image(path, sheet)
    return path


def _settings_html(settings: Any) -> str:
    """The model and the parameters the gallery was made with (gallery.json), as a line of the page."""
    if not isinstance(settings, dict):
        return ""
    params = settings.get("params") if isinstance(settings.get("params"), dict) else {}
    shown = ", ".join(f"{name}={value}" for name, value in params.items())
    model = html.escape(str(settings.get("model", "?")))
    images = settings.get("images")
    learned = f", learned on {images} images" if isinstance(images, int) else ""
    return (f"<p>Model <b>{model}</b>{learned}; parameters: <code>{html.escape(shown) or 'defaults'}</code>"
            f" (<a href=\"gallery.json\">gallery.json</a>).</p>")


def _write_html(path: Path, entries: Sequence[GalleryEntry], with_examples: bool, settings: Any = None) -> Path:
    figures = []
    for entry in entries:
        stem = f"classes/{entry.class_index:04d}"
        applied = (f' <a href="{stem}_applied.png"><img src="{stem}_applied.png" alt="applied to an image"></a>'
                   if with_examples else "")
        figures.append(
            f'<figure><a href="{stem}.png"><img src="{stem}.png" alt="{html.escape(entry.class_name)}"></a>'
            f'{applied}<figcaption>{entry.class_index}: {html.escape(entry.class_name)}<br>'
            f'target rate {entry.target_rate:.1%}</figcaption></figure>')
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Targeted universal images: one for every class</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
figure {{ display: inline-block; margin: 0.5em; text-align: center; vertical-align: top; }}
img {{ width: {TILE_SIDE}px; image-rendering: pixelated; border: 1px solid #ccc; }}
</style></head><body>
<h1>Targeted universal images: one for every class</h1>
{_settings_html(settings)}
<p>{len(entries)} classes. Each picture is the perturbation amplified to its full range; the rate is the share of
held-out images of other classes that the model assigns to the class once it is added.
Rates: <a href="target_rates.csv">target_rates.csv</a>; all at once: <a href="contact_sheet.png">contact sheet</a>.</p>
{chr(10).join(figures)}
</body></html>
"""
    write_atomically(path, page)
    return path
