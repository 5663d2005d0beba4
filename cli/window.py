"""`gui` and `screenshot`: the window, shown or rendered offscreen."""
from __future__ import annotations

import os
import sys

def command_gui(args) -> int:
    from gui.launch import run  # PySide6 only: the window shows before PyTorch loads
    return run(sys.argv[:1])


def command_screenshot(args) -> int:
    from engine.core.files import check_output_file

    check_output_file(args.out, "screenshot")  # before the window is built and the attack run
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui.app import render_screenshot
    render_screenshot(args.out, attack=args.attack, model=args.model, workspace=args.workspace)
    print(f"wrote {args.out}")
    return 0
