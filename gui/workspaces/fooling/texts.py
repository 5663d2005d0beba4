"""What the Fooling workspace says: the status line of a step, the summary of a run, the second model's
agreement, the titles of a clicked elite."""
from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

from engine.fooling.evolution import FoolingStep
from engine.fooling.export import SecondOpinion, class_label, confidence_text
from engine.fooling.runs import GRADIENT, METHOD_TITLES, FoolingResult
from engine.models import LoadedModel


def unit_of(method: str) -> str:
    return "step" if method == GRADIENT else "generation"


def step_text(step: FoolingStep, method: str) -> str:
    """generation 12 / 200 · 31.2 generations/s · mean 84.1% · median 90.2% · 3 cells improved"""
    unit = unit_of(method)
    improved = f" · {step.replaced} cell{'s' * (step.replaced != 1)} improved" if step.replaced else ""
    return (f"{unit} {step.generation} / {step.generations} · {step.per_second:.1f} {unit}s/s · mean "
            f"{confidence_text(step.mean)} · median {confidence_text(step.median)}{improved}")


def done_of(result: FoolingResult) -> int:
    """Generations (gradient ascent: steps) done."""
    return result.archive.generation if result.method != GRADIENT else len(result.archive.history)


def ended_text(result: FoolingResult, total: int) -> str:
    """The status line once a run is over."""
    unit, done = unit_of(result.method), done_of(result)
    if done >= total:
        return f"{unit} {done} / {total} · done"
    again = "; Resume continues it" if result.method != GRADIENT else ""
    return f"stopped at {unit} {done} / {total}{again}"


def result_text(result: FoolingResult, total: int) -> str:
    """The run's last words for the summary (rich text)."""
    archive = result.archive
    confidence = archive.confidence.numpy()
    unit, done = unit_of(result.method), done_of(result)
    stopped = " (stopped: Resume continues it)" if done < total and result.method != GRADIENT else ""
    reached = (f"{int((confidence >= 0.99).sum())} of {len(confidence)} classes at ≥ 99%, "
               f"{int((confidence >= 0.9999).sum())} at ≥ 99.99%")
    mean, median = archive.summary()
    text = (f"<b>{html.escape(METHOD_TITLES[result.method])}</b>: {unit} {done} of {total}{stopped}.<br>"
            f"{reached}; mean {confidence_text(mean)}, median {confidence_text(median)}.")
    if result.first_step:
        firsts = ", ".join(f"{100 * t:g}%: {_reached_text(steps)}" for t, steps in sorted(result.first_step.items()))
        text += f"<br>first step reaching {html.escape(firsts)}"
    return text


def _reached_text(steps: np.ndarray) -> str:
    reached = steps[steps >= 0]
    if not len(reached):
        return "none"
    return f"{len(reached)}/{len(steps)} (last at {int(reached.max())})"


def agreement_text(other: LoadedModel, opinion: SecondOpinion, stale: bool) -> str:
    agreed = int(opinion.agrees.sum())
    older = " (of the archive before this run; updated when it ends)" if stale else ""
    return (f"Second model <b>{html.escape(other.name)}</b> gives {agreed} of {len(opinion.agrees)} elites their "
            f"class ({opinion.share:.0%}){older}. Per cell: its top class · the probability it gives the cell's "
            f"class; red where it is fooled too.")


def class_title(names: Sequence[str], cls: int) -> str:
    """"207: golden retriever", or "3" for a class named by its index."""
    name = class_label(names, cls)
    return name if name == str(cls) else f"{cls}: {name}"


def elite_detail(names: Sequence[str], cls: int, confidence: float) -> str:
    return f"{html.escape(class_title(names, cls))} · {confidence_text(confidence)}"


def elite_note(names: Sequence[str], found: int, unit: str, opinion: SecondOpinion | None, index: int) -> str:
    parts = [f"found in {unit} {found}"] if found >= 0 else []
    if opinion is not None and index < len(opinion.predicted):
        predicted = int(opinion.predicted[index])
        parts.append(f"2nd: {class_label(names, predicted)}, {confidence_text(float(opinion.probability[index]))}")
    return html.escape(" · ".join(parts))
