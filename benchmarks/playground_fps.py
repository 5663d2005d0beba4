"""Frames per second of the Playground's plane while it trains, for a 200x200 probability grid (target: at least
20). One frame is the full path a training frame takes: the MLP's forward pass on the 40,000 grid points, the
probability turned into the shaded image and the p = 0.5 line, and pyqtgraph repainting the view (offscreen). One
training step runs between frames, as in the app (where it runs in a worker thread, in parallel with the paint).

Run with `make bench`, or `python benchmarks/playground_fps.py [--frames N]`. Torch keeps its default thread
count, as in the app; the load average is printed because the figure depends on what else the CPU is doing.
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

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

TARGET_FPS = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--hidden", default="32, 32", help="hidden layer widths of the MLP (the app's default)")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from engine.playground import (RESOLUTION, MlpConfig, build_model, parse_hidden, preset, probability_grid,
                                   sample_points)
    from engine.playground.mlp import as_images
    from gui.shell import configure_pyqtgraph
    from gui.workspaces.playground.plane import PlaneView

    app = QApplication.instance() or QApplication([])
    configure_pyqtgraph()
    plane = PlaneView()
    plane.resize(760, 760)
    plane.show()
    regions = preset("odd shapes (the post)")
    points = sample_points(regions, 8)
    plane.show_region_outlines(regions)
    plane.show_points(points, -1)
    model = build_model(MlpConfig(hidden=parse_hidden(args.hidden)))
    optimiser = torch.optim.Adam(model.module.parameters(), lr=0.01)
    x, labels = as_images(points.xy), torch.as_tensor(points.labels)

    def training_step():
        loss = F.cross_entropy(model(x), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    timings = {"training step": [], "forward on the grid": [], "image + boundary": [], "repaint": [], "frame": []}
    for frame in range(args.frames + 5):
        started = time.perf_counter()
        training_step()
        stepped = time.perf_counter()
        grid = probability_grid(model, RESOLUTION)
        evaluated = time.perf_counter()
        plane.show_probability(grid)
        updated = time.perf_counter()
        app.processEvents()
        plane.viewport().repaint()
        painted = time.perf_counter()
        if frame >= 5:  # the first frames warm up allocators and caches
            for name, value in (("training step", stepped - started), ("forward on the grid", evaluated - stepped),
                                ("image + boundary", updated - evaluated), ("repaint", painted - updated),
                                ("frame", painted - started)):
                timings[name].append(value)

    median_frame = statistics.median(timings["frame"])
    fps = 1 / median_frame
    print(f"grid {RESOLUTION}x{RESOLUTION}, MLP 2-{args.hidden.replace(' ', '')}-2, {args.frames} frames, "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for name, values in timings.items():
        print(f"  {name:20s} median {1000 * statistics.median(values):6.1f} ms")
    verdict = "meets" if fps >= TARGET_FPS else "MISSES"
    print(f"{fps:.1f} frames per second (median frame {1000 * median_frame:.1f} ms): {verdict} the target of "
          f"{TARGET_FPS}")
    return 0  # a measurement, not a test: `make bench` runs the other benchmarks whatever this one says


if __name__ == "__main__":
    sys.exit(main())
