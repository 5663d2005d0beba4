"""`robustness` and `transfer`: several models compared on the same labelled images."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import note_program, parse_params, read_images


def load_models(args) -> list:
    from engine.models import load_model

    models = []
    for name in args.models:
        model = load_model(name, args.device, trust_code=args.trust_model_code)
        note_program(model)
        models.append(model)
    return models


def labelled_images(args, model):
    from engine.core.errors import ParameterError
    from engine.training.comparisons import labelled_folder

    if len(args.images) == 1 and Path(args.images[0]).is_dir():  # one subfolder per class: the true labels
        batch = labelled_folder(args.images[0], model)
        for reason in batch.skipped:
            print(f"advlens: skipped {reason}", file=sys.stderr)
    else:
        batch = read_images(args.images, model)
    if batch.labels is None:
        raise ParameterError("--images: these images have no true labels; use `samples` (the held-out digits)")
    if args.count is not None:
        if args.count < 1:
            raise ParameterError("--count must be at least 1")
        batch = batch.select(range(min(args.count, len(batch))))
    return batch


def compare(args, what: str, computation, models=None):
    """Load the models (unless given) and the labelled images, then run `computation(models, images)` with a
    progress bar."""
    from tqdm import tqdm

    from engine.core.run import run_to_end

    models = load_models(args) if models is None else models
    images = labelled_images(args, models[0])
    with tqdm(total=len(models), desc=what, unit="model", disable=None) as bar:
        def show(progress):
            bar.update(progress.done - bar.n)
            bar.set_postfix(model=progress.model, attack=progress.attack, refresh=False)
        return run_to_end(computation(models, images), show)


def command_robustness(args) -> int:
    from engine.core.files import check_output_dir, sole_writer

    check_output_dir(args.out, "--out")
    attack_params = grouped_params(parse_params(args.param))
    with sole_writer(args.out, "--out", folder=True):
        from engine.training.comparisons import export_robustness, robustness_table

        rows = compare(args, "robustness", lambda models, images: robustness_table(models, images, attack_params))
        files = export_robustness(rows, args.out)
    for row in rows:
        rates = ", ".join(f"{name} {rate:.1%}" for name, rate in row.success.items())
        print(f"{row.model} ({row.defense}): accuracy {row.accuracy:.1%}; success {rates}")
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def grouped_params(given: dict[str, str]) -> dict[str, dict[str, str]]:
    """`--param pgd.eps=0.2` -> {"pgd": {"eps": "0.2"}}: each attack of the table has its own parameters."""
    from engine.core.errors import ParameterError
    from engine.training.comparisons import ROBUSTNESS_ATTACKS

    grouped: dict[str, dict[str, str]] = {}
    for key, value in given.items():
        attack, dot, name = key.partition(".")
        if not dot or attack not in ROBUSTNESS_ATTACKS:
            raise ParameterError(f"--param {key}: name the attack first, e.g. pgd.eps=0.3 (attacks: "
                                 f"{', '.join(ROBUSTNESS_ATTACKS)})")
        grouped.setdefault(attack, {})[name] = value
    return grouped


def command_transfer(args) -> int:
    from engine.core.errors import ParameterError
    from engine.core.files import check_output_dir, sole_writer

    check_output_dir(args.out, "--out")
    attack_params, half_params = transfer_params(args)  # all checked before the models load
    if not args.models and not args.cross_halves:
        raise ParameterError("--models: name the models to compare, or train two with --cross-halves ARCH")
    with sole_writer(args.out, "--out", folder=True):
        from engine.training.comparisons import export_transfer, transfer_matrix

        models = load_models(args)
        if args.cross_halves:
            models += trained_halves(args, models, half_params)
        matrix = compare(args, "transfer", lambda models, images: transfer_matrix(
            models, images, args.attack, attack_params), models)
        files = export_transfer(matrix, args.out)
    width = max(len(name) for name in matrix.sources)
    print(f"label-flip rate of {args.attack} images (rows: made on, columns: shown to {', '.join(matrix.targets)})")
    for source, row in zip(matrix.sources, matrix.flip_rate):
        print(f"  {source:<{width}}  " + "  ".join(f"{value:6.1%}" for value in row))
    print(f"wrote {', '.join(str(Path(f)) for f in files)}")
    return 0


def transfer_params(args) -> tuple[dict[str, str], tuple[dict, dict] | None]:
    """`--param` values routed to the attack, or (with --cross-halves) to the training of the halves when the
    attack does not declare them; each set validated."""
    from engine.attacks import get_attack
    from engine.training.halves import half_settings

    spec = get_attack(args.attack)
    given = parse_params(args.param)
    attack = {name: value for name, value in given.items() if not args.cross_halves or name in
              {param.name for param in spec.params}}
    spec.resolve(attack, "imagenet")
    if not args.cross_halves:
        return attack, None
    return attack, half_settings(args.cross_halves, {k: v for k, v in given.items() if k not in attack})


def trained_halves(args, models, settings: tuple[dict, dict]) -> list:
    """The architecture trained on each half of the training digits, with a progress bar over both."""
    from tqdm import tqdm

    from engine.core.run import run_to_end
    from engine.models import check_device, default_device
    from engine.training.halves import check_fits_halves, train_halves

    check_fits_halves(models)  # before the training, not after it
    training, arch_options = settings
    device = check_device(args.device or default_device())
    epochs = training["epochs"]
    with tqdm(total=2 * epochs, desc=f"{args.cross_halves} on two halves", unit="epoch", disable=None) as bar:
        def show(progress):
            if progress.step.record is not None:
                bar.update(1)
                tqdm.write(f"half {progress.half + 1}, {progress.step.record.describe()}")
        halves = run_to_end(train_halves(args.cross_halves, training, arch_options, device), show)
    return halves
