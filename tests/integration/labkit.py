"""Shared state of the integration session's labs: names, the private lab root, cleanup.

Imported by conftest.py (fixtures) and by tests that drive ``lxdplan lab`` directly.
"""

from __future__ import annotations

import atexit
import itertools
import os
import sys
import tempfile
from pathlib import Path

import pytest

from lxdplan import lab as labapi
from lxdplan.errors import LabError
from lxdplan.lab import host
from lxdplan.lab.model import bridge_name, namespace_prefix

BACKENDS = ("lxd", "incus")
SESSION_TAG = f"ts{os.getpid()}"  # every lab of this session is named "<tag>-…"
_root: Path | None = None
names: set[str] = set()  # every lab name this session used
counter = itertools.count(1)


def lab_root() -> Path:
    """The run's lab root: the one tests/conftest.py made for the run (``LXDPLAN_TEST_LAB_ROOT``,
    shared by every xdist worker; each worker's labs carry its own ``SESSION_TAG``), else a temp
    dir of this process, created on first use."""
    global _root
    if _root is None:
        shared = os.environ.get("LXDPLAN_TEST_LAB_ROOT")
        _root = Path(shared) if shared else Path(tempfile.mkdtemp(prefix="lxdplan-labs-"))
        os.chmod(_root, 0o711)
    return _root


def new_name(suffix: str) -> str:
    name = f"{SESSION_TAG}-{suffix}"
    names.add(name)
    return name


def require_backend(backend: str) -> None:
    """Skip (or fail under CI=true) when this host cannot run a lab of ``backend``."""
    try:
        labapi.preflight(backend)
    except LabError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the {backend} lab cannot start: {exc}", pytrace=False)
        pytest.skip(f"cannot start the {backend} lab: {exc}")


def _down_quietly(name: str) -> None:
    try:
        labapi.down(name, root=lab_root(), missing_ok=True)
    except Exception as exc:  # a safety net must not hide the original failure
        print(f"lxdplan test teardown of lab {name} failed: {exc}", file=sys.stderr)


def down_all() -> None:
    for name in sorted(names):
        _down_quietly(name)


atexit.register(down_all)


def leftovers() -> list[str]:
    """Namespaces, bridges and lab directories of this session that still exist."""
    found = [ns for ns in host.namespaces() if ns.startswith(namespace_prefix(SESSION_TAG))]
    found += [bridge_name(n) for n in sorted(names) if host.link_exists(bridge_name(n))]
    if root_dir() is not None and root_dir().exists():
        found += [str(p) for p in root_dir().iterdir() if p.name.startswith(f"{SESSION_TAG}-")]
    return found


def root_dir() -> Path | None:
    """The lab root if this session used one, else None."""
    return _root
