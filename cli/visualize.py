"""`visualize`: what a model learned, as PNG and .npy files."""
from __future__ import annotations

from pathlib import Path

from .common import note_program, parse_params, parse_target

def command_visualize(args) -> int:
    from engine.core.files import check_output_dir, sole_writer
    from engine.visualize.report import check_request

    check_output_dir(args.out, "--out")  # before the slow model load
    options = parse_params(args.param)
    if args.k is not None:
        options["k"] = args.k
    check_request(args.kind, args.layer, bool(args.images), options)  # before the model load
    with sole_writer(args.out, "--out", folder=True):
        return visualize_and_write(args, options)


def visualize_and_write(args, options) -> int:
    from tqdm import tqdm

    from engine.data import load_images, sample_images
    from engine.models import load_model
    from engine.visualize.report import NEEDS_IMAGES, Request, write_visualization

    model = load_model(args.model, args.device, args.arch, trust_code=args.trust_model_code)
    note_program(model)
    batch = None
    if args.kind in NEEDS_IMAGES:
        every_digit = args.kind == "patches" and model.domain == "mnist"  # patches want a dataset
        batch = sample_images(model, count=None if every_digit else 16) \
            if args.images == ["samples"] else load_images(args.images, model)
    request = Request(args.kind, model, Path(args.out), None if batch is None else batch.images,
                      batch.names if batch else (), args.layer, args.channel,
                      parse_target(args.target, model.class_names), options)
    with tqdm(desc=f"{args.kind} on {model.name}", disable=None) as bar:
        def show(step):
            bar.total = step.total
            bar.update(step.iteration - bar.n)
        files, summary = write_visualization(request, show)
    print(summary)
    print(f"wrote {len(files)} files to {args.out}")
    return 0
