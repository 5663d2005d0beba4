"""Writing files so that nothing is lost: every output goes to a temporary name in the target's folder and is then
renamed onto the target (os.replace, atomic on one file system), so a reader sees the old file or the new one,
never a torn one; the temporary file is removed on any error. And the checks that an output path can be written,
made before the work starts."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ParameterError

TEMPORARY_MARK = ".tmp"  # in every temporary name: ".NAME.<random>.tmp.SUFFIX"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would have given the file


def is_temporary(path: str | Path) -> bool:
    """True for a leftover of an interrupted atomic write (readers of a folder skip these)."""
    name = Path(path).name
    return name.startswith(".") and TEMPORARY_MARK in name


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """A temporary path beside `target` (same folder, same suffix, so numpy and Pillow keep their format) to
    write to; when the block ends without an error it is renamed onto `target`, otherwise removed.

        with atomic_path(out) as temporary:
            np.savez_compressed(temporary, **arrays)
    """
    target = Path(target)
    descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f"{TEMPORARY_MARK}{target.suffix}",
                                        dir=target.parent)
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb+") as handle:  # on disk before the rename: a crash leaves old or new
            os.fsync(handle.fileno())
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(target: str | Path, content: bytes | str, encoding: str = "utf-8") -> Path:
    """`content` (text or bytes) as the whole of `target`, written through a temporary file and a rename."""
    target = Path(target)
    with atomic_path(target) as temporary:
        if isinstance(content, str):
            temporary.write_text(content, encoding=encoding)
        else:
            temporary.write_bytes(content)
    return target


@contextmanager
def atomic_open(target: str | Path, mode: str = "w", **options) -> Iterator:
    """An open file (text by default; "wb" for bytes) whose content replaces `target` when the block ends
    without an error; e.g. `with atomic_open(path, newline="") as handle: csv.writer(handle)...`."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes a whole file; mode {mode!r} is not a write mode")
    with atomic_path(target) as temporary, open(temporary, mode, **options) as handle:
        yield handle


# --- output paths checked before the work ---------------------------------------------------------------------

def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def _check_writable_folder(path: Path, what: str, original: Path) -> None:
    """`path` (the folder the output will be in, or will be created under) exists or can be created."""
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise ParameterError(f"{what} {original}: {existing} is a file, not a folder; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ParameterError(f"{what} {original}: the folder {existing} is not writable; choose another path")


def check_output_file(path: str | Path, what: str = "output") -> Path:
    """Raise ParameterError (one line naming the path) unless a file can be written at `path`: not a folder, not
    under a file, in a folder that exists or can be created and is writable."""
    if isinstance(path, str) and path.endswith(tuple(filter(None, (os.sep, os.altsep)))):
        raise ParameterError(f"{what} {path} ends with a separator, but a file is expected; name a file")
    path = Path(path)
    if path.is_dir():
        raise ParameterError(f"{what} {path} is a folder, but a file is expected; name a file")
    _check_writable_folder(path.parent, what, path)
    return path


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """Raise ParameterError (one line naming the path) unless `path` is, or can be created as, a writable
    folder."""
    path = Path(path)
    if os.path.lexists(path) and not path.is_dir():
        raise ParameterError(f"{what} {path} is a file, but a folder is expected; name a folder")
    _check_writable_folder(path, what, path)
    return path
