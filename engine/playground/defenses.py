"""Defenses in the plane, as in the post: adversarial training (attack your own classifier and add what the
attacks found, with the true labels) and data augmentation (jittered copies of every point), each followed by
retraining from the same seed, and the same attack at the same eps counted before and after."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import RunControl
from ..core.errors import ParameterError
from ..models import LoadedModel
from ..core.run import run_to_end
from .attacks import BOUNDARY_SLACK, AttackSettings, KindCounts, PlaneAttack, attack_points
from .mlp import MlpConfig, Training, train
from .regions import Points, Regions, jittered_copies


@dataclass(frozen=True)
class DefenseSettings:
    """Which defenses to use: adversarial training for `rounds` rounds, and `copies` jittered copies of every
    point within `jitter` (per pixel)."""

    adversarial: bool = True
    augment: bool = False
    rounds: int = 3
    copies: int = 8
    jitter: float = 0.05
    seed: int = 0

    def check(self) -> DefenseSettings:
        if not (self.adversarial or self.augment):
            raise ParameterError("choose a defense: adversarial training, jittered copies or both")
        if self.adversarial and self.rounds < 1:
            raise ParameterError("adversarial training needs at least one round")
        if self.augment and (self.copies < 1 or not np.isfinite(self.jitter) or self.jitter <= 0):
            raise ParameterError("jittered copies need at least one copy and a positive jitter")
        return self


@dataclass(frozen=True)
class Defense:
    """Before and after: the attacks on the training points and their counts, the retrained model and the
    points that were added to the training set."""

    before: PlaneAttack
    after: PlaneAttack
    training: Training
    added: Points

    @property
    def counts_before(self) -> KindCounts:
        return self.before.counts()

    @property
    def counts_after(self) -> KindCounts:
        return self.after.counts()


def adversarial_points(attack: PlaneAttack) -> Points:
    """Where the attacks ended within eps, labelled with the true class of the point they started from."""
    moved = (attack.size > 0) & (attack.size <= attack.settings.eps + BOUNDARY_SLACK)
    return Points(attack.end[moved], attack.labels[moved])


def defend(model: LoadedModel, points: Points, regions: Regions, config: MlpConfig, attack: AttackSettings,
           defense: DefenseSettings, control: RunControl | None = None):
    """Attack the training points, add the chosen defenses' points, retrain (yielding its `TrainStep`s) and
    attack the original training points again at the same eps. Each adversarial round attacks the latest
    model. Returns a `Defense`."""
    attack.check()
    defense.check()
    before = run_to_end(attack_points(model, points, regions, attack))
    added = jittered_copies(points, defense.copies, defense.jitter, defense.seed) if defense.augment \
        else Points.empty()
    latest, rounds = before, defense.rounds if defense.adversarial else 1
    for _ in range(rounds):
        if defense.adversarial:
            added = added.plus(adversarial_points(latest))
        training = yield from train(points.plus(added), config, regions.class_names, control)
        latest = run_to_end(attack_points(training.model, points, regions, attack))
        if control is not None and control.stop_requested:
            break
    return Defense(before, latest, training, added)
