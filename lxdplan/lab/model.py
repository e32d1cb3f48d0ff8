"""What a lab is: its backend, its names on the host, its members, and how it is saved.

A lab lives in ``<root>/<name>/`` with a ``state.json`` written before anything is created on the
host and updated as daemons start, so a half-started lab can always be torn down.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from lxdplan.errors import LabError

DEFAULT_ROOT = "/var/lib/lxdplan/labs"
STATE_FILE = "state.json"
LAB_FILE = "lxdplan.yaml"
MAX_MEMBERS = 7
CLUSTER_PORT = 8443
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")


@dataclass(frozen=True)
class Backend:
    """How to run and talk to one kind of server (LXD or Incus)."""

    name: str  # "lxd" | "incus"
    daemon: str  # the daemon binary
    dir_env: str  # LXD_DIR | INCUS_DIR
    client: str  # lxc | incus
    install: str  # the one sentence to print when the daemon is missing

    def env(self, daemon_dir: Path | str) -> dict[str, str]:
        """The environment for the daemon or its client pointed at ``daemon_dir``."""
        return {**os.environ, self.dir_env: str(daemon_dir)}


BACKENDS: dict[str, Backend] = {
    "lxd": Backend(
        name="lxd",
        daemon="lxd",
        dir_env="LXD_DIR",
        client="lxc",
        install="lxd is not installed: run apt-get install -y lxd lxd-client iptables dnsmasq-base",
    ),
    "incus": Backend(
        name="incus",
        daemon="/usr/libexec/incus/incusd",
        dir_env="INCUS_DIR",
        client="incus",
        install=(
            "incus is not installed: run .ci/install-debian (it enables bookworm-backports and runs "
            "apt-get install -y -t bookworm-backports incus)"
        ),
    ),
}


def backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise LabError(f"unknown backend {name!r}: use lxd or incus") from None


def lab_root(root: str | Path | None = None) -> Path:
    """The directory holding every lab: ``root``, else ``$LXDPLAN_LAB_ROOT``, else the default."""
    return Path(root or os.environ.get("LXDPLAN_LAB_ROOT") or DEFAULT_ROOT)


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise LabError(
            f"lab name {name!r} is not valid: use 1-30 lower-case letters, digits and dashes, "
            "starting with a letter or digit"
        )
    return name


def _short_hash(name: str, n: int = 8) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:n]


def bridge_name(name: str) -> str:
    """The host bridge: ``lxp-<name>`` when that fits in 15 characters, else a hash of the name."""
    plain = f"lxp-{name}"
    return plain if len(plain) <= 15 else f"lxp-h{_short_hash(name, 10)}"


def veth_name(name: str, index: int) -> str:
    """The host side of member ``index``'s veth pair (at most 15 characters)."""
    return f"lxv{_short_hash(name)}-{index}"


def namespace_prefix(name: str) -> str:
    return f"lxdplan-{name}-"


def namespace_name(name: str, index: int) -> str:
    return f"{namespace_prefix(name)}{index}"


@dataclass
class LabMember:
    """One daemon of a lab, in its own network namespace.

    ``address`` is the cluster address (``ip:8443``), the same form as a member's ``address`` in
    the desired-state file; ``ip`` is the bare address on the lab bridge.
    """

    name: str  # node1 … nodeN
    index: int
    ip: str
    namespace: str
    veth: str
    daemon_dir: str
    pid: int | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{CLUSTER_PORT}"

    @property
    def socket(self) -> str:
        return str(Path(self.daemon_dir) / "unix.socket")

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log(self) -> str:
        return str(Path(self.daemon_dir).with_suffix(".log"))

    def alive(self) -> bool:
        """True when the recorded pid is a live process inside this member's namespace.

        The namespace check keeps a reused pid (say, after a reboot) from passing for the daemon.
        """
        if not self.pid:
            return False
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # field 3: the state letter
                return False
            return os.stat(f"/proc/{self.pid}/ns/net").st_ino == os.stat(f"/run/netns/{self.namespace}").st_ino
        except (OSError, IndexError):
            return False


@dataclass
class Lab:
    """A throwaway cluster of unclustered daemons on this host; see ``lxdplan.lab.up``."""

    name: str
    backend: str
    dir: str
    bridge: str
    subnet: str  # the lab bridge's /24, e.g. 10.77.12.0/24
    host_ip: str  # the bridge's own address (.254)
    lxdbr0_address: str  # ipv4.address for lxdbr0 inside the members, e.g. 10.141.12.1/24
    members: list[LabMember] = field(default_factory=list)
    file: str = ""  # the generated desired-state file
    image: str = ""  # the busybox image tarball built for this lab (lxdplan.lab.image)
    image_fingerprint: str = ""
    # A standalone daemon (not a cluster member) in its own namespace on the lab bridge that
    # serves the image publicly under the alias ``busybox`` (``lab up --image-server``).
    image_server: LabMember | None = None
    # Each desired-state file `lab up` wrote (absolute path) and the SHA-256 of what it wrote:
    # a file whose content no longer matches has the user's edits and is never overwritten.
    written: dict[str, str] = field(default_factory=dict)
    # OVN (``lab up --ovn``, lxdplan.lab.ovn): ovn-central in a namespace of its own and, per
    # member, Open vSwitch on the userspace datapath with ovn-controller.
    ovn: bool = False
    # Not saved (so no field): what the last `lab up` did (lifecycle.News, which imports this).
    news = cast(Any, None)

    @property
    def image_server_url(self) -> str:
        return f"https://{self.image_server.address}" if self.image_server else ""

    @property
    def image_server_certificate(self) -> str:
        """The image server's certificate (PEM file), to pin it."""
        return str(Path(self.image_server.daemon_dir) / "server.crt") if self.image_server else ""

    def daemons(self) -> list[LabMember]:
        """Every daemon of the lab: the members, then the image server if there is one."""
        return self.members + ([self.image_server] if self.image_server else [])

    @property
    def state_path(self) -> Path:
        return Path(self.dir) / STATE_FILE

    def save(self) -> None:
        """Write state.json atomically."""
        data = asdict(self)
        for member, raw in zip(self.members, data["members"]):
            raw["address"] = member.address
            raw["socket"] = member.socket
        if self.image_server is not None:
            data["image_server"]["address"] = self.image_server.address
            data["image_server"]["socket"] = self.image_server.socket
        # A temporary name of its own: a member's keeper (lxdplan.lab.keeper) may save at once.
        tmp = self.state_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.state_path)

    @classmethod
    def load(cls, path: Path) -> "Lab":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            def member(raw: dict) -> LabMember:
                return LabMember(**{k: v for k, v in raw.items() if k not in ("address", "socket")})

            members = [member(m) for m in data.pop("members")]
            server = data.pop("image_server", None)
            return cls(**data, members=members, image_server=member(server) if server else None)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise LabError(f"the lab state {path} cannot be read ({exc})") from None
