"""Bringing a lab up and down: the host network, the daemons, readiness and teardown."""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from lxdplan.errors import LabError
from lxdplan.lab import host
from lxdplan.lab import image as lab_image
from lxdplan.lab import ovn as lab_ovn
from lxdplan.lab.labfile import render_lab_file, write_text
from lxdplan.lab.model import (
    LAB_FILE,
    MAX_MEMBERS,
    STATE_FILE,
    Lab,
    LabMember,
    bridge_name,
    check_name,
    lab_root,
    namespace_name,
    namespace_prefix,
    veth_name,
)
from lxdplan.lab.model import (
    backend as get_backend,
)

READY_TIMEOUT = 60.0
# How long daemons get to stop after SIGTERM before SIGKILL. A clustered LXD whose peers stop at
# the same moment spends seconds on a role handover nobody needs in a throwaway lab.
STOP_GRACE = 2.0
# A single member restarted in a running cluster hands its database role over first: give it time.
RESTART_GRACE = 30.0
# Popen objects of daemons started by this process, kept so they are never garbage-collected
# (which would warn) while the daemon runs; teardown reaps them by pid.
_children: dict[int, subprocess.Popen] = {}


def preflight(backend_name: str) -> None:
    """Raise one sentence saying what to run when this host cannot run a lab."""
    b = get_backend(backend_name)
    if os.geteuid() != 0:
        raise LabError("lxdplan lab needs root (it creates network namespaces): run it as root, "
                       "e.g. sudo lxdplan lab up")
    if not shutil.which("ip"):
        raise LabError("the ip command is not installed: run apt-get install -y iproute2")
    if not shutil.which(b.daemon):
        raise LabError(b.install)
    if not shutil.which("iptables"):
        raise LabError("iptables is not installed (bridges need it): run apt-get install -y iptables")
    if not shutil.which("dnsmasq"):
        raise LabError("dnsmasq is not installed (bridges need it): run apt-get install -y dnsmasq-base")
    if not os.path.exists(lab_image.BUSYBOX):
        raise LabError(lab_image.INSTALL_HINT)


def find(name: str, root: str | Path | None = None) -> Lab | None:
    """The saved lab called ``name``, or None when there is none."""
    state = lab_root(root) / check_name(name) / STATE_FILE
    return Lab.load(state) if state.exists() else None


def list_labs(root: str | Path | None = None) -> list[Lab]:
    """Every saved lab under the lab root (unreadable states are skipped)."""
    base = lab_root(root)
    if not base.is_dir():
        return []
    labs = []
    for path in sorted(base.glob(f"*/{STATE_FILE}")):
        try:
            labs.append(Lab.load(path))
        except LabError:  # being torn down right now, or damaged: not a lab to reckon with
            continue
    return labs


@contextmanager
def _root_lock(base: Path):
    """Serialise subnet and name allocation between concurrent `lab up`s on this root."""
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _taken_networks(base: Path) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    taken = host.used_networks()
    for other in list_labs(base):
        taken.append(ipaddress.ip_network(other.subnet))
        taken.append(ipaddress.ip_network(other.lxdbr0_address, strict=False))
    return taken


