"""The headless universal commands: `run uap`, `run targeted-universal --target` and `gallery`."""
import numpy as np
import torch

from engine.universal.uap import fooling_rate

from test_cli import cli, digits_npz  # noqa: F401  (the fixture of eight correctly classified digits)


def test_run_uap_writes_the_perturbation_and_per_pass_rates(tmp_path, digits_npz, mnist_model):  # noqa: F811
    out = tmp_path / "uap.npz"
    done = cli("run", "uap", "--images", digits_npz, "--heldout", "samples", "--out", out,
               "--param", "passes=2", "--param", "xi=0.2")
    assert done.returncode == 0, done.stderr
    assert "fooling rate per pass" in done.stdout and "random noise" in done.stdout
    with np.load(out) as data:
        v = data["perturbation"]
        assert v.shape == (1, 1, 28, 28) and np.abs(v).max() <= 0.2 + 1e-6
        assert len(data["fooling_rates"]) >= 1
        assert np.allclose(data["adversarial"], np.clip(data["original"] + v, 0, 1), atol=1e-6)
        rate = fooling_rate(mnist_model, torch.from_numpy(data["original"]), torch.from_numpy(v))
        assert data["kept_fooling_rate"] == np.float32(rate) == data["fooling_rates"].max()  # sgd: once a pass


def test_run_targeted_universal_needs_a_target_and_reports_the_rate(tmp_path, digits_npz):  # noqa: F811
    out = tmp_path / "t.npz"
    refused = cli("run", "targeted-universal", "--images", digits_npz, "--out", out)
    assert refused.returncode == 2 and "needs --target" in refused.stderr
    done = cli("run", "targeted-universal", "--target", "3", "--images", digits_npz, "--out", out,
               "--param", "steps=10", "--param", "eval_every=5")
    assert done.returncode == 0, done.stderr
    assert "target rate" in done.stdout
    with np.load(out) as data:
        assert data["perturbation"].shape == (1, 1, 28, 28) and np.abs(data["perturbation"]).max() < 0.3
        assert list(data["rate_steps"]) == [5, 10] and (data["target"] == 3).all()


def test_gallery_command_writes_a_page_and_resumes(tmp_path, digits_npz):  # noqa: F811
    out = tmp_path / "gallery"
    args = ("gallery", "--images", digits_npz, "--out", out, "--classes", "0-1,7", "--param", "steps=4")
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    assert "3 classes" in first.stdout
    page = (out / "index.html").read_text()
    assert all(f"classes/{c:04d}.png" in page for c in (0, 1, 7))
    assert "Model <b>mnist-cnn</b>" in page and "steps=4" in page  # a report says what made it
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "classes").glob("*.npz")}
    again = cli(*args[:-4], "--classes", "0-2,7", "--param", "steps=4")
    assert again.returncode == 0, again.stderr
    assert "4 classes" in again.stdout
    assert {name: (out / "classes" / name).stat().st_mtime_ns for name in stamps} == stamps
    bad = cli("gallery", "--images", digits_npz, "--out", out, "--classes", "12")
    assert bad.returncode == 2 and "0..9" in bad.stderr
    (out / "classes" / "0001.npz").write_bytes(b"truncated")  # a class file damaged since
    mended = cli(*args)
    assert mended.returncode == 0, mended.stderr
    assert "0001.npz" in mended.stdout + mended.stderr  # the user is told which class is computed again
    assert (out / "classes" / "0001.npz").stat().st_size > 100
