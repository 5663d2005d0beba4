"""The job bridge: computations run in a QThread of ours, frames are coalesced when the GUI falls behind, the
mailbox stays bounded, and a JobSlot runs one computation at a time, stops within one step and waits on close."""
from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QThread

from engine.attacks import Step
from engine.core import Frame, RunControl
from gui.jobs import Job, JobSlot, carries_arrays, running_jobs, wait_for_jobs, without_arrays

ROOT = Path(__file__).resolve().parent.parent
STEPS = 10_000
QUEUE_BOUND = 1000  # messages waiting at most, however far the GUI falls behind


def attack_step(iteration: int, total: int = STEPS) -> Step:
    """A step as an attack yields it, every one with a frame: the worst case for the views."""
    frame = Frame((0,), np.full((1, 1, 4, 4), iteration, dtype=np.float32))
    return Step(iteration, total, loss=np.array([float(iteration)]), probs=np.ones((1, 2)) / 2,
                fooled=np.array([False]), goal_prob=np.array([0.5]), frame=frame)


def block_gui_thread(seconds: float) -> None:
    """The GUI thread busy elsewhere (a long repaint): no event is processed meanwhile."""
    time.sleep(seconds)


def test_the_computation_runs_in_a_qthread_of_ours(qtbot):
    seen = {}

    def probe():
        seen["ident"] = threading.get_ident()  # Python only: the worker must not call Qt
        seen["name"] = threading.current_thread().name
        return 1
        yield

    job = Job(probe())
    thread = job.worker_thread
    assert isinstance(thread, QThread)
    with qtbot.waitSignal(job.done, timeout=10_000):
        job.start()
    assert seen["ident"] == thread.ident
    assert seen["ident"] != threading.main_thread().ident
    assert not seen["name"].startswith("advlens-job")  # not the Python thread of the old bridge
    qtbot.waitUntil(lambda: running_jobs() == 0, timeout=5000)


def test_a_flood_of_steps_while_the_gui_is_blocked_stays_bounded_and_the_last_is_shown(qtbot):
    received, frames_shown, ticks = [], [], []

    def flood():
        for iteration in range(1, STEPS + 1):
            yield attack_step(iteration)
        return "finished"

    def on_step(step):
        received.append(step.iteration)
        if step.frame is not None:
            frames_shown.append(step.iteration)

    job = Job(flood())
    job.stepped.connect(on_step)
    job._poll.timeout.connect(lambda: ticks.append(len(received)))  # after each delivery tick
    job.start()
    qtbot.waitUntil(lambda: len(received) > 0, timeout=10_000)
    block_gui_thread(2.0)
    assert job.mailbox.high_water <= QUEUE_BOUND  # the worker waited for room: no unbounded queue
    with qtbot.waitSignal(job.succeeded, timeout=60_000):
        pass
    assert received == list(range(1, STEPS + 1))  # every step's cheap numbers arrived, in order
    assert frames_shown[-1] == STEPS  # the view ends on the last frame
    assert len(frames_shown) <= len(ticks) + 1  # at most one frame drawn per tick
    assert len(frames_shown) < STEPS / 10


def test_an_older_frame_loses_its_arrays_and_keeps_its_numbers():
    thin = without_arrays(attack_step(3))
    assert thin.frame is None and thin.probs is None
    assert thin.iteration == 3 and thin.loss.tolist() == [3.0]


def test_a_worker_waiting_for_room_is_cancelled_within_one_step(qtbot):
    def endless():
        iteration = 0
        while True:
            iteration += 1
            yield attack_step(iteration)

    job = Job(endless())
    job.start()
    block_gui_thread(0.5)  # the mailbox fills and the worker waits for room
    job.cancel()
    assert job.wait(5.0)
    assert running_jobs() == 0


def test_a_slot_runs_one_computation_at_a_time_and_reports_errors_as_messages(qtbot):
    slot = JobSlot()
    release = threading.Event()

    def waiting():
        while not release.wait(0.01):
            yield None
        raise ValueError("bad settings\nmore detail")

    def second():
        yield None

    with qtbot.waitSignal(slot.busy_changed) as busy:
        assert slot.run(waiting(), what="the previous load")
    assert busy.args == [True] and slot.busy
    refused_steps = second()
    with qtbot.waitSignal(slot.failed) as refused:
        assert not slot.run(refused_steps, what="the previous load")
    assert refused.args == ["The previous load is still running; stop it or wait until it is done."]
    assert inspect.getgeneratorstate(refused_steps) == inspect.GEN_CLOSED
    with qtbot.waitSignal(slot.failed, timeout=10_000) as failed:
        release.set()
    assert failed.args == ["ValueError: bad settings"]
    qtbot.waitUntil(lambda: not slot.busy, timeout=5000)


def test_stop_ends_a_run_within_one_step_with_its_partial_result(qtbot):
    slot = JobSlot()
    control = RunControl(frame_interval=None)
    results, steps = [], []

    def counting():
        count = 0
        while not control.stop_requested:
            count += 1
            yield count
        return count

    slot.run(counting(), on_step=steps.append, on_result=results.append, control=control)
    qtbot.waitUntil(lambda: len(steps) >= 3, timeout=10_000)
    with qtbot.waitSignal(slot.busy_changed, timeout=10_000) as idle:
        slot.stop()
    assert idle.args == [False]
    assert results and results[0] >= steps[-1]  # the partial result came, one step after the last seen at most


