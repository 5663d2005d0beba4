"""Atomic writes and early output checks (issue 13): a failed or concurrent write leaves the previous file or one
whole new one, never a torn one, and no temporary file behind; output paths are refused before the work."""
import json
import threading

import numpy as np
import pytest

from engine.core.errors import ParameterError
from engine.core.files import (
    atomic_open,
    atomic_path,
    check_output_dir,
    check_output_file,
    is_temporary,
    write_atomically,
)
from engine.export import save_image, save_npy, save_npz


def leftovers(folder):
    return [p.name for p in folder.iterdir() if is_temporary(p)]


def test_write_atomically_replaces_the_whole_file(tmp_path):
    target = tmp_path / "a.json"
    write_atomically(target, "old")
    write_atomically(target, b"new bytes")
    assert target.read_bytes() == b"new bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_a_writer_that_fails_midway_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "result.npz"
    save_npz(target, x=np.arange(10))
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(before[: len(before) // 2])  # part of the bytes, then the failure
        raise RuntimeError("disk full")
    assert target.read_bytes() == before
    assert np.load(target)["x"].tolist() == list(range(10))
    assert leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["result.npz"]


def test_a_failing_csv_writer_keeps_the_previous_csv(tmp_path):
    target = tmp_path / "metrics.csv"
    write_atomically(target, "a,b\n1,2\n")
    with pytest.raises(KeyboardInterrupt), atomic_open(target, newline="") as handle:
        handle.write("a,b\n")
        handle.flush()
        raise KeyboardInterrupt  # Ctrl-C midway
    assert target.read_text() == "a,b\n1,2\n" and leftovers(tmp_path) == []


def test_the_temporary_keeps_the_suffix_so_numpy_and_pillow_keep_their_format(tmp_path):
    from PIL import Image
    with atomic_path(tmp_path / "x.npz") as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".npz" and is_temporary(temporary)
        np.savez_compressed(temporary, a=np.zeros(3))  # no second .npz appended
    save_npy(tmp_path / "y.npy", np.ones(2))
    save_image(tmp_path / "z.png", Image.new("RGB", (4, 4), "red"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npz", "y.npy", "z.png"]
    assert np.load(tmp_path / "y.npy").tolist() == [1, 1] and Image.open(tmp_path / "z.png").size == (4, 4)


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    mask = os.umask(0)
    os.umask(mask)
    target = write_atomically(tmp_path / "a.txt", "x")
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_two_writers_to_one_target_leave_one_complete_file(tmp_path):
    target = tmp_path / "out.json"
    barrier = threading.Barrier(2)
    payloads = {name: json.dumps({"writer": name, "data": [name] * 200_000}) for name in ("a", "b")}
    errors = []

    def write(name):
        try:
            with atomic_open(target) as handle:
                barrier.wait(timeout=10)  # both are writing at once
                for start in range(0, len(payloads[name]), 4096):
                    handle.write(payloads[name][start:start + 4096])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(name,)) for name in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert target.read_text() in payloads.values()  # one whole file, not a mix
    assert leftovers(tmp_path) == []


def test_export_result_writes_nothing_torn(tmp_path, mnist_model, correct_digits):
    from engine.attacks import get_attack, run_to_end
    from engine.export import export_result
    spec = get_attack("fgsm")
    result = run_to_end(spec.fn(mnist_model, correct_digits[0][:2], **spec.resolve({}, "mnist")))
    report = export_result(result, mnist_model, tmp_path / "export")
    assert all(path.exists() for path in report.files) and leftovers(tmp_path / "export") == []


# --- output paths checked before the work -----------------------------------------------------------------------

def test_check_output_file_accepts_new_and_existing_files(tmp_path):
    assert check_output_file(tmp_path / "new" / "deeper" / "out.npz") == tmp_path / "new" / "deeper" / "out.npz"
    (tmp_path / "old.npz").write_bytes(b"")
    check_output_file(tmp_path / "old.npz")
    check_output_dir(tmp_path / "folder" / "sub")
    check_output_dir(tmp_path)


def test_check_output_file_refuses_a_folder_and_a_path_under_a_file(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ParameterError, match="is a folder"):
        check_output_file(tmp_path, "--out")
    with pytest.raises(ParameterError, match="ends with a separator"):
        check_output_file(f"{tmp_path}/new/", "--out")
    with pytest.raises(ParameterError, match=r"plain is a file, not a folder"):
        check_output_file(tmp_path / "plain" / "out.npz", "--out")
    with pytest.raises(ParameterError, match=r"plain is a file, not a folder"):
        check_output_file(tmp_path / "plain" / "a" / "b.npz", "--out")
    with pytest.raises(ParameterError, match="is a file, but a folder is expected"):
        check_output_dir(tmp_path / "plain", "--out")
    with pytest.raises(ParameterError, match=r"plain is a file, not a folder"):
        check_output_dir(tmp_path / "plain" / "sub", "--out")


def test_check_output_refuses_an_unwritable_folder(tmp_path):
    import os
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: every folder is writable")
        with pytest.raises(ParameterError, match="not writable"):
            check_output_file(locked / "out.npz")
        with pytest.raises(ParameterError, match="not writable"):
            check_output_dir(locked / "sub")
    finally:
        locked.chmod(0o700)
