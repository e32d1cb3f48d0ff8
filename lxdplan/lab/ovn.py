"""OVN for a lab (``lxdplan lab up --ovn``): what docs/design.md "OVN on this machine" found.

``ovn-central`` (the northbound and southbound databases and ``ovn-northd``) runs in a namespace
of its own on the lab bridge. Each member gets its own Open vSwitch on the userspace datapath
(no kernel module here) and an ``ovn-controller``, all in the member's namespace, with their
sockets, databases and logs in ``<lab>/<member>-ovs/``:

- LXD 5.0.2 runs ``ovs-vsctl`` without ``--db``: the daemon gets ``OVS_RUNDIR`` (``daemon_env``);
  Incus 6.0.4 reads the member-local ``network.ovs.connection`` (the lab file sets it).
- Neither server asks for the netdev datapath: a watcher per member sets
  ``datapath_type=netdev`` on every bridge that has none (Incus fails a create whose bridge does
  not appear within 5 s; the watcher answers in milliseconds).
- Geneve between members needs the tunnel address on an OVS bridge: a second veth per member
  (``tun0``) is the port of a netdev bridge ``br-phy`` holding the member's tunnel address.

Every process runs in a lab namespace, so the lab's teardown (kill by ``ip netns pids``, delete
the namespaces, remove the lab directory) removes them all.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

from lxdplan.errors import LabError
from lxdplan.lab import host
from lxdplan.lab.model import MAX_MEMBERS, Lab, LabMember, namespace_name, veth_name

CENTRAL_INDEX = MAX_MEMBERS + 1  # the central's namespace and veth: lxdplan-<lab>-8
NB_PORT, SB_PORT = 6641, 6642
UPLINK = "UPLINK"
TOOLS = ("ovsdb-tool", "ovsdb-server", "ovsdb-client", "ovs-vsctl", "ovs-vswitchd", "ovn-northd",
         "ovn-controller")
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
NB_SCHEMA, SB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema", "/usr/share/ovn/ovn-sb.ovsschema"
INSTALL_HINT = ("OVN is not installed: run apt-get install -y --no-install-recommends "
                "openvswitch-switch ovn-central ovn-host")
# Sets datapath_type=netdev on each bridge that has none, whenever the Bridge table changes.
_NETDEV_WATCH = """db="unix:$1"
ovsdb-client --no-headings --format=csv monitor "$db" Open_vSwitch Bridge name,datapath_type |
while read -r _; do
  for b in $(ovs-vsctl --db="$db" --bare --columns=name find bridge 'datapath_type=""'); do
    ovs-vsctl --db="$db" --no-wait set bridge "$b" datapath_type=netdev
  done
