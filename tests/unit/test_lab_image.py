"""The lab's busybox image: a unified tarball LXD imports, the same bytes every time."""

from __future__ import annotations

import tarfile

import pytest

from lxdplan.errors import LabError
from lxdplan.lab import image


@pytest.fixture
def fake_busybox(tmp_path, monkeypatch):
    """A stand-in for Debian's static busybox: lists three applets, as `--list-full` does."""
    binary = tmp_path / "busybox"
    binary.write_text("#!/bin/sh\nprintf '/bin/sh\\n/sbin/init\\n/usr/bin/env\\n/bin/busybox\\n'\n")
    binary.chmod(0o755)
    monkeypatch.setattr(image, "BUSYBOX", str(binary))
    return binary


def test_the_image_is_a_unified_tarball_with_init_and_applet_links(fake_busybox, tmp_path):
    path = image.build(tmp_path / "out" / image.FILE_NAME)
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        meta = tar.extractfile("metadata.yaml").read().decode()
    assert "architecture:" in meta and "creation_date: 1704067200" in meta
    assert members["rootfs/bin/busybox"].isfile() and members["rootfs/bin/busybox"].mode == 0o755
    for link in ("rootfs/sbin/init", "rootfs/bin/sh", "rootfs/usr/bin/env"):
        assert members[link].issym() and members[link].linkname == "/bin/busybox"
    assert {m.uid for m in members.values()} == {0}


def test_the_same_binary_gives_the_same_fingerprint(fake_busybox, tmp_path):
    first = image.fingerprint(image.build(tmp_path / "a.tar.xz"))
    second = image.fingerprint(image.build(tmp_path / "b.tar.xz"))
    assert first == second and len(first) == 64


def test_without_busybox_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(image, "BUSYBOX", str(tmp_path / "missing"))
    with pytest.raises(LabError, match="apt-get install -y busybox-static"):
        image.build(tmp_path / "x.tar.xz")
