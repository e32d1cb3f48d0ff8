"""README's support table (issue 21, item 5) is the one ``lxdplan.render.support`` generates from
the registry and its declared rows: every kind has a row, and every "tested live" names an
integration test module that exists and writes the kind's section."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from lxdplan import registry
from lxdplan.kinds import cluster_group
from lxdplan.kinds.base import KindSpec
from lxdplan.render import support
from lxdplan.render.support import SUPPORT, Live, Support

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "tests" / "integration"
BLOCK = re.compile(r"<!-- support-table[^>]*-->\n(.*?)\n<!-- /support-table -->", re.S)


def readme_table() -> str:
    found = BLOCK.search((ROOT / "README.md").read_text())
    assert found, "README.md has no <!-- support-table --> … <!-- /support-table --> block"
    return found.group(1)


def test_readme_shows_the_generated_table():
    expected = support.table()
    if readme_table() != expected:
        pytest.fail("README.md's support table is out of date; paste this between its "
                    f"<!-- support-table --> markers:\n\n{expected}\n", pytrace=False)


def test_every_kind_of_the_registry_and_membership_has_a_row():
    assert support.missing(SUPPORT, registry.registry()) == []


def test_a_kind_without_a_row_is_named():
    rows = [r for r in SUPPORT if r.kind != "certificate"]
    assert support.missing(rows, registry.registry()) == ["certificate"]


def test_a_row_for_a_kind_the_registry_lacks_is_refused():
    with pytest.raises(KeyError, match="'test_widget'"):
        support.table([Support("test_widget", "widgets", "`widgets:`", "widgets")])


def test_every_server_has_a_cell_and_tests_match_the_claims():
    for row in SUPPORT:
        assert set(row.servers) == set(support.SERVERS), row.label
        tested = Live.TESTED in row.servers.values()
        assert bool(row.tests) == tested, f"{row.label}: tested live needs its test module, and only then"


@pytest.mark.parametrize("row", [r for r in SUPPORT if r.tests], ids=lambda r: r.label)
def test_each_tested_live_claim_names_a_module_that_writes_the_kind(row):
    for name in row.tests:
        module = INTEGRATION / name
        assert module.is_file(), f"{row.label}: {name} is not in tests/integration"
        assert row.mentions in module.read_text(), f"{row.label}: {name} never mentions {row.mentions}"


@pytest.mark.parametrize("row", [r for r in SUPPORT if r.recorded], ids=lambda r: r.label)
def test_each_recorded_claim_names_a_unit_module_that_writes_the_variant(row):
    for name in row.recorded:
        module = ROOT / "tests" / "unit" / name
        assert module.is_file(), f"{row.label}: {name} is not in tests/unit"
        assert row.mentions in module.read_text(), f"{row.label}: {name} never mentions {row.mentions}"


def test_operations_are_read_from_the_spec():
    """A kind that is not ``Adoptable`` has no import; one that says it ``exports`` nothing has
    no export; one with only creates and deletes has no update and no drift."""
    from lxdplan.plan import Action

    class NotExported(type(cluster_group.SPEC)):  # type: ignore[misc]
        exports = False

        def export(self, live: Any) -> dict[str, Any] | None:
            """Nothing to export."""
            return None

    spec = NotExported()
    assert support.kind_operations(spec)["export"] is False
    assert support.kind_operations(cluster_group.SPEC)["export"] is True

    class Bare(NotExported):
        payloads = {Action.CREATE: cluster_group.SPEC.payloads[Action.CREATE],
                    Action.DELETE: cluster_group.SPEC.payloads[Action.DELETE]}

    ops = support.kind_operations(Bare())
    assert (ops["create"], ops["update"], ops["delete"], ops["drift"]) == (True, False, True, False)


def test_a_kind_that_is_not_adoptable_has_no_import():
    """The bare core: no capability, no payloads."""
    plain = type("Plain", (KindSpec,), {"kind": "plain", "payloads": {}})
    plain.__abstractmethods__ = frozenset()
    ops = support.kind_operations(plain())
    assert (ops["import"], ops["create"], ops["update"]) == (False, False, False)


def test_membership_rows_read_membership_actions():
    ops = support.membership_operations("server", {"export": True, "import": False})
    assert ops == {"create": False, "update": True, "delete": False, "drift": True,
                   "export": True, "import": False}
