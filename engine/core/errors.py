"""Errors a user can act on. Front doors show `str(error)` as one readable line."""


class AdvLensError(Exception):
    """Base class of every error caused by the user's input rather than by a bug."""


class ModelError(AdvLensError):
    """A model could not be loaded or does not behave like a classifier."""


class ImageError(AdvLensError):
    """Images could not be read or converted to what the model expects."""


class ParameterError(AdvLensError):
    """An attack parameter is missing, malformed or outside its range."""
