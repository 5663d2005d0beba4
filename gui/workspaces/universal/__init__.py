"""The Universal workspace: one perturbation for many images."""
from .workspace import UniversalWorkspace

__all__ = ["UniversalWorkspace"]
