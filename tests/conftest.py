"""What every pytest process of a run shares, with or without xdist (``./run-tests`` runs
``-n N --dist loadfile``: a controller process that collects nothing, and N workers).

- A base temp dir of its own per run, removed when the run ends. pytest's default base
  (``/tmp/pytest-of-USER/pytest-N``) is shared by every run of the user, and with
  ``tmp_path_retention_policy = "none"`` a starting run deletes the numbered dirs of the runs
  before it — including runs still going, whose files then vanish under them. A private
  ``--basetemp`` per run (unless one is given) keeps concurrent runs apart; xdist gives each
  worker a dir under it.
- One lab root per run (``LXDPLAN_TEST_LAB_ROOT``, made by the main process, inherited by the
  workers): every worker's labs live there, so ``lab up``'s root lock serialises subnet choice
  between workers, and at the end of the run the main process tears down every lab left in it
  (a worker killed by xdist's shutdown timeout cannot) and fails the run if it found one.
- The xdist groups (``./run-tests`` uses ``--dist loadgroup``): a test that uses a module- or
  class-scoped fixture (a module's lab, usually one per backend) runs in the worker that runs
  the module's other tests of that backend, in file order; any other test goes to any worker.
  So the long modules are shared out per backend and a module's lab is still started once per
  backend.
- SIGTERM (what CI sends on cancel) stops the run as Ctrl-C would, in the controller and in
  every worker, so fixtures' ``finally`` blocks run.
- ``docs/reliability.md``, written from the fault matrix's results (``faults/report.py``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest

LAB_ROOT_ENV = "LXDPLAN_TEST_LAB_ROOT"  # read by integration/labkit.py
_HERE = Path(__file__).resolve().parent
_made: list[str] = []
_lab_root: list[Path] = []  # the run's lab root when this process made it
_report = None  # faults/report.py, loaded once


def _load_report():
    global _report
    if _report is not None:
        return _report
    spec = importlib.util.spec_from_file_location("faults_report", _HERE / "faults" / "report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["faults_report"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    _report = module
    return module


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _on_sigterm(signum, frame):
    # Stop the run as Ctrl-C would: pytest then tears every fixture down (finally blocks run).
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="lxdplan-pytest-")
        _made.append(config.option.basetemp)
    # lxdplan's record of schema-checked files (lxdplan.validated): the run's own, never ~/.cache
    os.environ.setdefault("LXDPLAN_CACHE_DIR", os.path.join(str(config.option.basetemp), "cache"))
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)
    if not _is_worker(config):  # never an inherited root: its labs are another run's
        root = Path(tempfile.mkdtemp(prefix="lxdplan-labs-"))
        os.chmod(root, 0o711)  # daemons running as other users reach their sockets
        os.environ[LAB_ROOT_ENV] = str(root)
        _lab_root.append(root)
    config.pluginmanager.register(_load_report().Plugin(_HERE / "faults"), "lxdplan-fault-report")


def _shares_a_fixture(item) -> bool:
    """Whether the test uses a module-, class- or package-scoped fixture."""
    info = getattr(item, "_fixtureinfo", None)
    defs = getattr(info, "name2fixturedefs", {}) if info is not None else {}
    return any(d[-1].scope in ("module", "class", "package") for d in defs.values() if d)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group") or not _shares_a_fixture(item):
            continue
        backend = _load_report().backend_of(item)
        module = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(f"{module}:{backend}" if backend else module))


@pytest.hookimpl(trylast=True)  # after xdist has stopped its workers
def pytest_sessionfinish(session, exitstatus):
    if not _lab_root:
        return
    root = _lab_root[0]
    left = sorted(p.name for p in root.iterdir() if p.name != ".lock") if root.is_dir() else []
    if left:
        from lxdplan import lab as labapi

        for name in left:
            try:
                labapi.down(name, root=root, missing_ok=True)
            except Exception as exc:  # report and go on: one stuck lab must not keep the others
                print(f"lxdplan test teardown of lab {name} failed: {exc}", file=sys.stderr)
        print(f"\nlxdplan test run left labs behind (now removed): {', '.join(left)}", file=sys.stderr)
        if session.exitstatus == 0:  # an interrupted run keeps its own exit status
            session.exitstatus = 1


def pytest_unconfigure(config):
    for path in _made:
        shutil.rmtree(path, ignore_errors=True)
    for root in _lab_root:
        if root.is_dir() and not any(p.name != ".lock" for p in root.iterdir()):
            shutil.rmtree(root, ignore_errors=True)
        if os.environ.get(LAB_ROOT_ENV) == str(root):
            del os.environ[LAB_ROOT_ENV]
