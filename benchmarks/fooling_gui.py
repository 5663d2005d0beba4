"""Whether drawing the archive slows the evolution: the same fooling run (the built-in model, all 10 digits)
timed in the Fooling tab (the job bridge, the grid and the curves redrawn on every frame) and in the engine
alone (no frames), alternating in one run; the ratio of medians is what the window costs the run.

Run with `python benchmarks/fooling_gui.py [--encoding direct] [--generations 60] [--repeats 3]`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def engine_seconds(model, method: str, params: dict) -> float:
    from engine.core.run import run_to_end
    from engine.fooling.runs import fooling_run

    started = time.perf_counter()
    run_to_end(fooling_run(model, method, range(10), params))
    return time.perf_counter() - started


def window_seconds(app, workspace, method: str, params: dict) -> tuple[float, int]:
    """Seconds from Run to the result in the window, and the frames the grid drew."""
    frames = []
    drawn = workspace.grid.show_images

    def counting(*args, **kwargs):
        frames.append(1)
        return drawn(*args, **kwargs)

    workspace.grid.show_images = counting
    workspace.controls.choose_method(method)
    workspace.controls.fill(params)
    started = time.perf_counter()
    if not workspace.run():
        raise SystemExit("the Fooling tab refused to start")
    while workspace.busy:
        app.processEvents()
        time.sleep(0.001)
    seconds = time.perf_counter() - started
    workspace.grid.show_images = drawn
    return seconds, len(frames)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoding", default="direct")
    parser.add_argument("--generations", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from gui.session import Session
    from gui.workspaces.fooling import FoolingWorkspace

    app = QApplication.instance() or QApplication([])
    session = Session()
    session.load_model("mnist-cnn", "cpu")
    while session.busy:
        app.processEvents()
    workspace = FoolingWorkspace(session)
    workspace.resize(1280, 800)
    workspace.show()
    params = {"generations": args.generations}
    windowed, alone, frames = [], [], []
    for _ in range(args.repeats):
        seconds, drawn = window_seconds(app, workspace, args.encoding, params)
        windowed.append(seconds)
        frames.append(drawn)
        alone.append(engine_seconds(session.model, args.encoding, params))
    workspace.shutdown()
    ratio = statistics.median(windowed) / statistics.median(alone)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.encoding}, {args.generations} generations of 200, "
          f"{args.repeats} alternating repeats")
    print(f"in the window {statistics.median(windowed):.2f} s ({statistics.median(frames):.0f} frames drawn), "
          f"engine alone {statistics.median(alone):.2f} s: ratio {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
