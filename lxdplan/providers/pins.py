"""The pin store: server certificates lxdplan trusts, per cluster, in ``<config dir>/known.json``.

A member's certificate is accepted when it is exactly one of: the member's declared
``fingerprint`` (or the certificate the user accepted for its endpoint with ``lxdplan auth
trust``, the same thing asked on a terminal), or this cluster's certificate, learnt over a
verified connection. Nothing else: the store is kept per cluster, never shared by address.

A cluster's entries live under its *scope*, ``scope_of(desired)``: the first declared member's
address (the key of the host lock too). Under a scope the file keeps
- ``cluster``: the cluster certificate (PEM and fingerprint), written only from a verified
  connection: right after this apply's bootstrap or join, or from a clustered member whose
  connection was verified against its pins. A bootstrap (a new cluster) replaces it.
- ``accepted``: ``host:port`` -> the certificate the user accepted for that member's endpoint.
  Written only by ``auth trust``; never overwritten by the cluster certificate, so a member
  whose join failed is still reached the next time.

``{"version": 2, "clusters": {SCOPE: {"cluster": {...}, "accepted": {HOST: {...}}}}}``. The
version-1 file (one ``hosts`` map shared by every cluster, keyed by address, written for every
address any cluster's member list named) is not read: its pins are what widened the trust.
Every write holds ``known.json.lock`` (``flock``) across read-modify-write and replaces the file
atomically (a 0600 temp file, fsync, rename), so processes running at once lose nothing. A file
that cannot be read or is not one lxdplan wrote is one sentence naming it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from lxdplan.errors import LxdplanError
from lxdplan.files import write_private
from lxdplan.providers.certs import config_dir, fingerprint

STORE_NAME = "known.json"
VERSION = 2

_lock = threading.Lock()  # threads of one process; flock serialises processes


def store_path(directory: Path | None = None) -> Path:
    return (directory or config_dir()) / STORE_NAME


def host_key(endpoint_or_address: str) -> str:
    """``https://10.0.0.1:8443`` or ``10.0.0.1:8443`` -> ``10.0.0.1:8443`` (the store's key)."""
    text = endpoint_or_address if "://" in endpoint_or_address else f"https://{endpoint_or_address}"
    parts = urlsplit(text)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port or 8443}"


def scope_of(desired: Any) -> str:
    """The pin store's key for the cluster ``desired`` describes: its first member's address."""
    members = getattr(desired, "members", ())
    if members and members[0].address:
        return host_key(members[0].address)
    return os.path.abspath(getattr(desired, "path", "") or "lxdplan.yaml")


@dataclass(frozen=True)
class Pinned:
    """One pinned certificate: its fingerprint and, when known, its PEM."""

    fingerprint: str
    certificate: str = ""


@dataclass(frozen=True)
class Scope:
    """What the store pins for one cluster."""

    cluster: Pinned | None = None
    accepted: dict[str, Pinned] = field(default_factory=dict)

    def for_endpoint(self, endpoint: str) -> list[Pinned]:
        """The certificates a member at ``endpoint`` may present: the one accepted for it, then
        the cluster's."""
        found = [self.accepted[host_key(endpoint)]] if host_key(endpoint) in self.accepted else []
        return found + ([self.cluster] if self.cluster else [])


def _bad(path: Path, why: str) -> LxdplanError:
    return LxdplanError(
        f"the pin store {path} {why}: move it away and pin the members again (declare their "
        f"fingerprints, or run `lxdplan auth trust`)")


def _pinned(path: Path, raw: Any) -> Pinned:
    if not (isinstance(raw, dict) and isinstance(raw.get("fingerprint"), str)
            and isinstance(raw.get("certificate", ""), str)):
        raise _bad(path, "is not a pin store lxdplan wrote (an entry has no fingerprint)")
    pem = raw.get("certificate", "")
    try:
        if pem and fingerprint(pem) != raw["fingerprint"]:
            raise _bad(path, "is not a pin store lxdplan wrote (a certificate does not match "
                             "its fingerprint)")
    except ValueError:
        raise _bad(path, "holds a certificate that cannot be read") from None
    return Pinned(raw["fingerprint"], pem)


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _bad(path, f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _bad(path, "is not a pin store lxdplan wrote (not a JSON object)")
    if data.get("version", 1) == 1 and "clusters" not in data:
        return {}  # version 1: shared by every cluster, keyed by address; not trusted any more
    clusters = data.get("clusters")
    if data.get("version") != VERSION or not isinstance(clusters, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("accepted", {}), dict) for v in clusters.values()):
        raise _bad(path, "is not a pin store lxdplan wrote (unknown version or layout)")
    for entry in clusters.values():  # every entry checked, also before a write keeps it
        if entry.get("cluster"):
            _pinned(path, entry["cluster"])
        for pinned in entry.get("accepted", {}).values():
            _pinned(path, pinned)
    return clusters


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, f"cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    return _parse(path, text)


def scope(name: str, directory: Path | None = None) -> Scope:
    """The pins of one cluster (empty when the store knows nothing of it)."""
    path = store_path(directory)
    raw = _read(path).get(name) or {}
    cluster = _pinned(path, raw["cluster"]) if raw.get("cluster") else None
    accepted = {host: _pinned(path, entry) for host, entry in (raw.get("accepted") or {}).items()}
    return Scope(cluster, accepted)


def remember_cluster(name: str, certificate: str, directory: Path | None = None) -> None:
    """Pin ``certificate`` (PEM) as the cluster certificate of scope ``name``; the caller read
    it over a verified connection."""
    entry = {"fingerprint": fingerprint(certificate), "certificate": certificate}
    with _editing(directory) as clusters:
        clusters.setdefault(name, {})["cluster"] = entry


def remember_accepted(name: str, endpoint: str, certificate: str,
                      directory: Path | None = None) -> None:
    """Pin ``certificate`` (PEM), which the user accepted, for the member at ``endpoint``."""
    entry = {"fingerprint": fingerprint(certificate), "certificate": certificate}
    with _editing(directory) as clusters:
        clusters.setdefault(name, {}).setdefault("accepted", {})[host_key(endpoint)] = entry


@contextmanager
def _editing(directory: Path | None) -> Iterator[dict[str, Any]]:
    """The store's clusters, to change in place, under the process and thread locks; written
    back atomically (0600) when the block ends without an error."""
    path = store_path(directory)
    with _lock:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path.with_name(STORE_NAME + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise _bad(path, f"cannot be written ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            clusters = _read(path)
            yield clusters
            _write(path, clusters)
        finally:
            os.close(fd)  # drops the flock


def _write(path: Path, clusters: dict[str, Any]) -> None:
    text = json.dumps({"version": VERSION, "clusters": clusters}, indent=2, sort_keys=True) + "\n"
    write_private(path, text, what="lxdplan's pin store")
