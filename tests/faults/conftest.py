"""The fault matrix: what a cluster and a CI runner throw at lxdplan (issue 17).

Every test here is one case of the matrix. Its docstring's first line names the case and the
outcome it proves, e.g. ``A joining member killed mid-join: the re-run converges.``; the
suite writes ``docs/reliability.md`` from those lines and the results (``report.py``'s plugin,
registered by ``tests/conftest.py``).

Tests here get the integration fixtures (``lab``, ``lxd_lab``, ``incus_lab``, ``make_lab``,
``lab_name``, ``lab_env``, …) from ``tests/integration/labkit.py``, as the integration
conftest does, and are marked ``integration`` and ``faults``; a case that needs no server (a
corrupt file, a fake server for a malformed answer) is still a case of the matrix.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_INTEGRATION = Path(__file__).resolve().parent.parent / "integration"
if str(_INTEGRATION) not in sys.path:
    sys.path.insert(0, str(_INTEGRATION))  # labkit, applykit, … as the integration tests use them

from labkit import (  # noqa: E402,F401  (the integration fixtures)
    finish_session, incus_lab, lab, lab_env, lab_name, lxd_lab, make_lab, private_lxdplan_dirs,
)
# A cluster1 one-member cluster per backend with a proxy in front of it (test_answers, test_network).
from proxykit import cluster1, proxy  # noqa: E402,F401


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.faults)


def pytest_sessionfinish(session, exitstatus):  # no lab left behind (idempotent)
    finish_session(session)
