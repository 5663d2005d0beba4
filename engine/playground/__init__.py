"""The 2-D playground: images of two pixels, so that every image is a point on a plane, a small MLP trained on
a few of them, and the engine's attacks in the plane, judged against true regions the user chooses (seed 001,
"Where do adversarial images come from?")."""
from .attacks import (ATTACK_PARAMS, KIND_TITLES, METHODS, NEITHER_CLASS, NOT_SUCCESSFUL, OTHER_CLASS, SAME_CLASS,
                      AttackSettings, KindCounts, PlaneAttack, attack_points, classify_kinds, kind_title)
from .defenses import DEFENSE_PARAMS, Defense, DefenseSettings, adversarial_points, defend
from .export import write_counts_csv, write_points_csv
from .linearity import DotProduct, FlipSteps, flip_steps, seed_example, sum_terms
from .mlp import (ACTIVATIONS, TRAINING_PARAMS, MlpConfig, TrainStep, Training, accuracy_on, build_model,
                  dog_probability, parse_hidden, probability_grid, train)
from .regions import (CLASS_NAMES, NEITHER, PRESETS, RESOLUTION, Points, Regions, grid_points, jittered_copies,
                      preset, sample_points)

__all__ = ["ACTIVATIONS", "ATTACK_PARAMS", "AttackSettings", "CLASS_NAMES", "DEFENSE_PARAMS", "Defense",
           "DefenseSettings", "DotProduct", "FlipSteps", "TRAINING_PARAMS",
           "KIND_TITLES", "KindCounts", "METHODS", "MlpConfig", "NEITHER", "NEITHER_CLASS", "NOT_SUCCESSFUL",
           "OTHER_CLASS", "PRESETS", "PlaneAttack", "Points", "RESOLUTION", "Regions", "SAME_CLASS", "TrainStep",
           "Training", "accuracy_on", "adversarial_points", "attack_points", "build_model", "classify_kinds",
           "defend", "dog_probability", "flip_steps", "grid_points", "jittered_copies", "kind_title",
           "parse_hidden", "preset", "probability_grid", "sample_points", "seed_example", "sum_terms", "train",
           "write_counts_csv", "write_points_csv"]
