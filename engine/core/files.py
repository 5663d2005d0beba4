"""Writing files so that nothing is lost: every output goes to a temporary name in the target's folder and is then
renamed onto the target (os.replace, atomic on one file system), so a reader sees the old file or the new one,
never a torn one; the temporary file is removed on any error. And the checks that an output path can be written,
made before the work starts."""
from __future__ import annotations

import glob
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import OutputBusyError, ParameterError

TEMPORARY_MARK = ".tmp"  # in every temporary name: ".NAME.<writer's pid>.<random>.tmp.SUFFIX"
STALE_AFTER = 24 * 3600  # seconds: where a writer's pid cannot be checked (Windows), older leftovers are stale


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would have given the file


def is_temporary(path: str | Path) -> bool:
    """True for a leftover of an interrupted atomic write (readers of a folder skip these)."""
    name = Path(path).name
    return name.startswith(".") and TEMPORARY_MARK in name


def _writer_alive(pid: int, temporary: Path) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would send Ctrl-C there; judge by age instead
        return time.time() - temporary.stat().st_mtime < STALE_AFTER
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_temporaries(target: str | Path) -> list[Path]:
    """Delete the temporaries of `target` left by writers that were killed (SIGKILL, power loss) before they
    could clean up: those whose writer process no longer runs. Returns what was removed."""
    target = Path(target)
    removed = []
    pattern = f".{glob.escape(target.name)}.*{TEMPORARY_MARK}{glob.escape(target.suffix)}"
    for temporary in target.parent.glob(pattern):
        pid = temporary.name[len(target.name) + 2:].partition(".")[0]
        with suppress(OSError, ValueError):
            if pid.isdigit() and int(pid) != os.getpid() and not _writer_alive(int(pid), temporary):
                temporary.unlink()
                removed.append(temporary)
    return removed


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """A temporary path beside `target` (same folder, same suffix, so numpy and Pillow keep their format) to
    write to; when the block ends without an error it is renamed onto `target`, otherwise removed.

        with atomic_path(out) as temporary:
            np.savez_compressed(temporary, **arrays)
    """
    target = Path(target)
    remove_stale_temporaries(target)
    descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.",
                                        suffix=f"{TEMPORARY_MARK}{target.suffix}", dir=target.parent)
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


# --- one writer per output ------------------------------------------------------------------------------------

def lock_path(output: str | Path, folder: bool = False) -> Path:
    """Where the writer's lock of an output lives: `.NAME.lock` beside a file, `.advlens.lock` inside a folder."""
    output = Path(output)
    return output / ".advlens.lock" if folder else output.parent / f".{output.name}.lock"


def try_lock(path: str | Path) -> FileLock | None:
    """The lock file at `path`, acquired (released by `unlock`, or by the system when the process dies, even by
    SIGKILL), or None when another process or thread holds it."""
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    return lock


def unlock(lock: FileLock, remove: bool = True) -> None:
    """Release `lock` and, with `remove`, delete its file. Whoever opened the file just before it went may still
    lock it, so remove it only once what it guards is done and will be found by a re-check."""
    lock.release()
    if remove:
        with suppress(OSError):
            Path(lock.lock_file).unlink()


@contextmanager
def sole_writer(output: str | Path, what: str = "output", folder: bool = False) -> Iterator[None]:
    """Hold the lock of `output` (a file, or with `folder` a folder, created here) for the block: a second AdvLens
    run writing the same output meanwhile fails at once with OutputBusyError, before its work, instead of both
    reporting success with one result lost."""
    path = lock_path(output, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = try_lock(path)
    if lock is None:
        raise OutputBusyError(f"{what} {output} is being written by another AdvLens run; wait for it to finish or "
                              "choose another path")
    try:
        yield
    finally:
        unlock(lock)


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
