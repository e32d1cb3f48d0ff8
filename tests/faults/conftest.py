"""The fault matrix: what a cluster and a CI runner throw at lxdplan (issue 17).

Every test here is one case of the matrix. Its docstring's first line names the case and the
outcome it proves, e.g. ``A joining member killed mid-join: the re-run converges.``; the
suite writes ``docs/reliability.md`` from those lines and the results (see ``report.py``).

Tests here get the integration fixtures (``lab``, ``lxd_lab``, ``incus_lab``, ``make_lab``,
``lab_name``, ``lab_env``, …) from ``tests/integration/conftest.py``, loaded under another
module name, and are marked ``integration`` and ``faults``; a case that needs no server (a
corrupt file, a fake server for a malformed answer) is still a case of the matrix.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_INTEGRATION = Path(__file__).resolve().parent.parent / "integration"
if str(_INTEGRATION) not in sys.path:
    sys.path.insert(0, str(_INTEGRATION))  # labkit, applykit, … as the integration tests use them

_spec = importlib.util.spec_from_file_location("integration_conftest", _INTEGRATION / "conftest.py")
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

private_lxdplan_dirs = _integration.private_lxdplan_dirs
lab_env = _integration.lab_env
lxd_lab = _integration.lxd_lab
incus_lab = _integration.incus_lab
lab = _integration.lab
make_lab = _integration.make_lab
lab_name = _integration.lab_name
pytest_configure = _integration.pytest_configure  # SIGTERM tears labs down
pytest_sessionfinish = _integration.pytest_sessionfinish  # no lab left behind (idempotent)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.faults)


# -- docs/reliability.md (report.py) ----------------------------------------------------------
import report as _report  # noqa: E402  (this directory is on sys.path: pytest's rootdir-less import)

_HERE = Path(__file__).resolve().parent
_run = {"items": [], "deselected": 0, "outcomes": {}}


def pytest_collection_finish(session):
    _run["items"] = [i for i in session.items if _HERE in Path(str(i.fspath)).resolve().parents]


def pytest_deselected(items):
    _run["deselected"] += sum(1 for i in items if _HERE in Path(str(i.fspath)).resolve().parents)


def pytest_runtest_logreport(report):
    """A test's outcome: failed if any phase failed, skipped if it was skipped, else passed."""
    outcomes = _run["outcomes"]
    if report.failed:
        outcomes[report.nodeid] = "failed"
    elif report.skipped and outcomes.get(report.nodeid) != "failed":
        outcomes[report.nodeid] = "skipped"
    elif report.when == "call" and report.passed:
        outcomes.setdefault(report.nodeid, "passed")


def _write_reliability(session) -> None:
    items = _run["items"]
    if session.shouldstop or session.shouldfail or not items:
        return
    if not _report.ran_in_full(session.config, _HERE, items, _run["deselected"], _run["outcomes"]):
        return
    cases = [_report.case_of(i, _run["outcomes"][i.nodeid]) for i in items]
    _report.write(Path(str(session.config.rootpath)), cases)


def pytest_sessionfinish(session, exitstatus):  # noqa: F811  (the labs' teardown, then the report)
    _integration.pytest_sessionfinish(session, exitstatus)
    _write_reliability(session)

# A formed one-member cluster per backend with a proxy in front of it (test_answers, test_network).
from proxykit import formed, proxy  # noqa: E402,F401
