"""`train-default` (the built-in model) and `train` (any architecture, with a defense)."""
from __future__ import annotations

import sys
import time

from .common import announce_stop, parse_params


def command_train_default(args) -> int:
    from engine.builtin_mnist import main_train
    main_train(**({"epochs": args.epochs} if args.epochs else {}))
    return 0


def command_train(args) -> int:
    from engine.core.files import check_output_file, sole_writer

    check_output_file(args.out, "--out")  # before the work
    settings = split_train_params(args.arch, args.defense, parse_params(args.param))  # validated here too
    if args.data != "samples":
        from engine.core.errors import ParameterError
        raise ParameterError(f"--data {args.data}: only `samples` (the shipped training digits) for now")
    with sole_writer(args.out, "--out"):
        return train_and_save(args, *settings)


def split_train_params(arch: str, defense: str, given: dict[str, str]) -> tuple[dict, dict, dict]:
    """`--param` values routed to the training, the architecture or the defense, whichever declares them."""
    from engine.architectures import get_architecture
    from engine.core.errors import ParameterError
    from engine.training import DEFENSES, TRAINING, defense_params

    defense_params(defense)  # an unknown defense says so
    sets = (TRAINING, get_architecture(arch).options, DEFENSES[defense])
    routed: tuple[dict, dict, dict] = ({}, {}, {})
    for name, value in given.items():
        owners = [index for index, params in enumerate(sets) if name in params.names]
        if not owners:
            known = ", ".join(n for params in sets for n in params.names)
            raise ParameterError(f"unknown parameter {name!r} for training {arch} with defense {defense}; the "
                                 f"parameters are {known}")
        routed[owners[0]][name] = value
    for params, values in zip(sets, routed):
        params.resolve(values)
    return routed


def train_and_save(args, training: dict, arch_options: dict, defense_options: dict) -> int:
    from tqdm import tqdm

    from engine.attacks.base import RunControl
    from engine.core.run import run_to_end
    from engine.core.signals import exit_status, stop_on_signals
    from engine.models import check_device, default_device
    from engine.training import new_trainer, train_steps, training_digits
    from engine.training.saving import save_trained

    data = training_digits()
    trainer = new_trainer(args.arch, data, training, arch_options, args.defense, defense_options,
                          check_device(args.device or default_device()))
    control, started = RunControl(frame_interval=None), time.perf_counter()
    epochs = trainer.params["epochs"]
    with tqdm(total=epochs, desc=f"{args.arch} ({args.defense})", unit="epoch", disable=None) as bar, \
            stop_on_signals(control, announce_stop) as received:
        def show(progress):
            if progress.record is not None:
                bar.update(1)
                tqdm.write(progress.record.describe())
            else:
                bar.set_postfix(batch=f"{progress.batch}/{progress.batches}", loss=f"{progress.loss:.3f}",
                                refresh=False)
        run_to_end(train_steps(trainer, data, control=control), show)
        model_file, sidecar = save_trained(trainer, args.out)
    last = trainer.history[-1] if trainer.history else None
    summary = f"; held-out accuracy {last.clean_accuracy:.1%}" if last else ""
    print(f"{trainer.epochs_done} of {epochs} epochs in {time.perf_counter() - started:.0f} s{summary}; wrote "
          f"{model_file} and {sidecar.name} (load it with --model {model_file})")
    if received:
        print(f"advlens: stopped by {received[0]} after {trainer.epochs_done} epochs; the weights reached are "
              f"saved", file=sys.stderr)
        return exit_status(received[0])
    return 0

