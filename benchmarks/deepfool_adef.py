"""DeepFool against foolbox's L2DeepFoolAttack (steps 50, candidates 10, overshoot 0.02) on the same images, and
batched ADef against ADef one image at a time, each pair measured in this one run.

    python benchmarks/deepfool_adef.py            (needs `pip install -r benchmarks/requirements.txt`)

Each pair alternates twice and keeps each side's fastest run. Reported: success rate, median L2, seconds, and the
time ratio (ours / theirs; the bar is at most 0.5), for the
built-in model's correctly classified held-out digits and for resnet18 (random weights) on the 8 photographs;
then batched ADef over 256 digits against the same digits one by one (the bar is at least 3x faster).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from engine.attacks import get_attack, run_to_end  # noqa: E402
from engine.data import heldout_digits, sample_photographs  # noqa: E402
from engine.models import load_model  # noqa: E402


ROUNDS = 2


def ours(model, images):
    spec = get_attack("deepfool")
    started = time.perf_counter()
    result = run_to_end(spec.fn(model, images, **spec.resolve({"norm": "2", "max_iter": 50, "candidates": 10,
                                                                "overshoot": 0.02}, model.domain)))
    return result.adversarial, time.perf_counter() - started


def foolbox_deepfool(model, images, labels):
    import foolbox as fb

    fmodel = fb.PyTorchModel(model.module, bounds=(0, 1), device=model.device)
    attack = fb.attacks.L2DeepFoolAttack(steps=50, candidates=10, overshoot=0.02)
    started = time.perf_counter()
    _, adversarial, _ = attack(fmodel, images, labels, epsilons=None)
    return adversarial, time.perf_counter() - started


def report(name, model, images, labels, adversarial, seconds):
    fooled = model.predict(adversarial)[1].ne(labels.cpu())
    l2 = (adversarial - images).flatten(1).norm(dim=1).cpu()
    print(f"  {name:<10} success {fooled.float().mean():7.2%}  median L2 {l2[fooled].median():.4f}  "
          f"{seconds:7.2f} s")
    return seconds, float(l2[fooled].median())


def compare_deepfool(title, model, images):
    labels = model.predict(images)[1].to(model.device)
    images = images.to(model.device)
    print(f"{title}: {len(images)} images")
    # Alternate twice and keep each side's faster run: a shared machine's load then hurts neither side alone.
    runs = [(ours(model, images), foolbox_deepfool(model, images, labels)) for _ in range(ROUNDS)]
    mine = report("AdvLens", model, images, labels, *min((r[0] for r in runs), key=lambda run: run[1]))
    theirs = report("foolbox", model, images, labels, *min((r[1] for r in runs), key=lambda run: run[1]))
    print(f"  time ratio AdvLens / foolbox {mine[0] / theirs[0]:.3f} (bar <= 0.5); median L2 ratio "
          f"{mine[1] / theirs[1]:.4f} (bar <= 1)")


def compare_adef_batching(model, images):
    spec = get_attack("adef")
    params = spec.resolve({"preset": "mnist"}, model.domain)
    started = time.perf_counter()
    run_to_end(spec.fn(model, images, **params))
    batched = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(len(images)):
        run_to_end(spec.fn(model, images[i:i + 1], **params))
    single = time.perf_counter() - started
    print(f"ADef (MNIST preset) on {len(images)} digits: batched {batched:.2f} s, one at a time {single:.2f} s, "
          f"speed-up {single / batched:.1f}x (bar >= 3x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-imagenet", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    digits_model = load_model("mnist-cnn", "cpu")
    digits = heldout_digits(digits_model)
    correct = digits_model.predict(digits.images)[1] == digits.labels
    compare_deepfool("DeepFool L2, built-in MNIST CNN, correctly classified held-out digits", digits_model,
                     digits.images[correct])
    if not args.skip_imagenet:
        resnet = load_model("resnet18:random", "cpu")
        compare_deepfool("DeepFool L2, resnet18 (random weights), sample photographs", resnet,
                         sample_photographs(resnet).images)
    compare_adef_batching(digits_model, digits.images[correct][:256])
    return 0


if __name__ == "__main__":
    sys.exit(main())
