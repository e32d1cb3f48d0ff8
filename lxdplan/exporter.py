"""The live cluster as a desired-state document (``lxdplan export``): pure, Observed → dict.

What is exported is exactly what the planner compares, so ``plan`` on an exported file shows no
changes: member-specific keys under ``members:``, ownership marks and the apply lock left out
(they are lxdplan's own), ``core.trust_password`` left out (it reads back only as "true") and
every other secret (``lxdplan.sensitive``) written as an ``{env: …}`` reference.
The implicit ``default`` cluster group is not listed.

The file is meant to be kept in git, so it says what a person would write: what LXD sets by
itself is left out (a member's ``core.https_address``/``cluster.https_address`` equal to its
``address``, a pool's default paths on each member, the default project's ``features.*``);
members keep the cluster's order (the first one bootstraps; with ``export -f`` the file's
order); values the loader reads back as the same string are plain YAML (``15``, ``true``); an
image keeps the source its file declares (``export -f``), else a placeholder that ``render``
explains in a comment.
"""

from __future__ import annotations

import os
import re
from typing import Any

from lxdplan import addresses, keys
from lxdplan.kinds.common import export_config as _config
from lxdplan.kinds.common import put_if as _put
from lxdplan.registry import registry
from lxdplan.sensitive import reference_secrets
from lxdplan.state.observed import EVACUATED, Observed

PLACEHOLDER_SERVER = "https://CHANGE-ME:8443"  # an image whose source LXD does not record
_ADDRESS_KEYS = ("core.https_address", "cluster.https_address")
_INTEGER = re.compile(r"0|-?[1-9][0-9]*")


def export_document(observed: Observed, endpoints: dict[str, str] | None = None,
                    secrets: dict[str, dict[str, str]] | None = None,
                    desired: Any = None, out_dir: str | None = None) -> dict[str, Any]:
    """``endpoints`` maps member names to the endpoint lxdplan should keep using for them;
    ``secrets`` the keys a file marks as secrets, with their references; ``desired`` the file
    read (``export -f``): its member order and its images' sources are kept; ``out_dir`` the
    directory the export is written to (its relative paths are relative to it)."""
    endpoints = endpoints or {}
    doc: dict[str, Any] = {"version": 1, "backend": observed.backend}
    members = []
    for name in member_order(observed, desired):
        live = observed.members[name]
        address = live.url.removeprefix("https://")
        entry: dict[str, Any] = {"name": name, "address": address}
        endpoint = endpoints.get(name)
        if endpoint and endpoint != f"https://{address}":
            entry["endpoint"] = endpoint
        _put(entry, "config", {k: v for k, v in _config(live.local_config).items()
                               if not (k in _ADDRESS_KEYS and addresses.same(v, address))})
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
    if desired is not None:
        keep_image_sources(doc, desired, out_dir)
    reference_secrets(doc, secrets)
    humanise(doc)
    return doc


def member_order(observed: Observed, desired: Any = None) -> list[str]:
    """The members as the cluster lists them (by id: the bootstrap member first); with a file,
    the members it declares first, in its order (it bootstrapped them in that order)."""
    listed = list(observed.members)
    first = [m.name for m in (desired.members if desired is not None else ()) if m.name in observed.members]
    return first + [n for n in listed if n not in first]


def keep_image_sources(doc: dict[str, Any], desired: Any, out_dir: str | None = None) -> None:
    """Each exported image the file declares (same project; by name or alias, or by its
    fingerprint pin) takes the file's ``source`` instead of the placeholder. Relative paths
    stay as written when the export goes to the file's directory, else become absolute."""
    base = os.path.dirname(os.path.abspath(desired.path))
    if out_dir is not None and os.path.abspath(out_dir) == base:
        base = ""  # the same directory: the paths as written
    declared = getattr(desired, "images", ())
    for entry in doc.get("images") or []:
        project = entry.get("project", "default")
        names = {entry["name"], *entry.get("aliases", ())}
        fingerprint = entry.get("fingerprint") or ""
        for image in declared:
            if image.project != project:
                continue
            if ({image.name, *image.aliases} & names
                    or (image.fingerprint and fingerprint.startswith(image.fingerprint.lower()))):
                entry["source"] = _source_entry(image.source, base)
                break


def _source_entry(source: Any, base: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in ("file", "metadata", "rootfs", "server", "protocol", "alias", "fingerprint",
                  "certificate"):
        value = getattr(source, field, None)
        if value is None or (field == "protocol" and source.server is None):
            continue
        if field in ("file", "metadata", "rootfs") and base and not os.path.isabs(value):
            value = os.path.normpath(os.path.join(base, value))
        if hasattr(value, "source") and hasattr(value, "ref"):  # a Secret: its reference
            value = {value.source: value.ref}
        out[field] = value
    return out


# -- values as a person writes them ---------------------------------------------------------

def human(value: Any) -> Any:
    """``"15"`` → 15, ``"true"``/``"false"`` → true/false: the plain YAML the loader reads back
    as the same string (``filecheck.normalise``); every other value as it is."""
    if not isinstance(value, str):
        return value
    if value in ("true", "false"):
        return value == "true"
    if _INTEGER.fullmatch(value) and len(value) < 16:
        return int(value)
    return value


def _human_map(values: Any) -> None:
    if isinstance(values, dict):
        for key, value in values.items():
            values[key] = human(value)


def humanise(doc: dict[str, Any]) -> None:
    """Config maps, devices and member-specific keys of ``doc``, in place."""
    cluster = doc.get("cluster") or {}
    _human_map(cluster.get("config"))
    for member in cluster.get("members") or []:
        _human_map(member.get("config"))
    for entries in doc.values():
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            _human_map(entry.get("config"))
            for sub in ("devices", "members"):
                if isinstance(entry.get(sub), dict):
                    for values in entry[sub].values():
                        _human_map(values)


# -- the text, with its comments -----------------------------------------------------------

HEADER = "# Exported by lxdplan from the live cluster.\n"
_SECRETS_NOTE = ("# Secrets are {{env: NAME}} references, read at apply: set {names} in the "
                 "environment\n# (or write {{file: PATH}} instead).\n")
_PLACEHOLDER_NOTE = [
    "CHANGE-ME: LXD does not record where this image came from: name an image server",
    "that holds it, or write `file: PATH` of its tarball. Until the image is needed again",
    "(it is deleted, or a new cluster is made from this file) plan and apply keep the one",
    "the cluster has: the fingerprint pin below names it.",
]


def _env_references(node: Any) -> list[str]:
    """The variables the ``{env: NAME}`` references of ``node`` name, in order."""
    if isinstance(node, dict):
        if len(node) == 1 and isinstance(node.get("env"), str):
            return [node["env"]]
        return [n for value in node.values() for n in _env_references(value)]
    if isinstance(node, list):
        return [n for value in node for n in _env_references(value)]
    return []


def render(doc: dict[str, Any]) -> str:
    """The document as YAML text: a header (naming the variables its secret references read)
    and a comment above each placeholder."""
    import yaml

    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip() == f"server: {PLACEHOLDER_SERVER}":
            indent = line[: len(line) - len(line.lstrip())]
            lines.extend(f"{indent}# {note}" for note in _PLACEHOLDER_NOTE)
        lines.append(line)
    names = list(dict.fromkeys(_env_references(doc)))
    note = _SECRETS_NOTE.format(names=", ".join(names)) if names else ""
    return HEADER + note + "\n".join(lines) + "\n"
