"""Ctrl-C and SIGTERM as a stop request: a headless run stops at the end of its current step and still saves what
it reached, as the window's Stop button does; a second signal interrupts at once."""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .control import RunControl

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


@contextmanager
def stop_on_signals(control: RunControl, announce: Callable[[str], None] | None = None) -> Iterator[list[str]]:
    """For the block, the first SIGINT or SIGTERM calls `control.stop()` (and `announce(signal name)`); another
    one raises KeyboardInterrupt. Yields the names of the signals received, so the caller knows it was stopped.
    Outside the main thread (where Python cannot set handlers) it changes nothing."""
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(number, _frame):
        if received:
            raise KeyboardInterrupt
        received.append(signal.Signals(number).name)
        control.stop()
        if announce:
            announce(received[0])

    previous = {number: signal.signal(number, handle) for number in STOP_SIGNALS}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def exit_status(signal_name: str) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number (130 for SIGINT)."""
    return 128 + int(getattr(signal, signal_name))
