#!/usr/bin/env python3
"""Start-up: `lxdplan --version` and `validate` of a 1,000-object file, on an editable install
(this checkout's ``.venv``) and on a plain one (``pip install .`` into a temporary venv).

Usage: python3 benchmarks/startup.py [--runs N] [--smoke] [--results DIR]

The plain install is made with ``pip install --no-deps --target SITE .`` into a fresh venv whose
dependencies come from this checkout's ``.venv`` (a ``.pth`` file): pip builds lxdplan's wheel as
usual (fetching the build backend, setuptools, from the package index) and lxdplan itself is a
real, non-editable install. Each command runs through the installed
``lxdplan`` console script; ``python -c pass`` of the same interpreter is timed beside them as
the floor. Variants alternate. Needs no root and no server. Prints ``RATIO`` lines: seconds of
`--version` (target <= 0.25) and of `validate` (target <= 1.0) on each install.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import yaml

from common import REPO, Result, cli_env, med, parser, rotate, run, settle

OBJECTS = 1000


def big_file(path: Path, objects: int) -> Path:
    """A valid file of ``objects`` objects: 3 members, pools, networks, profiles, projects, volumes."""
    members = [f"node{i}" for i in (1, 2, 3)]
    n_pools, n_nets = objects // 20, objects // 20
    n_projects, n_volumes = objects // 10, objects // 5
    n_profiles = objects - n_pools - n_nets - n_projects - n_volumes
    doc = {
        "version": 1, "backend": "lxd",
        "cluster": {"config": {"images.auto_update_interval": 15},
                    "members": [{"name": m, "address": f"10.0.0.{i}:8443"} for i, m in enumerate(members, 1)]},
        "storage_pools": [{"name": f"pool{i}", "driver": "dir", "description": f"pool {i}",
                           "members": {m: {"source": f"/srv/pool{i}/{m}"} for m in members}}
                          for i in range(n_pools)],
        "networks": [{"name": f"br{i}", "type": "bridge",
                      "config": {"ipv4.address": f"10.{100 + i // 200}.{i % 200}.1/24", "ipv6.address": "none"}}
                     for i in range(n_nets)],
        "profiles": [{"name": f"prof{i}", "description": f"profile {i}", "config": {"limits.cpu": 1},
                      "devices": {"root": {"type": "disk", "path": "/", "pool": f"pool{i % n_pools}"},
                                  "eth0": {"type": "nic", "name": "eth0", "network": f"br{i % n_nets}"}}}
                     for i in range(n_profiles)],
        "projects": [{"name": f"proj{i}", "config": {"features.images": False}} for i in range(n_projects)],
        "storage_volumes": [{"pool": f"pool{i % n_pools}", "name": f"vol{i}", "member": members[i % 3],
                             "config": {"size": "1GiB"}} for i in range(n_volumes)],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def plain_install(where: Path) -> Path:
    """``pip install .`` (not editable) into a new venv at ``where``; its ``bin`` directory."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    site = Path(subprocess.run([str(where / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    deps = Path(sysconfig.get_paths()["purelib"])  # this checkout's .venv: lxdplan's dependencies
    (site / "lxdplan-bench-deps.pth").write_text(f"{deps}\n")
    build = Path(tempfile.mkdtemp(prefix="lxdplan-build-"))
    try:
        src = build / "src"
        shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "build",
                                                                  "__pycache__", "results"))
        subprocess.run([str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                        "--target", str(site), str(src)],
                       check=True, capture_output=True, text=True)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    script = where / "bin" / "lxdplan"
    script.write_text(f"#!{where / 'bin' / 'python'}\nimport sys\nfrom lxdplan.cli import main\n"
                      "sys.exit(main())\n")
    script.chmod(0o755)
    return where / "bin"


def main() -> int:
    ap = parser(__doc__)
    args = ap.parse_args()
    settle(args)
    res = Result("startup", "-", args.runs, args.smoke)
    work = Path(tempfile.mkdtemp(prefix="lxdplan-startup-"))
    try:
        file = big_file(work / "big.yaml", OBJECTS)
        installs = {"editable": Path(sys.executable).parent}
        try:
            installs["plain"] = plain_install(work / "venv")
        except subprocess.CalledProcessError as exc:
            res.note(f"the plain install failed, only the editable one is measured: {exc.stderr or exc}")
        where = {name: run([str(b / "python"), "-c", "import lxdplan; print(lxdplan.__file__)"], cwd=work).output.strip()
                 for name, b in installs.items()}
        for name, path in where.items():
            print(f"{name} install: lxdplan from {path}", flush=True)
        if "plain" in where and str(REPO) in where["plain"]:
            res.note("the plain install imported lxdplan from the checkout: it is not a real plain install")
        cmds = {}
        for name, b in installs.items():
            cmds[f"{name}: python -c pass"] = [str(b / "python"), "-c", "pass"]
            cmds[f"{name}: lxdplan --version"] = [str(b / "lxdplan"), "--version"]
            cmds[f"{name}: lxdplan validate ({OBJECTS} objects)"] = [str(b / "lxdplan"), "validate", "-f", str(file)]
        times = {k: [] for k in cmds}
        for label, cmd in cmds.items():  # once untimed: first runs pay for .pyc writing
            done = run(cmd, env=cli_env(), cwd=work)
            if done.code != 0:
                print(f"FAILED: {' '.join(cmd)} exited {done.code}:\n{done.output}", file=sys.stderr)
                return 1
        for i in range(max(args.runs, 5) if not args.smoke else 1):
            for label in rotate(list(cmds), i):
                times[label].append(run(cmds[label], env=cli_env(), cwd=work).seconds)
        for label, xs in times.items():
            res.row(label, xs)
        res.table()
        for name in installs:
            v = med(times[f"{name}: lxdplan --version"])
            val = med(times[f"{name}: lxdplan validate ({OBJECTS} objects)"])
            res.ratio(f"{name} --version seconds", v, target="<= 0.25", met=v <= 0.25)
            res.ratio(f"{name} validate {OBJECTS} objects seconds", val, target="<= 1.00", met=val <= 1.0)
        print(f"wrote {res.save(args.results, 'startup')}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
