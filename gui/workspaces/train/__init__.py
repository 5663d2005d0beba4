"""The Train workspace: a classifier trained from scratch, live, with or without a defense (`engine.training`)."""
from .workspace import TrainWorkspace

__all__ = ["TrainWorkspace"]
