"""The pure half of reading a cluster: the answers the observer recorded -> ``Observed``.

``observe`` does the I/O (which requests, to whom, all in flight together) and records every
answer as plain data in ``Answers``; ``assemble`` builds the members and the server config (not
objects of a collection: membership) and asks each kind of the registry to assemble its own
objects from its recorded answers (``KindSpec.assemble``). No I/O here: it is tested on
recorded answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxdplan.livedata import Answer, Reading, Recorded, clean_config
from lxdplan.providers import parse
from lxdplan.providers.backend import Backend
from lxdplan.registry import registry
from lxdplan.state.observed import Observed, Standalone


@dataclass
class Answers:
    """What the observer read from a cluster, as plain data. A read that failed because the
    member is down or the object is gone is simply absent."""

    backend: Backend
    server: Answer  # the reader's GET /1.0
    reader: str  # the reader's member name
    standalone: dict[str, Standalone]
    members: list[dict[str, Any]]  # GET /1.0/cluster/members?recursion=1
    member_servers: dict[str, Answer] = field(default_factory=dict)  # each member's GET /1.0
    member_etags: dict[str, str | None] = field(default_factory=dict)  # GET .../members/<name>
    objects: Recorded = field(default_factory=Recorded)  # the kinds' reads, per section
    desired: Any = None  # the file the reads were chosen for
    lean: bool = False  # read at plan detail
    client_fingerprints: tuple[str, ...] = ()  # the client certificates lxdplan presents


def assemble(a: Answers) -> Observed:
    """The observed cluster from the recorded answers."""
    meta, backend = a.server[0] or {}, a.backend
    server_config = meta.get("config") or {}
    cluster_config, _ = parse.split_server_config(server_config, backend.name)
    ctx = Reading(desired=a.desired, backend=backend, lean=a.lean,
                  members=tuple(m["server_name"] for m in a.members),
                  server_config=clean_config(server_config))
    env = meta.get("environment") or {}
    return Observed(
        backend=backend.name,
        server_version=backend.version,
        api_extensions=tuple(sorted(backend.api_extensions)),
        clustered=True,
        cluster_fingerprint=parse.fingerprint(env["certificate"]) if env.get("certificate") else "",
        config=cluster_config,
        config_etag=a.server[1],
        config_member=a.reader,
        members=_members(a),
        standalone=a.standalone,
        objects={spec.section: spec.assemble(ctx, a.objects) for spec in registry()},
        client_fingerprints=a.client_fingerprints,
    )


def _members(a: Answers) -> dict[str, Any]:
    """Each member from the cluster's list and, where it answered, its own ``GET /1.0``."""
    members = {}
    for item in a.members:
        name = item["server_name"]
        answer = a.member_servers.get(name)
        md = (answer[0] or {}) if answer else {}
        view, local_config = parse.split_server_config(md.get("config") or {}, a.backend.name)
        members[name] = parse.parse_member(
            item,
            version=str((md.get("environment") or {}).get("server_version", "")),
            api_level=len(md.get("api_extensions") or ()),
            local_config=local_config if answer else {},
            local_etag=answer[1] if answer else None,
            etag=a.member_etags.get(name),
            # an untrusted answer carries no config: no view then, rather than an empty one
            view=view if answer and md.get("auth", "trusted") == "trusted" else None,
        )
    return members
