"""Helpers for the integration tests and the fault matrix: run the real CLI, ask the real server,
build walkthrough files, apply and check convergence. Test modules import helpers from here (and
labkit.py), never from another test module or a conftest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from lxdplan.lab.host import run as host_run


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real `lxdplan` CLI in a subprocess (no terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "lxdplan", *args], env={**os.environ, **(env or {})},
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout,
    )


def apply_ok(path: str, *extra: str, env: dict[str, str] | None = None) -> str:
    """``apply --auto-approve`` of the file at ``path`` succeeds without a traceback; its output."""
    done = cli("apply", "-f", path, "--auto-approve", *extra, env=env)
    assert done.returncode == 0, f"apply failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def assert_converged(path: str, env: dict[str, str] | None = None) -> str:
    """The file's plan shows no change (exit 0 with ``--detailed-exitcode``); its output."""
    plan = cli("plan", "-f", path, "--detailed-exitcode", env=env)
    assert plan.returncode == 0, f"plan still shows changes:\n{plan.stdout}\n{plan.stderr}"
    assert "No changes." in plan.stdout, plan.stdout
    return plan.stdout


def plan_json(path: str) -> dict:
    """The file's plan as ``--format json`` gives it (the plan must succeed)."""
    done = cli("plan", "-f", path, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def changes(path: str) -> list[tuple]:
    """The file's planned steps as sorted (action, kind, name)."""
    return sorted((s["action"], s["kind"], s["name"]) for s in plan_json(path)["steps"])


def one_error(done: subprocess.CompletedProcess) -> str:
    """The single ``error:`` line of a failed command (exit 1, no traceback), without its prefix."""
    assert done.returncode == 1, f"exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr + done.stdout and "internal error" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0][len("error: "):]


def client_cmd(lab, *args: str, member: int = 0, check: bool = True) -> subprocess.CompletedProcess:
    """`lxc` (LXD) or `incus` (Incus) talking to one lab member's unix socket."""
    m = lab.members[member]
    if lab.backend == "lxd":
        argv, env = ["lxc", *args], {"LXD_DIR": m.daemon_dir}
    else:
        argv, env = ["incus", *args], {"INCUS_DIR": m.daemon_dir}
    done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done


def instance_file(lab, instance: str, path: str, member: int = 0,
                  check: bool = True) -> subprocess.CompletedProcess:
    """`file pull INSTANCE/PATH -`: a file in an instance, read through the file API. Not
    `exec cat`: LXD 5.0.2 now and then loses an exec's output on a loaded machine (exit 0 and
    an empty stdout, canonical/lxd#11422; seen for a mark read right after a move)."""
    return client_cmd(lab, "file", "pull", f"{instance}{path}", "-", member=member, check=check)


def query(lab, path: str, member: int = 0):
    """GET a REST path through the client tool; the decoded metadata."""
    return json.loads(client_cmd(lab, "query", path, member=member).stdout or "null")


def wait_for(condition, what: str, timeout: float = 90.0, every: float = 0.5):
    """Poll ``condition()`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(every)


def member_status(lab, name: str, via: int = 0) -> str:
    for m in query(lab, "/1.0/cluster/members?recursion=1", member=via):
        if m["server_name"] == name:
            return m["status"]
    return "absent"


def add_interface(lab, member_index: int, name: str) -> None:
    """A veth pair inside a member's namespace, for bridge.external_interfaces."""
    ns = lab.members[member_index].namespace
    host_run("ip", "netns", "exec", ns, "ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p")
    host_run("ip", "netns", "exec", ns, "ip", "link", "set", name, "up")


def walkthrough(lab, workdir: Path) -> dict:
    """The LXD clustering walkthrough as one desired-state document for this lab."""
    members = []
    data_sources = {}
    for i, m in enumerate(lab.members, start=1):
        entry = {"name": m.name, "address": m.address, "endpoint": m.endpoint,
                 "failure_domain": f"rack{1 + (i - 1) // 2}"}
        if i == 1:
            entry["groups"] = ["default", "fast"]
            entry["description"] = "first member"
        members.append(entry)
        source = workdir / f"data-{m.name}"
        source.mkdir(parents=True, exist_ok=True)
        data_sources[m.name] = {"source": str(source)}
    ext = {m.name: {"bridge.external_interfaces": "ext0"} for m in lab.members}
    base = lab.lxdbr0_address.split(".")
    second = f"{base[0]}.{int(base[1]) + 1 if int(base[1]) < 250 else 3}.{base[2]}.1/24"
    doc = {
        "version": 1,
        "backend": lab.backend,
        "cluster": {
            "config": {"images.auto_update_interval": 15, "cluster.images_minimal_replica": 1},
            "members": members,
        },
        "cluster_groups": [{"name": "fast", "description": "members with fast disks"}],
        "storage_pools": [
            {"name": "default", "driver": "dir"},
            {"name": "data", "driver": "dir", "description": "per-member data dirs",
             "members": data_sources},
        ],
        "networks": [
            {"name": "lxdbr0", "type": "bridge",
             "config": {"ipv4.address": lab.lxdbr0_address, "ipv4.nat": False, "ipv6.address": "none"}},
            {"name": "lxdbr1", "type": "bridge",
             "config": {"ipv4.address": second, "ipv4.nat": False, "ipv6.address": "none"},
             "members": ext},
        ],
        "profiles": [
            {"name": "default", "description": "Default profile",
             "devices": {"root": {"path": "/", "pool": "default", "type": "disk"},
                         "eth0": {"name": "eth0", "nictype": "bridged", "parent": "lxdbr0", "type": "nic"}}},
            {"name": "web", "description": "web tier", "config": {"limits.cpu": 1},
             "devices": {"eth1": {"name": "eth1", "nictype": "bridged", "parent": "lxdbr1", "type": "nic"}}},
        ],
        "projects": [{"name": "staging", "description": "staging workloads",
                      "config": {"features.images": False}}],
        "storage_volumes": [
            {"pool": "data", "name": "web", "member": lab.members[0].name, "config": {"user.tier": "web"}},
            {"pool": "data", "name": "web", "member": lab.members[1].name, "config": {"user.tier": "web"}},
        ],
    }
    return doc


def write(doc: dict, path: Path) -> str:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def line_of(path: str, text: str) -> int:
    """The (1-based) line of the file at ``path`` where ``text`` first appears."""
    return next(i for i, line in enumerate(Path(path).read_text().splitlines(), 1) if text in line)
