"""What the visualization computations yield while they run: small records with arrays only when a frame is
due (the attacks' `RunControl` decides, at most every ~40 ms)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import RunControl


@dataclass(frozen=True)
class VisStep:
    """One iteration (or one batch of a dataset pass): `score` per image of the quantity being raised, and a
    copy of the current pictures `images` (N, C, H, W) in [0, 1] when a frame is attached."""

    iteration: int
    total: int
    score: np.ndarray
    images: np.ndarray | None = None
    values: np.ndarray | None = None  # the activations of the patches found so far, with their frame


def stop_requested(control: RunControl | None) -> bool:
    return control is not None and control.stop_requested


def frame_due(control: RunControl | None, final: bool) -> bool:
    return control is not None and control.frame_due(final=final)
