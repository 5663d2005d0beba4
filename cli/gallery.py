"""`gallery`: a targeted universal image for every class, resumable and shared between runs on one folder."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import announce_stop, note_program, parse_params, read_images

def command_gallery(args) -> int:
    from tqdm import tqdm

    from engine.attacks import get_attack
    from engine.attacks.base import RunControl
    from engine.core.files import check_output_dir
    from engine.core.run import run_to_end
    from engine.core.signals import exit_status, stop_on_signals
    from engine.models import load_model
    from engine.core.classes import parse_classes
    from engine.universal.gallery import export_gallery, gallery_steps

    check_output_dir(args.out, "--out")  # before the slow model load (the folder is shared: see gallery_steps)
    spec = get_attack("targeted-universal")
    spec.resolve(parse_params(args.param), "imagenet")  # validate before the slow model load
    model = load_model(args.model, args.device, args.arch, trust_code=args.trust_model_code)
    note_program(model)
    params = spec.resolve(parse_params(args.param), model.domain)
    classes = parse_classes(args.classes, model.num_classes)
    batch = read_images(args.images, model)
    total = len(classes) if classes else model.num_classes
    control = RunControl(frame_interval=None)
    with tqdm(total=total, desc=f"gallery of {model.name}", unit="class", disable=None) as bar, \
            stop_on_signals(control, announce_stop) as received:
        def show(progress):
            if progress.note:  # damaged class files computed again, another gallery on the same folder, ...
                tqdm.write(progress.note)
            bar.update(progress.done - bar.n)
            if progress.step is not None:
                bar.set_postfix({"class": progress.class_index, "step": progress.step.iteration}, refresh=False)
        entries = run_to_end(gallery_steps(model, batch.images, args.out, classes, params, control), show)
        files = export_gallery(entries, args.out, example=batch.images[0].numpy())
    rates = [entry.target_rate for entry in entries.values()]
    print(f"{len(entries)} classes, mean target rate {sum(rates) / max(1, len(rates)):.1%}; wrote {len(files)} "
          f"files, open {Path(args.out) / 'index.html'}")
    if received:
        print(f"advlens: stopped by {received[0]}: {len(entries)} of {total} classes are finished and kept; run "
              "the same command again to compute the rest", file=sys.stderr)
        return exit_status(received[0])
    return 0
