"""The Playground workspace: the 2-D plane of two-pixel images (see `engine.playground`)."""
from .workspace import PlaygroundWorkspace

__all__ = ["PlaygroundWorkspace"]
