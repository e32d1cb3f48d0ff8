"""Every pytest run gets a base temp dir of its own, removed when the run ends.

pytest's default base (``/tmp/pytest-of-USER/pytest-N``) is shared by every run of the user, and
with ``tmp_path_retention_policy = "none"`` a starting run deletes the numbered dirs of the runs
before it — including runs still going, whose files then vanish under them. A private
``--basetemp`` per run (unless one is given) keeps concurrent runs apart.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_made: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="lxdplan-pytest-")
        _made.append(config.option.basetemp)
    # lxdplan's record of schema-checked files (lxdplan.validated): the run's own, never ~/.cache
    os.environ.setdefault("LXDPLAN_CACHE_DIR", os.path.join(str(config.option.basetemp), "cache"))


def pytest_unconfigure(config):
    for path in _made:
        shutil.rmtree(path, ignore_errors=True)
