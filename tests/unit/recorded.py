"""Answers recorded from real LXD 5.0.2 and Incus 6.0.4 (``tests/unit/data/<version>/<name>.json``,
each ``{"path", "etag", "body"}``; see test_provider_parse.py for the cluster they came from)."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data"
BACKENDS = {"lxd-5.0.2": "lxd", "incus-6.0.4": "incus"}


def rec(version: str, name: str) -> tuple[object, str | None]:
    data = json.loads((DATA / version / f"{name}.json").read_text())
    return data["body"]["metadata"], data["etag"]
