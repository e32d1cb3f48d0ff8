"""The live cluster as a desired-state document (``lxdplan export``): pure, Observed → dict.

What is exported is exactly what the planner compares, so ``plan`` on an exported file shows no
changes: member-specific keys under ``members:``, ownership marks and the apply lock left out
(they are lxdplan's own), ``core.trust_password`` left out (it reads back only as "true") and
every other secret (``lxdplan.sensitive``) written as an ``{env: …}`` reference.
The implicit ``default`` cluster group is not listed.
"""

from __future__ import annotations

from typing import Any

from lxdplan import keys
from lxdplan.kinds import registry
from lxdplan.kinds.common import export_config as _config, put_if as _put
from lxdplan.sensitive import reference_secrets
from lxdplan.state.observed import EVACUATED, Observed


def export_document(observed: Observed, endpoints: dict[str, str] | None = None,
                    secrets: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """``endpoints`` maps member names to the endpoint lxdplan should keep using for them;
    ``secrets`` the keys a file marks as secrets, with their references (``export -f``)."""
    endpoints = endpoints or {}
    doc: dict[str, Any] = {"version": 1, "backend": observed.backend}
    members = []
    for name, live in observed.members.items():
        address = live.url.removeprefix("https://")
        entry: dict[str, Any] = {"name": name, "address": address}
        endpoint = endpoints.get(name)
        if endpoint and endpoint != f"https://{address}":
            entry["endpoint"] = endpoint
        _put(entry, "config", _config(live.local_config))
        _put(entry, "description", live.description)
        if live.failure_domain and live.failure_domain != "default":
            entry["failure_domain"] = live.failure_domain
        if tuple(live.groups) != ("default",):
            _put(entry, "groups", list(live.groups))
        _put(entry, "roles", sorted(r for r in live.roles if r in keys.ASSIGNABLE_ROLES))
        if live.status == EVACUATED:
            entry["state"] = "evacuated"
        members.append(entry)
    cluster: dict[str, Any] = {}
    _put(cluster, "config", _config(observed.config))
    cluster["members"] = members
    doc["cluster"] = cluster
    for spec in registry():
        _put(doc, spec.section, spec.export_section(observed))
    reference_secrets(doc, secrets)
    return doc
