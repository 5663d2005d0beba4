"""Nothing lost when a run is interrupted or raced: Ctrl-C and SIGTERM stop a headless run within one step and
still write what it reached; a second writer of the same output fails before its work; galleries on one folder
share the classes; a gallery killed again and again still ends with every class, whole and as computed."""
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import main
from conftest import ROOT
from engine.core.files import (is_temporary, lock_path, remove_stale_temporaries, sole_writer, try_lock,
                               unlock)
from engine.core.run import run_to_end
from engine.universal import gallery
from engine.core.classes import parse_classes
from engine.universal.gallery import GalleryFolder, gallery_steps


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory, correct_digits):
    path = tmp_path_factory.mktemp("inputs") / "digits.npz"
    np.savez(path, images=correct_digits[0][:60].numpy())
    return path


def _signal_after_steps(monkeypatch, number: int, after: int) -> list[int]:
    """Send `number` to this process once the dataset run has reported `after` attack steps; returns the
    iterations seen (so a test can tell how far the run went after the signal)."""
    import engine.experiments

    original, seen = engine.experiments.attack_dataset, []

    def driven(*args, **kwargs):
        run = original(*args, **kwargs)
        while True:
            try:
                progress = next(run)
            except StopIteration as end:
                return end.value
            if progress.step is not None:
                seen.append(progress.step.iteration)
                if len(seen) == after:
                    os.kill(os.getpid(), number)
            yield progress

    monkeypatch.setattr(engine.experiments, "attack_dataset", driven)
    return seen


def test_ctrl_c_stops_a_run_within_one_step_and_writes_the_partial_result(tmp_path, digits_npz, monkeypatch,
                                                                          capsys):
    previous = (tmp_path / "out.npz")
    np.savez(previous, original=np.zeros(1))
    seen = _signal_after_steps(monkeypatch, signal.SIGINT, after=3)
    status = main.main(["run", "pgd", "--images", str(digits_npz), "--out", str(previous), "--device", "cpu",
                        "--param", "steps=500", "--param", "step=0.0001", "--param", "random_start=false"])
    err = capsys.readouterr().err
    assert status == 130, err
    assert "stopped by SIGINT" in err and "partial result (marked stopped)" in err and "Traceback" not in err
    with np.load(previous) as arrays:
        assert bool(arrays["stopped"]) and arrays["original"].shape == (60, 1, 28, 28)
        assert arrays["steps_used"].max() <= seen[2] + 1  # the step running when the signal came, no further
    assert max(seen) <= seen[2] + 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


def test_no_partial_writes_nothing_and_keeps_the_previous_file(tmp_path, digits_npz, monkeypatch, capsys):
    previous = tmp_path / "out.npz"
    np.savez(previous, original=np.ones(3))
    _signal_after_steps(monkeypatch, signal.SIGTERM, after=2)
    status = main.main(["run", "pgd", "--images", str(digits_npz), "--out", str(previous), "--no-partial",
                        "--param", "steps=500"])
    assert status == 143
    assert "nothing was written" in capsys.readouterr().err
    with np.load(previous) as arrays:
        assert arrays.files == ["original"] and arrays["original"].tolist() == [1, 1, 1]


