"""Training classifiers from scratch, with or without a defense (issue 14's Train workspace and `train`), on the
shipped digits or an image folder."""
from .defenses import DEFENSES, batch_loss, defense_params
from .folders import FOLDER, data_of_recipe, image_folder, training_data
from .loop import (TRAINING, EpochRecord, PartialEpoch, Trainer, TrainingData, TrainProgress, disjoint_halves,
                   new_trainer, train_steps, training_digits)

__all__ = ["DEFENSES", "FOLDER", "TRAINING", "EpochRecord", "PartialEpoch", "TrainProgress", "Trainer",
           "TrainingData", "batch_loss", "data_of_recipe", "defense_params", "disjoint_halves", "image_folder",
           "new_trainer", "train_steps", "training_data", "training_digits"]
