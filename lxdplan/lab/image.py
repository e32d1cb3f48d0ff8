"""A busybox container image built on this host, for labs that have no way to download one.

Debian's ``busybox-static`` gives one static binary; a rootfs of it, its applet links and
``/sbin/init`` plus a ``metadata.yaml`` make a unified image tarball that LXD 5.0 and Incus 6.0
import (``POST /1.0/images``) and run as a container (shared/LXD-FACTS.md, "Instances and
images"). The tarball is byte-for-byte the same for the same busybox binary (fixed times, owners
and order), so its fingerprint is stable across labs on one host.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import subprocess
import tarfile
from pathlib import Path

from lxdplan.errors import LabError

BUSYBOX = "/bin/busybox"
FILE_NAME = "busybox.tar.xz"
ALIAS = "busybox"
INSTALL_HINT = "busybox-static is not installed (lab images need it): run apt-get install -y busybox-static"
# A fixed date for the image (and every file in it): 2024-01-01T00:00:00Z.
EPOCH = 1704067200
_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "tmp", "root", "run", "var")


def _applets() -> list[str]:
    """Install paths of busybox's applets (``busybox --list-full``: ``bin/sh``, ``sbin/init``…)."""
    try:
        done = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise LabError(f"{BUSYBOX} cannot list its applets ({exc}); {INSTALL_HINT}") from None
    return sorted({line.strip().lstrip("/") for line in done.stdout.splitlines() if line.strip()})


def _metadata() -> bytes:
    arch = _ARCH.get(platform.machine(), platform.machine())
    return (
        f"architecture: {arch}\n"
        f"creation_date: {EPOCH}\n"
        "properties:\n"
        "  description: busybox (lxdplan lab image)\n"
        "  os: busybox\n"
        "  release: static\n"
    ).encode()


def _entry(name: str, kind: bytes, mode: int, *, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.mtime, info.uid, info.gid, info.uname, info.gname = EPOCH, 0, 0, "root", "root"
    return info


def build(target: str | Path) -> Path:
    """Write the unified busybox image tarball (``.tar.xz``) to ``target`` and return its path.

    Rebuilt only when missing, so labs on one host share one file and one fingerprint.
    """
    target = Path(target)
    if target.exists():
        return target
    if not os.path.exists(BUSYBOX):
        raise LabError(INSTALL_HINT)
    binary = Path(BUSYBOX).read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with tarfile.open(tmp, "w:xz", format=tarfile.GNU_FORMAT) as tar:
        meta = _metadata()
        tar.addfile(_entry("metadata.yaml", tarfile.REGTYPE, 0o644, size=len(meta)), io.BytesIO(meta))
        tar.addfile(_entry("rootfs", tarfile.DIRTYPE, 0o755))
        for d in _DIRS:
            tar.addfile(_entry(f"rootfs/{d}", tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755))
        tar.addfile(_entry("rootfs/bin/busybox", tarfile.REGTYPE, 0o755, size=len(binary)), io.BytesIO(binary))
        for applet in _applets():
            if applet == "bin/busybox" or applet.split("/")[0] not in ("bin", "sbin", "usr"):
                continue
            tar.addfile(_entry(f"rootfs/{applet}", tarfile.SYMTYPE, 0o777, link="/bin/busybox"))
        hostname = b"busybox\n"
        tar.addfile(_entry("rootfs/etc/hostname", tarfile.REGTYPE, 0o644, size=len(hostname)),
                    io.BytesIO(hostname))
    os.replace(tmp, target)
    return target


def fingerprint(path: str | Path) -> str:
    """The image's fingerprint as LXD computes it for a unified tarball: its SHA-256."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def serve(lab) -> None:
    """Make the lab's image server serve the image publicly over HTTPS (alias ``busybox``):
    ``core.https_address`` on its lab address, the image imported public, through its unix
    socket with the backend's own client."""
    from lxdplan.lab.model import backend as lab_backend

    b = lab_backend(lab.backend)
    server = lab.image_server
    env = b.env(server.daemon_dir)
    for argv in (
        [b.client, "config", "set", "core.https_address", server.address],
        [b.client, "image", "import", lab.image, "--alias", ALIAS, "--public"],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise LabError(f"the lab's image server refused `{' '.join(argv[:4])}`: "
                           f"{done.stderr.strip() or done.stdout.strip()}")
