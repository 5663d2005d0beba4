"""An attack over a whole dataset, summarised the way the papers report it: clean accuracy, success rate on the
correctly classified images, average iterations, and the distribution of perturbation sizes (`||tau||_T` for
deformations, the attack's own norm otherwise) with the success rate under a size threshold."""
from __future__ import annotations

import csv
import json
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .attacks.base import AttackResult, AttackSpec, RunControl, Step, concat_results
from .data import ImageBatch
from .core.errors import AdvLensError, ParameterError
from .core.files import atomic_open, write_atomically
from .models import LoadedModel

ADEF_THRESHOLD = 3.0  # pixels: the paper counts a deformation as successful when ||tau||_T <= 3


@dataclass(frozen=True)
class DatasetProgress:
    """Where a dataset run is: images finished so far, and the step of the chunk being attacked."""

    done: int
    total: int
    fooled: int
    step: Step | None = None


@dataclass
class DatasetStats:
    """Per-image outcomes of an attack over a dataset (only the images the model classified correctly when true
    labels are known), with the summary numbers of the papers' tables."""

    attack: str
    model: str
    params: dict[str, Any]
    names: list[str]
    indices: np.ndarray  # positions in the dataset given
    fooled: np.ndarray  # bool (N,)
    iterations: np.ndarray  # int (N,)
    sizes: np.ndarray  # float (N,): the perturbation size in `size_name` units
    size_name: str
    dataset_size: int
    accuracy: float | None  # clean accuracy on the whole dataset when labels are known
    default_threshold: float | None = None
    result: AttackResult | None = field(default=None, repr=False)

    @property
    def success_rate(self) -> float:
        return float(self.fooled.mean()) if len(self.fooled) else 0.0

    @property
    def mean_iterations(self) -> float:
        return float(self.iterations.mean()) if len(self.iterations) else 0.0

    def success_under(self, threshold: float) -> float:
        """The fraction of attacked images fooled with a perturbation of size at most `threshold`."""
        if not len(self.fooled):
            return 0.0
        return float((self.fooled & (self.sizes <= threshold)).mean())

    @property
    def histogram_bins(self) -> int:
        """About 2 sqrt(n) bins for n successful perturbations, 10 to 40: the one rule for the screen, the
        exported histogram.png and summary.json."""
        return int(np.clip(round(2 * np.sqrt(max(int(self.fooled.sum()), 1))), 10, 40))

    def histogram(self, bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Counts and bin edges of the sizes of the successful perturbations (`histogram_bins` bins)."""
        bins = self.histogram_bins if bins is None else bins
        sizes = self.sizes[self.fooled]
        if not len(sizes):
            return np.zeros(bins, dtype=np.int64), np.linspace(0, 1, bins + 1)
        return np.histogram(sizes, bins=bins, range=(0.0, float(sizes.max()) or 1.0))

    def table_row(self, threshold: float | None = None) -> dict[str, Any]:
        """The seed's table: model, accuracy, success rate, average iterations (and success under the threshold)."""
        threshold = self.default_threshold if threshold is None else threshold
        row = {"model": self.model, "attack": self.attack,
               "accuracy": None if self.accuracy is None else round(self.accuracy, 4),
               "attacked": len(self.fooled), "success": round(self.success_rate, 4),
               "average_iterations": round(self.mean_iterations, 2),
               f"median_{self.size_name}": round(float(np.median(self.sizes[self.fooled])), 4)
               if self.fooled.any() else None}
        if threshold is not None:
            row[f"success_{self.size_name}<={threshold:g}"] = round(self.success_under(threshold), 4)
        return row

    def rows(self) -> list[dict[str, Any]]:
        return [{"index": int(i), "name": name, "fooled": bool(f), "iterations": int(it),
                 self.size_name: round(float(s), 6)}
                for i, name, f, it, s in zip(self.indices, self.names, self.fooled, self.iterations, self.sizes)]


def size_of_perturbations(result: AttackResult) -> tuple[np.ndarray, str, float | None]:
    """The size that matters for the attack: ||tau||_T in pixels for deformations, else its norm."""
    if "field_norm" in result.extras:
        return np.asarray(result.extras["field_norm"], dtype=np.float64), "tau_T", ADEF_THRESHOLD
    if str(result.params.get("norm", "2")) == "inf":
        return result.linf.numpy().astype(np.float64), "Linf", None
    return result.l2.numpy().astype(np.float64), "L2", None


def attack_dataset(spec: AttackSpec, model: LoadedModel, dataset: ImageBatch, params: dict[str, Any],
                   target=None, batch_size: int = 256, only_correct: bool = True,
                   control: RunControl | None = None) -> Generator[DatasetProgress, None, DatasetStats]:
    """Attack `dataset` chunk by chunk (bounded memory), yielding progress, and return its statistics. With true
    labels known and `only_correct`, only the correctly classified images are attacked, as in the papers."""
    if batch_size < 1:
        raise ParameterError("batch size must be at least 1")
    accuracy, chosen = None, np.arange(len(dataset))
    if dataset.labels is not None:  # unlabelled folders skip this pass: the attack classifies them anyway
        _, predictions = model.predict(dataset.images)
        correct = (predictions == dataset.labels).numpy()
        accuracy = float(correct.mean())
        if only_correct:
            chosen = np.flatnonzero(correct)
    if not len(chosen):
        raise AdvLensError("the model classifies none of these images correctly: nothing to attack")
    images = dataset.images[torch.as_tensor(chosen)]
    if spec.universal:
        batch_size = len(images)
    parts: list[AttackResult] = []
    fooled = 0
    for chunk in images.split(batch_size):
        run = spec.fn(model, chunk, target=target, control=control, **params)
        while True:
            try:
                step = next(run)
            except StopIteration as end:
                parts.append(end.value)
                break
            yield DatasetProgress(sum(len(p.original) for p in parts), len(chosen), fooled, step)
        fooled += int(parts[-1].fooled.sum())
        yield DatasetProgress(sum(len(p.original) for p in parts), len(chosen), fooled)
        if parts[-1].stopped:
            break
    result = concat_results(parts)
    attacked = chosen[: len(result.original)]
    sizes, size_name, threshold = size_of_perturbations(result)
    return DatasetStats(spec.name, model.name, dict(result.params), [dataset.names[i] for i in attacked],
                        attacked, result.fooled.numpy(), result.steps_used.numpy(), sizes, size_name,
                        len(dataset), accuracy, threshold, result)


def export_stats(stats: DatasetStats, directory: str | Path, threshold: float | None = None) -> list[Path]:
    """statistics.csv (one row per attacked image) and summary.json (the table row, parameters, histogram)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    per_image = directory / "statistics.csv"
    rows = stats.rows()
    with atomic_open(per_image, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["index"])
        writer.writeheader()
        writer.writerows(rows)
    counts, edges = stats.histogram()
    summary = directory / "summary.json"
    stopped = bool(stats.result is not None and stats.result.stopped)
    document = {"table": stats.table_row(threshold), "params": stats.params, "dataset_size": stats.dataset_size,
                "stopped": stopped, "histogram": {"counts": counts.tolist(), "edges": edges.tolist(),
                                                  "of": stats.size_name}}
    write_atomically(summary, json.dumps(strict_json(document), indent=2, allow_nan=False, default=str))
    return [per_image, summary]


def strict_json(value: Any) -> Any:
    """`value` with every non-finite float spelled out ("inf", "-inf") or None (NaN): Python's json writes
    Infinity and NaN, which strict parsers (JavaScript's JSON.parse, jq) refuse."""
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return value.item() if isinstance(value, np.generic) else value
