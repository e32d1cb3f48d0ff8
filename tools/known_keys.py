"""Regenerate lxdplan/data/known-keys.json: the config keys LXD and Incus document, per kind.

Run from the repo root with clones of canonical/lxd and lxc/incus (bare or not):

    python tools/known_keys.py LXD_GIT_DIR INCUS_GIT_DIR > lxdplan/data/known-keys.json

Sources (data only, no code): LXD 5.0.2's documentation tables (``doc/server.md``,
``doc/projects.md``, ``doc/reference/{instance_options,network_*,storage_*}.md``) joined with
LXD 5.21's and the newest LXD's ``lxd/metadata/configuration.json``; Incus 6.0.4's and the newest Incus's
``internal/server/metadata/configuration.json``. Keys of newer releases are kept (a key a newer
server knows is no typo); keys only a server sets itself (``volatile.*``) are left out.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

LXD_TAG, INCUS_TAG = "lxd-5.0.2", "v6.0.4"
LXD_JSON_REVS = ("lxd-5.21.7", "HEAD")  # the 5.21 LTS and the newest LXD
POOL_DRIVERS = ("dir", "btrfs", "lvm", "zfs", "ceph", "cephfs", "cephobject", "powerflex", "pure",
                "alletra", "powerstore", "linstor", "truenas", "lvmcluster")
NETWORK_TYPES = ("bridge", "macvlan", "sriov", "ovn", "physical")
ROW = re.compile(r"^`([^`]+)`\s*\|")


def show(git_dir: str, rev: str, path: str) -> str | None:
    done = subprocess.run(["git", "--git-dir", git_dir, "show", f"{rev}:{path}"],
                          capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def md_keys(text: str | None, start: str | None = None, stop: str | None = None) -> set[str]:
    if text is None:
        return set()
    if start is not None:
        text = text.split(start, 1)[1] if start in text else ""
    if stop is not None:
        text = text.split(stop, 1)[0]
    return {m[1] for line in text.splitlines() if (m := ROW.match(line))}


def json_keys(text: str | None) -> dict[str, set[str]]:
    """entity -> keys, from a configuration.json (LXD's or Incus's)."""
    out: dict[str, set[str]] = {}
    for entity, groups in (json.loads(text)["configs"] if text else {}).items():
        found = out.setdefault(entity.replace("-", "_"), set())
        for group, body in groups.items():
            # Properties of sub-objects (forward ports, ACL rules) are not config keys.
            if "propert" in group or "record" in group or "rule" in group or "backend" in group:
                continue
            for item in body["keys"]:
                found.update(item)
    return out


def tables(lxd: str, incus: str) -> dict:
    result: dict = {}
    # LXD 5.0.2: documentation tables.
    old = {"server": md_keys(show(lxd, LXD_TAG, "doc/server.md")),
           "project": md_keys(show(lxd, LXD_TAG, "doc/projects.md")),
           "instance": md_keys(show(lxd, LXD_TAG, "doc/reference/instance_options.md"))}
    for t in NETWORK_TYPES:
        old[f"network_{t}"] = md_keys(show(lxd, LXD_TAG, f"doc/reference/network_{t}.md"))
    for d in POOL_DRIVERS:
        text = show(lxd, LXD_TAG, f"doc/reference/storage_{d}.md")
        old[f"storage_{d}"] = md_keys(text, "### Storage pool configuration", "### Storage volume")
        old[f"storage_volume_{d}"] = md_keys(text, "### Storage volume configuration")
    lxd_all = {k: set(v) for k, v in old.items()}
    for rev in LXD_JSON_REVS:
        text = show(lxd, rev, "lxd/metadata/configuration.json")
        # A storage driver's pool and volume keys are one entity there, by group: split them
        # the way the 5.0 tables are.
        for entity, groups in (json.loads(text)["configs"] if text else {}).items():
            if entity.startswith("storage-"):
                driver = entity.removeprefix("storage-")
                target = {"pool-conf": f"storage_{driver}", "volume-conf": f"storage_volume_{driver}"}
                for group, body in groups.items():
                    if group in target:
                        lxd_all.setdefault(target[group], set()).update(
                            k for item in body["keys"] for k in item)
            else:
                lxd_all.setdefault(entity.replace("-", "_"), set())
        for entity, found in json_keys(text).items():
            if not entity.startswith("storage_"):
                lxd_all[entity].update(found)
    lxd_all = {k: v for k, v in lxd_all.items() if k != "storage" and not k.startswith("storage_") or
               k.removeprefix("storage_volume_").removeprefix("storage_") in POOL_DRIVERS}
    incus_all: dict[str, set[str]] = {}
    for rev in (INCUS_TAG, "HEAD"):
        for entity, found in json_keys(show(incus, rev, "internal/server/metadata/configuration.json")).items():
            incus_all.setdefault(entity, set()).update(found)
    for backend, found in (("lxd", lxd_all), ("incus", incus_all)):
        result[backend] = _shape(found)
    return result


def _clean(keys_: set[str]) -> list[str]:
    return sorted(k for k in keys_ if not k.startswith("volatile.") and ".volatile." not in k)


def _shape(found: dict[str, set[str]]) -> dict:
    def get(name: str) -> set[str]:
        return found.get(name, set())

    pools = {}
    for d in POOL_DRIVERS:
        if f"storage_{d}" not in found:
            continue
        pool = get(f"storage_{d}") | {f"volume.{k}" for k in get(f"storage_volume_{d}")}
        if pool:
            pools[d] = _clean(pool)
    networks = {}
    for t in NETWORK_TYPES:
        net = get(f"network_{t}") | set().union(*(v for k, v in found.items()
                                                   if k.startswith(f"network_{t}_")))
        if net:
            networks[t] = _clean(net)
    return {
        "server": _clean(get("server")),
        "project": _clean(get("project")),
        "instance": _clean(get("instance") | get("kernel")),
        "storage_pool": pools,
        "network": networks,
    }


if __name__ == "__main__":
    json.dump(tables(sys.argv[1], sys.argv[2]), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