def up(
    name: str = "lab",
    backend: str = "lxd",
    members: int | None = None,
    root: str | Path | None = None,
    out: str | Path | None = None,
    timeout: float = READY_TIMEOUT,
    template: dict | None = None,
    image_server: bool | None = None,
    ovn: bool | None = None,
) -> Lab:
    """Start ``members`` (default 3) unclustered daemons, one per network namespace, and write
    the lab file.

    Every lab gets the busybox image (``lxdplan.lab.image``) in its directory; with
    ``image_server`` a standalone daemon on the lab bridge also serves it publicly (alias
    ``busybox``), for pulls from a remote image server.

    The lab's file is written to ``<lab dir>/lxdplan.yaml`` and, when given, to ``out`` (then
    ``lab.file``); a file that exists and is not what `lab up` last wrote there (the user's
    edits) is never overwritten: ``lab.news.kept`` lists it.

    When a lab of this name already runs with the same backend it is reused, and it grows: more
    ``members`` than it has start the missing daemons (``lab.news.added``), ``image_server``
    adds the image server. With ``ovn`` the lab also runs OVN (``lxdplan.lab.ovn``) and its file
    declares the uplink network and the OVN connections. A lab cannot shrink or change backend
    (or gain OVN), and one whose daemons are all
    dead is an error (``lab.news.dead`` lists members that are not running). On any failure
    midway everything created so far (by this call) is torn down before raising.
    """
    check_name(name)
    if members is not None and not 1 <= members <= MAX_MEMBERS:
        raise LabError(f"--members must be between 1 and {MAX_MEMBERS}, not {members}")
    preflight(backend)
    if ovn:
        lab_ovn.preflight()
    base = lab_root(root)
    existing = find(name, base)
    if existing is not None:
        return _reuse(existing, backend, members, out, template, image_server, timeout, ovn)
    members = 3 if members is None else members
    labdir = base / name

    with _root_lock(base):
        if labdir.exists():
            raise LabError(
                f"{labdir} exists but holds no lab state: run lxdplan lab down --name {name} first"
            )
        bridge = bridge_name(name)
        if host.link_exists(bridge):
            raise LabError(f"the bridge {bridge} already exists: run lxdplan lab down --name {name} first")
        seed = int(hashlib.sha256(name.encode()).hexdigest(), 16)
        taken = _taken_networks(base)
        subnet, inner = host.pick_subnets(
            seed, taken, also=lab_ovn.subnet_of if ovn else None)
        labdir.mkdir(parents=True, mode=0o711)
        lab = Lab(
            name=name,
            backend=backend,
            dir=str(labdir),
            bridge=bridge,
            subnet=str(subnet),
            host_ip=str(list(subnet.hosts())[253]),  # .254
            lxdbr0_address=f"{inner.network_address + 1}/{inner.prefixlen}",
            members=[_new_member(name, labdir, subnet, i) for i in range(1, members + 1)],
            ovn=bool(ovn),
        )
        if image_server:
            lab.image_server = _new_image_server(name, labdir, subnet)
        lab.save()
        try:
            host.create_bridge(bridge, lab.host_ip, subnet.prefixlen)
        except BaseException:
            _teardown(lab.name, base, lab)
            raise
    try:
        lab.image = str(lab_image.build(labdir / lab_image.FILE_NAME))
        lab.image_fingerprint = lab_image.fingerprint(lab.image)
        for m in lab.daemons():
            host.create_namespace(m.namespace, m.veth, bridge, m.ip, subnet.prefixlen)
        if lab.ovn:
            lab_ovn.start_central(lab)
            for m in lab.members:
                lab_ovn.start_member(lab, m)
        _start_daemons(lab)
        lab.save()
        _wait_ready(lab, timeout, lab.daemons())
        if lab.image_server is not None:
            lab_image.serve(lab)
        lab.news = News(added=[m.name for m in lab.daemons()])
        _publish(lab, out, template)
    except BaseException:
        _teardown(lab.name, base, lab)
        raise
    return lab


class News:
    """What one `lab up` did to a lab: daemons it started, files it kept, members not running."""

    def __init__(self, added: list[str] | None = None, kept: list[str] | None = None,
                 dead: list[str] | None = None, grown: bool = False):
        self.added, self.kept, self.dead, self.grown = added or [], kept or [], dead or [], grown


def _new_member(name: str, labdir: Path, subnet, index: int) -> LabMember:
    return LabMember(
        name=f"node{index}", index=index, ip=str(list(ipaddress.ip_network(subnet).hosts())[index - 1]),
        namespace=namespace_name(name, index), veth=veth_name(name, index),
        daemon_dir=str(Path(labdir) / f"node{index}"),
    )


