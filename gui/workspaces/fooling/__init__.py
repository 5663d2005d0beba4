"""The Fooling workspace: fooling ("rubbish") images evolved or ascended live for chosen classes of the loaded
model (`engine.fooling`), shown to a second model and beside real images of their classes, and exported."""
from .workspace import FoolingWorkspace

__all__ = ["FoolingWorkspace"]
