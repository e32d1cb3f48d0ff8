"""Files lxdplan writes and reads back on a CI runner: a full disk while a saved plan is written,
and a saved plan file that is damaged."""

from __future__ import annotations

import os
import subprocess

import pytest

from applykit import cli

# A saved plan file that is not one, each a different kind of damage.
CORRUPT_PLANS = {
    "truncated": '{"format": "lxdplan-saved-plan", "format_version": 1, "steps": [',
    "not-utf8": b"\xff\xfe\x00\x01 garbage",
    "nested": "[" * 100_000,
    "wrong-shape": ('{"format": "lxdplan-saved-plan", "format_version": 1, "backend": "lxd", '
                    '"server_version": "5.0.2", "desired": {"path": "x.yaml", "sha256": "0"}, '
                    '"observed_digest": "", "steps": [{"$secret": 5}], "unmanaged": [], '
                    '"diagnostics": []}'),
    "empty": "",
}


def _fill(path) -> None:
    """Write zeros to ``path`` until its filesystem is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


@pytest.fixture
def tiny_fs(tmp_path):
    """A 64 KiB tmpfs under tmp_path, filled to the last byte; unmounted after the test."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        _fill(mount / "filler")
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_while_saving_a_plan(lxd_lab, tiny_fs):
    """A full disk while `plan --out` writes the saved plan: one sentence naming the file, exit 1, no partial or temporary file left."""
    target = tiny_fs / "saved.plan"
    done = cli("plan", "-f", lxd_lab.file, "--out", str(target))
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: the saved plan {target} cannot be written: no space left on the "
                      "device; nothing was written"], done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tiny_fs.iterdir()) == ["filler"]


def test_full_disk_keeps_the_previous_saved_plan(lxd_lab, tiny_fs):
    """A full disk while `plan --out` replaces an earlier saved plan: the earlier plan stays whole."""
    target = tiny_fs / "saved.plan"
    (tiny_fs / "filler").unlink()
    first = cli("plan", "-f", lxd_lab.file, "--out", str(target))
    assert first.returncode == 0, first.stdout + first.stderr
    before = target.read_bytes()
    _fill(tiny_fs / "filler")
    again = cli("plan", "-f", lxd_lab.file, "--out", str(target))
    assert again.returncode == 1 and "no space left on the device" in again.stderr
    assert target.read_bytes() == before
    assert sorted(p.name for p in tiny_fs.iterdir()) == ["filler", "saved.plan"]


@pytest.mark.parametrize("damage", sorted(CORRUPT_PLANS))
def test_corrupt_saved_plan(tmp_path, damage):
    """A corrupt saved plan file (truncated, not UTF-8, nested 100,000 deep, wrong shape, empty) given to apply: one sentence naming the file, exit 1, nothing run."""
    path = tmp_path / f"{damage}.plan"
    content = CORRUPT_PLANS[damage]
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    done = cli("apply", str(path), "--auto-approve")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