def test_shutdown_cancels_a_computation_without_control_and_leaves_no_thread(qtbot):
    slot = JobSlot()
    done = []

    def forever():
        while True:
            yield None

    slot.run(forever(), on_done=lambda: done.append(True))
    assert slot.shutdown(10.0)
    assert running_jobs() == 0
    qtbot.waitUntil(lambda: done == [True], timeout=5000)
    assert not slot.busy


def test_on_done_may_start_the_next_computation_and_the_slot_stays_busy(qtbot):
    slot = JobSlot()
    changes, finished = [], []
    slot.busy_changed.connect(changes.append)

    def nothing(value):
        return value
        yield

    def then():
        slot.run(nothing(2), on_result=finished.append)

    slot.run(nothing(1), on_result=finished.append, on_done=then)
    qtbot.waitUntil(lambda: changes[-1:] == [False], timeout=10_000)
    assert finished == [1, 2]
    assert changes == [True, False]  # busy throughout the chain


def test_quitting_while_a_computation_is_stuck_past_the_wait_exits_cleanly():
    # a running QThread destroyed by PySide's exit cleanup aborts the process; the old daemon threads did not
    script = textwrap.dedent("""
        import time
        from PySide6.QtWidgets import QApplication
        from gui.jobs import Job
        app = QApplication([])
        def stuck():
            time.sleep(60)
            yield None
        job = Job(stuck())
        job.start()
        assert not job.wait(0.2)
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert time.monotonic() - started < 30  # it did not wait for the computation either


def test_a_job_deleted_with_its_owner_mid_run_ends_its_thread(qtbot):
    owner = QObject()
    received = []

    def endless():
        while True:
            yield attack_step(len(received))

    job = Job(endless(), owner)
    job.stepped.connect(received.append)
    job.start()
    qtbot.waitUntil(lambda: len(received) > 0, timeout=10_000)
    block_gui_thread(0.5)  # the mailbox fills: the worker waits for a drain that will never come
    owner.deleteLater()
    qtbot.waitUntil(lambda: running_jobs() == 0, timeout=10_000)


def test_shutdown_while_the_worker_waits_for_room_returns_at_once(qtbot):
    slot = JobSlot()
    control = RunControl(frame_interval=None)

    def flood():
        iteration = 0
        while not control.stop_requested:
            iteration += 1
            yield attack_step(iteration)
        return iteration

    slot.run(flood(), control=control)
    block_gui_thread(0.5)  # the mailbox fills and the worker waits for room
    started = time.monotonic()
    assert slot.shutdown(10.0)
    assert time.monotonic() - started < 5.0
    assert running_jobs() == 0
    qtbot.waitUntil(lambda: not slot.busy, timeout=5000)


def test_waiting_for_every_job_does_not_wait_for_a_drain(qtbot):
    control = RunControl(frame_interval=None)

    def flood():
        while not control.stop_requested:
            yield attack_step(1)

    job = Job(flood())
    job.start()
    block_gui_thread(0.5)  # the mailbox fills and the worker waits for room
    control.stop()
    assert wait_for_jobs(10.0)


def test_every_kind_of_frame_is_recognised_and_dropped_with_its_companions():
    from engine.experiments import DatasetProgress
    from engine.playground.mlp import TrainStep
    from engine.visualize.steps import VisStep

    picture = np.zeros((1, 3, 4, 4), dtype=np.float32)
    vis = without_arrays(VisStep(2, 5, score=np.array([1.0]), images=picture, values=np.array([0.5])))
    assert vis.images is None and vis.values is None and vis.score.tolist() == [1.0]
    train = without_arrays(TrainStep(2, 5, loss=0.1, accuracy=0.9, grid=np.zeros((8, 8))))
    assert train.grid is None and train.loss == 0.1
    progress = without_arrays(DatasetProgress(3, 10, 1, step=attack_step(7)))
    assert progress.step.frame is None and progress.step.iteration == 7 and progress.done == 3
    assert not carries_arrays(progress) and carries_arrays(attack_step(1)) and not carries_arrays((1, 2))


def test_a_frame_of_changed_cells_takes_in_the_older_frame_it_replaces():
    """Fooling frames carry only the cells changed since the previous frame: when the GUI falls behind and an
    older frame is dropped, its cells must travel with the newer one, or the grid would keep stale images."""
    from engine.fooling.evolution import FoolingStep
    from gui.jobs import _Mailbox

    def frame(generation, cells, value):
        images = np.full((len(cells), 1, 2, 2), value, dtype=np.float32)
        return FoolingStep(generation, 9, np.zeros(4), 0.0, 0.0, 1.0, len(cells), images, np.array(cells))

    box = _Mailbox()
    for step in (frame(0, [0, 1, 2, 3], 0.1), frame(1, [2], 0.2), frame(2, [1, 2], 0.3)):
        box.put_step(step, threading.Event())
    steps = [value for kind, value in box.take_all()]
    assert [s.images is None for s in steps] == [True, True, False]  # one frame delivered
    last = steps[-1]
    by_cell = {int(c): round(float(image.max()), 3) for c, image in zip(last.cells, last.images)}
    assert by_cell == {0: 0.1, 1: 0.3, 2: 0.3, 3: 0.1}  # every cell, the newest image of each
    assert steps[0].cells is None and steps[0].generation == 0  # the dropped frames keep their numbers
