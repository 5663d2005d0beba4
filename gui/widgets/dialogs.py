"""The file dialogs of the whole window, each opening in the folder last used for its kind of file (exports,
images, models, ...) instead of the folder the program was started from. The folders are remembered in
QSettings("AdvLens", "AdvLens") under `folders/<kind>`; ADVLENS_SETTINGS names an INI file to use instead
(the tests point it at a temporary file, so that they never touch a user's settings).

Callers use the module (`dialogs.choose_folder(...)`), so a test can replace one function, and the functions
call QFileDialog's static methods when called, so a test can replace those too."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QWidget

SETTINGS_FILE_VARIABLE = "ADVLENS_SETTINGS"
EXPORTS, IMAGES, MODELS, RUNS, ARCHIVES, GALLERIES = "exports", "images", "models", "runs", "archives", "galleries"


def settings() -> QSettings:
    """The application's settings: the user's, or the INI file ADVLENS_SETTINGS names."""
    path = os.environ.get(SETTINGS_FILE_VARIABLE)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("AdvLens", "AdvLens")


def last_folder(kind: str) -> str:
    """The folder a dialog of this kind opens in: the one last used if it still exists, else the home folder."""
    folder = settings().value(f"folders/{kind}", "")
    return str(folder) if folder and Path(str(folder)).is_dir() else str(Path.home())


def remember_folder(kind: str, folder: str | Path) -> None:
    store = settings()
    store.setValue(f"folders/{kind}", str(folder))
    store.sync()


def choose_folder(parent: QWidget | None, caption: str, kind: str = EXPORTS, start: str | None = None) -> str:
    """A folder chosen by the user ("" when cancelled); `start`, when it exists, overrides the remembered one."""
    start = start if start and Path(start).is_dir() else last_folder(kind)
    folder = QFileDialog.getExistingDirectory(parent, caption, start)
    if folder:
        remember_folder(kind, folder)
    return folder


def choose_open_file(parent: QWidget | None, caption: str, kind: str, filters: str) -> str:
    """An existing file chosen by the user ("" when cancelled)."""
    path, _ = QFileDialog.getOpenFileName(parent, caption, last_folder(kind), filters)
    if path:
        remember_folder(kind, Path(path).parent)
    return path


def choose_open_files(parent: QWidget | None, caption: str, kind: str, filters: str) -> list[str]:
    """Existing files chosen by the user (empty when cancelled)."""
    paths, _ = QFileDialog.getOpenFileNames(parent, caption, last_folder(kind), filters)
    if paths:
        remember_folder(kind, Path(paths[0]).parent)
    return list(paths)


def choose_save_file(parent: QWidget | None, caption: str, kind: str, name: str, filters: str) -> tuple[str, str]:
    """(path, the filter chosen) of a file to write, proposed as `name` in the remembered folder; ("", "")
    when cancelled."""
    path, chosen = QFileDialog.getSaveFileName(parent, caption, str(Path(last_folder(kind)) / name), filters)
    if path:
        remember_folder(kind, Path(path).parent)
    return path, chosen
