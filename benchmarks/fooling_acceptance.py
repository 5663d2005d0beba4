"""The README's fooling-image tables: for one method and several seeds on the built-in model (all 10 digits, the
default settings), the generation (step) at which each digit's elite first passed 99% and 99.99%, the time, and
how many elites other models give the elite's class.

    python benchmarks/fooling_acceptance.py direct --seeds 0,1,2 --length 200 --others second.pt mlp.pt
    python benchmarks/fooling_acceptance.py cppn --length 500
    python benchmarks/fooling_acceptance.py gradient --length 300

--length is generations (steps for gradient ascent). The other models are files of `main.py train` (the README
used `--arch mnist-cnn --param seed=1 --param epochs=6`, `--arch mlp --param seed=2 --param epochs=6` and the
RePU memories). One JSON line per seed, then a summary.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.core.run import run_to_end  # noqa: E402
from engine.fooling.export import first_generation_reaching, second_opinion  # noqa: E402
from engine.fooling.runs import GRADIENT, METHODS, fooling_run  # noqa: E402
from engine.models import load_model  # noqa: E402


def measure(model, others, method: str, seed: int, length: int) -> dict:
    params = {"seed": seed, ("steps" if method == GRADIENT else "generations"): length}
    started = time.perf_counter()
    archive = run_to_end(fooling_run(model, method, range(model.num_classes), params)).archive
    row = {"method": method, "seed": seed, "length": length, "seconds": round(time.perf_counter() - started, 1),
           "confidence": [round(float(c), 6) for c in archive.confidence],
           "at_99": int((archive.confidence >= 0.99).sum()), "at_9999": int((archive.confidence >= 0.9999).sum())}
    for threshold in (0.99, 0.9999):
        row[f"first_{threshold}"] = first_generation_reaching(archive.history, threshold).tolist()
    for name, other in others.items():
        row[f"agree_{name}"] = int(second_opinion(other, archive.images, archive.classes).agrees.sum())
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--length", type=int, default=None, help="generations (steps): 200 direct, 500 cppn, "
                        "300 gradient by default")
    parser.add_argument("--others", nargs="*", default=[], help="model files to show the elites to")
    args = parser.parse_args()
    length = args.length or {"direct": 200, "cppn": 500, "gradient": 300}[args.method]
    model = load_model("mnist-cnn", "cpu")
    others = {Path(path).name: load_model(path, "cpu") for path in args.others}
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rows.append(measure(model, others, args.method, seed, length))
        print(json.dumps(rows[-1]), flush=True)
    print(f"{args.method}, {length}: digits at >= 99% per seed {[r['at_99'] for r in rows]}, at >= 99.99% "
          f"{[r['at_9999'] for r in rows]}; seconds {[r['seconds'] for r in rows]}")
    for name in others:
        agreed = sum(r[f"agree_{name}"] for r in rows)
        print(f"  {name} gives {agreed} of {10 * len(rows)} elites their class ({agreed / (10 * len(rows)):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
