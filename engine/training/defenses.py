"""Adversarial training: the loss of one batch under a defense, its adversarial examples made by the engine's own
attacks (batched, in eval mode so dropout does not change the net the attack sees).

- none:  J(x)
- fgsm:  Goodfellow et al. 2014, alpha J(x) + (1 - alpha) J(x + eps sign grad J)   (alpha 0.5, eps 0.25 on MNIST)
- pgd:   Madry et al. 2017, J(x') with x' from PGD (eps 0.3, 40 steps of 0.01, random start)
- adef:  J(x') with x' from ADef (||tau||_T <= 3, sigma 1, one candidate, overshoot 1, 40 iterations)

`share` replaces that fraction of each batch by adversarial examples (pgd, adef); the rest stay clean."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.nn import functional as F

from ..attacks import get_attack
from ..core.errors import ParameterError
from ..core.params import Param, ParamSet
from ..core.run import run_to_end
from ..models import LoadedModel

SHARE = Param("share", float, 1.0, "fraction of each batch replaced by adversarial examples", 0.0, 1.0)

DEFENSES: dict[str, ParamSet] = {
    "none": ParamSet("none", (), summary="standard training"),
    "fgsm": ParamSet("fgsm", (Param("alpha", float, 0.5, "weight of the clean loss", 0.0, 1.0),
                              Param("eps", float, 0.25, "FGSM step (Linf)", 0.0, 1.0, unit="pixel")),
                     summary="Goodfellow's mixture alpha J(x) + (1 - alpha) J(x + eps sign grad J)"),
    "pgd": ParamSet("pgd", (Param("eps", float, 0.3, "Linf radius", 0.0, 1.0, unit="pixel"),
                            Param("steps", int, 40, "PGD iterations", 1, 10_000),
                            Param("step", float, 0.01, "step size", 1e-6, 1.0, unit="pixel"),
                            Param("random_start", bool, True, "start from a uniform draw in the eps-ball"),
                            SHARE),
                    summary="Madry's PGD training: the loss on PGD examples"),
    "adef": ParamSet("adef", (Param("max_norm", float, 3.0, "largest ||tau||_T in pixels", 0.0, 100.0),
                              Param("max_iter", int, 40, "ADef iterations", 1, 10_000),
                              Param("sigma", float, 1.0, "smoothing of the field (pixels)", 0.0, 100.0),
                              Param("overshoot", float, 1.0, "overshoot factor", 1.0, 10.0),
                              SHARE),
                     summary="ADef training: the loss on deformed examples"),
}


def defense_params(name: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    if name not in DEFENSES:
        raise ParameterError(f"unknown defense {name!r}; use one of {', '.join(DEFENSES)}")
    return DEFENSES[name].resolve(dict(given or {}))


def adversarial_examples(model: LoadedModel, x: torch.Tensor, y: torch.Tensor, defense: str,
                         params: Mapping[str, Any], seed: int) -> torch.Tensor:
    """The engine attack of `defense` on the batch (labels `y`), as the net in eval mode sees it."""
    net = model.module
    was_training = net.training
    net.eval()
    try:
        if defense == "fgsm":
            result = run_to_end(get_attack("fgsm").fn(model, x, y, eps=params["eps"], norm="inf"))
        elif defense == "pgd":
            result = run_to_end(get_attack("pgd").fn(model, x, y, eps=params["eps"], steps=params["steps"],
                                                     step=params["step"], random_start=params["random_start"],
                                                     seed=seed))
        else:
            result = run_to_end(get_attack("adef").fn(model, x, y, candidates=1, sigma=params["sigma"],
                                                      overshoot=params["overshoot"], max_iter=params["max_iter"],
                                                      max_norm=params["max_norm"]))
    finally:
        net.train(was_training)
    return result.adversarial.to(x.device)


def batch_loss(model: LoadedModel, x: torch.Tensor, y: torch.Tensor, defense: str, params: Mapping[str, Any],
               seed: int) -> torch.Tensor:
    """The training loss of one batch (pixels `x` in [0, 1], labels `y`) under `defense`: cross-entropy, or the
    network's own loss when it defines one (repu: Krotov's)."""
    loss = getattr(model.module.net, "loss", F.cross_entropy)
    if defense == "none":
        return loss(model(x), y)
    if defense == "fgsm":
        adversarial = adversarial_examples(model, x, y, defense, params, seed)
        alpha = params["alpha"]
        return alpha * loss(model(x), y) + (1 - alpha) * loss(model(adversarial), y)
    count = round(params["share"] * len(x))
    if count == 0:
        return loss(model(x), y)
    adversarial = adversarial_examples(model, x[:count], y[:count], defense, params, seed)
    return loss(model(torch.cat([adversarial, x[count:]])), y)
