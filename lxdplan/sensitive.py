"""Which configuration values are secrets, and how every output hides them.

The one table of keys that hold secrets, from LXD's and Incus's own key lists (LXD 5.x
``lxd/cluster/config``, storage and network drivers; Incus 6.x ``internal/server/cluster/config``,
``config/logging.go``, ``network/driver_*``, ``storage/drivers``): passwords, tokens, private and
API keys. The server's keys are listed here; each kind declares its own (``secret_keys`` of its
module: a pool driver's API token, a zone's ``peers.*.key``) and the registry hands them down
once, at its import (:func:`declare`; this layer never imports the registry). Until then every
check refuses to run, so a command that forgot the kinds fails loudly instead of printing a
secret. A value is sensitive when its key is in the table, when the user marks it by writing
it as a secret reference (``{env: NAME}`` / ``{file: PATH}``, any config map), or, for an
instance's ``environment.*`` key, when its name says so (``DB_PASSWORD``, ``API_TOKEN``…).

A sensitive value prints as ``(sensitive)`` on both sides of a change, in every output format,
saved plan and log: renderers and the saved plan call :func:`masked_views`; ``export`` writes
such keys as ``{env: …}`` references (:func:`export_reference`).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from typing import Any, Iterable, Mapping

from lxdplan.desired import SENSITIVE, Secret

# Server config keys whose value is a secret, on either server (the kinds' are declared by them).
SENSITIVE_KEYS: frozenset[str] = frozenset({
    # server config, LXD
    "core.trust_password", "candid.api.key", "rbac.api.key", "rbac.agent.private_key",
    "maas.api.key", "loki.auth.password", "oidc.client.secret",
    # server config, Incus
    "authorization.openfga.api.token", "storage.linstor.client_key",
    # server config, both
    "network.ovn.client_key",
})
SENSITIVE_PATTERNS: tuple[str, ...] = (
    "logging.*.target.password",  # Incus logging targets
)
_WILD = re.compile(r"[*?\[]")
# The kinds' secret keys (``KindSpec.secret_keys``), handed down by the registry: exact keys
# and fnmatch patterns. None until it is imported.
_kind_keys: frozenset[str] | None = None
_kind_patterns: tuple[str, ...] = ()


def declare(keys: Iterable[str]) -> None:
    """The kinds' secret keys (``peers.*.key``: an fnmatch pattern), from the registry."""
    global _kind_keys, _kind_patterns
    given = set(keys)
    _kind_keys = frozenset(k for k in given if not _WILD.search(k))
    _kind_patterns = tuple(sorted(k for k in given if _WILD.search(k)))


def _kinds() -> tuple[frozenset[str], tuple[str, ...]]:
    if _kind_keys is None:
        raise RuntimeError("the kinds' secret keys are not declared: import lxdplan.registry "
                           "before masking or exporting anything")
    return _kind_keys, _kind_patterns
# An instance's environment variable whose name says it holds a secret.
_ENV_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|CREDENTIAL|(^|_)KEY$|APIKEY",
                              re.IGNORECASE)


def sensitive_key(key: str) -> bool:
    """``key`` holds a secret by its name alone (the table, or a secret-named environment.*)."""
    kind_keys, kind_patterns = _kinds()
    if key in SENSITIVE_KEYS or key in kind_keys or any(
            fnmatch.fnmatchcase(key, p) for p in (*SENSITIVE_PATTERNS, *kind_patterns)):
        return True
    if key.startswith("environment."):
        return bool(_ENV_SECRET_NAME.search(key[len("environment."):]))
    return False


def _secret_keys(value: Any, found: set[str]) -> None:
    """Collect the keys under which ``value`` holds a ``Secret`` (any depth)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(v, Secret):
                found.add(str(k))
            else:
                _secret_keys(v, found)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _secret_keys(v, found)


def _mask(value: Any, marked: set[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: (SENSITIVE if (sensitive_key(str(k)) or str(k) in marked)
                    and isinstance(v, (str, int, float, bool))
                    else _mask(v, marked))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask(v, marked) for v in value]
    return value


def masked(value: Any, also: set[str] | frozenset[str] = frozenset()) -> Any:
    """``value`` (maps and lists) with every sensitive plain value ``"(sensitive)"``: values
    under a key of the table or a key in ``also``. ``Secret`` objects stay (every output
    prints them ``(sensitive)``; a saved plan keeps their reference)."""
    return _mask(value, set(also))


def masked_views(before: Any, after: Any) -> tuple[Any, Any]:
    """A step's ``before``/``after`` as shown: sensitive on both sides. A key whose value is a
    secret reference on one side is hidden on the other too (the live value it replaces)."""
    marked: set[str] = set()
    _secret_keys(before, marked)
    _secret_keys(after, marked)
    return masked(before, marked), masked(after, marked)


def sensitive_label(label: str) -> bool:
    """A flattened label (``config["loki.auth.password"]``) of a sensitive key."""
    match = re.fullmatch(r'[^\[]*\["(.*)"\]', label)
    return sensitive_key(match.group(1) if match else label)


def export_reference(key: str, scope: str = "") -> dict[str, str]:
    """The ``{env: NAME}`` reference ``export`` writes for a sensitive key: ``LXDPLAN_`` and the
    scope (``instance web``) and key in upper case, non-alphanumerics as ``_``."""
    words = f"{scope} {key}".strip()
    return {"env": "LXDPLAN_" + re.sub(r"[^A-Za-z0-9]+", "_", words).strip("_").upper()}


def file_references(desired: Any) -> dict[str, dict[str, str]]:
    """The config keys a desired-state file marks as secrets, each with its reference
    (``{env: NAME}``), for ``export -f FILE``; a key the file gives two references is left out
    (the export then names a variable of its own)."""
    found: dict[str, set] = {}

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                if isinstance(v, Secret):
                    found.setdefault(str(k), set()).add((v.source, v.ref))
                else:
                    walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif dataclasses.is_dataclass(value) and not isinstance(value, (type, Secret)):
            for f in dataclasses.fields(value):
                if f.name not in ("trust",):  # a member's trust is not a config key
                    walk(getattr(value, f.name))

    walk(desired)
    return {k: {source: ref} for k, refs in found.items() if len(refs) == 1
            for ((source, ref),) in [tuple(refs)]}


def reference_secrets(document: dict[str, Any],
                      marked: Mapping[str, dict[str, str]] | None = None) -> list[str]:
    """Replace, in an exported desired-state ``document``, every sensitive config value by a
    reference: the file's own for a key it ``marked`` (:func:`file_references`), else the
    ``{env: …}`` :func:`export_reference` names (scoped by member or object so two objects'
    secrets never share a variable). Returns the variable names, in order."""
    names: list[str] = []
    marked = marked or {}

    def swap(config: Any, scope: str) -> None:
        if not isinstance(config, dict):
            return
        for key, value in list(config.items()):
            if not isinstance(value, (str, int, float, bool)):
                continue
            if key in marked:
                config[key] = dict(marked[key])
            elif sensitive_key(key):
                config[key] = export_reference(key, scope)
            else:
                continue
            names.append(next(iter(config[key].values())))

    cluster = document.get("cluster") or {}
    swap(cluster.get("config"), "")
    for member in cluster.get("members") or []:
        swap(member.get("config"), f"member {member.get('name', '')}")
    for section, entries in document.items():
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, dict):
                scope = " ".join(str(entry[k]) for k in ("project", "pool", "name") if entry.get(k))
                swap(entry.get("config"), f"{section.rstrip('s')} {scope}")
    return names
