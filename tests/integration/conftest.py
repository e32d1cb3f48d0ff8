"""Real LXD and Incus labs for the integration tests, started through lxdplan's own lab code.

Fixtures (every test under tests/integration/ is marked ``integration``):

- ``lxd_lab`` / ``incus_lab`` (session): a 3-member unclustered lab, shared by the session.
- ``lab`` (session, parametrised over ``lxd`` and ``incus``): the same two labs.
- ``make_lab(backend="lxd", members=3) -> Lab`` (function): a fresh lab the test may destroy;
  torn down when the test ends.
- ``lab_name(suffix) -> str`` (function): a lab name unique to this session, for tests that drive
  ``lxdplan lab`` through the CLI; anything left under that name is torn down after the test.
- ``lab_env`` (session): the environment for CLI subprocesses (``LXDPLAN_LAB_ROOT`` set).

Each yielded ``Lab`` has ``.backend``, ``.name``, ``.file`` (the generated lxdplan.yaml) and
``.members``; each member has ``.name``, ``.address`` (ip:8443), ``.ip``, ``.socket``,
``.endpoint`` (unix://…), ``.daemon_dir``, ``.pid``, ``.namespace``.

A lab that cannot start because the host lacks root or packages skips the test with the reason,
except with ``CI=true``, where it fails. Labs are torn down in ``finally`` blocks, again at exit
and on SIGTERM (tests/conftest.py); at session end a check fails the run if any namespace or bridge of this session
is left (and removes it).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from labkit import (  # tests/integration is on sys.path (pytest rootdir-relative import)
    BACKENDS, counter, down_all, lab_root, leftovers, names, new_name, require_backend, root_dir,
)
from lxdplan import lab as labapi


@pytest.fixture(scope="session", autouse=True)
def private_lxdplan_dirs(tmp_path_factory):
    """lxdplan's client certificate, pin store and host locks go to a session temp dir (the
    CLI subprocesses inherit the environment), never to the user's ~/.config or /run."""
    saved = {k: os.environ.get(k) for k in ("LXDPLAN_CONFIG_DIR", "LXDPLAN_LOCK_DIR")}
    base = tmp_path_factory.mktemp("lxdplan-home")
    os.environ["LXDPLAN_CONFIG_DIR"] = str(base / "config")
    os.environ["LXDPLAN_LOCK_DIR"] = str(base / "locks")
    try:
        yield base
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


def _start(backend: str, suffix: str, members: int = 3, image_server: bool = False) -> labapi.Lab:
    require_backend(backend)
    name = new_name(suffix)
    return labapi.up(name=name, backend=backend, members=members, root=lab_root(),
                     image_server=image_server)


@pytest.fixture(scope="session")
def lab_env() -> dict[str, str]:
    return {**os.environ, "LXDPLAN_LAB_ROOT": str(lab_root())}


def _session_lab(backend: str):
    lab = _start(backend, f"s-{backend}")
    try:
        yield lab
    finally:
        labapi.down(lab.name, root=lab_root(), missing_ok=True)


@pytest.fixture(scope="session")
def lxd_lab():
    yield from _session_lab("lxd")


@pytest.fixture(scope="session")
def incus_lab():
    yield from _session_lab("incus")


@pytest.fixture(scope="session", params=BACKENDS)
def lab(request):
    return request.getfixturevalue(f"{request.param}_lab")


@pytest.fixture
def make_lab():
    made: list[str] = []

    def make(backend: str = "lxd", members: int = 3, image_server: bool = False) -> labapi.Lab:
        lab = _start(backend, f"f{next(counter)}-{backend}", members, image_server)
        made.append(lab.name)
        return lab

    try:
        yield make
    finally:
        for name in made:
            labapi.down(name, root=lab_root(), missing_ok=True)


@pytest.fixture
def lab_name():
    used: list[str] = []

    def name(suffix: str) -> str:
        used.append(new_name(f"{suffix}{next(counter)}"))
        return used[-1]

    try:
        yield name
    finally:
        for n in used:
            labapi.down(n, root=lab_root(), missing_ok=True)


def pytest_sessionfinish(session, exitstatus):
    if not names:
        return
    left = leftovers()
    down_all()
    root = root_dir()
    if (root is not None and root.exists() and "LXDPLAN_TEST_LAB_ROOT" not in os.environ
            and not any(p.name != ".lock" for p in root.iterdir())):
        shutil.rmtree(root, ignore_errors=True)
    if left:
        print(f"\nlxdplan integration session left behind (now removed): {', '.join(left)}", file=sys.stderr)
        session.exitstatus = 1
