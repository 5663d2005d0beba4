"""Run control shared by every long computation and its front door, and the arrays a step may carry."""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


class RunControl:
    """Shared between a running computation and its front door: when to attach arrays to a step (at most one
    frame every `frame_interval` seconds, only of the images being `watched`), and a cooperative stop flag."""

    def __init__(self, frame_interval: float | None = 0.04, watched: Sequence[int] | None = None):
        self.frame_interval = frame_interval  # None: never attach arrays (CLI, tests)
        self.watched = None if watched is None else list(watched)
        self._last_frame = -math.inf
        self._stop = False

    def stop(self) -> None:
        self._stop = True

    @property
    def stop_requested(self) -> bool:
        return self._stop

    def frame_due(self, final: bool = False) -> bool:
        if self.frame_interval is None:
            return False
        now = time.perf_counter()
        if final or now - self._last_frame >= self.frame_interval:
            self._last_frame = now
            return True
        return False

    def watched_indices(self, count: int) -> list[int]:
        if self.watched is None:
            return list(range(count))
        return [i for i in self.watched if 0 <= i < count] or [0]


@dataclass(frozen=True)
class Frame:
    """Arrays for the views, copied off the computation's tensors: `images` (len(indices), C, H, W) float32."""

    indices: tuple[int, ...]
    images: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
