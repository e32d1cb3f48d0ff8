"""The registry: the explicit list of kinds, checked when it is imported."""

from __future__ import annotations

import copy

import pytest

from lxdplan import registry


def test_the_registry_lists_each_kind_once_in_rank_order():
    assert [k.rank for k in registry.SPECS] == sorted(k.rank for k in registry.SPECS)
    assert len({k.kind for k in registry.SPECS}) == len(registry.SPECS)
    assert len({k.section for k in registry.SPECS}) == len(registry.SPECS)


@pytest.mark.parametrize("attr", registry.RANKS)
def test_two_kinds_sharing_a_rank_are_refused(attr):
    first, second = registry.SPECS[0], copy.copy(registry.SPECS[1])
    setattr(second, attr, getattr(first, attr))
    with pytest.raises(RuntimeError, match=f"share {attr} "):
        registry._checked((first, second))


def test_validate_counts_every_kind_the_file_declares():
    from lxdplan.cli.validate import counts
    from lxdplan.kinds.instance import Instance
    from lxdplan.kinds.network import Network
    from lxdplan.kinds.network_acl import NetworkACL

    desired = registry.desired(path="f.yaml", networks=(Network("br0"), Network("br1")),
                               network_acls=(NetworkACL("web"),), instances=(Instance("c1"),))
    assert counts(desired) == "0 members, 1 network ACL, 2 networks, 1 instance"


def test_a_kind_id_is_defined_once():
    from lxdplan.kinds import storage_pool
    from lxdplan.plan import Kind

    assert storage_pool.SPEC.kind is Kind.STORAGE_POOL
    with pytest.raises(ValueError, match="'storage_pool' is defined twice"):
        Kind.define("storage_pool", "pool")
    assert Kind.STORAGE_POOL.noun == "storage pool"
