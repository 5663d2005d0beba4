"""The playground's computations: training, attacks and defenses, started from the controls and drawn when they
step and end. Every computation gets its own copy of the points and true regions taken when it starts: the
user may paint the regions while a model trains, and the worker thread must never read arrays that the GUI
thread is changing. A result that ends after the regions were repainted is judged against the new truth."""
from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from engine.core import RunControl
from engine.playground import (OTHER_CLASS, Defense, PlaneAttack, Points, Regions, TrainStep, Training,
                               attack_points, defend, train)

from .texts import counts_lines

FRAME_INTERVAL = 0.04  # at most 25 frames a second of the plane while training
SHOWCASE = {"preset": "odd shapes (the post)", "per_class": 8, "sample_seed": 2, "hidden": "64, 64, 64",
            "steps": 800, "eps": 0.12}  # the README's picture


def snapshot(points: Points, regions: Regions) -> tuple[Points, Regions]:
    """Copies for a computation to read in its thread while the user goes on editing the originals."""
    return Points(points.xy.copy(), points.labels.copy()), regions.copy()


def judged_against(attack: PlaneAttack, regions: Regions) -> PlaneAttack:
    """The attack with its end points' true regions read from `regions` (the truth shown now)."""
    return dataclasses.replace(attack, end_regions=regions.code_at(attack.end))


