"""Storage pools: two-phase clustered objects (``lxdplan.kinds.twophase``).

``driver`` cannot change in place; ``source`` and ``zfs.pool_name`` are fixed on a member once
the pool is created there. Some drivers fill in cluster-wide keys themselves (Ceph's cluster and
user names): those are enforced only when declared. Incus gives pools an ETag; a member-specific
update is sent without one (the plan's is another view).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping

from lxdplan import keys
from lxdplan.kinds.base import DependentReads, EarlyReads
from lxdplan.kinds.twophase import TwoPhaseSpec, two_phase_fields
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, names_of
from lxdplan.plan import Kind

# Drivers whose pools are local to each member: a volume in one names its member.
LOCAL_DRIVERS = frozenset({"dir", "btrfs", "zfs", "lvm"})


@dataclass(frozen=True)
class StoragePool:
    name: str
    driver: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)  # cluster-wide keys
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # member -> specific keys
    line: int = 0
    # Lines of the keys under ``members:`` ((member, key) -> line), for messages about one key.
    key_lines: dict[tuple[str, str], int] = field(default_factory=dict, compare=False, repr=False)


# Cluster-wide keys a driver fills in when the file leaves them out.
AUTO_KEYS: dict[str, frozenset[str]] = {
    "ceph": frozenset({"ceph.cluster_name", "ceph.osd.pg_num", "ceph.osd.pool_name",
                       "ceph.user.name"}),
    "cephfs": frozenset({"cephfs.cluster_name", "cephfs.path", "cephfs.user.name"}),
    "lvm": frozenset({"lvm.vg.force_reuse"}),
}
# Member-specific keys that cannot change once the pool exists on the member.
IMMUTABLE_MEMBER_KEYS = frozenset({"source", "zfs.pool_name"})


class StoragePoolSpec(TwoPhaseSpec, EarlyReads, DependentReads):
    kind = Kind.STORAGE_POOL
    section = "storage_pools"
    answer_shape = AnswerShape({"storage-pools": "name"})
    rank, delete_rank, list_rank = 30, 30, 10
    type_field = "driver"
    collection = "storage-pools"
    join_entity = "storage-pool"
    immutable_member_keys = IMMUTABLE_MEMBER_KEYS
    member_update_etag = False
    declared_type, default_type, plural = StoragePool, "", "pools"
    load_rank = 10
    # The drivers' credentials (LXD's and Incus's storage drivers).
    secret_keys = frozenset({"powerflex.user.password", "pure.api.token", "alletra.user.password",
                             "truenas.api_key"})

    def auto_keys(self, type_: str) -> frozenset[str]:
        return AUTO_KEYS.get(type_, frozenset())

    users_through_others = False  # an instance it lists has its volume there

    def user_blocks(self, live, path: str, project: str) -> bool:
        return not path.startswith("/1.0/images/")  # image volumes go with the pool

    def member_keys(self, type_: str) -> frozenset[str]:
        return keys.pool_member_keys(type_)

    def lxd_default(self, live, member_config: Mapping[str, str], key: str) -> bool:
        """A pool made with no ``source`` on a member: LXD's directory
        (``$LXD_DIR/storage-pools/NAME``, dir) or loop file (``$LXD_DIR/disks/NAME.img``, with
        its computed ``size``), the ZFS pool or LVM volume group named after the pool, LVM's
        thin pool ``LXDThinPool``/``IncusThinPool``."""
        value, name, driver = member_config.get(key, ""), live.name, live.driver
        loop = (driver in ("btrfs", "zfs", "lvm")
                and member_config.get("source", "").endswith(f"/disks/{name}.img"))
        if key == "source":
            return (value.endswith(f"/storage-pools/{name}") if driver == "dir" else loop)
        if key == "size":
            return loop
        if key in ("zfs.pool_name", "lvm.vg_name"):
            return value == name
        if key == "lvm.thinpool_name":
            return value in ("LXDThinPool", "IncusThinPool")
        return False

    def volume_defaults(self, desired, observed, pool: str) -> dict[str, str]:
        """Volume keys LXD copies from the pool's ``volume.*`` config when a volume is created."""
        declared = next((p for p in self.declared(desired) if p.name == pool), None)
        live = self.live(observed).get(pool)
        config: dict[str, Any] = {**(live.config if live else {}),
                                  **(declared.config if declared else {})}
        return {k.removeprefix("volume."): v for k, v in config.items() if k.startswith("volume.")}

    # -- reading it live ---------------------------------------------------------------------
    # The cheap name list (no recursion) lets each member's views go out before the costly
    # listing arrives; the listing then decides which views count and adds any missing.

    early_needs = (("storage_pools", "names"),)
    needs = (("storage_pools", "listing"),)

    @property
    def observed_type(self) -> type:
        return ObservedPool

    def listings(self, reading: Reading) -> dict[Hashable, Get]:
        return {**super().listings(reading), "names": Get.of("/1.0/storage-pools")}

    def early_reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        keyed = self.keyed(reading.desired)
        return {("view", p, m): self.view(p, m)
                for p in names_of(recorded.metadata(self.section, "names"))
                for m in reading.members if m not in reading.offline and self.wanted(reading, keyed, p, m)}

    def reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        return self.views_to_read(reading, self.listed(recorded))

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedPool"]:
        return {p["name"]: parse_pool(p, self.views(recorded, p)) for p in self.listed(recorded)}


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedPool:
    name: str
    driver: str
    description: str = ""
    status: str = "Created"  # Created | Pending | Errored | Unknown
    config: dict[str, str] = field(default_factory=dict)  # cluster-wide keys only
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # member -> specific keys
    member_status: dict[str, str] = field(default_factory=dict)  # member -> Created/Pending/...
    locations: tuple[str, ...] = ()
    used_by: tuple[str, ...] = ()
    managed_by_lxdplan: bool = False
    etag: str | None = None


def parse_pool(item: dict[str, Any], per_member: dict[str, dict[str, Any]] | None = None) -> ObservedPool:
    """A pool from the collection (no target) plus each member's ``?target=`` answer."""
    driver = item.get("driver", "")
    return ObservedPool(driver=driver,
                        **two_phase_fields(item, keys.pool_member_keys(driver), per_member))


SPEC = StoragePoolSpec()
