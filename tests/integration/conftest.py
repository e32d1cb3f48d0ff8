"""Real LXD and Incus labs for the integration tests, started through lxdplan's own lab code.

Fixtures (every test under tests/integration/ is marked ``integration``):

- ``lxd_lab`` / ``incus_lab`` (session): a 3-member unclustered lab, shared by the session.
- ``lab`` (session, parametrised over ``lxd`` and ``incus``): the same two labs.
- ``make_lab(backend="lxd", members=3) -> Lab`` (function): a fresh lab the test may destroy;
  torn down when the test ends.
- ``lab_name(suffix) -> str`` (function): a lab name unique to this session, for tests that drive
  ``lxdplan lab`` through the CLI; anything left under that name is torn down after the test.
- ``lab_env`` (session): the environment for CLI subprocesses (``LXDPLAN_LAB_ROOT`` set).
- ``daemon_logs`` (function, opt-in): a failed test's report shows its labs' daemon log tails.

Each yielded ``Lab`` has ``.backend``, ``.name``, ``.file`` (the generated lxdplan.yaml) and
``.members``; each member has ``.name``, ``.address`` (ip:8443), ``.ip``, ``.socket``,
``.endpoint`` (unix://…), ``.daemon_dir``, ``.pid``, ``.namespace``.

A lab that cannot start because the host lacks root or packages skips the test with the reason,
except with ``CI=true``, where it fails. Labs are torn down in ``finally`` blocks, again at exit
and on SIGTERM (tests/conftest.py); at session end a check fails the run if any namespace or
bridge of this session is left (and removes it). The fixtures live in labkit.py (the fault
matrix's conftest imports them too); helpers for tests live in labkit.py and applykit.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import (  # noqa: F401  (fixtures; tests/integration is on sys.path, rootdir-relative)
    add_daemon_logs, daemon_logs, finish_session, incus_lab, lab, lab_env, lab_name, lxd_lab,
    make_lab, private_lxdplan_dirs,
)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    add_daemon_logs(item, outcome.get_result())  # a failed test using ``daemon_logs``


def pytest_sessionfinish(session, exitstatus):
    finish_session(session)
