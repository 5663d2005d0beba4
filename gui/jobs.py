"""The one job bridge between the GUI and the engine: a `Job` runs an engine computation (a generator that yields
steps and returns a result) in a QThread and re-emits what happens as signals of a QObject living in the GUI
thread, so every slot runs in the GUI thread; a `JobSlot` owns at most one job at a time (busy, stop, errors as
messages, waiting when the window closes) so that no workspace writes its own lifecycle.

Two rules keep the worker thread from ever running Qt code, since Qt's locks taken in a worker thread while the
GUI thread holds the GIL (or the other way round) deadlock both threads, as happened on a 2-core CI machine:
- the QThread's `run()` touches Python objects only: it puts messages in a mailbox that a timer in the GUI thread
  drains, instead of emitting Qt signals itself (as superqt's thread workers do);
- while a job runs, Python's cyclic garbage collector runs only in the GUI thread. Left automatic, it runs in
  whichever thread crosses an allocation threshold, and it freed a closed window's widgets inside a worker
  thread: `QObject::~QObject` there waited for the GIL while the GUI thread waited for Qt's lock.

Frames are coalesced: a step carrying arrays for the views replaces the arrays of an older step still waiting
in the mailbox (its cheap numbers stay), so each tick delivers at most one frame, and the mailbox holds at most
`MAILBOX_LIMIT` steps: a computation faster than the GUI waits for it (back-pressure) instead of piling up."""
from __future__ import annotations

import atexit
import contextlib
import dataclasses
import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot
from shiboken6 import Shiboken

from engine.core.errors import AdvLensError

log = logging.getLogger(__name__)

POLL_MS = 10  # how often the GUI thread collects a job's messages; views redraw at most every 40 ms anyway
COLLECT_INTERVAL_MS = 100  # how often the GUI thread checks whether to collect garbage while jobs run
FULL_COLLECTION_S = 60.0  # and how often it collects every generation then
WAIT_LIMIT_S = 30.0  # closing the window waits this long for a computation to reach its next step
MAILBOX_LIMIT = 512  # steps waiting for the GUI thread; cheap ones take microseconds each to deliver
PUT_RECHECK_S = 0.05  # a worker waiting for room in the mailbox looks at the cancel flag this often
FINISH_POLL_S = 0.002  # waiting for a QThread to finish polls instead of calling QThread.wait with the GIL held

# The fields of the engine's step records that carry arrays for the views (Step.frame with its probabilities,
# VisStep.images with the patches' values, FoolingStep.images of its cells, TrainStep.grid); a step holding
# another (`step`) is looked into. A step whose frame holds only what changed since the previous frame (a
# fooling archive's changed cells) has an `absorbing(older)` method: it takes in the frame it replaces.
VIEW_FIELDS = (("frame", "probs"), ("images", "values", "cells"), ("grid",))

_live_threads: set[_JobThread] = set()
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
    """How many job QThreads have not finished (tests check that closing the window leaves none). Finished ones
    are let go here, in the GUI thread, so that a QThread object is never destroyed while its thread runs."""
    with _live_lock:
        _live_threads.difference_update([thread for thread in _live_threads if thread.isFinished()])
        return len(_live_threads)


@atexit.register
def _leave_stuck_threads_behind() -> None:
    """A computation still running when the interpreter exits (it did not reach its next step within the wait)
    is left behind, as a daemon thread would be: PySide's exit cleanup would destroy the QThread objects it owns,
    and destroying a running QThread aborts the process. Handed to Qt's main thread object, they are not."""
    with _live_lock:
        for thread in _live_threads:
            if Shiboken.isValid(thread) and not thread.isFinished():
                thread.setParent(QThread.currentThread())
        _live_threads.clear()


def wait_for_jobs(timeout: float = WAIT_LIMIT_S) -> bool:
    """Block until every job thread has ended, at most `timeout` seconds in all; False when some still run."""
    deadline = time.monotonic() + timeout
    with _live_lock:
        for thread in _live_threads:
            thread.mailbox.lift_limit()  # nobody drains them while this blocks
    while running_jobs() and time.monotonic() < deadline:
        time.sleep(FINISH_POLL_S)  # releases the GIL, which a finishing worker may need
    return running_jobs() == 0


def carries_arrays(step: Any) -> bool:
    """Whether a step holds arrays for the views (a frame), directly or in the step it wraps."""
    if not dataclasses.is_dataclass(step) or isinstance(step, type):
        return False
    if any(getattr(step, fields[0], None) is not None for fields in VIEW_FIELDS):
        return True
    return carries_arrays(getattr(step, "step", None))


