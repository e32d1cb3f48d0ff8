"""Helpers for tests of the desired-state loader: the three-member header and the error checks.

``HEAD`` is lines 1-6 of every test file built with it, so line numbers in tests count from it.
"""

from __future__ import annotations

import textwrap

import pytest

from lxdplan.errors import ValidationError
from lxdplan.loader import load_text

# Three members so no quorum warning; line numbers below count from this header.
HEAD = """\
version: 1
cluster:
  members:
    - {name: node1, address: "10.0.0.1:8443"}
    - {name: node2, address: "10.0.0.2:8443"}
    - {name: node3, address: "10.0.0.3:8443"}
"""  # lines 1-6


def doc(body: str = "") -> str:
    return HEAD + textwrap.dedent(body)


def errors_of(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(ValidationError) as info:
        load_text(text)
    return [(d.line, d.message) for d in info.value.diagnostics if d.severity == "error"]


def assert_error(text: str, line: int | None, *fragments: str) -> None:
    errs = errors_of(text)
    hits = [m for ln, m in errs if ln == line and all(f in m for f in fragments)]
    assert hits, f"no error at line {line} containing {fragments}; got {errs}"


def ok(text: str):
    desired, warnings = load_text(text)
    return desired, warnings
