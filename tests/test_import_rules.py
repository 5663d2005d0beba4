"""The architecture's import rules (DESIGN.md), checked by import-linter with the contracts in pyproject.toml:
the engine imports no Qt and no gui, workspaces do not import each other, and the engine's layers (universal /
visualize / playground / experiments above attacks above data, models above core)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = ("The engine imports no Qt and no GUI", "Workspaces do not import each other", "Engine layers")
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "qtpy")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          capture_output=True, text=True, cwd=root)


def verdicts(output: str) -> dict[str, str]:
    """Each contract's first words -> KEPT or BROKEN, from lint-imports' report (names may wrap)."""
    text = " ".join(output.split())
    return {name: re.search(re.escape(name) + r".*? (KEPT|BROKEN)", text).group(1) for name in CONTRACTS}


@pytest.fixture(scope="module")
def linter():
    if not LINT_IMPORTS.exists():
        pytest.fail(f"import-linter is not installed in {LINT_IMPORTS.parent} (pip install -e .[dev])")
    return lint_imports


def test_every_import_contract_is_kept(linter):
    done = linter(ROOT)
    assert verdicts(done.stdout) == dict.fromkeys(CONTRACTS, "KEPT"), done.stdout + done.stderr
    assert done.returncode == 0


def test_each_contract_catches_its_violation(linter, tmp_path):
    """The contracts can fail: a copy of the tree with one forbidden import per contract breaks all three."""
    for package in ("engine", "gui"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for path, line in (("engine/transforms.py", "import pyqtgraph"),
                       ("gui/workspaces/visualize/__init__.py", "import gui.workspaces.attack"),
                       ("engine/core/__init__.py", "import engine.attacks")):
        with open(tmp_path / path, "a") as handle:
            handle.write(f"\n{line}  # a forbidden import\n")
    done = linter(tmp_path)
    assert verdicts(done.stdout) == dict.fromkeys(CONTRACTS, "BROKEN"), done.stdout + done.stderr
    assert done.returncode != 0


def test_importing_the_engine_loads_no_qt():
    code = ("import sys, engine, engine.models, engine.data, engine.attacks, engine.export, engine.core.run, "
            "engine.experiments, engine.universal, engine.visualize, engine.playground;"
            f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}];"
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