def without_arrays(step: Any) -> Any:
    """The step with its arrays for the views dropped and its cheap numbers kept (it looks like a step that
    came between two frames)."""
    changes = {name: None for fields in VIEW_FIELDS if getattr(step, fields[0], None) is not None
               for name in fields if hasattr(step, name)}
    inner = getattr(step, "step", None)
    if carries_arrays(inner):
        changes["step"] = without_arrays(inner)
    return dataclasses.replace(step, **changes)


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


class _Mailbox:
    """What a worker hands to the GUI thread, in order: at most `limit` steps (the worker waits for room), of
    which only the newest keeps its arrays, plus the closing messages. Shared by both threads under a lock."""

    def __init__(self, limit: int = MAILBOX_LIMIT):
        self.limit: float = limit
        self.high_water = 0  # the most messages ever waiting at once (tests check the bound)
        self._items: deque[tuple[str, Any]] = deque()
        self._framed_at: int | None = None  # position of the waiting step that still has its arrays
        self._room = threading.Condition()

    def put_step(self, step: Any, cancelled: threading.Event) -> None:
        """Worker thread: wait for room (or cancellation, which drops the step), then post the step."""
        with self._room:
            while len(self._items) >= self.limit:
                if cancelled.is_set():
                    return
                self._room.wait(PUT_RECHECK_S)
            if carries_arrays(step):
                if self._framed_at is not None:  # the older frame will never be drawn: keep only its numbers
                    older = self._items[self._framed_at][1]
                    if hasattr(step, "absorbing"):
                        step = step.absorbing(older)
                    self._items[self._framed_at] = ("step", without_arrays(older))
                self._framed_at = len(self._items)
            self._append(("step", step))

    def lift_limit(self) -> None:
        """GUI thread, about to block on the worker: a worker waiting for room must not wait for it."""
        with self._room:
            self.limit = float("inf")
            self._room.notify_all()

    def put(self, kind: str, value: Any) -> None:
        """Worker thread: a closing message (result, error, done), never refused."""
        with self._room:
            self._append((kind, value))

    def take_all(self) -> list[tuple[str, Any]]:
        """GUI thread: everything waiting, oldest first."""
        with self._room:
            items = list(self._items)
            self._items.clear()
            self._framed_at = None
            self._room.notify_all()
            return items

    def _append(self, item: tuple[str, Any]) -> None:
        self._items.append(item)
        self.high_water = max(self.high_water, len(self._items))


class _JobThread(QThread):
    """The QThread a job runs in. `run()` executes in the new thread and touches Python objects only: no Qt
    call, no signal emission (QThread's own `finished` is emitted by Qt and has no Python receiver)."""

    def __init__(self, work: Callable[[], None], mailbox: _Mailbox):
        super().__init__()  # no parent: the registry keeps it until its thread has finished
        self._work: Callable[[], None] | None = work
        self.mailbox = mailbox
        self.ident: int | None = None  # the Python id of the thread running run(), for tests

    def run(self) -> None:
        self.ident = threading.get_ident()
        work, self._work = self._work, None  # no reference cycle back to the job once it is over
        if work is not None:
            work()


