"""Fixtures shared by unit test modules (helpers live in kit modules: fakelxd.py, loaderkit.py,
recorded.py, cases.py, plan_helpers.py; a test module never imports another test module)."""

from __future__ import annotations

import pytest

from fakelxd import FakeLXD
from lxdplan.providers.client import Client


@pytest.fixture
def fake(tmp_path):
    """A ``FakeLXD`` on a fresh socket; ``fake.client`` talks to it as member node2."""
    sock = str(tmp_path / "unix.socket")
    server = FakeLXD(sock)
    client = Client(f"unix://{sock}", member="node2")
    server.client = client
    yield server
    client.close()
    server.close()