def test_sigterm_to_a_real_process_writes_the_partial_result(tmp_path, digits_npz):
    """The process as a user's script sees it: SIGTERM once the attack is under way."""
    out = tmp_path / "out.npz"
    ready = ("import contextlib, sys, main, engine.core.signals as s\n"
             "original = s.stop_on_signals\n"
             "@contextlib.contextmanager\n"
             "def announced(*a, **k):\n"
             "    with original(*a, **k) as received:\n"
             "        print('READY', file=sys.stderr, flush=True)\n"
             "        yield received\n"
             "s.stop_on_signals = announced\n"
             "sys.exit(main.main(sys.argv[1:]))\n")
    process = subprocess.Popen([sys.executable, "-c", ready, "run", "pgd", "--images", str(digits_npz),
                                "--out", str(out), "--param", "steps=100000", "--param", "step=0.00001"],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr.readline().strip() == "READY"
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        err = process.stderr.read()
        assert process.wait(timeout=60) == 143, err
    finally:
        process.kill()
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    with np.load(out) as arrays:
        assert bool(arrays["stopped"]) and len(arrays["adversarial"]) == 60
        assert 0 < arrays["steps_used"].max() < 100_000


def test_a_second_writer_of_the_same_output_fails_before_its_work(tmp_path, capsys):
    out = tmp_path / "out.npz"
    held = try_lock(lock_path(out))  # as another AdvLens run writing out.npz holds it
    try:
        status = main.main(["run", "pgd", "--model", "no-such-model", "--images", "samples", "--out", str(out)])
        err = capsys.readouterr().err.strip().splitlines()
        assert status == 2 and len(err) == 1
        assert "being written by another AdvLens run" in err[0] and str(out) in err[0]  # before the model load
        with sole_writer(tmp_path / "other.npz"), sole_writer(tmp_path / "stats", folder=True):
            pass  # other outputs are not blocked
    finally:
        unlock(held)
    assert not os.path.exists(lock_path(out))


def test_leftovers_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "out.npz"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    killed = tmp_path / f".out.npz.{dead}.abc123.tmp.npz"
    running = tmp_path / f".out.npz.{os.getppid()}.def456.tmp.npz"  # a live process (pytest's parent)
    other = tmp_path / f".other.npz.{dead}.x.tmp.npz"
    for path in (killed, running, other):
        path.write_bytes(b"half")
    assert remove_stale_temporaries(target) == [killed]
    assert not killed.exists() and running.exists() and other.exists()


def test_class_ranges_are_checked_before_they_are_expanded():
    started = time.perf_counter()
    with pytest.raises(main_errors().ParameterError, match="0..9"):
        parse_classes("0-999999999", 10)
    assert time.perf_counter() - started < 1
    assert parse_classes("8-9,1,1-2", 10) == [1, 2, 8, 9]


def main_errors():
    from engine.core import errors
    return errors


# --- galleries ---------------------------------------------------------------------------------------------------

SMALL = {"eps": 0.3, "steps": 40, "eval_every": 20, "batch_size": 16}


def test_two_galleries_on_one_folder_share_the_classes(mnist_model, correct_digits, tmp_path, monkeypatch):
    images = correct_digits[0][:40]
    learned, lock = [], threading.Lock()
    original = gallery.targeted_universal

    def counted(model, x, target, **kwargs):
        with lock:
            learned.append(target)
        time.sleep(0.05)  # long enough for the other gallery to reach a class that is taken
        return (yield from original(model, x, target=target, **kwargs))

    monkeypatch.setattr(gallery, "targeted_universal", counted)
    results = [None, None]

    def one(index):
        results[index] = run_to_end(gallery_steps(mnist_model, images, tmp_path, range(6), SMALL))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert sorted(learned) == list(range(6))  # every class computed once, by one of them
    assert sorted(results[0]) == sorted(results[1]) == list(range(6))
    assert not list((tmp_path / "classes").glob(".*.lock"))  # finished classes leave no lock behind


def test_a_failed_first_run_does_not_refuse_the_next(mnist_model, correct_digits, tmp_path):
    with pytest.raises(main_errors().ParameterError, match="at least 2 images"):
        run_to_end(gallery_steps(mnist_model, correct_digits[0][:1], tmp_path, [0], SMALL))
    notes = []
    entries = run_to_end(gallery_steps(mnist_model, correct_digits[0][:20], tmp_path, [0], SMALL),
                         lambda p: notes.append(p.note) if p.note else None)
    assert sorted(entries) == [0] and "started again" in notes[0]


def _wait_until_learning(process, classes, timeout=120):
    """Until `process` holds a class's lock (it is learning that class) or has ended."""
    started = time.perf_counter()
    while process.poll() is None and time.perf_counter() - started < timeout:
        for path in classes.glob(".*.lock"):
            probe = try_lock(path)
            if probe is None:
                return
            unlock(probe, remove=False)
        time.sleep(0.02)


def test_a_gallery_killed_ten_times_still_ends_with_every_class_whole(tmp_path, digits_npz):
    """SIGKILL at random moments (starting, learning, saving, exporting); each run resumes the last. The final
    folder holds every class, each equal to what an uninterrupted run computes."""
    command = [sys.executable, str(ROOT / "main.py"), "gallery", "--images", str(digits_npz), "--classes", "0-9",
               "--device", "cpu"] + [arg for name, value in SMALL.items() for arg in ("--param", f"{name}={value}")]
    reference = tmp_path / "reference"
    started = time.perf_counter()
    done = subprocess.run(command + ["--out", str(reference)], capture_output=True, text=True, cwd=ROOT)
    whole_run = time.perf_counter() - started
    assert done.returncode == 0, done.stderr

    folder, chooser = tmp_path / "killed", random.Random(13)
    for attempt in range(10):
        process = subprocess.Popen(command + ["--out", str(folder)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        if attempt % 2:  # any moment of a whole run: starting, learning, saving, exporting
            time.sleep(chooser.uniform(0.3, whole_run))
        else:  # while it learns a class (start-up alone takes seconds on a busy machine)
            _wait_until_learning(process, folder / "classes")
            time.sleep(chooser.uniform(0.0, 1.0))
        process.kill()
        process.wait()
    done = subprocess.run(command + ["--out", str(folder)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr

    expected, got = GalleryFolder(reference).read((1, 28, 28)), GalleryFolder(folder).read((1, 28, 28))
    assert got.damaged == () and sorted(got.entries) == list(range(10))
    for index, entry in expected.entries.items():
        np.testing.assert_allclose(got.entries[index].perturbation, entry.perturbation, atol=1e-5)
    leftovers = [path for path in folder.rglob("*") if is_temporary(path)]
    assert leftovers == []
    assert (folder / "index.html").is_file() and (folder / "contact_sheet.png").is_file()


def test_a_bit_flipped_class_file_is_computed_again(mnist_model, correct_digits, tmp_path):
    images = correct_digits[0][:20]
    first = run_to_end(gallery_steps(mnist_model, images, tmp_path, [0, 1], SMALL))
    path = tmp_path / "classes" / "0001.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10  # one bit of the compressed perturbation
    path.write_bytes(bytes(data))
    contents = GalleryFolder(tmp_path).read((1, 28, 28))
    assert sorted(contents.entries) == [0] and contents.damaged[0].startswith("0001.npz")
    notes = []
    again = run_to_end(gallery_steps(mnist_model, images, tmp_path, [0, 1], SMALL),
                       lambda p: notes.append(p.note) if p.note else None)
    assert "0001.npz" in notes[0]
    np.testing.assert_array_equal(again[1].perturbation, first[1].perturbation)
