"""Which configuration keys are member-specific, member-local or LXD's own.

Clustered LXD and Incus split configuration in two: keys that must be identical on every member
(set once, cluster-wide) and keys that differ per member (set with ``?target=<member>``). These
tables are the single source of that split for the loader, the planner and the providers.
Sources: LXD 5.0 ``lxd/db/storage_pools.go``/``networks.go``/``cluster/config.go`` and Incus 6.0's
equivalents (see shared/LXD-FACTS.md).
"""

from __future__ import annotations

# Storage pools: member-specific keys per driver. A driver not listed here (a newer one) allows the
# union, so unknown drivers pass through to the server for the final word.
POOL_MEMBER_KEYS_BY_DRIVER: dict[str, frozenset[str]] = {
    "dir": frozenset({"source"}),
    "btrfs": frozenset({"source", "size", "source.wipe"}),
    "zfs": frozenset({"source", "size", "zfs.pool_name", "source.wipe"}),
    "lvm": frozenset({"source", "size", "lvm.vg_name", "lvm.thinpool_name", "source.wipe"}),
    "lvmcluster": frozenset({"source", "lvm.vg_name"}),
    "ceph": frozenset({"source"}),
    "cephfs": frozenset({"source"}),
    "cephobject": frozenset(),
    "powerflex": frozenset(),
    "pure": frozenset(),
}
POOL_MEMBER_KEYS: frozenset[str] = frozenset().union(*POOL_MEMBER_KEYS_BY_DRIVER.values())

# Networks: member-specific keys per type. OVN networks take no target at all.
NETWORK_MEMBER_KEYS_BY_TYPE: dict[str, frozenset[str]] = {
    "bridge": frozenset({"bridge.external_interfaces", "bgp.ipv4.nexthop", "bgp.ipv6.nexthop"}),
    "macvlan": frozenset({"parent"}),
    "sriov": frozenset({"parent"}),
    "physical": frozenset({"parent", "bgp.ipv4.nexthop", "bgp.ipv6.nexthop"}),
    "ovn": frozenset(),
}
NETWORK_MEMBER_KEYS: frozenset[str] = frozenset().union(*NETWORK_MEMBER_KEYS_BY_TYPE.values())

# Server config keys that belong to one member (set with PATCH /1.0?target=<member>).
SERVER_MEMBER_LOCAL_KEYS: dict[str, frozenset[str]] = {
    "lxd": frozenset({
        "core.https_address", "cluster.https_address", "core.bgp_address", "core.bgp_routerid",
        "core.debug_address", "core.dns_address", "core.metrics_address",
        "core.storage_buckets_address", "core.syslog_socket", "maas.machine",
        "storage.backups_volume", "storage.images_volume",
    }),
    "incus": frozenset({
        "core.https_address", "cluster.https_address", "core.bgp_address", "core.bgp_routerid",
        "core.debug_address", "core.dns_address", "core.metrics_address",
        "core.storage_buckets_address", "core.syslog_socket", "network.ovs.connection",
        # storage.logs_volume: from Incus 6.0.6 (a 6.0.4 server does not know it; listed so a
        # file for a newer 6.0 LTS release is not told to move it to the cluster-wide config).
        "storage.backups_volume", "storage.images_volume", "storage.logs_volume",
    }),
}
SERVER_MEMBER_LOCAL_KEYS_ANY: frozenset[str] = frozenset().union(*SERVER_MEMBER_LOCAL_KEYS.values())

# Keys a server may hold that only exist on some backends.
LXD_ONLY_SERVER_KEYS = frozenset({"core.trust_password"})

# Server config keys that may only be set once the server is clustered.
CLUSTER_ONLY_KEY_PREFIX = "cluster."

# Prefix of keys LXD writes itself; never compared, never declared.
VOLATILE_PREFIX = "volatile."

# Where lxdplan records that it manages an object (SPEC §2 "Ownership").
OWNER_KEY = "user.lxdplan.managed"
OWNER_VALUE = "true"
# The apply lock: a profile of the default project (see lxdplan.providers.lock). Earlier versions
# kept it in this server key; it is ignored, and cleared when server config is written anyway.
LOCK_PROFILE = "lxdplan-lock"
LEGACY_LOCK_KEY = "user.lxdplan.lock"

# Assignable member roles; database roles are LXD's own.
ASSIGNABLE_ROLES = frozenset({"event-hub", "ovn-chassis"})
DATABASE_ROLES = frozenset({"database", "database-leader", "database-standby", "database-client"})


def pool_member_keys(driver: str) -> frozenset[str]:
    return POOL_MEMBER_KEYS_BY_DRIVER.get(driver, POOL_MEMBER_KEYS)


def network_member_keys(net_type: str) -> frozenset[str]:
    return NETWORK_MEMBER_KEYS_BY_TYPE.get(net_type, NETWORK_MEMBER_KEYS)


def is_lxd_own(key: str) -> bool:
    """Keys LXD sets itself and lxdplan never compares."""
    return key.startswith(VOLATILE_PREFIX)

# Server config key listing the cluster groups lxdplan manages (comma-separated names): cluster
# groups have no config map of their own to carry an ownership mark.
CLUSTER_GROUPS_OWNER_KEY = "user.lxdplan.cluster_groups"


def builtin_descriptions(backend: str) -> dict[str, str]:
    """What a server (``lxd`` or ``incus``) calls its built-in objects, by kind: the ``default``
    profile (of every project) and the ``default`` project, which exist from the start."""
    label = "Incus" if backend == "incus" else "LXD"
    return {"profile": f"Default {label} profile", "project": f"Default {label} project"}
