"""The integration session's labs: names, the run's lab root, starting and cleanup, and the lab
fixtures (documented in conftest.py).

Both tests/integration/conftest.py and tests/faults/conftest.py import the fixtures from here;
tests import the helpers (``start_lab``, ``new_name``, ``lab_root``, ``require_backend``, …).
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
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


def require_ovn() -> None:
    """Skip (or fail under CI=true) when this host cannot run an OVN lab (``lab up --ovn``)."""
    from lxdplan.lab import ovn

    try:
        ovn.preflight()
    except LabError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the OVN lab cannot start: {exc}", pytrace=False)
        pytest.skip(f"cannot start an OVN lab: {exc}")


def start_lab(backend: str, suffix: str, members: int = 3, image_server: bool = False) -> labapi.Lab:
    """A lab of this session named ``<tag>-<suffix>`` (skipped, or failed under CI=true, when
    the host cannot run ``backend``); the caller tears it down (``labapi.down``), and the
    session's end removes it if the caller did not."""
    require_backend(backend)
    return labapi.up(name=new_name(suffix), backend=backend, members=members, root=lab_root(),
                     image_server=image_server)


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


# -- fixtures (imported by the conftests) --------------------------------------------------------

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


@pytest.fixture(scope="session")
def lab_env() -> dict[str, str]:
    return {**os.environ, "LXDPLAN_LAB_ROOT": str(lab_root())}


def _session_lab(backend: str):
    lab = start_lab(backend, f"s-{backend}")
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
        lab = start_lab(backend, f"f{next(counter)}-{backend}", members, image_server)
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


def finish_session(session) -> None:
    """At session end: tear down every lab of this session and fail the run if one was left."""
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


# -- daemon logs in the report of a failed test -----------------------------------------------------

LOG_LINES = 40
_WATCHED = pytest.StashKey[list]()


@pytest.fixture
def daemon_logs(request):
    """Opt in (a test, or an autouse fixture of a module, asks for it): when the test fails, its
    pytest report shows the last ``LOG_LINES`` lines of every member's daemon log, and whether
    the daemon runs, for the labs of its fixtures (a ``Lab``, or a value with a ``.lab``) and those
    given to the ``watch(lab)`` this yields (a lab the test makes itself and a fixture tears down
    after the report)."""
    watched: list = []
    request.node.stash[_WATCHED] = watched
    yield watched.append


def log_tails(lab, lines: int = LOG_LINES) -> str:
    """The tail of each member's daemon log of ``lab``, as the lab's state records it now (a
    restarted member has another pid)."""
    now = labapi.find(lab.name, lab_root()) or lab
    parts = []
    for m in now.members:
        state = "runs" if m.pid and host.pid_alive(m.pid) else "does not run"
        try:
            text = "\n".join(Path(m.log).read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            text = f"(no log: {exc.strerror})"
        parts.append(f"--- {m.name}: daemon pid {m.pid} {state}; {m.log}:\n{text}")
    return "\n".join(parts)


def add_daemon_logs(item, report) -> None:
    """For ``pytest_runtest_makereport``: the daemon log tails of a failed test that opted in."""
    if not report.failed or _WATCHED not in item.stash:
        return
    labs = list(item.stash[_WATCHED])
    for value in (getattr(item, "funcargs", None) or {}).values():
        found = value if isinstance(value, labapi.Lab) else getattr(value, "lab", None)
        if isinstance(found, labapi.Lab):
            labs.append(found)
    for name in dict.fromkeys(lab.name for lab in labs):
        lab = next(lab for lab in labs if lab.name == name)
        report.sections.append((f"daemon logs of lab {name} ({report.when})", log_tails(lab)))
