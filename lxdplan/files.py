"""Every file lxdplan writes goes through :func:`write_private`: mode 0600, atomic, never
through a symbolic link.

The text is written to a new temporary file in the target's directory (``O_CREAT|O_EXCL|
O_NOFOLLOW``, mode 0600 whatever the umask), flushed to disk, then renamed over the target: a
reader sees the old file or the whole new one, a full disk or a crash leaves the old file (or
none) and no partial one, and a symbolic link at the target is refused rather than followed
(a link planted where a plan or preseed is written cannot redirect it). Errors are one
``LxdplanError`` sentence naming the file.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from lxdplan.errors import LxdplanError

PRIVATE_MODE = 0o600
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    if exc.errno == errno.EFBIG:
        return "the file would exceed the size limit"
    return (exc.strerror or str(exc)).lower()


def write_private(path: str | os.PathLike, text: str | bytes, *, what: str = "the file") -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically; refuse a symbolic link at ``path``.

    ``what`` names the file in errors (``the saved plan``)."""
    target = Path(path)
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise LxdplanError(f"{what} {path} cannot be written: {_reason(exc)}") from None
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise LxdplanError(f"{what} {path} is a symbolic link; lxdplan does not write through links: "
                           "remove it or write to another path")
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise LxdplanError(f"{what} {path} is a directory; give a file path")
    directory = target.parent if str(target.parent) else Path(".")
    tmp = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
    fd = -1
    try:
        fd = os.open(tmp, _CREATE, PRIVATE_MODE)
        os.fchmod(fd, PRIVATE_MODE)  # whatever the umask
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, target)
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise LxdplanError(f"{what} {path} cannot be written: {_reason(exc)}; nothing was "
                           "written") from None
    _sync_directory(directory)


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable; best effort (some filesystems refuse a directory fsync)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
