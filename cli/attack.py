"""`run` and `stats`: an attack over images, written as OUT.npz (and an export folder) or as the papers'
table."""
from __future__ import annotations

import time
from pathlib import Path

from .common import announce_stop, note_program, parse_params, parse_target, read_images, report_stopped

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
