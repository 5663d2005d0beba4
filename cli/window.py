"""`gui` and `screenshot`: the window, shown or rendered offscreen."""
from __future__ import annotations

import os
import sys

MIN_SIDE, MAX_SIDE = 200, 8192  # pixels: a window side that can be rendered offscreen


def command_gui(args) -> int:
    from gui.launch import run  # PySide6 only: the window shows before PyTorch loads
    return run(sys.argv[:1])


def parse_size(text: str) -> tuple[int, int]:
    """"1024x640" -> (1024, 640); ParameterError naming --size for anything else."""
    from engine.core.errors import ParameterError

    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit()) or not (MIN_SIDE <= int(width) <= MAX_SIDE
                                                          and MIN_SIDE <= int(height) <= MAX_SIDE):
        raise ParameterError(f"--size: {text!r} is not WIDTHxHEIGHT in pixels between {MIN_SIDE} and {MAX_SIDE}, "
                             "e.g. 1024x640")
    return int(width), int(height)


def command_screenshot(args) -> int:
    from engine.core.files import check_output_file

    size = parse_size(args.size) if args.size else None
    check_output_file(args.out, "screenshot")  # before the window is built and the attack run
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui.app import SCREENSHOT_SIZE, render_screenshot
    render_screenshot(args.out, attack=args.attack, model=args.model, workspace=args.workspace,
                      size=size or SCREENSHOT_SIZE)
    print(f"wrote {args.out}")
    return 0
