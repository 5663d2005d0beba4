"""Time per PGD step while the GUI streams frames, as a ratio to a bare forward+backward loop on the same network
and batch (torchvision resnet18, random weights, batch 8 of the sample photographs at 224x224).

The bare loop runs three times per round: in a QThread, the kind of thread the job bridge (gui/jobs.py) runs
the GUI's computations in, so that the ratio isolates the cost of streaming itself (the target); in a Python
thread, as the bridge ran them before; and in the main thread, which also shows what running off the GUI
thread costs (torch measured 10-20% slower in any non-main thread on this 2-core machine, GUI or not).

Both are measured in this one run, alternating, so that the machine's load affects them alike; the figure is the
ratio of the medians. Run with `make bench` (offscreen). A step's time is the interval between consecutive steps
arriving in the GUI thread, so model loading and the run's first and last forward passes are not counted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def bare_step_times(model, images: torch.Tensor, labels: torch.Tensor, steps: int) -> list[float]:
    """What any PGD must do per step: one forward, one backward to the input, a signed update."""
    x = images.clone()
    times = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        x.requires_grad_(True)
        loss = F.cross_entropy(model(x), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
        x = (x.detach() + 2 / 255 * grad.sign()).clamp(0, 1)
        times.append(time.perf_counter() - started)
    return times[1:]  # the first step warms up allocator and kernels


def bare_step_times_in_thread(model, images: torch.Tensor, labels: torch.Tensor, steps: int) -> list[float]:
    times: list[float] = []
    worker = threading.Thread(target=lambda: times.extend(bare_step_times(model, images, labels, steps)))
    worker.start()
    worker.join()
    return times


def bare_step_times_in_qthread(model, images: torch.Tensor, labels: torch.Tensor, steps: int) -> list[float]:
    """The bare loop in a QThread whose run() touches Python objects only, as the bridge's jobs do."""
    from PySide6.QtCore import QThread

    times: list[float] = []

    class Bare(QThread):
        def run(self):
            times.extend(bare_step_times(model, images, labels, steps))

    worker = Bare()
    worker.start()
    while not worker.isFinished():
        time.sleep(0.01)  # releases the GIL, as the GUI thread's event loop does between events
    return times


def gui_step_times(window, steps: int) -> tuple[list[float], int]:
    """Run PGD from the window's own controls and time the steps as the GUI receives them."""
    from gui.app import wait_for

    arrivals, frames = [], [0]

    def on_step(step):
        arrivals.append(time.perf_counter())
        frames[0] += step.frame is not None

    window.run_model.stepped.connect(on_step)
    window.attack_panel.choose_attack("pgd")
    window.attack_panel.all_radio.setChecked(True)
    window.attack_panel.form.fill({"steps": steps})
    window.start_run()
    while window.run_model.busy:
        wait_for(window.run_model.busy_changed, 1200, "the attack to finish")
    window.run_model.stepped.disconnect(on_step)
    return [b - a for a, b in zip(arrivals, arrivals[1:])], frames[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="PGD steps per measured run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating bare / GUI rounds")
    args = parser.parse_args()

    from gui.app import SCREENSHOT_SIZE, application, wait_until_idle
    from gui.shell import MainWindow

    application()
    window = MainWindow()
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    window.session.load_model("resnet18:random", "cpu")
    wait_until_idle(window, 600)
    model, batch = window.session.model, window.session.batch
    images = batch.images[:8].to(model.device)
    labels = model.predict(images)[1].to(model.device)
    print(f"resnet18 (random weights), batch {len(images)} x {tuple(images.shape[1:])}, {args.steps} steps, "
          f"{args.rounds} rounds, torch threads {torch.get_num_threads()}")

    bare, bare_thread, bare_qthread, gui, frames = [], [], [], [], 0
    for round_ in range(args.rounds):
        bare += bare_step_times(model, images, labels, args.steps)
        bare_thread += bare_step_times_in_thread(model, images, labels, args.steps)
        bare_qthread += bare_step_times_in_qthread(model, images, labels, args.steps)
        times, shown = gui_step_times(window, args.steps)
        gui += times
        frames += shown
        print(f"  round {round_ + 1}: bare {statistics.median(bare):.3f} s/step (main thread), "
              f"{statistics.median(bare_thread):.3f} (Python thread), {statistics.median(bare_qthread):.3f} "
              f"(QThread), GUI {statistics.median(gui):.3f} s/step")
    window.close()
    gui_median, qthread_median, thread_median, main_median = map(statistics.median,
                                                                 (gui, bare_qthread, bare_thread, bare))
    print(f"PGD step with the GUI streaming ({frames} frames shown): {gui_median:.3f} s; bare forward+backward in a "
          f"QThread: {qthread_median:.3f} s, ratio {gui_median / qthread_median:.3f} (target <= 1.05); "
          f"in a Python thread: {thread_median:.3f} s, ratio {gui_median / thread_median:.3f}; "
          f"in the main thread: {main_median:.3f} s, ratio {gui_median / main_median:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
