"""The Attack workspace: per-image attacks, natural | adversarial | perturbation, statistics over a dataset."""
