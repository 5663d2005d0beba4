"""The playground in numbers: the points with their attacks as one CSV, the counts of the three kinds (and the
before/after of a defense) as another."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..core.files import atomic_open
from .attacks import KindCounts, PlaneAttack
from .regions import NEITHER, Points, Regions


def region_name(code: int, regions: Regions) -> str:
    return "neither" if code == NEITHER else regions.class_names[code]


def point_rows(points: Points, regions: Regions, attack: PlaneAttack | None) -> list[dict]:
    """One row per training point: where it is, its class and true region, and its attack when there is one
    (an attack made on other points, e.g. before a point was added, is left out)."""
    names = regions.class_names
    matches = attack is not None and np.array_equal(attack.start, points.xy)
    kinds = attack.kinds if matches else None
    rows = []
    for index, ((x, y), label) in enumerate(zip(points.xy, points.labels)):
        row = {"index": index, "pixel1": f"{x:.6f}", "pixel2": f"{y:.6f}", "label": names[label],
               "true_region": region_name(int(regions.code_at(points.xy[index])[0]), regions)}
        if matches:
            row.update({"method": attack.settings.method, "norm": attack.settings.norm,
                        "eps": f"{attack.settings.eps:g}", "predicted": names[attack.pred_before[index]],
                        "attacked_pixel1": f"{attack.end[index, 0]:.6f}",
                        "attacked_pixel2": f"{attack.end[index, 1]:.6f}",
                        "attacked_predicted": names[attack.pred_after[index]], "size": f"{attack.size[index]:.6f}",
                        "successful": bool(attack.successful[index]), "kind": int(kinds[index]),
                        "end_region": region_name(int(attack.end_regions[index]), regions)})
        rows.append(row)
    return rows


def write_points_csv(path: str | Path, points: Points, regions: Regions, attack: PlaneAttack | None = None) -> Path:
    path = Path(path)
    rows = point_rows(points, regions, attack)
    fields = list(rows[-1]) if rows else ["index", "pixel1", "pixel2", "label", "true_region"]
    with atomic_open(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_counts_csv(path: str | Path, counts: dict[str, KindCounts]) -> Path:
    """One row per named set of counts ("attack all", "before defense", "after defense")."""
    path = Path(path)
    fields = ["run"] + list(KindCounts(0, 0, 0, 0, 0, 0).as_dict())
    with atomic_open(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for run, numbers in counts.items():
            writer.writerow({"run": run, **numbers.as_dict()})
    return path