class Job(QObject):
    """One computation in a QThread. `stepped`, `succeeded`, `failed` and `done` are delivered in the GUI
    thread, in the order they happened; `done` comes last, whatever happened. Arrays in steps must already be
    copies (the engine's Frames are), since the computation keeps running while the GUI reads them."""

    stepped = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    done = Signal()

    def __init__(self, steps: Generator, parent: QObject | None = None):
        super().__init__(parent)
        self.generator = steps
        self.mailbox = _Mailbox()
        self._cancelled = threading.Event()
        self._over = threading.Event()  # set in the worker thread, so the GUI thread can block on it
        self._pending: deque[tuple[str, Any]] = deque()  # taken from the mailbox, not yet emitted
        self.worker_thread: _JobThread | None = _JobThread(self._work, self.mailbox)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._deliver)
        cancelled = self._cancelled  # deleted with its parent mid-run: nobody drains the mailbox any more
        self.destroyed.connect(lambda *_: cancelled.set())

    def start(self) -> None:
        _collection.hold()
        with _live_lock:
            _live_threads.add(self.worker_thread)
        self._poll.start()
        self.worker_thread.start()

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
        """Block the calling (GUI) thread until the computation has ended and its thread finished (False, and a
        warning in the log, when `timeout` seconds passed first). Its messages are delivered later, by the event
        loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        thread = self.worker_thread
        self.mailbox.lift_limit()  # the computation ends within one step: only a few more come
        if self._over.wait(timeout):
            while thread is not None and not thread.isFinished():
                if deadline is not None and time.monotonic() > deadline:
                    break
                time.sleep(FINISH_POLL_S)
            else:
                return True
        log.warning("a computation did not reach its next step within %s s; leaving it behind", timeout)
        return False

    # --- worker thread: touches no Qt object ----------------------------------------------------------------

    def _work(self) -> None:
        """Posts each step, then the result or the error, then "done"; closes the generator (running its
        cleanup) on every exit, including cancellation between two steps."""
        try:
            with contextlib.closing(self.generator):
                while not self._cancelled.is_set():
                    try:
                        step = next(self.generator)
                    except StopIteration as end:
                        self.mailbox.put("result", end.value)
                        break
                    self.mailbox.put_step(step, self._cancelled)
        except Exception as error:  # reported to the user; the thread ends normally
            self.mailbox.put("error", error)
        finally:
            self._over.set()
            self.mailbox.put("done", None)

    # --- GUI thread ------------------------------------------------------------------------------------------

    @Slot()
    def _deliver(self) -> None:
        """Emit everything the worker posted since the last tick. A slot may open a nested event loop that
        calls this again; each message leaves `_pending` before it is emitted, so the order holds."""
        self._pending.extend(self.mailbox.take_all())
        while self._pending:
            kind, value = self._pending.popleft()
            if kind == "step" and not self.cancelled:
                self.stepped.emit(value)
            elif kind == "result" and not self.cancelled:
                self.succeeded.emit(value)
            elif kind == "error":
                self._report(value)
            elif kind == "done":
                self._poll.stop()
                self.worker_thread = None  # the registry lets it go once it has finished
                self.done.emit()
                self.deleteLater()  # owners drop their reference on `done`; the parent would otherwise keep it
                return

    def _report(self, error: Exception) -> None:
        if not isinstance(error, AdvLensError):
            log.error("computation failed", exc_info=(type(error), error, error.__traceback__))
        self.failed.emit(describe_error(error))


class JobSlot(QObject):
    """At most one computation at a time for its owner (the session, a run model, a workspace): starts it as a
    Job, reports busy and errors as readable messages, stops it within one step and waits for it on close."""

    busy_changed = Signal(bool)
    failed = Signal(str)  # a readable message: the computation's error, or why it could not start
    status = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._job: Job | None = None
        self._control = None
        self._what = ""
        self._on_done: Callable[[], None] | None = None
        self._said_busy = False  # busy_changed(True) was emitted and not yet its False

    @property
    def busy(self) -> bool:
        return self._job is not None

    @property
    def job(self) -> Job | None:
        """The running job (its `done` signal lets tests and screenshots wait), None when idle."""
        return self._job

    @property
    def control(self):
        """The RunControl of the running computation, None when idle or when it has none."""
        return self._control

    def run(self, steps: Generator, on_step: Callable[[Any], None] | None = None,
            on_result: Callable[[Any], None] | None = None, control=None,
            on_done: Callable[[], None] | None = None, what: str = "the previous run") -> bool:
        """Start `steps` in a QThread; False (with `failed`, and `steps` closed) while another one runs.
        `on_step` and `on_result` receive the steps and the result; `on_done` comes last, whatever happened,
        when the slot is free again (it may start the next computation at once)."""
        if self._job is not None:
            steps.close()
            self.failed.emit(f"{what[:1].upper()}{what[1:]} is still running; stop it or wait until it is done.")
            return False
        job = Job(steps, self)
        if on_step is not None:
            job.stepped.connect(on_step)
        if on_result is not None:
            job.succeeded.connect(on_result)
        job.failed.connect(self.failed)
        job.done.connect(self._finish)
        self._job, self._control, self._what, self._on_done = job, control, what, on_done
        if not self._said_busy:  # a computation started by the previous one's on_done continues the busy spell
            self._said_busy = True
            self.busy_changed.emit(True)
        job.start()
        return True

    def stop(self) -> None:
        """Ask the computation to end within one step: through its control (it returns a partial result), or by
        cancelling the job when it has none (its result is dropped)."""
        if self._job is None:
            return
        self.status.emit(f"Stopping {self._what}…")
        if self._control is not None:
            self._control.stop()
        else:
            self._job.cancel()

    def cancel(self) -> None:
        """Abandon the computation at its next step, dropping its result, control or not."""
        if self._job is not None:
            self._job.cancel()

    def shutdown(self, timeout: float = WAIT_LIMIT_S) -> bool:
        """Stop and block until the thread has let go (the window is closing); False when it did not in time."""
        job = self._job
        self.stop()
        return job is None or job.wait(timeout)

    @Slot()
    def _finish(self) -> None:
        on_done = self._on_done
        self._job = self._control = self._on_done = None
        if on_done is not None:
            on_done()
        if self._job is None:  # on_done may have started the next computation
            self._said_busy = False
            self.busy_changed.emit(False)
