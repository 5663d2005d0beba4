"""Defenses in the plane, as in the post: adversarial training (attack your own classifier and add what the
attacks found, with the true labels) and data augmentation (jittered copies of every point), each followed by
retraining from the same seed, and the same attack at the same eps counted before and after."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..core import Declared, Param, ParamSet, Rule, RunControl
from ..models import LoadedModel
from ..core.run import run_to_end
from .attacks import BOUNDARY_SLACK, AttackSettings, KindCounts, PlaneAttack, attack_points
from .mlp import MlpConfig, Training, train
from .regions import Points, Regions, jittered_copies


DEFENSE_PARAMS = ParamSet("playground defense", (
    Param("adversarial", bool, True, "adversarial training: attack, add the end points with their true labels, "
          "retrain"),
    Param("augment", bool, False, "data augmentation: jittered copies of every point"),
    Param("rounds", int, 3, "rounds of adversarial training", 1, 20),
    Param("copies", int, 8, "jittered copies of every point", 1, 100),
    Param("jitter", float, 0.05, "how far a copy moves, per pixel", 0.0, 0.5, above=True),
    Param("seed", int, 0, "seed of the jittered copies", 0, 1_000_000),
), rules=(Rule(lambda values: values["adversarial"] or values["augment"],
               "choose a defense: adversarial training, jittered copies or both"),),
   summary="retrain with adversarial points or jittered copies, and attack again")


@dataclass(frozen=True)
class DefenseSettings(Declared):
    """Which defenses to use (declared in `DEFENSE_PARAMS`): adversarial training for `rounds` rounds, and
    `copies` jittered copies of every point within `jitter` (per pixel)."""

    PARAMS: ClassVar[ParamSet] = DEFENSE_PARAMS

    adversarial: bool = True
    augment: bool = False
    rounds: int = 3
    copies: int = 8
    jitter: float = 0.05
    seed: int = 0


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
