"""``endpoint: remote:NAME``: a remote of the ``lxc`` (LXD) or ``incus`` client configuration.

An operator who ran ``lxc remote add NAME https://IP:8443 --token …`` has, in one configuration
directory, ``config.yml`` (the remote's ``addr``), ``servercerts/NAME.crt`` (the server certificate
``lxc`` pinned) and ``client.crt``/``client.key`` (the client certificate the server now trusts).
lxdplan reaches such a member at that address, pins that certificate and presents that client
certificate, so no ``lxdplan auth`` is needed.

Where the configurations are, in order: LXD ``$LXD_CONF`` when set (the only one then, as ``lxc``
does), else ``~/.config/lxc`` and ``~/snap/lxd/common/config``; Incus ``$INCUS_CONF`` when set,
else ``~/.config/incus``. The file's ``backend`` picks LXD's or Incus's; without one both are
searched, LXD's first. The first configuration that lists the remote is the one used.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import yaml

from lxdplan.errors import LxdplanError
from lxdplan.providers.certs import ClientCert, fingerprint

if TYPE_CHECKING:
    from lxdplan.desired import Desired, Member
    from lxdplan.providers.client import Client

PREFIX = "remote:"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class RemoteError(LxdplanError):
    """A ``remote:NAME`` endpoint that cannot be used; the message names the member and remote."""


def is_remote(endpoint: str) -> bool:
    return endpoint.startswith(PREFIX)


def valid(endpoint: str) -> bool:
    """``remote:NAME`` with a name ``lxc remote add`` accepts."""
    return is_remote(endpoint) and bool(NAME.fullmatch(endpoint[len(PREFIX):]))


@dataclass(frozen=True)
class Remote:
    """A resolved remote: where it is, the certificate pinned for it, the client certificate."""

    name: str
    url: str  # https://host:port
    certificate: str | None  # PEM from servercerts/NAME.crt, None when the file declares a pin
    client_cert: ClientCert
    config_dir: Path
    tool: str  # "lxc" | "incus"

    @property
    def fingerprint(self) -> str | None:
        return fingerprint(self.certificate) if self.certificate else None


def config_dirs(backend: str | None, env: Mapping[str, str] | None = None,
                home: Path | None = None) -> list[tuple[str, Path]]:
    """``(tool, directory)`` of every client configuration to search, in order."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    lxd = [Path(env["LXD_CONF"])] if env.get("LXD_CONF") else [
        home / ".config" / "lxc", home / "snap" / "lxd" / "common" / "config"]
    incus = [Path(env["INCUS_CONF"])] if env.get("INCUS_CONF") else [home / ".config" / "incus"]
    found = []
    if backend in (None, "", "lxd"):
        found += [("lxc", d) for d in lxd]
    if backend in (None, "", "incus"):
        found += [("incus", d) for d in incus]
    return found


def resolve(endpoint: str, *, member: str, backend: str | None, pinned: bool = False,
            env: Mapping[str, str] | None = None, home: Path | None = None) -> Remote:
    """The remote ``endpoint`` (``remote:NAME``) names, for ``member``. ``pinned`` says the file
    declares the member's fingerprint, so a remote without a stored server certificate will do."""
    name = endpoint[len(PREFIX):]
    searched, found = _find(name, backend, env, home)
    if found is not None:
        tool, directory, entry = found
        return _remote(name, entry, tool, directory, member=member, pinned=pinned)
    where = ", ".join(str(d) for _tool, d in searched)
    tools = " or ".join(dict.fromkeys(t for t, _d in searched))
    raise RemoteError(
        f"member {member} uses remote {name}, which is not a remote of the {tools} client "
        f"configuration ({where}): add it with `{searched[0][0]} remote add {name} "
        f"https://ADDRESS:8443 --token TOKEN`, or set the member's endpoint to its https:// URL"
    )


def _find(name: str, backend: str | None, env: Mapping[str, str] | None,
          home: Path | None) -> tuple[list[tuple[str, Path]], tuple[str, Path, dict] | None]:
    """(the configurations searched, and the first ``(tool, directory, entry)`` holding remote
    ``name``, or None)."""
    searched = config_dirs(backend, env, home)
    for tool, directory in searched:
        remotes = _remotes(directory)
        if name in remotes:
            entry = remotes[name]
            return searched, (tool, directory, entry if isinstance(entry, dict) else {})
    return searched, None


def _server_cert(directory: Path, name: str) -> tuple[Path, str | None]:
    """(the path of remote ``name``'s pinned server certificate, its PEM or None when the file
    is missing); another failure to read it raises ``OSError``."""
    crt = directory / "servercerts" / f"{name}.crt"
    try:
        return crt, crt.read_text(encoding="utf-8")
    except FileNotFoundError:
        return crt, None


