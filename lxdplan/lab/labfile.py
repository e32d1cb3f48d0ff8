"""The ready desired-state file ``lxdplan lab up`` writes for its lab."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from lxdplan.lab.model import Lab


def lab_document(lab: Lab) -> dict:
    """The desired state of a lab cluster: its members, a ``default`` dir pool, ``lxdbr0`` and
    the default profile. NAT is off: the members have no route out of their namespaces."""
    profile_description = "Default LXD profile" if lab.backend == "lxd" else "Default Incus profile"
    return {
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


def write_lab_file(lab: Lab, path: str | Path) -> Path:
    """Write the lab's desired-state file to ``path`` (atomically) and return its path."""
    path = Path(path).absolute()
    header = (
        f"# Desired state of the lxdplan lab {lab.name!r} ({lab.backend}, {len(lab.members)} members).\n"
        f"# Written by `lxdplan lab up`; the daemons are unclustered: the first apply bootstraps them.\n"
        f"# Tear down with: lxdplan lab down --name {lab.name}\n"
    )
    body = yaml.safe_dump(lab_document(lab), sort_keys=False, default_flow_style=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(header + body, encoding="utf-8")
    os.replace(tmp, path)
    return path
