"""The fault matrix's own plumbing."""

from __future__ import annotations


def test_fixtures_reach_the_matrix(lab_env):
    """The matrix sees the integration fixtures: lab_env names the session's private lab root."""
    assert lab_env["LXDPLAN_LAB_ROOT"]