class PlaygroundRuns:
    """Mixed into `PlaygroundWorkspace`, which owns the data (`points`, `regions`, `training`, `attack`, ...),
    the views, the controls and `_start` (the job bridge); this part starts the computations and shows what
    they return."""

    # --- training --------------------------------------------------------------------------------------------

    @Slot()
    def start_training(self) -> None:
        if self.running or (settings := self._settings(self.controls.mlp_config)) is None:
            return
        control = RunControl(frame_interval=FRAME_INTERVAL)
        self.attack, self.attacked, self.defense = None, np.zeros(0, dtype=np.int64), None
        self.redraw_all()
        self.controls.shading.setCurrentText("model probability")
        points, regions = snapshot(self.points, self.regions)
        if self._start(train(points, settings[0], regions.class_names, control), self._on_train_step,
                       self._on_trained, control, "the training"):
            self.show_status(f"Training {settings[0].describe()} on {len(points)} points…")

    @Slot()
    def retrain_with_new_seed(self) -> None:
        self.controls.next_model_seed()
        self.start_training()

    @Slot(object)
    def _on_train_step(self, step: TrainStep) -> None:
        if step.grid is None:
            return
        if self.controls.shading.currentText() == "model probability":
            self.plane.show_probability(step.grid)
        else:
            self.plane.show_boundary(step.grid)
        self.controls.train_status.setText(f"step {step.iteration} / {step.total} · loss {step.loss:.4f} · "
                                           f"accuracy {100 * step.accuracy:.0f}%")

    @Slot(object)
    def _on_trained(self, training: Training) -> None:
        self.training = training
        self.redraw_all()
        stopped = " (stopped)" if training.steps_done < training.config.steps else ""
        text = (f"{training.steps_done} steps{stopped} · loss {training.loss:.4f} · training accuracy "
                f"{100 * training.accuracy:.0f}% · {training.seconds:.1f} s")
        self.controls.train_status.setText(text)
        self.show_status(f"Trained {training.config.describe()}: {text}. Select a point and attack it.")

    # --- attacks ---------------------------------------------------------------------------------------------

    @Slot()
    def attack_selected(self) -> None:
        if not 0 <= self.selected < len(self.points):
            self.show_error("Select a point first: click on it.")
            return
        self._start_attack(only=self.selected)

    @Slot()
    def attack_all(self) -> None:
        self._start_attack(only=None)

    def _start_attack(self, only: int | None) -> None:
        if self.running or self.training is None:
            return
        if (settings := self._settings(self.controls.attack_settings)) is None:
            return
        points, regions = snapshot(self.points, self.regions)
        if only is not None:
            points = Points(points.xy[[only]], points.labels[[only]])
        if self._start(attack_points(self.training.model, points, regions, settings[0]), lambda _: None,
                       lambda attack: self._on_attacked(judged_against(attack, self.regions), only),
                       what="the attack"):
            self.show_status(f"{settings[0].method} on {len(points)} point(s)…")

    def _on_attacked(self, attack: PlaneAttack, only: int | None) -> None:
        self.attack = attack
        self.attacked = np.arange(len(self.points)) if only is None else np.array([only])
        self.redraw_attack()
        settings = f"{attack.settings.method} at eps {attack.settings.eps:g}"
        if only is None:
            self.controls.attack_status.setText(f"{settings}, every point:")
            self.controls.attack_counts.setText(counts_lines({"all points": attack.counts()}))
            self.show_status(f"{settings} on every point: {attack.counts().successful} adversarial images. "
                             "Click a point to see its eps-ball and kind.")
        else:
            name = self.regions.class_names[attack.labels[0]]
            self.controls.attack_status.setText(f"point {only} ({name}): {self.plane.kind_text}")
            self.controls.attack_counts.setText("")
            self.show_status(f"{settings} on point {only} ({name}): {self.plane.kind_text}")

    # --- defenses --------------------------------------------------------------------------------------------

    @Slot()
    def start_defense(self) -> None:
        c = self.controls
        if self.running or self.training is None:
            return
        settings = self._settings(c.mlp_config, c.attack_settings, c.defense_settings)
        if settings is None:
            return
        config, attack, defense = settings
        control = RunControl(frame_interval=FRAME_INTERVAL)
        points, regions = snapshot(self.points, self.regions)
        if self._start(defend(self.training.model, points, regions, config, attack, defense, control),
                       self._on_train_step, self._on_defended, control, "the defense"):
            self.before_grid = self.training.grid
            self.plane.show_before_boundary(self.before_grid)
            self.show_status("Attacking the training points, adding the defense's points and retraining…")

    @Slot(object)
    def _on_defended(self, defense: Defense) -> None:
        defense = dataclasses.replace(defense, before=judged_against(defense.before, self.regions),
                                      after=judged_against(defense.after, self.regions))
        self.defense, self.training, self.attack = defense, defense.training, defense.after
        self.attacked = np.arange(len(self.points))
        self.redraw_all()
        before, after = defense.counts_before, defense.counts_after
        self.controls.defense_status.setText(counts_lines({"before": before, "after": after}))
        self.controls.attack_status.setText(f"{defense.after.settings.method} at eps {defense.after.settings.eps:g} "
                                            "after the defense, every point:")
        self.controls.attack_counts.setText(counts_lines({"all points": after}))
        self.controls.train_status.setText(f"retrained on {len(self.points)} + {len(defense.added)} added points: "
                                           f"training accuracy {100 * defense.training.accuracy:.0f}%")
        self.show_status(f"Defended with {len(defense.added)} added points: {before.successful} → "
                         f"{after.successful} successful attacks at eps {defense.after.settings.eps:g}.")

    # --- the README's picture --------------------------------------------------------------------------------

    def showcase(self) -> Showcase | None:
        """The post's odd shapes, a deep MLP trained on 16 points and PGD on every point, with the eps-ball and
        kind of a point whose meaning changed: returns what `main.py screenshot` waits for (its `done`)."""
        c = self.controls
        c.preset.setCurrentText(SHOWCASE["preset"])
        c.per_class.setValue(SHOWCASE["per_class"])
        c.sample_seed.setValue(SHOWCASE["sample_seed"])
        self.sample()
        c.set_values(hidden=SHOWCASE["hidden"], steps=SHOWCASE["steps"], eps=SHOWCASE["eps"])
        showcase = Showcase(self, [self.start_training, self.attack_all, self._select_a_changed_meaning])
        return showcase if showcase.start() else None

    def _select_a_changed_meaning(self) -> None:
        """Select the first attacked point that became the other class (kind 3), else the first one fooled."""
        if self.attack is None:
            return
        kinds = self.attack.kinds
        chosen = np.flatnonzero(kinds == OTHER_CLASS)
        chosen = chosen if len(chosen) else np.flatnonzero(kinds != 0)
        if len(chosen):
            self.select(int(self.attacked[chosen[0]]))


class Showcase(QObject):
    """Computations run one after the other, each when the one before has ended, seen from outside as one job
    whose `done` comes after the last."""

    done = Signal()

    def __init__(self, workspace, stages):
        super().__init__(workspace)
        self.workspace = workspace
        self._stages = list(stages)

    def start(self) -> bool:
        """Run the stages up to the first computation; False when none started (nothing to wait for)."""
        self.workspace.busy_changed.connect(self._on_busy)
        if self._advance():
            return True
        self.workspace.busy_changed.disconnect(self._on_busy)
        return False

    def _advance(self) -> bool:
        while self._stages:
            self._stages.pop(0)()
            if self.workspace.running:
                return True
        return False

    @Slot(bool)
    def _on_busy(self, _busy: bool) -> None:
        if self.workspace.running or self._advance():
            return
        self.workspace.busy_changed.disconnect(self._on_busy)
        self.done.emit()
