"""Network zone records: the extra DNS records of a zone (``lxc network zone record``), one
entry per record name with its ordered ``entries`` (type, value, ttl), created with the
ownership mark in their ``user.*`` config, PUT whole on update.

Records are their own section (``network_zone_records``, each naming its ``zone``), as LXD's API
and Terraform's ``lxd_network_zone_record`` have them: a record is an object with its own
description, config and ETag; records of a zone lxdplan does not manage can be managed, and a
hand-made record in a managed zone is listed as unmanaged, never deleted. LXD stores entries in
the order given, refuses a repeated type and value in one record (``Duplicate record``) and a
config key other than ``user.*``, and answers a ``ttl`` of 0 by leaving it out (lxd-5.0.2
``lxd/network/zone/record.go``; Incus 6.0.4 alike). Deleting a zone deletes its records.

References: its zone (certain: LXD answers "Network zone not found").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Hashable, Mapping, Sequence

from lxdplan.compare import config_views, desc, diff_config, put_config
from lxdplan.errors import fmt_path
from lxdplan.filecheck import normalise
from lxdplan.kinds.base import (
    Checked,
    DependentReads,
    EtagReads,
    KindSpec,
    Referring,
    Stage,
    Where,
    api_path,
    payload_of,
)
from lxdplan.kinds.common import ItemsSpec, export_config, owned, put_if
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, clean_config, marked, with_etag
from lxdplan.plan import Action, Kind, Payload, Step
from lxdplan.references import Ref

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext

ZONE = Kind("network_zone")  # defined by kinds/network_zone.py
Entry = dict[str, Any]


def normalise_entry(entry: Mapping[str, Any]) -> Entry:
    """An entry as LXD answers it: type and value as strings, ``ttl`` an integer, left out
    when 0 or not given."""
    out: Entry = {"type": normalise(entry.get("type", "")).strip(),
                  "value": normalise(entry.get("value", "")).strip()}
    ttl = entry.get("ttl")
    if ttl not in (None, "", 0, "0"):
        out["ttl"] = int(ttl)
    return out


@dataclass(frozen=True)
class NetworkZoneRecord:
    zone: str
    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    entries: tuple[Entry, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Write(Payload):
    """A create (config with the ownership mark) or an update (the full config, the mark kept,
    and the entries) of record ``name`` of ``zone``."""

    zone: str
    name: str
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)


@dataclass(frozen=True)
class Delete(Payload):
    zone: str
    name: str


def _entries(c: "Checker", raw: dict, path: tuple) -> tuple[Entry, ...]:
    out: list[Entry] = []
    for i, entry in enumerate(raw.get("entries") or ()):
        if not isinstance(entry, dict):
            continue  # the schema said so
        norm = normalise_entry(entry)
        same = [j for j, e in enumerate(out)
                if (e["type"], e["value"]) == (norm["type"], norm["value"])]
        if same:
            where, first = path + ("entries", i), path + ("entries", same[0])
            c.error(where, f"{fmt_path(where)} repeats the type and value of {fmt_path(first)} "
                           "(LXD refuses a duplicate record)")
        out.append(norm)
    return tuple(out)


def _entry_views(live: tuple[Entry, ...], wanted: tuple[Entry, ...]) -> tuple[dict, dict]:
    """The entries that differ, by position: ``({"0": old}, {"0": new})``."""
    before, after = {}, {}
    for i in range(max(len(live), len(wanted))):
        old = live[i] if i < len(live) else None
        new = wanted[i] if i < len(wanted) else None
        if old != new:
            if old is not None:
                before[str(i)] = dict(old)
            if new is not None:
                after[str(i)] = dict(new)
    return before, after


class NetworkZoneRecordSpec(ItemsSpec, Checked, Referring, EtagReads, DependentReads):
    kind = Kind.define("network_zone_record", "network zone record")
    section = "network_zone_records"
    answer_shape = AnswerShape({"network-zones/[^/]+/records": "name"},
                               fields={"entries": "objects"})
    etag_after_plan = True
    stage = Stage.BEFORE_JOINS
    rank, delete_rank, list_rank = 37, 44, 27
    payloads = {Action.CREATE: Write, Action.UPDATE: Write, Action.DELETE: Delete}
    items = "entries"  # ItemsSpec: the ordered list beside the config
    load_rank = 37  # after the zones

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        out = []
        for i, raw in items:
            path = (self.section, i)
            config = checker.object_config(raw.get("config"), path + ("config",))
            for key in config:
                if not key.startswith("user."):
                    checker.error(path + ("config", key),
                                  f'"{key}" in {fmt_path(path + ("config",))} is not a user.* key '
                                  "(the only keys a zone record's config takes)", key=True)
            out.append(NetworkZoneRecord(str(raw.get("zone") or ""), str(raw.get("name") or ""),
                                         raw.get("description", ""), config,
                                         _entries(checker, raw, path), checker.src.line(path) or 0))
        return tuple(out)

    def check(self, checker: "Checker", declared: Mapping[str, tuple],
              specs: Sequence[KindSpec]) -> None:
        self.check_refs(checker, declared, specs, (ZONE,))

    def ident(self, obj) -> tuple[str, ...]:
        return (obj.zone, obj.name)

    def step_ident(self, step: Step) -> tuple[str, ...]:
        return (_payload(step).zone, _payload(step).name)

    def refs(self, obj) -> list[Ref]:
        return [Ref(ZONE, (obj.zone,), ("zone",))]

    def plan(self, ctx: "PlanContext") -> list[str]:
        for record in self.declared(ctx.desired):
            name = self.display(record)
            live = self.live_of(ctx.observed, record)
            entries = [dict(e) for e in record.entries]
            if live is None:
                after: dict[str, Any] = {**desc(record.description), "config": dict(record.config)}
                if entries:
                    after["entries"] = {str(i): e for i, e in enumerate(entries)}
                ctx.steps.add(
                    Action.CREATE, self.kind, name, depends_on=ctx.after_bootstrap(), after=after,
                    reason=f"network zone record {name} is in the file but not in the cluster",
                    payload=Write(record.zone, record.name, record.description,
                                  owned(record.config), entries),
                )
                continue
            before, after = config_views(diff_config(live.config, record.config),
                                         live.description, record.description)
            old, new = _entry_views(live.entries, record.entries)
            if old:
                before["entries"] = old
            if new:
                after["entries"] = new
            if not (before or after):
                continue
            ctx.steps.add(
                Action.UPDATE, self.kind, name, depends_on=ctx.after_bootstrap(),
                before=before, after=after,
                reason=f"network zone record {name} differs from the file", etag=live.etag,
                payload=Write(record.zone, record.name, record.description,
                              put_config(live.config, record.config), entries),
            )
        return []


    def delete_payload(self, live) -> Delete:
        return Delete(live.zone, live.name)

    def unmanaged_note(self, live) -> str:
        return ""

    def where(self, step: Step) -> Where:
        return self._where(_payload(step).zone, _payload(step).name)

    def where_declared(self, obj) -> Where:
        return self._where(obj.zone, obj.name)

    @staticmethod
    def _where(zone: str, name: str) -> Where:
        return Where(api_path("network-zones", zone, "records"),
                     api_path("network-zones", zone, "records", name))

    def create_body(self, step: Step) -> dict[str, Any]:
        p = payload_of(step, Write)
        return {"name": p.name, "description": p.description, "config": owned(p.config),
                "entries": p.entries}

    def normalise_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return normalise_entry(item)

    def export(self, live) -> dict[str, Any]:
        entry: dict[str, Any] = {"zone": live.zone, "name": live.name}
        put_if(entry, "description", live.description)
        put_if(entry, "config", export_config(live.config))
        put_if(entry, "entries", [dict(e) for e in live.entries])
        return entry

    # -- reading it live ---------------------------------------------------------------------
    # One listing per zone of the zones' listing (the default project's: see network_zone).

    needs = (("network_zones", "listing"),)

    @property
    def observed_type(self) -> type:
        return ObservedNetworkZoneRecord

    def reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        return {("zone", z["name"]): Get.listing(api_path("network-zones", z["name"], "records"))
                for z in recorded.metadata("network_zones", "listing") or ()}

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedNetworkZoneRecord"]:
        out = {}
        for key, (items, _etag) in recorded.of(self.section).items():
            if not (isinstance(key, tuple) and key[0] == "zone"):
                continue
            for item in items or ():
                record = parse_record(item, key[1])
                etag = recorded.etag(self.section, ("etag", (record.zone, record.name)))
                out[self.live_key(self.ident(record))] = with_etag(record, etag)
        return out


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedNetworkZoneRecord:
    zone: str
    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    entries: tuple[Entry, ...] = ()
    managed_by_lxdplan: bool = False
    etag: str | None = None



def parse_record(item: dict[str, Any], zone: str,
                 etag: str | None = None) -> ObservedNetworkZoneRecord:
    config = clean_config(item.get("config"))
    return ObservedNetworkZoneRecord(
        zone=zone, name=item["name"], description=item.get("description", ""), config=config,
        entries=tuple(normalise_entry(e) for e in item.get("entries") or ()),
        managed_by_lxdplan=marked(config), etag=etag)


SPEC = NetworkZoneRecordSpec()


def _payload(step: Step) -> "Write | Delete":
    """The step's payload: a create or update (``Write``) or a delete."""
    if not isinstance(step.payload, (Write, Delete)):
        raise TypeError(f"step {step.id} carries {type(step.payload).__name__}, not a {SPEC.kind} payload")
    return step.payload
