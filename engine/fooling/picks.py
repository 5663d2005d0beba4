"""Drawing at random from boolean masks, over many rows at once: the CPPN mutation operators pick one candidate
connection or unit per genome.

Masks and picks are NumPy arrays (genomes always live on the CPU): `np.flatnonzero` lists the True positions of a
(rows, U x U) mask several times faster than `torch.nonzero` here (0.04 against 0.28 ms for 200 genomes of 35 x 35
slots), which makes the k-th True of each row a plain look-up. The uniforms come from the run's torch.Generator."""
from __future__ import annotations

import numpy as np
import torch


def uniforms(count: int, generator: torch.Generator) -> np.ndarray:
    """`count` uniforms in [0, 1) in double precision (k = draw x count must reach every k of a large count)."""
    return torch.rand(count, dtype=torch.float64, generator=generator).numpy()


def pick_for_chosen(chosen: np.ndarray, candidates_of, generator) -> tuple[np.ndarray, np.ndarray]:
    """The genomes among `chosen` (N,) bool that have a candidate, and the candidate `pick_in_rows` draws
    for each.
    One uniform is drawn per genome, chosen or not (the random stream of drawing for all), but the candidates
    (`candidates_of(rows)`, (len(rows), K) bool) are built and scanned for the chosen rows only."""
    draws = uniforms(len(chosen), generator)
    rows = np.flatnonzero(chosen)
    found, picks = pick_in_rows(candidates_of(rows), draws[rows])
    return rows[found], picks[found]


def pick_in_rows(candidates: np.ndarray, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `candidates` (N, K) bool: whether it has any, and one of them drawn uniformly with the row's
    uniform in `draws` (N,): the k-th in row-major order, k = draw x the row's count (column 0 for a row without
    any)."""
    n, size = candidates.shape
    counts = np.count_nonzero(candidates, axis=1)
    found = counts > 0
    if not found.any():
        return found, np.zeros(n, dtype=np.int64)
    k = np.minimum((draws * counts).astype(np.int64), counts - 1)  # should rounding ever reach the count
    first = np.cumsum(counts) - counts  # each row's first entry in the list of all Trues
    flat = np.flatnonzero(candidates)[np.where(found, first + k, 0)] - np.arange(n) * size
    return found, np.where(found, flat, 0)
