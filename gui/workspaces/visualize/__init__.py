"""The Visualize workspace: what the loaded model learned."""
from .workspace import VisualizeWorkspace

__all__ = ["VisualizeWorkspace"]
