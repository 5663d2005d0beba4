"""The one bridge between the GUI and a worker thread: runs an engine computation (a generator that yields steps
and returns a result) in a Python thread and hands what happens to a QObject living in the GUI thread, which
re-emits it as signals, so every slot runs in the GUI thread.

Two rules keep the worker thread from ever running Qt code, since Qt's locks taken in a worker thread while the
GUI thread holds the GIL (or the other way round) deadlock both threads, as happened on a 2-core CI machine:
- the worker puts messages in a queue that a timer in the GUI thread drains, instead of emitting Qt signals
  itself (as superqt's thread workers do);
- while a job runs, Python's cyclic garbage collector runs only in the GUI thread. Left automatic, it runs in
  whichever thread crosses an allocation threshold, and it freed a closed window's widgets inside a worker
  thread: `QObject::~QObject` there waited for the GIL while the GUI thread waited for Qt's lock."""
from __future__ import annotations

import contextlib
import gc
import logging
import queue
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from engine.core.errors import AdvLensError

log = logging.getLogger(__name__)

POLL_MS = 10  # how often the GUI thread collects a job's messages; views redraw at most every 40 ms anyway
COLLECT_INTERVAL_MS = 100  # how often the GUI thread checks whether to collect garbage while jobs run
FULL_COLLECTION_S = 60.0  # and how often it collects every generation then
WAIT_LIMIT_S = 30.0  # closing the window waits this long for a computation to reach its next step

_live_threads: set[threading.Thread] = set()
_live_lock = threading.Lock()


def describe_error(error: BaseException) -> str:
    """One readable line for the user: the message of errors the user caused, the type for the others."""
    if isinstance(error, AdvLensError):
        return str(error)
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else 'no details'}"


def steps_of(function: Callable[..., Any], *args, **kwargs) -> Generator[None, None, Any]:
    """A plain function as a computation without steps, so that every job goes through the same bridge."""
    return function(*args, **kwargs)
    yield  # never reached; its presence makes this function a generator


def running_jobs() -> int:
    """How many job threads are still alive (tests check that closing the window leaves none)."""
    with _live_lock:
        _live_threads.difference_update([thread for thread in _live_threads if not thread.is_alive()])
        return len(_live_threads)


class _CollectInGuiThread:
    """While job threads are alive, automatic garbage collection is off and a timer in the GUI thread collects
    the young generations by Python's own thresholds, and everything at most once a minute: full collections
    every few seconds (pyqtgraph's GarbageCollector policy) cost attacks about 8% per step. Once no job thread
    is alive, automatic collection is back."""

    def __init__(self):
        self._timer: QTimer | None = None
        self._last_full = time.monotonic()

    def hold(self) -> None:
        if self._timer is None:
            self._timer = QTimer()
            self._timer.setInterval(COLLECT_INTERVAL_MS)
            self._timer.timeout.connect(self._collect)
        if not self._timer.isActive():
            gc.disable()
            self._timer.start()

    def _collect(self) -> None:
        young, middle, _ = gc.get_count()
        young_limit, middle_limit, _ = gc.get_threshold()
        if time.monotonic() - self._last_full > FULL_COLLECTION_S:
            gc.collect()
            self._last_full = time.monotonic()
        elif young > young_limit:
            gc.collect(1 if middle > middle_limit else 0)
        if running_jobs() == 0:
            self._timer.stop()
            gc.enable()


_collection = _CollectInGuiThread()


def wait_for_jobs(timeout: float = WAIT_LIMIT_S) -> bool:
    """Block until every job thread has ended, at most `timeout` seconds in all; False when some still run."""
    with _live_lock:
        threads = list(_live_threads)
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return running_jobs() == 0


class Job(QObject):
    """One computation in a worker thread. `stepped`, `succeeded`, `failed` and `done` are delivered in the GUI
    thread, in the order they happened; `done` comes last, whatever happened. Arrays in steps must already be
    copies (the engine's Frames are), since the computation keeps running while the GUI reads them."""

    stepped = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    done = Signal()

    def __init__(self, steps: Generator, parent: QObject | None = None):
        super().__init__(parent)
        self.generator = steps
        self._cancelled = threading.Event()
        self._over = threading.Event()  # set in the worker thread, so the GUI thread can block on it
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="advlens-job", daemon=True)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._deliver)

    def start(self) -> None:
        _collection.hold()
        with _live_lock:
            _live_threads.add(self._thread)
        self._poll.start()
        self._thread.start()

    def cancel(self) -> None:
        """Abandon the computation at its next step; its result, if any, is dropped."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def running(self) -> bool:
        return not self._over.is_set()

    def wait(self, timeout: float | None = WAIT_LIMIT_S) -> bool:
        """Block the calling (GUI) thread until the computation has ended (False, and a warning in the log, when
        `timeout` seconds passed first: a daemon thread does not keep the application from quitting). Its
        messages are delivered later, by the event loop."""
        if self._over.wait(timeout):
            return True
        log.warning("a computation did not reach its next step within %s s; leaving it behind", timeout)
        return False

    # --- worker thread: touches no Qt object ----------------------------------------------------------------

    def _work(self) -> None:
        """Forwards each step, then the result or the error, then "done"; closes the generator (running its
        cleanup) on every exit, including cancellation between two steps."""
        try:
            with contextlib.closing(self.generator):
                while not self._cancelled.is_set():
                    try:
                        step = next(self.generator)
                    except StopIteration as end:
                        self._inbox.put(("result", end.value))
                        break
                    self._inbox.put(("step", step))
        except Exception as error:  # reported to the user; the thread ends normally
            self._inbox.put(("error", error))
        finally:
            self._over.set()
            self._inbox.put(("done", None))

    # --- GUI thread ------------------------------------------------------------------------------------------

    @Slot()
    def _deliver(self) -> None:
        """Emit everything the worker reported since the last tick. A slot may open a nested event loop that
        calls this again; each message is taken off the queue before it is emitted, so the order holds."""
        while True:
            try:
                kind, value = self._inbox.get_nowait()
            except queue.Empty:
                return
            if kind == "step" and not self.cancelled:
                self.stepped.emit(value)
            elif kind == "result" and not self.cancelled:
                self.succeeded.emit(value)
            elif kind == "error":
                self._report(value)
            elif kind == "done":
                self._poll.stop()
                self.done.emit()
                self.deleteLater()  # owners drop their reference on `done`; the parent would otherwise keep it
                return

    def _report(self, error: Exception) -> None:
        if not isinstance(error, AdvLensError):
            log.error("computation failed", exc_info=(type(error), error, error.__traceback__))
        self.failed.emit(describe_error(error))
