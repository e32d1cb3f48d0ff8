"""The ready desired-state file ``lxdplan lab up`` writes for its lab."""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path

import yaml

from lxdplan import addresses
from lxdplan.errors import LabError
from lxdplan.lab import host, ovn
from lxdplan.lab.model import Lab

# Server keys an example may carry that a lab reached over unix sockets must not keep:
# a trust password is a secret the lab does not need (and Incus does not know).
_DROPPED_SERVER_KEYS = ("core.trust_password",)


def lab_document(lab: Lab) -> dict:
    """The desired state of a lab cluster: its members, a ``default`` dir pool, ``lxdbr0``,
    the default profile and the lab's busybox image (imported from its file, pinned). NAT is
    off: the members have no route out of their namespaces."""
    profile_description = "Default LXD profile" if lab.backend == "lxd" else "Default Incus profile"
    doc = {
        "version": 1,
        "backend": lab.backend,
        "cluster": {
            "members": [
                {"name": m.name, "address": m.address, "endpoint": m.endpoint} for m in lab.members
            ],
        },
        "storage_pools": [{"name": "default", "driver": "dir"}],
        "networks": [
            {
                "name": "lxdbr0",
                "type": "bridge",
                "config": {
                    "ipv4.address": lab.lxdbr0_address,
                    "ipv4.nat": "false",
                    "ipv6.address": "none",
                },
            }
        ],
        "profiles": [
            {
                "name": "default",
                "description": profile_description,
                "devices": {
                    "root": {"path": "/", "pool": "default", "type": "disk"},
                    "eth0": {"name": "eth0", "nictype": "bridged", "parent": "lxdbr0", "type": "nic"},
                },
            }
        ],
    }
    if lab.image:
        doc["images"] = [image_entry(lab)]
    if lab.ovn:
        _add_ovn(lab, doc)
    return doc


def _add_ovn(lab: Lab, doc: dict) -> None:
    """An OVN lab's file: the northbound connection, Incus members' own Open vSwitch socket
    (LXD finds it through its environment) and the uplink bridge for OVN networks."""
    doc["cluster"]["config"] = {"network.ovn.northbound_connection": ovn.northbound(lab)}
    if lab.backend == "incus":
        for entry, member in zip(doc["cluster"]["members"], lab.members):
            entry["config"] = {"network.ovs.connection": f"unix:{ovn.ovs_socket(member)}"}
    doc["networks"].append({"name": ovn.UPLINK, "type": "bridge", "config": ovn.uplink_config(lab)})


def image_entry(lab: Lab) -> dict:
    """The lab's busybox image as the file declares it: from its tarball, pinned."""
    entry: dict = {"name": "busybox", "source": {"file": lab.image}}
    if lab.image_fingerprint:
        entry["fingerprint"] = lab.image_fingerprint
    return entry


def pulled_image_entry(lab: Lab, name: str = "busybox") -> dict:
    """The same image pulled from the lab's image server (``lab up --image-server``)."""
    return {"name": name, "source": {"server": lab.image_server_url, "protocol": "lxd",
                                     "alias": "busybox",
                                     "certificate": {"file": lab.image_server_certificate}},
            "fingerprint": lab.image_fingerprint}


def from_template(lab: Lab, template: dict) -> dict:
    """A desired-state document (e.g. ``examples/seed-walkthrough.yaml``) fitted to this lab.

    Members take the lab's addresses (keeping the declared ports, and a specific
    ``core.https_address`` moves to the lab address too; a wildcard one stays) and unix-socket
    endpoints, in order (the file may not declare more members than the lab has); trust settings
    and pins are dropped (unix sockets are trusted); a dir pool's member-specific ``source``
    becomes an empty directory under the lab dir; every ``bridge.external_interfaces`` interface
    is created (a veth pair) in its member's namespace. ``prepare_host`` makes those directories and interfaces.
    """
    doc = copy.deepcopy(template)
    doc["backend"] = lab.backend
    cluster = doc.setdefault("cluster", {})
    declared = cluster.get("members") or []
    if len(declared) > len(lab.members):
        raise LabError(
            f"the file declares {len(declared)} members and the lab {lab.name} has "
            f"{len(lab.members)}: start the lab with --members {len(declared)}"
        )
    renamed = {}
    for member, live in zip(declared, lab.members):
        member["address"], member["endpoint"] = _fit_address(member.get("address"), live), live.endpoint
        local = member.get("config") or {}
        rest = local.get("core.https_address")
        if isinstance(rest, str) and rest and not addresses.is_wildcard(rest):
            local["core.https_address"] = _fit_address(rest, live)
        member.pop("trust", None)
        member.pop("fingerprint", None)
        renamed[member["name"]] = live
    config = cluster.get("config") or {}
    for key in _DROPPED_SERVER_KEYS:
        config.pop(key, None)
    for image in doc.get("images") or []:
        _fit_image(lab, image)
    for pool in doc.get("storage_pools") or []:
        if pool.get("driver") != "dir":
            continue
        for member, keys in (pool.get("members") or {}).items():
            if "source" in keys:
                keys["source"] = str(Path(lab.dir) / "sources" / pool["name"] / member)
    return doc


