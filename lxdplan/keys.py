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


# -- what a running instance does with a changed config key -----------------------------------
# Read from the servers' ``Update`` of each instance driver: LXD 5.0.2
# ``lxd/instance/drivers/driver_qemu.go`` and ``driver_lxc.go``, Incus 6.0.4 the same files under
# ``internal/server/instance/drivers/``. One table for both servers; where they differ, the key
# names its backend. A virtual machine takes only some keys while it runs and REFUSES the rest
# ("Key %q cannot be updated when VM is running"); a container takes every key, some of them only
# from its next start. ``LIVE``: applied at once; ``NEXT_START``: taken now, applied when the
# instance next starts; ``REFUSED``: the server refuses the update while the instance runs.
LIVE, NEXT_START, REFUSED = "live", "next start", "refused"

# Virtual machines: the keys a running VM takes (its ``liveUpdateKeys``), by backend.
VM_LIVE_KEYS: dict[str, frozenset[str]] = {
    "lxd": frozenset({"cluster.evacuate", "limits.memory", "security.agent.metrics",
                      "security.devlxd"}),
    "incus": frozenset({"cluster.evacuate", "limits.memory", "security.agent.metrics",
                        "security.protection.delete", "security.guestapi"}),
}
VM_LIVE_PREFIXES = ("boot.", "cloud-init.", "environment.", "image.", "snapshots.", "user.",
                    "volatile.")
# Taken live, but only rebuilt into the VM's NVRAM at its next start ("Defer rebuilding nvram
# until next start": ``volatile.apply_nvram``).
VM_NEXT_START_KEYS: dict[str, frozenset[str]] = {
    "lxd": frozenset({"security.secureboot"}),
    "incus": frozenset({"security.secureboot", "security.csm"}),
}
VM_DEFAULT_MEMORY = "1GiB"  # a VM's memory without limits.memory (``qemuDefaultMemSize``)
# Containers: every key is taken while running; these are written to the container's LXC
# configuration or id map only when it starts (``volatile.idmap.next``), not applied live.
CONTAINER_NEXT_START_KEYS = frozenset({
    "raw.lxc", "raw.idmap", "raw.seccomp", "security.privileged", "security.idmap.isolated",
    "security.idmap.base", "security.idmap.size",
})


def root_size_while_running(instance_type: str) -> str:
    """A changed ``size`` of a running instance's root disk: a VM's root is a block volume, which
    no driver grows while in use ("We don't allow online resizing of block volumes"): the server
    records ``volatile.apply_quota`` and grows it at the next start (``device/disk.go`` Update).
    A container's filesystem quota is set live."""
    return NEXT_START if instance_type == "virtual-machine" else LIVE


def _plain_count(value: str | None) -> bool:
    """A ``limits.cpu`` a running VM can hotplug to: a count (or unset), not a pinning."""
    return value is None or value == "" or value.isdigit()


def _bytes(value: str) -> float | None:
    """A ``limits.memory`` size in bytes (``512MiB``, ``2GB``, ``1073741824``); None when it is
    not one (a percentage)."""
    units = {"": 1, "B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15, "EB": 1e18,
             "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50, "EiB": 2**60}
    number = value.rstrip("BkKMGTPEi")
    try:
        return float(number) * units[value[len(number):]]
    except (KeyError, ValueError):
        return None


def while_running(backend: str, instance_type: str, key: str, old: str | None,
                  new: str | None, *, hugepages: bool = False) -> str:
    """What a running instance of ``instance_type`` on ``backend`` (``lxd``/``incus``) does with
    ``key`` changed from ``old`` to ``new`` (None: unset): ``LIVE``, ``NEXT_START`` or
    ``REFUSED``.

    A VM's ``limits.cpu`` is hotplugged from one count to another, refused to or from a pinning
    ("Cannot update key "limits.cpu" when using CPU pinning and the VM is running"); its
    ``limits.memory`` shrinks live (the balloon) but cannot grow past the size it booted with
    ("Cannot increase memory size beyond boot time size when VM is running"): lxdplan takes the
    live value (unset: LXD's default, 1GiB) for that size, so a growth is refused, and so is any
    change with ``hugepages`` (``limits.memory.hugepages``: "Cannot live update memory limit when
    using huge pages"); unset, it is taken and sized at the next start."""
    backend = "incus" if backend == "incus" else "lxd"
    if instance_type != "virtual-machine":
        return NEXT_START if key in CONTAINER_NEXT_START_KEYS else LIVE
    if key in VM_NEXT_START_KEYS[backend]:
        return NEXT_START
    if key == "limits.cpu":
        return LIVE if _plain_count(old) and _plain_count(new) else REFUSED
    if key == "limits.memory":
        if new is None or new == "":
            return NEXT_START  # back to the default: nothing to resize now
        was, will = _bytes(old or VM_DEFAULT_MEMORY), _bytes(new)
        fits = was is not None and will is not None and will <= was
        return LIVE if fits and not hugepages else REFUSED
    if key in VM_LIVE_KEYS[backend] or key.startswith(VM_LIVE_PREFIXES):
        return LIVE
    return REFUSED
