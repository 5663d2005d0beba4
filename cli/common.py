"""What several commands share: parameters and targets as typed, images with notes for what was skipped, and
the lines said when a model file is a program or a run was stopped by a signal."""
from __future__ import annotations

import sys

def parse_params(pairs: list[str]) -> dict[str, str]:
    from engine.core.errors import ParameterError

    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--param expects NAME=VALUE, got {pair!r}")
        params[name.strip()] = value.strip()
    return params


def parse_target(text: str | None, class_names) -> int | None:
    from engine.core.errors import ParameterError

    if text is None:
        return None
    if text.strip().lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < len(class_names):
            raise ParameterError(f"target {index} is not a class index in 0..{len(class_names) - 1}")
        return index
    matches = [i for i, name in enumerate(class_names) if name.lower() == text.strip().lower()]
    if not matches:
        raise ParameterError(f"target {text!r} is not a class name of this model")
    return matches[0]


def note_program(model) -> None:
    """Say on stderr that a TorchScript or torch.export file is a program that runs when the model is called."""
    if model.warning:
        print(f"note: {model.warning}", file=sys.stderr)


def read_images(sources: list[str], model):
    """`samples` or files, folders and arrays, with a note for each image skipped."""
    from engine.data import load_images, sample_images

    if sources == ["samples"]:
        batch = sample_images(model, count=None) if model.domain == "mnist" else sample_images(model)
    else:
        batch = load_images(sources, model)
    for reason in batch.skipped:
        print(f"advlens: skipped {reason}", file=sys.stderr)
    return batch


def announce_stop(signal_name: str) -> None:
    from tqdm import tqdm
    tqdm.write(f"advlens: {signal_name}: stopping after the current step and writing what was reached "
               "(send it again to quit at once)", file=sys.stderr)


def report_stopped(signal_name: str, reached: int, total: int, written: str | None) -> int:
    """One line for a run ended by a signal; the exit status says it was (128 + signal number)."""
    from engine.core.signals import exit_status

    what = f"the partial result (marked stopped) is in {written}" if written else "nothing was written (--no-partial)"
    print(f"advlens: stopped by {signal_name} after {reached} of {total} images; {what}", file=sys.stderr)
    return exit_status(signal_name)
