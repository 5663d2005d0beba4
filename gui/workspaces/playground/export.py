"""The playground's export, written in a job: the plane as a PNG (rendered beforehand in the GUI thread), the
points with the current attack and the counts of each kind, each file written to a temporary name and renamed,
so that a reader sees the old file or the new one."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.core.errors import AdvLensError
from engine.core.files import atomic_path
from engine.playground import KindCounts, PlaneAttack, Points, Regions, write_counts_csv, write_points_csv

from ...jobs import describe_error


def atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """`write(temporary)` beside `path`, then the rename; the temporary file is removed when writing fails."""
    with atomic_path(path) as temporary:
        write(temporary)
    return path


def write_export(directory: Path, plane_png: bytes, points: Points, regions: Regions, attack: PlaneAttack | None,
                 counts: dict[str, KindCounts]) -> list[Path]:
    """plane.png, points.csv and counts.csv in `directory` (created); a readable error when it cannot be."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return [atomically(directory / "plane.png", lambda path: path.write_bytes(plane_png)),
                atomically(directory / "points.csv", lambda path: write_points_csv(path, points, regions, attack)),
                atomically(directory / "counts.csv", lambda path: write_counts_csv(path, counts))]
    except OSError as exc:  # an unwritable folder, a full disk: a message, not a crash
        raise AdvLensError(f"Exporting to {directory} failed: {describe_error(exc)}") from exc
