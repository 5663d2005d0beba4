"""What the playground says in words: the legend beside the plane and the per-run counts of the three kinds."""
from __future__ import annotations

from engine.playground import KindCounts

from .plane import CLASS_COLOURS, KIND_COLOURS

MUTED = "#666666"


def counts_lines(rows: dict[str, KindCounts]) -> str:
    """Per run, one line: how many attacked points were fooled, and how many of each kind (in its colour)."""
    lines = []
    for name, counts in rows.items():
        kinds = " · ".join(f"<span style='color:rgb{KIND_COLOURS[kind]}'>kind {kind}: <b>{number}</b></span>"
                           for kind, number in ((1, counts.same_class), (2, counts.neither),
                                                (3, counts.other_class)))
        wrong = f" ({counts.already_wrong} already wrong)" if counts.already_wrong else ""
        lines.append(f"{name}: <b>{counts.successful}</b> of {counts.attacked} fooled{wrong}<br>&nbsp;&nbsp;{kinds}")
    return "<br>".join(lines)


def legend_html(names: tuple[str, str]) -> str:
    """The key to the plane, one item a line, and what the mouse does."""
    def line(colour, mark, text):
        return f"<tr><td align='center' style='color:rgb{tuple(colour)}'>{mark}</td><td>{text}</td></tr>"
    grey = (110, 110, 110)
    rows = [line(CLASS_COLOURS[0], "●", names[0]), line(CLASS_COLOURS[1], "■", names[1]),
            line(CLASS_COLOURS[0], "- -", "true regions; the rest of the plane is <i>neither</i>"),
            line((20, 20, 20), "<b>—</b>", "the model's p = 0.5 boundary"),
            line(grey, "···", "the boundary before a defense"),
            line(grey, "○", "points a defense added"),
            line((30, 30, 30), "→", "attack; grey: not fooled within eps")]
    kinds = [line(KIND_COLOURS[1], "<b>1</b>", "still its own class, misclassified"),
             line(KIND_COLOURS[2], "<b>2</b>", "a meaningless image (neither), where the boundary is arbitrary"),
             line(KIND_COLOURS[3], "<b>3</b>", "in the other class's region: the meaning changed")]
    return (f"<table cellspacing='3'>{''.join(rows)}</table><p><b>Adversarial images</b></p>"
            f"<table cellspacing='3'>{''.join(kinds)}</table>"
            f"<p style='color:{MUTED}'>Click to add a point or select one, drag to move it, right-click to remove "
            "it. Choose <i>paint</i> under <i>mouse</i> to draw the true regions.</p>")