def _fit_image(lab: Lab, image: dict) -> None:
    """Nothing can be downloaded here: an image from a file becomes the lab's busybox tarball,
    one pulled from a server is pulled from the lab's image server (or, without one, imported
    from the tarball too); a fingerprint pin becomes the lab image's."""
    source = image.get("source") or {}
    if "server" in source and lab.image_server is not None:
        fitted = pulled_image_entry(lab, image.get("name", "busybox"))
        image["source"] = fitted["source"]
    elif lab.image:
        image["source"] = {"file": lab.image}
    if lab.image_fingerprint:
        image["fingerprint"] = lab.image_fingerprint


def _fit_address(declared, live) -> str:
    """The lab member's IP with the declared port: a file that separates its cluster address
    (e.g. :8444) from its REST address keeps that shape in the lab."""
    if not isinstance(declared, str) or not declared:
        return live.address
    return f"{live.ip}:{addresses.canonical(declared)[1]}"


def prepare_host(lab: Lab, doc: dict) -> None:
    """Make the directories and interfaces ``doc`` expects on each member (idempotent)."""
    by_name = {m.name: m for m in lab.members}
    endpoints = {m["name"]: m.get("endpoint") for m in doc["cluster"].get("members") or []}
    for pool in doc.get("storage_pools") or []:
        for keys in (pool.get("members") or {}).values():
            if pool.get("driver") == "dir" and "source" in keys:
                Path(keys["source"]).mkdir(parents=True, exist_ok=True)
    for net in doc.get("networks") or []:
        for member, keys in (net.get("members") or {}).items():
            live = next((m for m in lab.members if endpoints.get(member) == m.endpoint), by_name.get(member))
            if live is None:
                continue
            for ifname in str(keys.get("bridge.external_interfaces", "")).split(","):
                ifname = ifname.strip()
                if ifname and not _ns_link_exists(live.namespace, ifname):
                    peer = "lxq" + hashlib.sha256(f"{live.namespace}/{ifname}".encode()).hexdigest()[:10]
                    host.run("ip", "netns", "exec", live.namespace, "ip", "link", "add", ifname,
                             "type", "veth", "peer", "name", peer)
                    host.run("ip", "netns", "exec", live.namespace, "ip", "link", "set", ifname, "up")


def _ns_link_exists(namespace: str, name: str) -> bool:
    return host.run("ip", "netns", "exec", namespace, "ip", "link", "show", name, check=False).returncode == 0


def member_entry(member) -> dict:
    """How the lab file declares one lab member (to paste into a file of one's own)."""
    return {"name": member.name, "address": member.address, "endpoint": member.endpoint}


def render_lab_file(lab: Lab, template: dict | None = None) -> str:
    """The text of the lab's desired-state file; with a ``template``, that file fitted to the lab
    (and the host prepared for it)."""
    header = (
        f"# Desired state of the lxdplan lab {lab.name!r} ({lab.backend}, {len(lab.members)} members).\n"
        f"# Written by `lxdplan lab up`; the daemons are unclustered: the first apply bootstraps them.\n"
        f"# Tear down with: lxdplan lab down --name {lab.name}\n"
    )
    if template is not None:
        document = from_template(lab, template)
        prepare_host(lab, document)
        header += ("# Fitted from a template file: members, sources, interfaces and images are the "
                   "lab's.\n")
    else:
        document = lab_document(lab)
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def write_lab_file(lab: Lab, path: str | Path, template: dict | None = None) -> Path:
    """Write the lab's desired-state file to ``path`` (atomically) and return its path; with a
    ``template``, that file fitted to the lab (and the host prepared for it)."""
    path = Path(path).absolute()
    write_text(path, render_lab_file(lab, template))
    return path


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
