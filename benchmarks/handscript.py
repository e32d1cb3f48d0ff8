"""The hand script of the apply benchmark: the walkthrough formed with `lxd init --preseed` and
`lxc` (or `incus admin init --preseed` and `incus`), as an operator would type it.

``hand_script(lab, doc)`` returns a bash script for a fresh lab (unclustered daemons) and the
fitted walkthrough document ``doc``, in the order of LXD's clustering docs and of an operator's
script (issue 22): a bootstrap preseed on the first member (server config only), the project,
the cluster-only server key, the cluster group, then each member joins empty (a token from
``cluster add``, a join preseed), then each pool and network is created on every member
(``create --target``, its member keys) and instantiated once (the server fans it out to every
member at once), the profiles, then the member attributes, roles, groups and volumes, the
images (`image import`) and the containers (`launch`/`init --target`). It makes what lxdplan's `apply`
makes, including lxdplan's ownership marks (``user.lxdplan.managed``, the server key listing
managed groups), so a no-change `plan` afterwards proves the two did the same work.
"""

from __future__ import annotations

import shlex

import yaml

_MEMBER_LOCAL = frozenset({"core.https_address", "cluster.https_address", "core.trust_password"})

MANAGED = {"user.lxdplan.managed": "true"}


def _s(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cfg(config: dict | None) -> dict:
    return {k: _s(v) for k, v in (config or {}).items() if v is not None}


def hand_script(lab, doc: dict) -> str:
    lxd = lab.backend == "lxd"
    cli = "lxc" if lxd else "incus"
    init = "lxd init --preseed" if lxd else "incus admin init --preseed"
    dirvar = "LXD_DIR" if lxd else "INCUS_DIR"
    members = doc["cluster"]["members"]
    first = members[0]["name"]
    dirs = {m.name: m.daemon_dir for m in lab.members}
    lines = ["set -euo pipefail", f"export {dirvar}={shlex.quote(dirs[first])}"]

    def heredoc(cmd: str, body) -> None:
        text = body if isinstance(body, str) else yaml.safe_dump(body, sort_keys=False)
        lines.append(f"{cmd} <<'EOF'\n{text.rstrip()}\nEOF")

    server_cfg = _cfg(doc["cluster"].get("config"))
    later_cfg = {k: v for k, v in server_cfg.items() if k.startswith("cluster.")}
    boot_cfg = {k: v for k, v in server_cfg.items() if k not in later_cfg}
    groups = doc.get("cluster_groups") or []
    if groups:  # lxdplan's record of the groups it manages (groups have no config of their own)
        boot_cfg["user.lxdplan.cluster_groups"] = ",".join(sorted(g["name"] for g in groups))
    images = doc.get("images") or []
    if images:  # likewise the images it manages
        boot_cfg["user.lxdplan.images"] = ",".join(sorted(i["name"] for i in images))
    boot_cfg["core.https_address"] = members[0]["address"]
    profiles = []
    for p in doc.get("profiles") or []:
        marks = {} if p["name"] == "default" else MANAGED
        profiles.append({"name": p["name"], "description": p.get("description", ""),
                         "config": {**_cfg(p.get("config")), **marks}, "devices": p.get("devices") or {}})
    projects = [{"name": p["name"], "description": p.get("description", ""),
                 "config": {**_cfg(p.get("config")), **MANAGED}} for p in doc.get("projects") or []]
    heredoc(init, {"config": boot_cfg, "cluster": {"server_name": first, "enabled": True}})
    for p in projects:  # LXD 5.0's preseed has no projects
        heredoc(f"{cli} project create {shlex.quote(p['name'])} && {cli} project edit "
                f"{shlex.quote(p['name'])}", {"description": p["description"], "config": p["config"]})
    for k, v in later_cfg.items():
        lines.append(f"{cli} config set {shlex.quote(k)} {shlex.quote(v)}")
    for g in groups:
        lines.append(f"{cli} cluster group create {shlex.quote(g['name'])}")
        if g.get("description"):
            heredoc(f"{cli} cluster group edit {shlex.quote(g['name'])}",
                    {"description": g["description"], "members": []})

    for m in members[1:]:  # empty members join first, as the clustering docs do it
        name = m["name"]
        lines.append(f"token=$({cli} cluster add {shlex.quote(name)} | tail -n 1)")
        join = {"cluster": {"enabled": True, "server_name": name, "server_address": m["address"],
                            "cluster_address": members[0]["address"], "cluster_token": "@TOKEN@"}}
        text = yaml.safe_dump(join, sort_keys=False).replace("'@TOKEN@'", '"$token"')
        lines.append(f"{dirvar}={shlex.quote(dirs[name])} {init} <<EOF\n{text.rstrip()}\nEOF")

    # then each pool and network: defined on every member (its member keys), instantiated once
    for kind, cmd, type_field, objs in (("storage_pools", "storage", "driver", doc.get("storage_pools")),
                                        ("networks", "network", "type", doc.get("networks"))):
        for o in objs or []:
            name = shlex.quote(o["name"])
            kind_arg = shlex.quote(o[type_field]) if cmd == "storage" else f"--type {shlex.quote(o[type_field])}"
            for m in members:
                keys = _cfg((o.get("members") or {}).get(m["name"]))
                args = "".join(f" {shlex.quote(f'{k}={v}')}" for k, v in keys.items())
                lines.append(f"{cli} {cmd} create {name} {kind_arg}{args} --target {shlex.quote(m['name'])}")
            cfg = {**_cfg(o.get("config")), **MANAGED}
            args = "".join(f" {shlex.quote(f'{k}={v}')}" for k, v in cfg.items())
            lines.append(f"{cli} {cmd} create {name} {kind_arg}{args}")
            if o.get("description"):  # LXD 5.0's create takes no description: one PUT
                heredoc(f"{cli} {cmd} edit {name}", {"description": o["description"], "config": cfg})
    for p in profiles:
        name = shlex.quote(p["name"])
        make = "" if p["name"] == "default" else f"{cli} profile create {name} && "
        heredoc(f"{make}{cli} profile edit {name}",
                {"description": p["description"], "config": p["config"], "devices": p["devices"]})

    wide = {k: v for k, v in {**boot_cfg, **later_cfg}.items() if k not in _MEMBER_LOCAL}
    if lxd and wide and len(members) > 1:
        # LXD 5.0 members that joined after the cluster-wide config was written do not see it;
        # one cluster-wide write makes every member load it again (an operator's script must too).
        k, v = next(iter(wide.items()))
        lines.append(f"{cli} config set {shlex.quote(k)} {shlex.quote(v)}")

    for m in members:
        name = shlex.quote(m["name"])
        edits = {k: m[k] for k in ("description", "failure_domain") if k in m}
        if edits:  # read, change, write back: what `lxc cluster edit` is for
            seds = " ".join(f"-e {shlex.quote(f's|^{k}: .*|{k}: {v}|')}" for k, v in edits.items())
            lines.append(f"{cli} cluster show {name} | sed {seds} | {cli} cluster edit {name}")
        for role in m.get("roles") or []:
            lines.append(f"{cli} cluster role add {name} {shlex.quote(role)}")
        if m.get("groups"):
            lines.append(f"{cli} cluster group assign {name} {shlex.quote(','.join(m['groups']))}")

    for v in doc.get("storage_volumes") or []:
        cfg = {**_cfg(v.get("config")), **MANAGED}
        args = " ".join(shlex.quote(f"{k}={x}") for k, x in cfg.items())
        target = f" --target {shlex.quote(v['member'])}" if v.get("member") else ""
        project = f" --project {shlex.quote(v['project'])}" if v.get("project") else ""
        lines.append(f"{cli} storage volume create {shlex.quote(v['pool'])} {shlex.quote(v['name'])} "
                     f"{args}{target}{project}")
    for i in images:  # imported from its file under every alias (the walkthrough's are local)
        aliases = " ".join(f"--alias {shlex.quote(a)}" for a in [i["name"], *(i.get("aliases") or [])])
        lines.append(f"{cli} image import {shlex.quote(i['source']['file'])} {aliases}")
    for inst in doc.get("instances") or []:
        verb = "init" if inst.get("state") == "stopped" else "launch"
        where = (f" --target {shlex.quote(inst['member'])}" if inst.get("member") else
                 f" --target @{shlex.quote(inst['group'])}" if inst.get("group") else "")
        marks = {**_cfg(inst.get("config")), **MANAGED, "user.lxdplan.image": inst["image"]}
        config = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in marks.items())
        profiles = " ".join(f"-p {shlex.quote(p)}" for p in inst.get("profiles") or ["default"])
        lines.append(f"{cli} {verb} {shlex.quote(inst['image'])} {shlex.quote(inst['name'])}"
                     f"{where} {profiles} {config}")
    return "\n".join(lines) + "\n"


def dump(script: str) -> str:
    """For error messages: the script, numbered."""
    return "\n".join(f"{i:3d}  {line}" for i, line in enumerate(script.splitlines(), 1))


__all__ = ["dump", "hand_script"]
