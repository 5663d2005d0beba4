"""Pictures of views written by a job: the GUI thread renders a view into pixels (drawing is its job), a worker
thread encodes and writes them, so that no file is written in the GUI thread."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage

from engine.core.files import atomic_path


def qimage_pixels(image: QImage) -> np.ndarray:
    """A copy of the image's pixels as (H, W, 4) RGBA uint8, which the worker thread may keep."""
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    rows = np.frombuffer(rgba.constBits(), np.uint8).reshape(rgba.height(), rgba.bytesPerLine())
    return rows[:, : 4 * rgba.width()].reshape(rgba.height(), rgba.width(), 4).copy()


def write_png(pixels: np.ndarray, path: Path) -> Path:
    """Worker-thread part: the pixels as a PNG, written under a temporary name and renamed, so that a reader
    sees the old file or the new one."""
    with atomic_path(path) as temporary:
        Image.fromarray(pixels, "RGBA").save(temporary, "PNG")
    return path
