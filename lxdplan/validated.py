"""A record of the files that passed the JSON Schema check, so a command run again on the same
file skips the check (and the ~50 ms import of jsonschema it needs; issue 22).

The record keeps SHA-256 digests, one a line, of the file's text together with everything the
check's result depends on: lxdplan's version, the files the published schema is assembled from
(the base and every kind's fragment, named by the loader) and the modules that turn them into
the validator (``keys``, ``keyschema``, ``fileschema``, ``loader``). Another text, another lxdplan
or another schema gives another digest and is checked again. Only a clean result is recorded (no schema
sentence at all); the semantic rules (``lxdplan.validation``) run on every load, recorded or not.

Where: ``$LXDPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/lxdplan``, else ``~/.cache/lxdplan``, file
``validated``. The record is only ever an optimisation: a record that cannot be read or written
is ignored without a word.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

from lxdplan.errors import LxdplanError
from lxdplan.files import write_private

RECORD = "validated"
KEEP = 256  # digests kept (the newest)
_PACKAGE = Path(__file__).resolve().parent
_INPUTS = ("keys.py", "keyschema.py", "fileschema.py", "loader.py")


def cache_dir() -> Path:
    env = os.environ.get("LXDPLAN_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lxdplan"


def digest(text: str, schema_files: Sequence[Path] = ()) -> str:
    """The digest of ``text`` checked by this lxdplan against the schema assembled from
    ``schema_files`` (the loader's ``schema_files``: the base and each kind's fragment)."""
    from lxdplan import __version__

    h = hashlib.sha256(f"lxdplan {__version__}\n".encode())
    for path in [_PACKAGE / name for name in _INPUTS] + list(schema_files):
        h.update(str(path.relative_to(_PACKAGE) if path.is_relative_to(_PACKAGE) else path).encode())
        h.update(b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"missing")
        h.update(b"\0")
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _read() -> list[str]:
    try:
        return (cache_dir() / RECORD).read_text("ascii").split()
    except (OSError, ValueError):
        return []


def passed(key: str) -> bool:
    """Whether a file with this digest passed the schema check before."""
    return key in _read()


def remember(key: str) -> None:
    """Record that the file with this digest passed (the newest ``KEEP`` are kept)."""
    try:
        where = cache_dir()
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = [k for k in _read() if k != key][-(KEEP - 1):] + [key]
        write_private(where / RECORD, "\n".join(keys) + "\n", what="the record of checked files")
    except (OSError, LxdplanError):
        pass  # only a cache: the next run checks the schema again
