"""Images per second of the universal-perturbation loops, as a ratio to a bare forward+backward loop over the
same batches on the same network, measured in this one run.

    python benchmarks/universal.py [--model mnist-cnn|resnet18:random]

Measured: UAP with gradient steps (`method=sgd`), UAP with the paper's DeepFool steps, and the targeted universal
image loop (Adam, with and without the augmentations). The bare loop does what the loops cannot avoid: one
forward and one backward pass of a batch of the same size. Each side alternates with the bare loop twice and
keeps its fastest run, so a shared machine's load hurts neither side alone. A ratio near 1 means the loop's own
bookkeeping (projection, sampling, augmentation, rates after each pass) costs little; DeepFool needs several
backward passes per image by design, so its ratio is far below 1.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from engine.attacks import get_attack, run_to_end  # noqa: E402
from engine.data import heldout_digits, sample_photographs  # noqa: E402
from engine.models import load_model  # noqa: E402

ROUNDS = 2


def bare_loop(model, images, batch_size, batches):
    """Forward + backward of `batches` batches, the floor any gradient-based loop pays: images per second."""
    labels = model.predict(images)[1].to(model.device)
    started = time.perf_counter()
    for index in range(batches):
        chosen = torch.arange(index * batch_size, (index + 1) * batch_size) % len(images)
        x = images[chosen].clone().requires_grad_(True)
        loss = F.cross_entropy(model(x), labels[chosen])
        torch.autograd.grad(loss, x)
    return batches * batch_size / (time.perf_counter() - started)


def timed(name, model, images, params, batch_size, **given):
    """Images per second of one engine run: images seen by the loop divided by its wall time."""
    spec = get_attack(name)
    resolved = spec.resolve({**params, "batch_size": batch_size}, model.domain)
    started = time.perf_counter()
    result = run_to_end(spec.fn(model, images, **resolved, **given))
    seconds = time.perf_counter() - started
    seen = len(images) * len(result.extras["fooling_rates"]) if name == "uap" else \
        batch_size * int(result.steps_used[0])
    return seen / seconds


def measure(title, model, images, batch_size, run):
    best, bare = 0.0, 0.0
    for _ in range(ROUNDS):
        ours = run()
        batches = max(2, int(ours * 2 // batch_size))  # about two seconds of the bare loop
        bare = max(bare, bare_loop(model, images, batch_size, batches))
        best = max(best, ours)
    print(f"  {title:<44} {best:9.1f} images/s   bare fwd+bwd {bare:9.1f} images/s   ratio {best / bare:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-cnn")
    args = parser.parse_args()
    model = load_model(args.model)
    if model.domain == "mnist":
        images, batch_size, uap, targeted = heldout_digits(model).images[:500], 50, {"xi": 0.3, "passes": 10}, \
            {"eps": 0.3, "steps": 100}
    else:
        images, batch_size, uap, targeted = sample_photographs(model).images, 8, {"xi": 10 / 255, "passes": 5}, \
            {"eps": 10 / 255, "steps": 10}
    images = images.to(model.device)
    print(f"{model.name}: {len(images)} images of {tuple(images.shape[1:])}, batch {batch_size}, "
          f"{torch.get_num_threads()} threads")
    no_stop = {"delta": 0.0}  # every pass runs, whatever the fooling rate
    measure("UAP, gradient steps (method=sgd)", model, images, batch_size,
            lambda: timed("uap", model, images, {**uap, **no_stop, "method": "sgd"}, batch_size))
    measure("UAP, DeepFool steps (the paper)", model, images, batch_size,
            lambda: timed("uap", model, images, {**uap, **no_stop, "method": "deepfool", "passes": 1},
                          batch_size))
    plain = {"flip": False, "blur": False, "crop": False}
    measure("targeted universal image, no augmentation", model, images, batch_size,
            lambda: timed("targeted-universal", model, images, {**targeted, **plain}, batch_size, target=1))
    measure("targeted universal image, flip+blur+crop", model, images, batch_size,
            lambda: timed("targeted-universal", model, images, {**targeted, "flip": True, "blur": True,
                                                                "crop": True}, batch_size, target=1))


if __name__ == "__main__":
    main()
