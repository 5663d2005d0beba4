"""AdvLens's command line: `main.py` hands its arguments here. Each command validates what it can before the
slow model load, prints one line per error (exit 2 for anything the input caused) and shows a traceback only
with --debug."""
from __future__ import annotations

import os
import sys

from .parser import build_parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from engine.core.errors import AdvLensError

    try:
        return _commands()[args.command or "gui"](args)
    except AdvLensError as exc:
        print(f"advlens: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("advlens: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `main.py list | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    except Exception as exc:  # one readable line, the traceback only on request
        if args.debug:
            raise
        print(f"advlens: unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        return 1


def _commands() -> dict:
    from .attack import command_run, command_stats
    from .compare import command_robustness, command_transfer
    from .fool import command_fool
    from .gallery import command_gallery
    from .listing import command_list
    from .train import command_train, command_train_default
    from .visualize import command_visualize
    from .window import command_gui, command_screenshot

    return {"gui": command_gui, "list": command_list, "run": command_run, "stats": command_stats,
            "screenshot": command_screenshot, "visualize": command_visualize,
            "train-default": command_train_default, "train": command_train, "gallery": command_gallery,
            "robustness": command_robustness, "transfer": command_transfer,
            "fool": command_fool}
