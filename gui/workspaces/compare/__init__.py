"""The Compare workspace: models side by side, the robustness table and the transfer matrix
(`engine.training.comparisons`), any cell opened to its images, and the cross-training-set case."""
from .workspace import CompareWorkspace

__all__ = ["CompareWorkspace"]