def _new_image_server(name: str, labdir: Path, subnet) -> LabMember:
    return LabMember(
        name="images", index=0, ip=str(list(ipaddress.ip_network(subnet).hosts())[252]),  # .253
        namespace=namespace_name(name, 0), veth=veth_name(name, 0),
        daemon_dir=str(Path(labdir) / "images"),
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _publish(lab: Lab, out, template: dict | None) -> None:
    """Write the lab file to the lab directory and to ``out``, keeping any file with user edits."""
    text = render_lab_file(lab, template)
    own = Path(lab.dir) / LAB_FILE
    paths = [own] + ([Path(out).absolute()] if out is not None and Path(out).absolute() != own else [])
    for path in paths:
        key = str(path)
        if path.exists():
            try:
                current = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise LabError(f"cannot read {path} ({exc})") from None
            if current != text and _digest(current) != lab.written.get(key):
                lab.news.kept.append(key)
                continue
        write_text(path, text)
        lab.written[key] = _digest(text)
    lab.file = str(paths[-1])
    lab.save()


def _reuse(lab: Lab, backend: str, members: int | None, out, template: dict | None = None,
           image_server: bool | None = None, timeout: float = READY_TIMEOUT,
           ovn: bool | None = None) -> Lab:
    if ovn and not lab.ovn:
        raise LabError(
            f"the lab {lab.name} runs without OVN and cannot gain it: run lxdplan lab down --name "
            f"{lab.name} first, or pick another --name"
        )
    if lab.backend != backend:
        raise LabError(
            f"a lab named {lab.name} already runs with {lab.backend}: "
            f"run lxdplan lab down --name {lab.name} first, or pick another --name"
        )
    if members is not None and members < len(lab.members):
        raise LabError(
            f"the lab {lab.name} has {len(lab.members)} members and cannot shrink to {members}: "
            f"remove members from the cluster with your file, or run lxdplan lab down --name "
            f"{lab.name} first"
        )
    dead = [m.name for m in lab.daemons() if not m.alive()]
    if dead and len(dead) == len(lab.daemons()):
        raise LabError(
            f"the lab {lab.name} exists but none of its daemons runs: "
            f"run lxdplan lab down --name {lab.name} first"
        )
    lab.news = News(dead=dead)
    fresh = [_new_member(lab.name, Path(lab.dir), lab.subnet, i)
             for i in range(len(lab.members) + 1, (members or 0) + 1)]
    if image_server and lab.image_server is None:
        fresh.append(_new_image_server(lab.name, Path(lab.dir), lab.subnet))
    if fresh:
        _grow(lab, fresh, timeout)
    _publish(lab, out, template)
    return lab


def _grow(lab: Lab, fresh: list[LabMember], timeout: float) -> None:
    """Start the daemons ``fresh`` in a running lab; on failure remove them again."""
    prefix = ipaddress.ip_network(lab.subnet).prefixlen
    for m in fresh:
        if m.name == "images":
            lab.image_server = m
        else:
            lab.members.append(m)
    lab.save()  # recorded before anything is made, so lab down finds it
    try:
        for m in fresh:
            host.create_namespace(m.namespace, m.veth, lab.bridge, m.ip, prefix)
            if lab.ovn and m.name != "images":
                lab_ovn.start_member(lab, m)
            _start_daemon(lab, m)
        lab.save()
        _wait_ready(lab, timeout, fresh)
        if any(m.name == "images" for m in fresh):
            lab_image.serve(lab)
    except BaseException:
        pids = [m.pid for m in fresh if m.pid and host.pid_alive(m.pid)]
        host.stop_pids(pids, grace=STOP_GRACE)
        for m in fresh:
            host.signal_pids(host.namespace_pids(m.namespace), 9)
            host.delete_namespace(m.namespace)
            host.delete_link(m.veth)
            host.delete_link(lab_ovn.tunnel_veth(lab.name, m.index))
            shutil.rmtree(m.daemon_dir, ignore_errors=True)
            shutil.rmtree(lab_ovn.run_dir(m), ignore_errors=True)
        lab.members = [m for m in lab.members if m not in fresh]
        if lab.image_server in fresh:
            lab.image_server = None
        lab.save()
        raise
    lab.news.added = [m.name for m in fresh]
    lab.news.grown = True


def _start_daemons(lab: Lab) -> None:
    for m in lab.daemons():
        _start_daemon(lab, m)


def _start_daemon(lab: Lab, m: LabMember, *, kept: bool = False) -> None:
    """Start ``m``'s daemon in its namespace and record its pid; ``kept``: under a keeper that
    starts it again when it crashes, as systemd does (``lxdplan.lab.keeper``)."""
    b = get_backend(lab.backend)
    os.makedirs(m.daemon_dir, mode=0o711, exist_ok=True)
    daemon = [b.daemon, "--group", "root", "--logfile", m.log]
    env = {**b.env(m.daemon_dir), **lab_ovn.daemon_env(lab, m)}
    if kept:
        package_parent = str(Path(__file__).resolve().parents[2])
        keeper = [sys.executable, "-m", "lxdplan.lab.keeper", str(lab.state_path), m.name, m.log,
                  "--"]
        proc = subprocess.Popen(
            ["ip", "netns", "exec", m.namespace, *keeper, *daemon],
            env={**env, "PYTHONPATH": package_parent}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
            cwd=lab.dir,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()  # the keeper prints its daemon's pid, then closes
        proc.stdout.close()
        if not line.isdigit():
            proc.wait()
            raise LabError(f"the keeper of {m.name}'s daemon did not start it (exit status "
                           f"{proc.returncode}; see {m.log})")
        _children[int(line)] = proc  # reaped when the keeper ends; the daemon is its child
        m.pid = int(line)
        return
    with open(m.log, "ab") as log:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", m.namespace, *daemon],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            cwd=lab.dir,
        )
    _children[proc.pid] = proc  # `ip netns exec` execs the daemon: this is the daemon's pid
    m.pid = proc.pid


def restart_member(lab: Lab, name: str, *, wait_ready: bool = True,
                   grace: float = RESTART_GRACE, timeout: float = READY_TIMEOUT,
                   kept: bool = False) -> LabMember:
    """Stop one member's daemon by its recorded pid and start it again in its namespace.

    The lab state is saved with the new pid. With ``wait_ready`` this returns once the daemon
    answers ``/internal/ready``; without, as soon as it runs (for a daemon expected to wait, such
    as a member that waits for the others to be upgraded). Processes the daemon started (dnsmasq)
    are left alone: the daemon takes them over again. ``kept``: the new daemon runs under a
    keeper that starts it again when it crashes (a member "upgraded" by a roll test, as systemd
    runs a packaged daemon).
    """
    member = next((m for m in lab.members if m.name == name), None)
    if member is None:
        raise LabError(f"the lab {lab.name} has no member {name}")
    if member.pid and host.pid_alive(member.pid):
        host.stop_pids([member.pid], grace=grace)
    _children.pop(member.pid or 0, None)
    _start_daemon(lab, member, kept=kept)
    lab.save()
    if wait_ready:
        _wait_ready(lab, timeout, [member])
    return member


def _last_log_line(path: str) -> str:
    try:
        lines = [ln for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1].strip() if lines else "empty log"


def _wait_ready(lab: Lab, timeout: float, members: list[LabMember] | None = None) -> None:
    """Poll every daemon's (or ``members``') /internal/ready until all answer, one dies, or the
    deadline passes."""
    from lxdplan.providers.ready import unix_ready as ready

    deadline = time.monotonic() + timeout
    waiting = list(lab.members if members is None else members)
    while waiting:
        for m in list(waiting):
            if not m.pid or not host.pid_alive(m.pid):  # not alive(): it may not be in its netns yet
                raise LabError(
                    f"the {lab.backend} daemon of {m.name} exited while starting ({m.log}: "
                    f"{_last_log_line(m.log)})"
                )
            if os.path.exists(m.socket) and ready(m.socket):
                waiting.remove(m)
        if waiting and time.monotonic() > deadline:
            raise LabError(
                f"{', '.join(m.name for m in waiting)} did not become ready within {timeout:.0f} s "
                f"(see {waiting[0].log})"
            )
        if waiting:
            time.sleep(0.05)


def down(name: str = "lab", root: str | Path | None = None, missing_ok: bool = False) -> None:
    """Stop a lab's daemons by pid and remove its namespaces, bridge, mounts and directory.

    Works on a half-started lab (or one whose state file is gone): names are derived from the
    lab name. Raises ``LabError`` when nothing of the lab exists, unless ``missing_ok``.
    """
    check_name(name)
    base = lab_root(root)
    lab = find(name, base) if (base / name / STATE_FILE).exists() else None
    if not _teardown(name, base, lab) and not missing_ok:
        raise LabError(f"there is no lab named {name} (under {base})")


def _teardown(name: str, base: Path, lab: Lab | None) -> bool:
    """Remove every trace of lab ``name``; return True when there was something to remove."""
    labdir = base / name
    pattern = re.compile(re.escape(namespace_prefix(name)) + r"\d+$")
    nss = {ns for ns in host.namespaces() if pattern.match(ns)}
    links = ({bridge_name(name)} | {veth_name(name, i) for i in range(0, MAX_MEMBERS + 1)}
             | lab_ovn.host_links(name))
    if lab is not None:
        nss |= {m.namespace for m in lab.daemons() if m.namespace in host.namespaces()}
        links |= {lab.bridge} | {m.veth for m in lab.daemons()}
    links = {link for link in links if host.link_exists(link)}
    found = bool(nss or links or labdir.exists())

    # The daemons first, gracefully (SIGTERM with a bounded wait), then anything left in the
    # namespaces (dnsmasq, forkdns, …) with SIGKILL.
    pids = [m.pid for m in (lab.daemons() if lab else []) if m.pid and m.alive()]
    host.stop_pids(pids, grace=STOP_GRACE)
    for ns in sorted(nss):
        stray = host.namespace_pids(ns)
        host.signal_pids(stray, 9)
        left = host.wait_gone(stray, 5.0)
        if left:
            raise LabError(f"processes {left} in namespace {ns} did not die")
    for pid in pids:
        _children.pop(pid, None)
    for ns in sorted(nss):
        host.delete_namespace(ns)
    for link in sorted(links):
        host.delete_link(link)
    if labdir.exists():
        host.unmount_all(labdir)
        shutil.rmtree(labdir)
    return found
