"""Training classifiers from scratch, with or without a defense (issue 14's Train workspace and `train`)."""
from .defenses import DEFENSES, batch_loss, defense_params
from .loop import (TRAINING, EpochRecord, Trainer, TrainingData, TrainProgress, disjoint_halves, new_trainer,
                   train_steps, training_digits)

__all__ = ["DEFENSES", "TRAINING", "EpochRecord", "TrainProgress", "Trainer", "TrainingData", "batch_loss",
           "defense_params", "disjoint_halves", "new_trainer", "train_steps", "training_digits"]
