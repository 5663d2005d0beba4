"""`fool`: fooling ("rubbish") images for chosen classes by MAP-Elites evolution (direct or CPPN encoding) or
gradient ascent, with a progress bar; Ctrl-C stops after the current generation and writes the archive reached,
which `--resume` continues."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import announce_stop, note_program, parse_params


def command_fool(args) -> int:
    from tqdm import tqdm

    from engine.core.classes import parse_classes
    from engine.core.control import RunControl
    from engine.core.files import check_output_dir, sole_writer
    from engine.core.run import run_to_end
    from engine.core.signals import exit_status, stop_on_signals
    from engine.fooling.export import export_fooling, second_opinion
    from engine.fooling.runs import fooling_run, load_archive, parameter_sets, resolved_params
    from engine.models import load_model

    check_output_dir(args.out, "--out")  # before the slow model load
    given = parse_params(args.param)
    parameter_sets(args.encoding)  # an unknown method says so before the model loads
    model = load_model(args.model, args.device, args.arch, trust_code=args.trust_model_code)
    note_program(model)
    params = resolved_params(args.encoding, model, given)
    classes = parse_classes(args.classes, model.num_classes) or list(range(model.num_classes))
    other = load_model(args.compare, args.device, trust_code=args.trust_model_code) if args.compare else None
    if other is not None and other.num_classes != model.num_classes:
        from engine.core.errors import ParameterError
        raise ParameterError(f"--compare: {other.name} has {other.num_classes} classes, {model.name} "
                             f"{model.num_classes}; the elites can only be shown to a model of the same classes")
    archive = load_archive(args.resume, args.encoding, model, given) if args.resume else None
    total = params.get("generations", params.get("steps"))
    control = RunControl(frame_interval=None)
    unit = "step" if args.encoding == "gradient" else "generation"
    with sole_writer(args.out, "--out", folder=True), \
            tqdm(total=total, initial=archive.generation if archive else 0, desc=f"{args.encoding} on {model.name}",
                 unit=unit, disable=None) as bar, stop_on_signals(control, announce_stop) as received:
        def show(step):
            bar.update(step.generation - bar.n)
            bar.set_postfix(best=f"{step.confidence.max():.4f}", median=f"{step.median:.4f}", refresh=False)
        result = run_to_end(fooling_run(model, args.encoding, classes, given, control, archive), show)
        opinion = second_opinion(other, result.archive.images, result.archive.classes) if other else None
        files = export_fooling(result, model.class_names, args.out, opinion, other.name if other else "")
    print(summary(result, opinion, len(files), Path(args.out)))
    if received:
        print(f"advlens: stopped by {received[0]} after {unit} {result.archive.generation} of {total}; the "
              f"archive reached is in {Path(args.out) / 'elites.npz'} (continue it with --resume)", file=sys.stderr)
        return exit_status(received[0])
    return 0


def summary(result, opinion, count: int, out: Path) -> str:
    import numpy as np

    confidence = result.archive.confidence.numpy()
    lines = [f"{len(confidence)} classes: {int((confidence >= 0.99).sum())} at >= 99%, "
             f"{int((confidence >= 0.9999).sum())} at >= 99.99%; mean {confidence.mean():.4f}, median "
             f"{float(np.median(confidence)):.4f}"]
    if opinion is not None:
        lines.append(f"the other model gives {int(opinion.agrees.sum())} of {len(opinion.agrees)} elites the same "
                     f"class ({opinion.share:.1%})")
    lines.append(f"wrote {count} files to {out} (contact_sheet.png, elites.npz, confidence.csv, elites.csv)")
    return "\n".join(lines)
