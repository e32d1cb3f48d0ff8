"""The pin store: server certificates lxdplan trusts, by address, in ``<config dir>/known.json``.

Entries come from two places only: a fingerprint the user accepted (``lxdplan auth trust``) and
the cluster certificate read over an already verified connection (after bootstrap or join every
member serves it). The file maps ``host:port`` to ``{"fingerprint", "certificate", "source"}``.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

from lxdplan.errors import LxdplanError
from lxdplan.providers.certs import config_dir, fingerprint, normalize_fingerprint

STORE_NAME = "known.json"
ACCEPTED = "accepted"
CLUSTER = "cluster"

_lock = threading.Lock()


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


def load(directory: Path | None = None) -> dict[str, dict[str, str]]:
    path = store_path(directory)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise LxdplanError(f"the pin store {path} cannot be read: {exc}") from None
    hosts = data.get("hosts", {}) if isinstance(data, dict) else {}
    return {k: v for k, v in hosts.items() if isinstance(v, dict) and v.get("fingerprint")}


def lookup(endpoint_or_address: str, directory: Path | None = None) -> dict[str, str] | None:
    """The stored entry for an address, or None."""
    return load(directory).get(host_key(endpoint_or_address))


def remember(
    addresses: list[str] | tuple[str, ...] | str,
    *,
    certificate: str | None = None,
    fp: str | None = None,
    source: str = CLUSTER,
    directory: Path | None = None,
) -> None:
    """Pin a certificate (PEM) or a bare fingerprint for one or more addresses/endpoints."""
    if isinstance(addresses, str):
        addresses = [addresses]
    if certificate:
        fp = fingerprint(certificate)
    if not fp:
        raise ValueError("remember() needs a certificate or a fingerprint")
    entry = {"fingerprint": normalize_fingerprint(fp), "certificate": certificate or "", "source": source}
    with _lock:
        hosts = load(directory)
        for address in addresses:
            hosts[host_key(address)] = dict(entry)
        _save(hosts, directory)


def forget(addresses: list[str] | str, directory: Path | None = None) -> None:
    if isinstance(addresses, str):
        addresses = [addresses]
    with _lock:
        hosts = load(directory)
        for address in addresses:
            hosts.pop(host_key(address), None)
        _save(hosts, directory)


def _save(hosts: dict[str, dict[str, str]], directory: Path | None) -> None:
    path = store_path(directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"version": 1, "hosts": hosts}, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise LxdplanError(f"the pin store {path} cannot be written: {exc.strerror}") from None
