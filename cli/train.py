"""`train-default` (the built-in model) and `train` (any architecture, with a defense, on the shipped digits or an
image folder; saved as .pt, .ts or .pt2; a saved .pt run continued with --resume)."""
from __future__ import annotations

import sys
import time

from .common import announce_stop, parse_params

ARCH_HINT = "mnist-cnn, madry-cnn, mlp, repu, or a torchvision network such as resnet18 (see `list`)"


def command_train_default(args) -> int:
    from engine.builtin_mnist import main_train
    main_train(**({"epochs": args.epochs} if args.epochs else {}))
    return 0


def command_train(args) -> int:
    from engine.core.files import check_output_file, sole_writer
    from engine.training.saving import save_format, saved_run

    check_output_file(args.out, "--out")  # before the work
    save_format(args.out)
    saved = saved_run(args.resume) if args.resume else None
    arch, defense, data = chosen_run(args, saved)
    settings = split_train_params(arch, defense, parse_params(args.param), folder=data != "samples",
                                  resuming=saved is not None)  # validated here too
    epochs = continued_epochs(saved, settings[0]) if saved else None
    with sole_writer(args.out, "--out"):
        return train_and_save(args, arch, defense, data, saved, epochs, *settings)


def chosen_run(args, saved) -> tuple[str, str, str]:
    """The architecture, defense and data: as given, or when continuing as saved (a given one must match)."""
    from engine.core.errors import ModelError, ParameterError

    if saved is None:
        if not args.arch:
            raise ParameterError(f"--arch is required: {ARCH_HINT}")
        return args.arch, args.defense or "none", args.data or "samples"
    for flag, given, was in (("--arch", args.arch, saved.arch), ("--defense", args.defense, saved.defense)):
        if given is not None and given != was:
            raise ModelError(f"{saved.path.name} was trained with {flag} {was}, not {given}; leave {flag} out to "
                             "continue it")
    data = args.data or saved.data_recipe.get("data")
    if data is None:
        raise ParameterError(f"{saved.path.name} does not record the data it was trained on; give it with --data")
    return saved.arch, saved.defense, data


def split_train_params(arch: str, defense: str, given: dict[str, str], folder: bool = False,
                       resuming: bool = False) -> tuple[dict, dict, dict, dict]:
    """`--param` values routed to the training, the architecture, the defense or the image folder, whichever
    declares them. A continued run keeps its settings: only `epochs` may be given."""
    from engine.architectures import get_architecture
    from engine.core.errors import ParameterError
    from engine.training import DEFENSES, FOLDER, TRAINING, defense_params

    defense_params(defense)  # an unknown defense says so
    sets = (TRAINING, get_architecture(arch).options, DEFENSES[defense], FOLDER)
    routed: tuple[dict, dict, dict, dict] = ({}, {}, {}, {})
    for name, value in given.items():
        owners = [index for index, params in enumerate(sets) if name in params.names]
        if not owners:
            known = ", ".join(n for params in sets for n in params.names)
            raise ParameterError(f"unknown parameter {name!r} for training {arch} with defense {defense}; the "
                                 f"parameters are {known}")
        if resuming and name != "epochs":
            raise ParameterError(f"--resume continues with the run's saved settings; only epochs can be given, "
                                 f"not {name}")
        if owners[0] == 3 and not folder:
            raise ParameterError(f"{name} is an option of image folders (--data DIR), not of the shipped digits")
        routed[owners[0]][name] = value
    for params, values in zip(sets, routed):
        params.resolve(values)
    return routed


def train_and_save(args, arch: str, defense: str, data_source: str, saved, continued: int | None, training: dict,
                   arch_options: dict, defense_options: dict, folder_options: dict) -> int:
    from tqdm import tqdm

    from engine.attacks.base import RunControl
    from engine.core.run import run_to_end
    from engine.core.signals import exit_status, stop_on_signals
    from engine.models import check_device, default_device
    from engine.training import data_of_recipe, new_trainer, train_steps, training_data
    from engine.training.saving import check_savable, continue_trainer, save_trained

    device = check_device(args.device or default_device())
    if saved is None:
        data = training_data(data_source, folder_options)
        trainer = new_trainer(arch, data, training, arch_options, defense, defense_options, device)
    else:
        data = data_of_recipe(saved.data_recipe, args.data)
        trainer = continue_trainer(saved, data, device)
        trainer.params["epochs"] = continued
        print(f"continuing {saved.path.name}: {reached(trainer)} done, up to {continued} epochs", file=sys.stderr)
    for note in data.notes:
        print(f"advlens: {note}", file=sys.stderr)
    check_savable(trainer, args.out)  # a network that cannot be written as asked says so before the training
    control, started = RunControl(frame_interval=None), time.perf_counter()
    epochs = trainer.params["epochs"]
    with tqdm(total=epochs, initial=trainer.epochs_done, desc=f"{arch} ({defense})", unit="epoch",
              disable=None) as bar, stop_on_signals(control, announce_stop) as received:
        def show(progress):
            if progress.record is not None:
                bar.update(1)
                tqdm.write(progress.record.describe())
            else:
                bar.set_postfix(batch=f"{progress.batch}/{progress.batches}", loss=f"{progress.loss:.3f}",
                                refresh=False)
        run_to_end(train_steps(trainer, data, control=control), show)
        model_file, sidecar = save_trained(trainer, args.out)
    print(summary(trainer, epochs, time.perf_counter() - started, model_file, sidecar))
    if received:
        print(f"advlens: stopped by {received[0]} after {reached(trainer)}; the weights reached are saved"
              + (f" (continue with --resume {model_file})" if model_file.suffix in (".pt", ".pth") else ""),
              file=sys.stderr)
        return exit_status(received[0])
    return 0


def continued_epochs(saved, training: dict) -> int:
    """The epochs a continued run trains up to: --param epochs, else its saved setting; more than it has done."""
    from engine.core.errors import ParameterError
    from engine.training import TRAINING

    planned = int((saved.training.get("params") or {}).get("epochs", 0))
    epochs = TRAINING.param("epochs").parse(training["epochs"]) if "epochs" in training else planned
    done = int(saved.state.get("epochs_done", 0))
    if epochs <= done:
        raise ParameterError(f"{saved.path.name} has done {done} of its {planned} epochs; give --param epochs=N "
                             f"with N above {done} to train it on")
    return epochs


def reached(trainer) -> str:
    batches = f" and {trainer.partial.batches_done} batches of epoch {trainer.epochs_done + 1}" \
        if trainer.partial is not None and trainer.partial.batches_done else ""
    done = trainer.epochs_done
    return f"{done} epoch{'' if done == 1 else 's'}{batches}"


def summary(trainer, epochs: int, seconds: float, model_file, sidecar) -> str:
    last = trainer.history[-1] if trainer.history else None
    accuracy = f"; held-out accuracy {last.clean_accuracy:.1%}" if last else ""
    return (f"{trainer.epochs_done} of {epochs} epochs in {seconds:.0f} s{accuracy}; wrote {model_file} and "
            f"{sidecar.name} (load it with --model {model_file})")