def _remotes(directory: Path) -> dict:
    path = directory / "config.yml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as exc:
        raise RemoteError(f"the client configuration {path} cannot be read: {exc}") from None
    remotes = doc.get("remotes") if isinstance(doc, dict) else None
    return remotes if isinstance(remotes, dict) else {}


def _remote(name: str, entry: dict, tool: str, directory: Path, *, member: str,
            pinned: bool) -> Remote:
    addr = str(entry.get("addr") or "")
    protocol = entry.get("protocol", "lxd")
    where = f"{directory / 'config.yml'}"
    if protocol not in ("lxd", "incus") or not addr.startswith("https://"):
        raise RemoteError(
            f"member {member} uses remote {name}, whose address in {where} is {addr or '(none)'} "
            f"({protocol}): lxdplan reaches members over https:// (or give the member a "
            f"unix:///path endpoint)"
        )
    try:
        crt, certificate = _server_cert(directory, name)
    except OSError as exc:
        raise RemoteError(f"member {member}: {exc.filename} cannot be read: {exc.strerror}") from None
    if certificate is None and not pinned:
        raise RemoteError(
            f"member {member} uses remote {name} ({addr}), whose server certificate is not "
            f"pinned ({crt} is missing): add the remote again with `{tool} remote add`, or "
            f"declare the member's fingerprint"
        )
    cert_path, key_path = directory / "client.crt", directory / "client.key"
    try:
        client_fp = fingerprint(cert_path.read_bytes())
        if not key_path.is_file():
            raise FileNotFoundError(key_path)
    except (OSError, ValueError):
        raise RemoteError(
            f"member {member} uses remote {name}, but the {tool} client configuration "
            f"{directory} has no readable client certificate (client.crt and client.key)"
        ) from None
    return Remote(name=name, url=addr.rstrip("/"), certificate=certificate,
                  client_cert=ClientCert(cert_path, key_path, client_fp),
                  config_dir=directory, tool=tool)


def member_client(desired: Desired, member: Member, **options: Any) -> Client:
    """The ``Client`` of a declared member's own endpoint: its https:// or unix:// URL, or the
    ``remote:NAME`` it names (that remote's URL, pinned certificate and client certificate)."""
    from lxdplan.providers.client import Client
    from lxdplan.providers.pins import scope_of

    options.setdefault("scope", scope_of(desired))
    if not is_remote(member.endpoint):
        return Client(member.endpoint, member=member.name, pin=member.fingerprint,
                      pin_file=desired.path, **options)
    remote = resolve(member.endpoint, member=member.name, backend=desired.backend,
                     pinned=bool(member.fingerprint))
    return Client(remote.url, member=member.name, pin=member.fingerprint,
                  extra_pins=[remote.fingerprint] if remote.fingerprint else [],
                  certificates=[remote.certificate] if remote.certificate else [],
                  cert=remote.client_cert, pin_file=desired.path, **options)


# -- images on a remote (an instance's ``image: REMOTE:ALIAS``, as ``lxc launch REMOTE:ALIAS``) --

IMAGE_REF = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*):(.+)")


def image_source(ref: str, *, instance: str, backend: str,
                 env: Mapping[str, str] | None = None, home: Path | None = None) -> dict[str, str]:
    """The ``source`` of ``POST /1.0/instances`` that pulls ``REMOTE:ALIAS`` from a remote of the
    client configuration: its address, protocol (``lxd`` and ``incus`` are one protocol, named
    for the cluster's server) and pinned certificate."""
    match = IMAGE_REF.fullmatch(ref)
    if match is None:
        raise RemoteError(f"instance {instance}: image {ref} is not REMOTE:ALIAS")
    name, alias = match.groups()
    searched, found = _find(name, backend, env, home)
    if found is not None:
        tool, directory, entry = found
        addr, protocol = str(entry.get("addr") or ""), str(entry.get("protocol") or "lxd")
        if not addr.startswith("https://"):
            raise RemoteError(f"instance {instance}: remote {name} in {directory / 'config.yml'} "
                              f"has no https:// address ({addr or 'none'})")
        source = {"type": "image", "mode": "pull", "server": addr.rstrip("/"), "alias": alias}
        if protocol == "simplestreams":
            source["protocol"] = "simplestreams"
            return source
        source["protocol"] = "incus" if backend == "incus" else "lxd"
        try:
            crt, certificate = _server_cert(directory, name)
        except OSError as exc:
            crt, certificate = exc.filename, None
        if certificate is None:
            raise RemoteError(f"instance {instance}: remote {name}'s server certificate is not "
                              f"pinned ({crt} is missing): add the remote again with `{tool} "
                              "remote add`")
        source["certificate"] = certificate
        return source
    where = ", ".join(str(d) for _tool, d in searched)
    raise RemoteError(f"instance {instance}: image {ref} names remote {name}, which is not a "
                      f"remote of the client configuration ({where})")
