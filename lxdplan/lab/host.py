"""The host side of a lab: namespaces, the bridge, veth pairs, subnets, mounts and processes.

Everything here shells out to ``ip`` and ``umount``; failures become ``LabError`` sentences.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from lxdplan.errors import LabError


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command quietly; on failure raise one sentence quoting its stderr."""
    proc = subprocess.run(args, capture_output=True, text=True)
    if check and proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"`{' '.join(args)}` failed: {msg[-1] if msg else f'exit {proc.returncode}'}")
    return proc


def _ip_json(*args: str) -> list[dict]:
    out = run("ip", "-j", *args).stdout.strip()
    return json.loads(out) if out else []


def link_exists(name: str) -> bool:
    return run("ip", "link", "show", "dev", name, check=False).returncode == 0


def namespaces() -> list[str]:
    """Names of every network namespace on the host."""
    out = run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def used_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """IPv4 networks already in use on the host: every address's subnet and every route."""
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for link in _ip_json("-4", "addr"):
        for info in link.get("addr_info", []):
            nets.append(ipaddress.ip_network(f"{info['local']}/{info['prefixlen']}", strict=False))
    for route in _ip_json("-4", "route", "show", "table", "all"):
        dst = route.get("dst", "")
        if dst and dst != "default":
            try:
                nets.append(ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False))
            except ValueError:
                continue
    return nets


def pick_subnets(seed: int, taken: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
                 also: Callable[[ipaddress.IPv4Network], ipaddress.IPv4Network] | None = None,
                 ) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]:
    """Pick a free lab /24 in 10.64-127.x.0 and its lxdbr0 /24 in 10.128-191.x.0.

    Starts at a place derived from ``seed`` (the lab name's hash) so the same name tends to get
    the same subnets, and walks on until none collides with ``taken``: neither, nor ``also(lab)``
    when given (one more subnet the lab derives from its own, e.g. for OVN).
    """
    for step in range(64 * 256):
        slot = (seed + step) % (64 * 256)
        x, y = 64 + slot // 256, slot % 256
        lab = ipaddress.IPv4Network(f"10.{x}.{y}.0/24")
        inner = ipaddress.IPv4Network(f"10.{x + 64}.{y}.0/24")
        nets = [lab, inner] + ([also(lab)] if also else [])
        if not any(n.overlaps(t) for n in nets for t in taken):
            return lab, inner
    raise LabError("no free /24 subnet is left in 10.64.0.0/10 for a new lab")


def create_bridge(bridge: str, host_ip: str, prefix: int) -> None:
    run("ip", "link", "add", bridge, "type", "bridge")
    run("ip", "addr", "add", f"{host_ip}/{prefix}", "dev", bridge)
    run("ip", "link", "set", bridge, "up")


def create_namespace(ns: str, veth: str, bridge: str, ip: str, prefix: int) -> None:
    """A namespace with ``lo`` and ``eth0`` up, joined to ``bridge``; no default route."""
    run("ip", "netns", "add", ns)
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    run("ip", "link", "set", veth, "master", bridge, "up")
    run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ip}/{prefix}", "dev", "eth0")
    run("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
    run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")


def delete_namespace(ns: str) -> None:
    if ns in namespaces():
        run("ip", "netns", "del", ns)


def delete_link(name: str) -> None:
    """Delete a link; one that vanished meanwhile (a veth goes with its peer's namespace) is fine."""
    if link_exists(name):
        proc = run("ip", "link", "del", name, check=False)
        if proc.returncode != 0 and link_exists(name):
            raise LabError(f"`ip link del {name}` failed: {proc.stderr.strip()}")


def namespace_pids(ns: str) -> list[int]:
    if ns not in namespaces():
        return []
    out = run("ip", "netns", "pids", ns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Poll until every pid has exited (reaping our own children); return those still alive."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in pids:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        left = [p for p in pids if pid_alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_pids(pids: list[int], grace: float = 10.0) -> None:
    """SIGTERM, poll for up to ``grace`` seconds, then SIGKILL whatever is left."""
    pids = [p for p in pids if pid_alive(p)]
    signal_pids(pids, signal.SIGTERM)
    left = wait_gone(pids, grace)
    if left:
        signal_pids(left, signal.SIGKILL)
        left = wait_gone(left, 5.0)
    if left:
        raise LabError(f"processes {', '.join(map(str, left))} did not die after SIGKILL")


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    return field.encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def mounts_under(directory: str | Path) -> list[str]:
    """Mount points at or below ``directory`` in this mount namespace, deepest first."""
    base = os.path.realpath(directory)
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        point = _unescape(line.split()[4])
        if point == base or point.startswith(base + "/"):
            found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_all(directory: str | Path) -> None:
    """Lazily unmount everything mounted under ``directory`` (stacked mounts included)."""
    for _ in range(20):
        points = mounts_under(directory)
        if not points:
            return
        for point in points:
            run("umount", "-l", point, check=False)
    left = mounts_under(directory)
    if left:
        raise LabError(f"cannot unmount {left[0]}")
