"""How declared config is compared with what LXD reads back: one set of rules for the planner,
the kinds (what each one's LXD fills in) and the actions (whether a change already holds).

LXD has habits a naive ``dict ==`` gets wrong; the rules, in one place:

* Keys at their default are omitted on read, so a declared key absent live is a change and a
  live key absent from the file is a removal (config maps of pools, networks, profiles, projects
  and volumes are authoritative, SPEC §2) — except the keys below, which are never removed.
* Never compared: ``volatile.*`` (LXD's own) and ``user.lxdplan.*`` (lxdplan's ownership marks).
* Keys LXD fills in itself when the user leaves them out are only enforced when declared, never
  removed (``auto``/``auto_prefix`` below); a key LXD fills with a known value (``inherited``: a
  bridge's ``ipv4.nat`` "true") is left alone only while it holds that value. README "Keys the
  file leaves out" states the rule; built-in objects' descriptions: ``kinds.common``. Which keys those are is the kind's
  knowledge, in its module (``lxdplan.kinds``): a bridge's generated addresses, a project's
  ``features.*``, Ceph's cluster and user names, a volume's copies of its pool's ``volume.*``.
* Member-specific keys (``source``, ``size``, ``zfs.pool_name``…) compare only the declared ones:
  LXD fills in the rest (a dir pool's ``source``).
* Server config is key by key: declared keys are enforced, ``None`` unsets, others are left.
* A declared ``Secret`` (any config map) cannot be compared (``core.trust_password`` reads back
  as ``true``, and the value is only read at apply): it matches when the key is set live and is
  planned only when the key is absent, or when it is rotated (``--rotate KEY``).
"""

from __future__ import annotations

from typing import Mapping

from lxdplan import keys
from lxdplan.desired import Secret, Value

OWNED_PREFIX = "user.lxdplan."

Change = tuple[Value, Value]  # (live, desired); None on one side = absent


def differs(have: str | None, want: Value) -> bool:
    """A live value ``have`` differs from the declared ``want``; a ``Secret`` matches any set
    value unless it is rotated."""
    if isinstance(want, Secret):
        return have in (None, "") or want.rotate
    return have != want


def ignored(key: str) -> bool:
    """Keys never compared: LXD's own and lxdplan's ownership marks."""
    return keys.is_lxd_own(key) or key.startswith(OWNED_PREFIX)


def diff_config(
    live: Mapping[str, str],
    desired: Mapping[str, str],
    *,
    auto: frozenset[str] | None = None,
    auto_prefix: str | None = None,
    inherited: Mapping[str, str] | None = None,
) -> dict[str, Change]:
    """Authoritative comparison of a config map: ``{key: (live, desired)}`` for each difference.

    ``auto`` keys and keys under ``auto_prefix`` are removed only when declared otherwise;
    ``inherited`` maps keys to a value LXD copies in (a volume's pool defaults): an undeclared
    live key holding that value is not a removal.
    """
    changes: dict[str, Change] = {}
    for key in sorted(desired):
        if ignored(key):
            continue
        if differs(live.get(key), desired[key]):
            changes[key] = (live.get(key), desired[key])
    for key in sorted(live):
        if key in desired or ignored(key):
            continue
        if auto and key in auto:
            continue
        if auto_prefix and key.startswith(auto_prefix):
            continue
        if inherited and inherited.get(key) == live[key]:
            continue
        changes[key] = (live[key], None)
    return changes


def diff_declared(live: Mapping[str, str], desired: Mapping[str, str]) -> dict[str, Change]:
    """Compare only the declared keys (member-specific keys, which LXD fills in)."""
    return {
        key: (live.get(key), value)
        for key, value in sorted(desired.items())
        if differs(live.get(key), value)
    }


def diff_server(live: Mapping[str, str], desired: Mapping[str, Value]) -> dict[str, Change]:
    """Server config, key by key: declared enforced, ``None`` unsets, undeclared left alone."""
    changes: dict[str, Change] = {}
    for key in sorted(desired):
        want = desired[key]
        have = live.get(key)
        if want is None:
            if have not in (None, ""):
                changes[key] = (have, None)
        elif differs(have, want):
            changes[key] = (have or None, want) if isinstance(want, Secret) else (have, want)
    return changes


def comparable(config: Mapping[str, object] | None) -> dict[str, Value]:
    """A config map as compared for "already holds": string values, LXD's own keys dropped."""
    out: dict[str, Value] = {}
    for key, value in (config or {}).items():
        if keys.is_lxd_own(key) or value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        out[key] = value if isinstance(value, Secret) else str(value)
    return out


def same_config(live: Mapping[str, object] | None, wanted: Mapping[str, object] | None) -> bool:
    """Live config equals the config a step would send (a ``Secret`` matches any set value,
    unless rotated)."""
    a, b = comparable(live), comparable(wanted)
    if set(a) != set(b):
        return False
    return all(not differs(a[k], b[k]) for k in b)  # type: ignore[arg-type]  # live: strings


def split_changes(changes: Mapping[str, Change]) -> tuple[dict[str, Value], dict[str, Value]]:
    """``(before, after)`` maps of the changed keys, each side omitting keys absent on it."""
    before: dict[str, Value] = {k: old for k, (old, _new) in changes.items() if old is not None}
    after: dict[str, Value] = {k: new for k, (_old, new) in changes.items() if new is not None}
    return before, after


def config_views(changes: Mapping[str, Change], live_description: str,
                 description: str) -> tuple[dict, dict]:
    """The ``before``/``after`` of an update: changed config keys, and the description when it
    differs. Both empty when nothing differs."""
    old, new = split_changes(changes)
    before: dict = {"config": old} if old else {}
    after: dict = {"config": new} if new else {}
    if live_description != description:
        before["description"], after["description"] = live_description, description
    return before, after


def diff_devices(
    live: Mapping[str, Mapping[str, str]], desired: Mapping[str, Mapping[str, str]]
) -> tuple[dict, dict]:
    """Whole-device comparison: ``(before, after)`` of the devices that differ (added, changed,
    removed)."""
    before: dict = {}
    after: dict = {}
    for name in sorted(set(live) | set(desired)):
        old, new = live.get(name), desired.get(name)
        if old == new:
            continue
        if old is not None:
            before[name] = dict(old)
        if new is not None:
            after[name] = dict(new)
    return before, after


def put_config(live: Mapping[str, str], desired: Mapping[str, Value],
               auto: frozenset[str] = frozenset(), auto_prefix: str | None = None) -> dict:
    """The config map to PUT: the declared keys plus the live keys never removed (ownership
    marks, auto-filled keys), so a PUT does not reset them."""
    config = dict(desired)
    for key, value in live.items():
        if key in config:
            continue
        if ignored(key) or key in auto or (auto_prefix and key.startswith(auto_prefix)):
            config[key] = value
    return config


def desc(description: str) -> dict[str, str]:
    """A created object's description in ``after``, left out when empty."""
    return {"description": description} if description else {}


def shown(config: Mapping[str, str]) -> dict[str, str]:
    """A live config map as a plan shows it: without the keys never compared."""
    return {k: v for k, v in config.items() if not ignored(k)}
