"""Exports for reports: lossless 8-bit PNGs, a captioned side-by-side figure, metrics as CSV and JSON, tensors
as .npz, and the check that rounding to 8 bits did not undo the attack."""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .attacks.base import AttackResult
from .core.errors import AdvLensError
from .core.files import atomic_open, atomic_path, write_atomically
from .models import LoadedModel

NEGATIVE_RGB = np.array([33, 102, 172], dtype=np.float32)  # ColorBrewer RdBu ends: blue for negative
POSITIVE_RGB = np.array([178, 24, 43], dtype=np.float32)
WHITE_RGB = np.array([247, 247, 247], dtype=np.float32)
FIGURE_PANEL_SIDE = 256


# --- pictures --------------------------------------------------------------------------------------------------

def to_uint8(image_chw: np.ndarray) -> np.ndarray:
    """[0, 1] CHW floats -> HWC uint8 (H, W for one channel), rounded to the nearest grey level."""
    hwc = np.clip(np.rint(np.asarray(image_chw, dtype=np.float32) * 255), 0, 255).astype(np.uint8)
    hwc = hwc.transpose(1, 2, 0)
    return hwc[..., 0] if hwc.shape[2] == 1 else hwc


def perturbation_scale(delta: np.ndarray) -> float:
    """The amplification range: the largest absolute value (1 for an all-zero perturbation)."""
    peak = float(np.abs(delta).max()) if delta.size else 0.0
    return peak if peak > 0 else 1.0


def perturbation_rgb(delta_chw: np.ndarray) -> np.ndarray:
    """A perturbation amplified to its full range with symmetric levels: one channel through a diverging
    blue-white-red map (white = unchanged), colour channels around mid-grey (grey = unchanged). HWC uint8."""
    delta = np.asarray(delta_chw, dtype=np.float32)
    scaled = delta / perturbation_scale(delta)
    if delta.shape[0] == 1:
        value = scaled[0][..., None]
        rgb = np.where(value < 0, WHITE_RGB + (NEGATIVE_RGB - WHITE_RGB) * -value,
                       WHITE_RGB + (POSITIVE_RGB - WHITE_RGB) * value)
    else:
        rgb = (0.5 + 0.5 * scaled.transpose(1, 2, 0)) * 255
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def save_png(path: Path, pixels: np.ndarray) -> Path:
    save_image(path, Image.fromarray(pixels), optimize=False)
    return path


def save_image(path: Path, image: Image.Image, **options) -> Path:
    """A Pillow image as a PNG, written atomically (a temporary file beside `path`, then the rename)."""
    with atomic_path(path) as temporary:
        image.save(temporary, format="PNG", **options)
    return path


def save_npz(path: Path, **arrays) -> Path:
    """Arrays as a compressed .npz, written atomically."""
    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, **arrays)
    return path


def save_npy(path: Path, array) -> Path:
    """One array as .npy, written atomically."""
    with atomic_path(path) as temporary:
        np.save(temporary, array)
    return path


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def composite_figure(natural: np.ndarray, adversarial: np.ndarray, title: str, captions: Sequence[str]
                     ) -> Image.Image:
    """natural | adversarial | perturbation, enlarged without smoothing, a title above and a caption under
    each panel."""
    panels = [to_uint8(natural), to_uint8(adversarial), perturbation_rgb(adversarial - natural)]
    height, width = panels[0].shape[:2]
    zoom = max(1, math.ceil(FIGURE_PANEL_SIDE / max(height, width)))
    tiles = [Image.fromarray(p).convert("RGB").resize((width * zoom, height * zoom), Image.NEAREST)
             for p in panels]
    margin, title_h, caption_h = 12, 30, 64
    tile_w, tile_h = tiles[0].size
    figure = Image.new("RGB", (margin + 3 * (tile_w + margin), title_h + tile_h + caption_h), "white")
    draw = ImageDraw.Draw(figure)
    draw.text((margin, 8), title, fill="black", font=_font(14))
    for column, (tile, caption) in enumerate(zip(tiles, captions)):
        left = margin + column * (tile_w + margin)
        figure.paste(tile, (left, title_h))
        draw.multiline_text((left, title_h + tile_h + 6), caption, fill="black", font=_font(13), spacing=3)
    return figure


