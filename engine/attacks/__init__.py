"""Attacks: each one a generator function registered with its declared parameters."""
from .base import ATTACKS, AttackResult, AttackSpec, Frame, Param, RunControl, Step, get_attack, run_to_end
from .criteria import Criterion, Misclassification, OneOfClasses, TargetedMisclassification
# each module registers its attacks
from . import adef, deepfool, gradient_sign  # noqa: F401

__all__ = ["ATTACKS", "AttackResult", "AttackSpec", "Criterion", "Frame", "Misclassification", "OneOfClasses",
           "Param", "RunControl", "Step", "TargetedMisclassification", "get_attack", "run_to_end"]
