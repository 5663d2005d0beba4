"""The one bridge between the GUI and a worker thread: runs an engine computation (a generator that yields steps
and returns a result) in Qt's global thread pool through superqt's GeneratorWorker, and re-emits what happens
as signals of a QObject that lives in the GUI thread, so every slot runs in the GUI thread."""
from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot
from superqt.utils import GeneratorWorker, create_worker

from engine.errors import AdvLensError

log = logging.getLogger(__name__)


class JobFailure(Exception):
    """A RuntimeError raised inside a computation (most torch errors are RuntimeErrors), re-raised under another
    type because superqt's GeneratorWorker reads a RuntimeError as "worker deleted" and drops it silently,
    without emitting `errored` or `finished`."""


def describe_error(error: BaseException) -> str:
    """One readable line for the user: the message of errors the user caused, the type for the others."""
    if isinstance(error, AdvLensError):
        return str(error)
    cause = error.__cause__ if isinstance(error, JobFailure) and error.__cause__ else error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else 'no details'}"


def steps_of(function: Callable[..., Any], *args, **kwargs) -> Generator[None, None, Any]:
    """A plain function as a computation without steps, so that every job goes through the same bridge."""
    return function(*args, **kwargs)
    yield  # never reached; its presence makes this function a generator


def _drive(steps: Generator, cancelled: threading.Event, over: threading.Event) -> Generator[Any, None, Any]:
    """Runs in the worker thread: forwards each step, returns the computation's result, closes the generator
    (running its cleanup) on every exit, including cancellation between two steps, and then sets `over`."""
    try:
        with contextlib.closing(steps):
            while not cancelled.is_set():
                try:
                    step = next(steps)
                except StopIteration as end:
                    return end.value
                yield step
    except RuntimeError as exc:
        raise JobFailure(str(exc)) from exc
    finally:
        over.set()
    return None


class Job(QObject):
    """One computation in a worker thread. `stepped`, `succeeded`, `failed` and `done` are delivered in the GUI
    thread; `done` comes last, whatever happened. Arrays in steps must already be copies (the engine's Frames
    are), since the computation keeps running while the GUI reads them."""

    stepped = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    done = Signal()

    def __init__(self, steps: Generator, parent: QObject | None = None):
        super().__init__(parent)
        self.generator = steps
        self._cancelled = threading.Event()
        self._over = threading.Event()  # set in the worker thread, so the GUI thread can block on it
        self._worker: GeneratorWorker = create_worker(_drive, steps, self._cancelled, self._over,
                                                      _start_thread=False, _ignore_errors=True)
        self._worker.yielded.connect(self._on_yielded)
        self._worker.returned.connect(self._on_returned)
        self._worker.errored.connect(self._on_errored)
        self._worker.finished.connect(self._on_finished)

    def start(self) -> None:
        # Straight to the pool: superqt's worker.start() defers by a timer tick when an event loop runs, and a
        # window closed within that tick would find no thread to wait for while the job still starts later.
        QThreadPool.globalInstance().start(self._worker)

    def cancel(self) -> None:
        """Abandon the computation at its next step; its result, if any, is dropped."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def running(self) -> bool:
        return not self._over.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block the calling (GUI) thread until the computation has ended (False when `timeout` seconds passed
        first). Its queued signals are delivered later, by the event loop."""
        return self._over.wait(timeout)

    @Slot(object)
    def _on_yielded(self, step) -> None:
        if not self.cancelled:
            self.stepped.emit(step)

    @Slot(object)
    def _on_returned(self, value) -> None:
        if not self.cancelled:
            self.succeeded.emit(value)

    @Slot(object)
    def _on_errored(self, error: BaseException) -> None:
        if not isinstance(error, AdvLensError):
            log.error("computation failed", exc_info=(type(error), error, error.__traceback__))
        self.failed.emit(describe_error(error))

    @Slot()
    def _on_finished(self) -> None:
        self.done.emit()
        self.deleteLater()  # owners drop their reference on `done`; the parent would otherwise keep every job