def field_overlay(image_chw: np.ndarray, field: np.ndarray, arrows_per_side: int = 24) -> Image.Image:
    """A deformation field (2,H,W, pixels, component 0 along the width) drawn as line segments from each
    decimated pixel to where it samples from, over the enlarged image, coloured from yellow (short) to red (long)."""
    height, width = field.shape[1:]
    zoom = max(1, math.ceil(FIGURE_PANEL_SIDE * 2 / max(height, width)))
    base = Image.fromarray(to_uint8(image_chw)).convert("RGB").resize((width * zoom, height * zoom), Image.NEAREST)
    draw = ImageDraw.Draw(base)
    stride = max(1, math.ceil(max(height, width) / arrows_per_side))
    lengths = np.hypot(field[0], field[1])
    peak = float(lengths.max()) or 1.0
    for row in range(stride // 2, height, stride):
        for col in range(stride // 2, width, stride):
            dx, dy = float(field[0, row, col]), float(field[1, row, col])
            start = ((col + 0.5) * zoom, (row + 0.5) * zoom)
            end = (start[0] + dx * zoom, start[1] + dy * zoom)
            share = lengths[row, col] / peak
            draw.line([start, end], fill=(255, int(230 * (1 - share)), 0), width=max(1, zoom // 6))
    return base


# --- the rounding check ----------------------------------------------------------------------------------------

def quantize(images: torch.Tensor) -> torch.Tensor:
    """What an 8-bit PNG stores: every pixel rounded to the nearest of 256 grey levels."""
    return torch.round(images.clamp(0, 1) * 255) / 255


def fooled_after_rounding(result: AttackResult, model: LoadedModel) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-classify the 8-bit adversarial images: (probabilities, still fooled) per image."""
    probs, preds = model.predict(quantize(result.adversarial))
    return probs, result.criterion.reached(preds)


# --- the whole export ------------------------------------------------------------------------------------------

@dataclass
class ExportReport:
    directory: Path
    files: list[Path] = field(default_factory=list)
    rounding_undone: list[int] = field(default_factory=list)
    fooled: int = 0
    images: int = 0

    def message(self) -> str:
        text = f"Exported {len(self.files)} files to {self.directory} ({self.fooled}/{self.images} fooled)."
        if self.rounding_undone:
            shown = ", ".join(str(i) for i in self.rounding_undone[:10])
            more = "..." if len(self.rounding_undone) > 10 else ""
            text += (f" Warning: rounding to 8 bits undid the attack on {len(self.rounding_undone)} image(s) "
                     f"({shown}{more}); the PNGs of those no longer fool the model.")
        return text


def export_result(result: AttackResult, model: LoadedModel, directory: str | Path,
                  names: Sequence[str] | None = None) -> ExportReport:
    """Write every image's natural / adversarial / perturbation PNG and captioned figure, metrics.csv,
    metrics.json and result.npz into `directory`."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AdvLensError(f"cannot create the export folder {directory}: {exc}")
    names = list(names) if names is not None else [f"image {i}" for i in range(len(result.original))]
    probs_rounded, still_fooled = fooled_after_rounding(result, model)
    rows = metric_rows(result, model, names, probs_rounded, still_fooled)
    report = ExportReport(directory, images=len(rows), fooled=int(result.fooled.sum()))
    report.rounding_undone = [i for i, row in enumerate(rows) if row["fooled"] and not row["fooled_after_rounding"]]
    try:
        report.files += _write_pictures(result, model, directory, rows)
        report.files.append(_write_csv(directory / "metrics.csv", rows))
        report.files.append(_write_json(directory / "metrics.json", result, model, rows))
        npz = directory / "result.npz"
        save_npz(npz, **result.arrays(), fooled_after_rounding=still_fooled.numpy())
        report.files.append(npz)
    except OSError as exc:
        raise AdvLensError(f"export to {directory} failed: {exc}")
    return report


def target_names(result: AttackResult, index: int, classes: Sequence[str]) -> str:
    """The target of one image: a class name, the allowed classes joined by "|", or "" when untargeted."""
    if not result.criterion.targeted:
        return ""
    return "|".join(classes[int(c)] for c in result.criterion.goal_sets()[index])


def metric_rows(result: AttackResult, model: LoadedModel, names: Sequence[str], probs_rounded: torch.Tensor,
                still_fooled: torch.Tensor) -> list[dict]:
    classes = model.class_names
    before, after = result.probs_before, result.probs_after
    rows = []
    for i in range(len(result.original)):
        p0, p1, p8 = int(before[i].argmax()), int(after[i].argmax()), int(probs_rounded[i].argmax())
        rows.append({
            "index": i, "name": names[i], "label": classes[int(result.labels[i])],
            "target": target_names(result, i, classes),
            "pred_before": classes[p0], "confidence_before": round(float(before[i, p0]), 6),
            "pred_after": classes[p1], "confidence_after": round(float(after[i, p1]), 6),
            "fooled": bool(result.fooled[i]), "pred_after_rounding": classes[p8],
            "fooled_after_rounding": bool(still_fooled[i]),
            "linf": round(float(result.linf[i]), 6), "linf_255": round(float(result.linf[i]) * 255, 3),
            "l2": round(float(result.l2[i]), 6), "steps": int(result.steps_used[i]),
        })
    return rows


def describe_params(params: dict) -> str:
    def show(name, value):
        if isinstance(value, float) and name in ("eps", "step") and value <= 1:
            return f"{name}={value:.4g} ({value * 255:.3g}/255)"
        return f"{name}={value}"
    return ", ".join(show(k, v) for k, v in params.items())


def figure_title(result: AttackResult, model: LoadedModel) -> str:
    """Model, attack and parameters; for a targeted run its target, for a stopped run the step it stopped at."""
    title = f"{model.name} | {result.attack.upper()} | {describe_params(result.params)}"
    if result.criterion.targeted:
        targets = sorted({target_names(result, i, model.class_names) for i in range(len(result.original))})
        title += f" | targeted at {', '.join(targets[:3])}" + (", ..." if len(targets) > 3 else "")
    if result.stopped:
        steps = result.params.get("steps")
        title += f" | stopped at step {int(result.steps_used.max()) if len(result.steps_used) else 0}" + \
            (f" of {steps}" if steps is not None else "")
    return title


def _write_pictures(result: AttackResult, model: LoadedModel, directory: Path, rows: list[dict]) -> list[Path]:
    files = []
    title = figure_title(result, model)
    for i, row in enumerate(rows):
        natural, adversarial = result.original[i].numpy(), result.adversarial[i].numpy()
        stem = f"{i:04d}"
        files.append(save_png(directory / f"{stem}_natural.png", to_uint8(natural)))
        files.append(save_png(directory / f"{stem}_adversarial.png", to_uint8(adversarial)))
        files.append(save_png(directory / f"{stem}_perturbation.png", perturbation_rgb(adversarial - natural)))
        scale = perturbation_scale(adversarial - natural)
        captions = [f"natural: {row['pred_before']}\n{row['confidence_before']:.1%}",
                    f"adversarial: {row['pred_after']}\n{row['confidence_after']:.1%}"
                    + (f" (target {row['target']})" if row["target"] else "")
                    + ("" if row["fooled_after_rounding"] or not row["fooled"] else "\n(8-bit PNG: not fooled)"),
                    f"perturbation (x{1 / scale:.3g})\nLinf {row['linf']:.4f} = {row['linf_255']:.1f}/255\n"
                    f"L2 {row['l2']:.3f}"]
        figure = composite_figure(natural, adversarial, title, captions)
        files.append(directory / f"{stem}_figure.png")
        save_image(files[-1], figure)
        if "field" in result.extras:  # deformations: the field itself, and drawn over the deformed image
            field = np.asarray(result.extras["field"][i], dtype=np.float32)
            files.append(directory / f"{stem}_field.npy")
            save_npy(files[-1], field)
            files.append(directory / f"{stem}_field.png")
            save_image(files[-1], field_overlay(adversarial, field))
    return files


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with atomic_open(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_json(path: Path, result: AttackResult, model: LoadedModel, rows: list[dict]) -> Path:
    document = {"model": model.name, "model_source": model.source, "attack": result.attack,
                "params": result.params, "targeted": result.criterion.targeted, "stopped": result.stopped,
                "summary": result.summary(), "images": rows}
    write_atomically(path, json.dumps(document, indent=2))
    return path


def table_image(title: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                shades: Sequence[Sequence[float | None]] | None = None) -> Image.Image:
    """A table as a picture for reports: a title, a header row and rows of text; each body cell may be shaded by
    a value in [0, 1] (white to red), e.g. a success or flip rate, None for none."""
    font, bold = _font(13), _font(14)
    table = [list(header)] + [list(row) for row in rows]
    widths = [max(int(font.getlength(str(row[c]))) for row in table) + 18 for c in range(len(header))]
    row_h, margin, title_h = 24, 10, 30
    width = 2 * margin + max(sum(widths), int(bold.getlength(title)))
    image = Image.new("RGB", (width, title_h + row_h * len(table) + margin), "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin, 8), title, fill="black", font=bold)
    for r, row in enumerate(table):
        top, left = title_h + r * row_h, margin
        for c, text in enumerate(row):
            shade = shades[r - 1][c] if shades is not None and r > 0 and c < len(shades[r - 1]) else None
            if shade is not None:
                level = float(np.clip(shade, 0, 1))
                fill = tuple(int(round(w + (p - w) * level)) for w, p in zip(WHITE_RGB, POSITIVE_RGB))
                draw.rectangle((left, top, left + widths[c] - 1, top + row_h - 1), fill=fill)
            colour = "white" if shade is not None and shade > 0.6 else "black"
            draw.text((left + 8, top + 5), str(text), fill=colour, font=bold if r == 0 or c == 0 else font)
            left += widths[c]
        draw.line((margin, top + row_h - 1, margin + sum(widths), top + row_h - 1), fill=(220, 220, 220))
    return image
