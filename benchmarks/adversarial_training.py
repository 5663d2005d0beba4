"""An adversarial-training epoch of the engine (`engine.training.train_steps`, PGD defense) against a bare loop
doing the same work on the same batches: the same PGD (same steps, step size, random start) written inline, then
the same optimizer step. Both run here, alternating, from the same initial weights; each keeps its fastest round.

    python benchmarks/adversarial_training.py [--images 1024] [--steps 40] [--rounds 2]

Reported: seconds per epoch of each and the ratio engine / bare loop (the bar is at most 1.1)."""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from engine.core.run import run_to_end  # noqa: E402
from engine.training import new_trainer, train_steps, training_digits  # noqa: E402


def subset(data, count):
    return type(data)(data.images[:count], data.labels[:count], data.heldout_images[:1], data.heldout_labels[:1],
                      data.class_names, data.name, data.domain, data.mean, data.std)


def engine_epoch(trainer, data):
    trainer.epochs_done, trainer.history = 0, []
    started = time.perf_counter()
    run_to_end(train_steps(trainer, data, epochs=1))
    return time.perf_counter() - started


def bare_epoch(model, optimizer, data, options, batch_size, seed):
    """The same epoch without the engine: inline PGD on each batch (eval mode), then one training step."""
    eps, step, steps = options["eps"], options["step"], options["steps"]
    order = torch.randperm(len(data.images), generator=torch.Generator().manual_seed(seed))
    started = time.perf_counter()
    for chosen in order.split(batch_size):
        x, y = data.images[chosen], data.labels[chosen]
        model.eval()
        adversarial = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
        for _ in range(steps):
            adversarial.requires_grad_(True)
            loss = F.cross_entropy(model(adversarial), y)
            (grad,) = torch.autograd.grad(loss, adversarial)
            adversarial = torch.min(torch.max(adversarial.detach() + step * grad.sign(), x - eps), x + eps)
            adversarial = adversarial.clamp(0, 1)
        model.train()
        loss = F.cross_entropy(model(adversarial), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    data = subset(training_digits(), args.images)
    settings = {"epochs": 1, "robust_steps": 0, "eval_images": 1, "batch_size": 64}
    first = new_trainer("mnist-cnn", data, settings, defense="pgd", defense_options={"steps": args.steps})
    engine_times, bare_times = [], []
    for round_ in range(args.rounds):
        trainer = copy.deepcopy(first)
        engine_times.append(engine_epoch(trainer, data))
        model = copy.deepcopy(first.model.module)
        optimizer = torch.optim.Adam(model.parameters(), lr=first.params["lr"])
        bare_times.append(bare_epoch(model, optimizer, data, first.defense_options, 64, round_))
        print(f"round {round_ + 1}: engine {engine_times[-1]:.1f} s, bare loop {bare_times[-1]:.1f} s", flush=True)
    engine, bare = min(engine_times), min(bare_times)
    print(f"PGD-{args.steps} training epoch on {args.images} digits: engine {engine:.1f} s, bare loop {bare:.1f} s, "
          f"ratio {engine / bare:.3f} (bar: at most 1.1)")


if __name__ == "__main__":
    main()
