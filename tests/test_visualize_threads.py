"""Guided backprop, deconvnet and receptive fields change what ReLUs (and max pools) do on the way back; the model
is shared with every other computation. Maps computed in several threads at once must equal the maps computed
alone, and the module tree must be as before once they are done."""
import threading

import torch

from engine.attacks import get_attack
from engine.core.run import run_to_end
from engine.visualize import DECONVNET, GUIDED, SALIENCY, gradient_maps, receptive_field

ROUNDS = 30


def module_list(model):
    return [(name, type(module), id(module)) for name, module in model.module.named_modules()]


def run_in_threads(jobs: dict) -> dict:
    """Every job (a function of no arguments) looped ROUNDS times in its own thread, all started together; the
    results of every round per job, and the first error raised in any thread."""
    results = {name: [] for name in jobs}
    errors = []
    barrier = threading.Barrier(len(jobs))

    def loop(name, job):
        try:
            barrier.wait()
            with torch.no_grad():  # grad mode is thread-local: each computation must turn it on itself
                for _ in range(ROUNDS):
                    results[name].append(job())
        except BaseException as exc:  # noqa: BLE001  (reported to the test below)
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors[0]
    return results


def test_maps_computed_in_threads_at_once_equal_the_maps_computed_alone(mnist_model, heldout):
    model, images = mnist_model, heldout.images[:4]
    modules_before = module_list(model)
    methods = (GUIDED, DECONVNET, SALIENCY)
    alone = {method: gradient_maps(model, images, method).gradients for method in methods}
    field_alone = receptive_field(model, "features.5")
    pgd = get_attack("pgd")
    params = pgd.resolve({"steps": 3, "random_start": "false"}, model.domain)
    attack_alone = run_to_end(pgd.fn(model, images, **params)).adversarial

    jobs = {method: (lambda method=method: gradient_maps(model, images, method).gradients) for method in methods}
    jobs["field"] = lambda: receptive_field(model, "features.5")
    jobs["attack"] = lambda: run_to_end(pgd.fn(model, images, **params)).adversarial
    together = run_in_threads(jobs)

    for method in methods:
        for round_, maps in enumerate(together[method]):
            assert torch.equal(maps, alone[method]), f"{method}, round {round_}"
    assert all(field == field_alone for field in together["field"])
    assert all(torch.equal(adversarial, attack_alone) for adversarial in together["attack"])
    assert module_list(model) == modules_before
    for method in methods:  # and nothing is left behind for later calls in this thread
        assert torch.equal(gradient_maps(model, images, method).gradients, alone[method])
