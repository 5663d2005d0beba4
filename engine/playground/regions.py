"""The unknowable truth of the playground: which two-pixel images are cats, which are dogs and which are neither
(meaningless images), as a raster over the plane [0, 1]^2 of pixel values; presets, painting, and sampling
training points from it.

Rasters are row-major with row 0 at pixel 2 = 0 (the bottom of the plane): `raster[row, column]` covers
pixel 1 in [column / R, (column + 1) / R) and pixel 2 in [row / R, (row + 1) / R).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import ParameterError

NEITHER = -1  # the region code of meaningless images; codes 0 and 1 are the class indices
CLASS_NAMES = ("cat", "dog")
RESOLUTION = 200


@dataclass(frozen=True)
class Points:
    """Training points: `xy` (N, 2) float32 in [0, 1] (pixel 1, pixel 2) and their true classes (N,) int64."""

    xy: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "xy", np.asarray(self.xy, dtype=np.float32).reshape(-1, 2))
        object.__setattr__(self, "labels", np.asarray(self.labels, dtype=np.int64).reshape(-1))
        if len(self.xy) != len(self.labels):
            raise ParameterError(f"{len(self.xy)} points but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    @staticmethod
    def empty() -> Points:
        return Points(np.zeros((0, 2)), np.zeros(0))

    def plus(self, other: Points) -> Points:
        return Points(np.concatenate([self.xy, other.xy]), np.concatenate([self.labels, other.labels]))


def cell_centres(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(pixel 1, pixel 2) of every raster cell's centre, each (R, R) row-major."""
    centres = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution
    x, y = np.meshgrid(centres, centres)
    return x, y


def grid_points(resolution: int) -> np.ndarray:
    """(R * R, 2) cell centres in raster order, to evaluate a model over the whole plane."""
    x, y = cell_centres(resolution)
    return np.stack([x.ravel(), y.ravel()], axis=1)


@dataclass
class Regions:
    """The true regions as a raster of codes: NEITHER, 0 (first class) or 1 (second class)."""

    codes: np.ndarray  # (R, R) int8
    class_names: tuple[str, str] = CLASS_NAMES

    @property
    def resolution(self) -> int:
        return self.codes.shape[0]

    def copy(self) -> Regions:
        return Regions(self.codes.copy(), self.class_names)

    def cell_of(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) of the cells holding the points; points on or outside the edge count as the edge."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        cells = np.clip(np.floor(xy * self.resolution), 0, self.resolution - 1).astype(np.int64)
        return cells[:, 1], cells[:, 0]

    def code_at(self, xy: np.ndarray) -> np.ndarray:
        """The true region of each point (N,): NEITHER, 0 or 1."""
        rows, columns = self.cell_of(xy)
        return self.codes[rows, columns].astype(np.int64)

    def paint(self, start: tuple[float, float], end: tuple[float, float], radius: float, code: int) -> None:
        """A brush stroke: set every cell whose centre lies within `radius` of the segment start-end to `code`
        (a segment rather than a dab, so that a fast drag leaves no gaps)."""
        if code not in (NEITHER, 0, 1):
            raise ParameterError(f"a region code is {NEITHER} (neither), 0 or 1, not {code}")
        x, y = cell_centres(self.resolution)
        (x0, y0), (x1, y1) = start, end
        length2 = (x1 - x0) ** 2 + (y1 - y0) ** 2
        along = np.clip(((x - x0) * (x1 - x0) + (y - y0) * (y1 - y0)) / length2, 0, 1) if length2 > 0 else 0.0
        inside = (x - x0 - along * (x1 - x0)) ** 2 + (y - y0 - along * (y1 - y0)) ** 2 <= radius ** 2
        self.codes[inside] = code

    def area(self, code: int) -> float:
        """The fraction of the plane that is `code`."""
        return float(np.mean(self.codes == code))


# --- presets ---------------------------------------------------------------------------------------------------

def _from_masks(cat: np.ndarray, dog: np.ndarray) -> Regions:
    codes = np.full(cat.shape, NEITHER, dtype=np.int8)
    codes[cat] = 0
    codes[dog & ~cat] = 1
    return Regions(codes)


