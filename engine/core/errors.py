"""Errors a user can act on. Front doors show `str(error)` as one readable line."""


class AdvLensError(Exception):
    """Base class of every error caused by the user's input rather than by a bug."""


class ModelError(AdvLensError):
    """A model could not be loaded or does not behave like a classifier."""


class UntrustedModelError(ModelError):
    """A model file would run code when loaded: it is loaded only when the user says they trust it."""


class ImageError(AdvLensError):
    """Images could not be read or converted to what the model expects."""


class ParameterError(AdvLensError):
    """An attack parameter is missing, malformed or outside its range."""


class OutputBusyError(AdvLensError):
    """Another AdvLens run is writing the same output right now."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), for one-line error reports."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