done
"""
# Watchers started by this process, kept so they are not garbage-collected while they run.
_watchers: list[subprocess.Popen] = []


def preflight() -> None:
    """Raise one sentence saying what to install when this host cannot run an OVN lab."""
    missing = [t for t in TOOLS if not shutil.which(t)]
    missing += [s for s in (OVS_SCHEMA, NB_SCHEMA, SB_SCHEMA) if not os.path.exists(s)]
    if missing:
        raise LabError(f"{INSTALL_HINT} (missing: {', '.join(missing)})")


def subnet_of(lab_subnet: str | ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    """The OVN /24 of a lab on 10.X.Y.0/24: 10.(X+128).Y.0/24; its lower half holds the members'
    tunnel addresses, its upper half the uplink bridge (inside each member's namespace)."""
    net = ipaddress.ip_network(lab_subnet)
    x, y = net.network_address.packed[1], net.network_address.packed[2]
    return ipaddress.IPv4Network(f"10.{x + 128}.{y}.0/24")


def tunnel_ip(lab: Lab, member: LabMember) -> str:
    return str(subnet_of(lab.subnet).network_address + member.index)


def central_ip(lab: Lab) -> str:
    return str(list(ipaddress.ip_network(lab.subnet).hosts())[251])  # .252


def central_namespace(lab_name: str) -> str:
    return namespace_name(lab_name, CENTRAL_INDEX)


def central_veth(lab_name: str) -> str:
    return veth_name(lab_name, CENTRAL_INDEX)


def tunnel_veth(lab_name: str, index: int) -> str:
    """The host side of member ``index``'s tunnel veth (its namespace side is ``tun0``)."""
    return "lxt" + veth_name(lab_name, index)[3:]


def host_links(lab_name: str) -> set[str]:
    """Every host link an OVN lab of this name may have made (for teardown)."""
    return {central_veth(lab_name)} | {tunnel_veth(lab_name, i) for i in range(1, MAX_MEMBERS + 1)}


def run_dir(member: LabMember) -> Path:
    return Path(f"{member.daemon_dir}-ovs")


def ovs_socket(member: LabMember) -> str:
    return str(run_dir(member) / "db.sock")


def northbound(lab: Lab) -> str:
    return f"tcp:{central_ip(lab)}:{NB_PORT}"


def daemon_env(lab: Lab, member: LabMember) -> dict[str, str]:
    """What the member's daemon needs in its environment: LXD's ``ovs-vsctl`` finds the member's
    Open vSwitch through ``OVS_RUNDIR``."""
    return {"OVS_RUNDIR": str(run_dir(member))} if lab.ovn and member.name != "images" else {}


def uplink_config(lab: Lab) -> dict[str, str]:
    """The uplink bridge's config: OVN routers take addresses from ``ipv4.ovn.ranges``, forwards
    and load balancers listen in ``ipv4.routes``."""
    base = subnet_of(lab.subnet).network_address
    return {
        "ipv4.address": f"{base + 129}/25",
        "ipv4.nat": "false",
        "ipv4.dhcp.ranges": f"{base + 130}-{base + 159}",
        "ipv4.ovn.ranges": f"{base + 160}-{base + 191}",
        "ipv4.routes": f"{base + 224}/27",
        "ipv6.address": "none",
    }


def _in(namespace: str, *argv: str, env: dict[str, str] | None = None) -> None:
    """Run a command (a ``--detach`` daemon: it returns once the daemon is ready) in a namespace."""
    proc = subprocess.run(["ip", "netns", "exec", namespace, *argv], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"`{argv[0]}` did not start in {namespace}: "
                       f"{said[-1] if said else f'exit {proc.returncode}'}")


def _vsctl(member: LabMember, *args: str) -> None:
    host.run("ovs-vsctl", f"--db=unix:{ovs_socket(member)}", *args)


def start_central(lab: Lab) -> None:
    """ovn-central in its own namespace on the lab bridge: NB and SB databases listening on TCP
    (and unix sockets for northd) and ovn-northd."""
    d = Path(lab.dir) / "ovn-central"
    d.mkdir(mode=0o700, exist_ok=True)
    ns, ip = central_namespace(lab.name), central_ip(lab)
    host.create_namespace(ns, central_veth(lab.name), lab.bridge, ip,
                          ipaddress.ip_network(lab.subnet).prefixlen)
    for db, schema, port in (("nb", NB_SCHEMA, NB_PORT), ("sb", SB_SCHEMA, SB_PORT)):
        host.run("ovsdb-tool", "create", str(d / f"{db}.db"), schema)
        _in(ns, "ovsdb-server", str(d / f"{db}.db"), f"--remote=punix:{d / db}.sock",
            f"--remote=ptcp:{port}:{ip}", f"--unixctl={d / db}.ctl", f"--pidfile={d / db}.pid",
            f"--log-file={d / db}.log", "--detach")
    _in(ns, "ovn-northd", f"--ovnnb-db=unix:{d / 'nb'}.sock", f"--ovnsb-db=unix:{d / 'sb'}.sock",
        f"--unixctl={d / 'northd'}.ctl", f"--pidfile={d / 'northd'}.pid",
        f"--log-file={d / 'northd'}.log", "--detach", env={"OVN_RUNDIR": str(d)})


def start_member(lab: Lab, member: LabMember) -> None:
    """The member's Open vSwitch (userspace datapath), its netdev watcher, its tunnel port and
    its ovn-controller, in its namespace; before its daemon starts."""
    d = run_dir(member)
    d.mkdir(mode=0o700, exist_ok=True)
    ns, sock = member.namespace, ovs_socket(member)
    env = {"OVS_RUNDIR": str(d), "OVN_RUNDIR": str(d)}
    host.run("ovsdb-tool", "create", str(d / "conf.db"), OVS_SCHEMA)
    _in(ns, "ovsdb-server", str(d / "conf.db"), f"--remote=punix:{sock}",
        f"--unixctl={d / 'ovsdb-server.ctl'}", f"--pidfile={d / 'ovsdb-server.pid'}",
        f"--log-file={d / 'ovsdb-server.log'}", "--detach", env=env)
    _vsctl(member, "--no-wait", "init")
    with open(d / "netdev-watch.log", "ab") as log:
        _watchers.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, "sh", "-c", _NETDEV_WATCH, "netdev-watch", sock],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True))
    _in(ns, "ovs-vswitchd", f"unix:{sock}", f"--unixctl={d / 'ovs-vswitchd.ctl'}",
        f"--pidfile={d / 'ovs-vswitchd.pid'}", f"--log-file={d / 'ovs-vswitchd.log'}", "--detach",
        env=env)
    tun = tunnel_veth(lab.name, member.index)
    host.run("ip", "link", "add", tun, "type", "veth", "peer", "name", "tun0", "netns", ns)
    host.run("ip", "link", "set", tun, "master", lab.bridge, "up")
    host.run("ip", "netns", "exec", ns, "ip", "link", "set", "tun0", "up")
    _vsctl(member, "add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev",
           "--", "add-port", "br-phy", "tun0")
    host.run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{tunnel_ip(lab, member)}/25",
             "dev", "br-phy")
    host.run("ip", "netns", "exec", ns, "ip", "link", "set", "br-phy", "up")
    _vsctl(member, "set", "open_vswitch", ".", f"external_ids:system-id={member.name}",
           f"external_ids:ovn-remote=tcp:{central_ip(lab)}:{SB_PORT}",
           "external_ids:ovn-encap-type=geneve", f"external_ids:ovn-encap-ip={tunnel_ip(lab, member)}",
           "external_ids:ovn-bridge-datapath-type=netdev")
    _in(ns, "ovn-controller", f"unix:{sock}", f"--pidfile={d / 'ovn-controller.pid'}",
        f"--log-file={d / 'ovn-controller.log'}", "--detach", env=env)