def _polar(x: np.ndarray, y: np.ndarray, centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    dx, dy = x - centre[0], y - centre[1]
    return np.hypot(dx, dy), np.arctan2(dy, dx)


def two_blobs(resolution: int = RESOLUTION) -> Regions:
    """Two discs with a wide gap of meaningless images between them and around them."""
    x, y = cell_centres(resolution)
    return _from_masks(_polar(x, y, (0.3, 0.35))[0] < 0.16, _polar(x, y, (0.7, 0.65))[0] < 0.16)


def two_moons(resolution: int = RESOLUTION) -> Regions:
    """scikit-learn's two interleaving half circles, as bands of some thickness."""
    x, y = cell_centres(resolution)
    radius, half_width = 0.24, 0.06
    r_upper, angle_upper = _polar(x, y, (0.38, 0.45))
    r_lower, angle_lower = _polar(x, y, (0.62, 0.55))
    upper = (np.abs(r_upper - radius) < half_width) & (angle_upper >= 0)
    lower = (np.abs(r_lower - radius) < half_width) & (angle_lower <= 0)
    return _from_masks(upper, lower)


def rings(resolution: int = RESOLUTION) -> Regions:
    """A disc of cats inside a ring of dogs."""
    x, y = cell_centres(resolution)
    r, _ = _polar(x, y, (0.5, 0.5))
    return _from_masks(r < 0.14, (r > 0.27) & (r < 0.4))


def odd_shapes(resolution: int = RESOLUTION) -> Regions:
    """Two odd-shaped regions, like the post's "unknowable truth": wobbly blobs that nearly touch, in a plane
    that is otherwise meaningless."""
    x, y = cell_centres(resolution)
    r_cat, angle_cat = _polar(x, y, (0.33, 0.62))
    r_dog, angle_dog = _polar(x, y, (0.69, 0.34))
    cat_edge = 0.19 * (1 + 0.22 * np.sin(3 * angle_cat + 0.4) + 0.12 * np.cos(5 * angle_cat))
    dog_edge = 0.16 * (1 + 0.25 * np.sin(2 * angle_dog + 2.0) + 0.1 * np.sin(7 * angle_dog))
    return _from_masks(r_cat < cat_edge, r_dog < dog_edge)


PRESETS = {"odd shapes (the post)": odd_shapes, "two blobs": two_blobs, "two moons": two_moons, "rings": rings}


def preset(name: str, resolution: int = RESOLUTION) -> Regions:
    try:
        return PRESETS[name](resolution)
    except KeyError:
        raise ParameterError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None


# --- sampling --------------------------------------------------------------------------------------------------

def sample_points(regions: Regions, per_class: int, seed: int = 0) -> Points:
    """`per_class` points drawn uniformly from each class's true region (a random cell, then a random place in
    it)."""
    if per_class < 1:
        raise ParameterError("sample at least one point per class")
    rng = np.random.default_rng(seed)
    xy, labels = [], []
    for code, name in enumerate(regions.class_names):
        rows, columns = np.nonzero(regions.codes == code)
        if len(rows) == 0:
            raise ParameterError(f"the {name} region is empty: paint it or choose a preset")
        chosen = rng.integers(0, len(rows), per_class)
        offsets = rng.random((per_class, 2))
        xy.append(np.stack([columns[chosen] + offsets[:, 0], rows[chosen] + offsets[:, 1]], axis=1)
                  / regions.resolution)
        labels.append(np.full(per_class, code))
    return Points(np.concatenate(xy), np.concatenate(labels))


def jittered_copies(points: Points, copies: int, radius: float, seed: int = 0) -> Points:
    """Data augmentation: `copies` copies of every point moved uniformly within `radius` (per pixel), with the
    point's label, kept in the plane."""
    if copies < 1 or not np.isfinite(radius) or radius <= 0:
        raise ParameterError("jitter needs at least one copy and a positive radius")
    rng = np.random.default_rng(seed)
    xy = np.repeat(points.xy, copies, axis=0)
    xy = np.clip(xy + rng.uniform(-radius, radius, xy.shape), 0, 1)
    return Points(xy, np.repeat(points.labels, copies))
