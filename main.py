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

import os
import sys

# Idle OpenMP threads sleep instead of spinning: on a busy machine spinning thread teams made the small
# tensor operations of live views (the playground's training) 50x slower. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from cli import main  # after the environment is set

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
