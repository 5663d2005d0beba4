"""The Attack workspace: per-image attacks, natural | adversarial | perturbation, statistics over a dataset."""
from .workspace import AttackWorkspace

__all__ = ["AttackWorkspace"]
