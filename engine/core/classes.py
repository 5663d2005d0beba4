"""Class subsets as a user types them ("0-9", "1,5,7"), for every command and form that works on some of a
model's classes."""
from __future__ import annotations

from .errors import ParameterError


def parse_classes(text: str | None, count: int) -> list[int] | None:
    """"0-9" or "1,5,7" (or both mixed) -> sorted class indices; None (every class) for an empty text or "all".
    Each range is checked against `count` before it is expanded (so "0-999999999" costs nothing)."""
    if not text or text.strip().lower() == "all":
        return None
    chosen: set[int] = set()
    for part in text.split(","):
        first, last = _class_range(part, text)
        if not 0 <= first <= last < count:
            raise ParameterError(f"classes: {part.strip()!r} is not within 0..{count - 1}")
        chosen.update(range(first, last + 1))
    return sorted(chosen)


def _class_range(part: str, text: str) -> tuple[int, int]:
    first, _, last = part.strip().partition("-")
    try:
        return int(first), int(last or first)
    except ValueError:
        raise ParameterError(f"classes: expected e.g. 0-9 or 1,5,7, not {text!r}") from None
