"""Attacks: each one a generator function registered with its declared parameters."""
from .base import (ATTACKS, AttackResult, AttackSpec, Frame, Param, RunControl, Step, get_attack, run_to_end,
                   success)
from . import gradient_sign  # noqa: F401  (registers the gradient-sign family)

__all__ = ["ATTACKS", "AttackResult", "AttackSpec", "Frame", "Param", "RunControl", "Step", "get_attack",
           "run_to_end", "success"]
