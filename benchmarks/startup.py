#!/usr/bin/env python3
"""Start-up: `lxdplan --version` and `validate` of a 1,000-object file, on an editable install
(this checkout's ``.venv``) and on a plain one (``pip install .`` into a temporary venv).

Usage: python3 benchmarks/startup.py [--runs N] [--smoke] [--results DIR] [--baseline DIR]

The plain install is made with ``pip install --no-deps --target SITE .`` into a fresh venv whose
dependencies come from this checkout's ``.venv`` (a ``.pth`` file): pip builds lxdplan's wheel as
usual (fetching the build backend, setuptools, from the package index) and lxdplan itself is a
real, non-editable install. Each command runs through the installed
``lxdplan`` console script; ``python -c pass`` of the same interpreter is timed beside them as
the floor. Variants alternate. Needs no root and no server. Prints ``RATIO`` lines: seconds of
`--version` (target <= 0.10) and of `validate` (target <= 1.0) on each install.

Plan start-up (editable install): `lxdplan plan` of the same file with every member's endpoint a
unix socket that does not exist, so the command runs everything a plan does before its first
answer (imports, the file check, clients) and stops there ("the cluster's state is unknown"):
once with the file already in lxdplan's record of schema-checked files (``lxdplan.validated``:
what a user's second plan of an unchanged file does) and once with an empty record (a fresh
``LXDPLAN_CACHE_DIR`` each run: the full check). ``--baseline DIR`` (another checkout, e.g.
``git archive main | tar -x -C DIR``) times `--version` and the plan start-up from there too, in
the same run, and prints this checkout's time over the baseline's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import yaml

from common import PYTHON, REPO, Result, cli_env, med, parser, private_dirs, rotate, run, settle

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


def unreachable(path: Path, to: Path) -> Path:
    """``path`` with each member's endpoint a unix socket that does not exist."""
    doc = yaml.safe_load(path.read_text())
    for m in doc["cluster"]["members"]:
        m["endpoint"] = f"unix://{to.parent / ('missing-' + m['name'] + '.socket')}"
    to.write_text(yaml.safe_dump(doc, sort_keys=False))
    return to


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
    script.write_text(f"#!{where / 'bin' / 'python'}\nimport sys\nfrom lxdplan.entry import main\n"
                      "sys.exit(main())\n")
    script.chmod(0o755)
    return where / "bin"


def main() -> int:
    ap = parser(__doc__)
    ap.add_argument("--baseline", type=Path, help="another checkout to time beside this one")
    args = ap.parse_args()
    settle(args)
    res = Result("startup", "-", args.runs, args.smoke)
    work = Path(tempfile.mkdtemp(prefix="lxdplan-startup-"))
    with private_dirs():
        return measure(args, res, work)


def measure(args, res: Result, work: Path) -> int:
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
        away = unreachable(file, work / "unreachable.yaml")
        recorded = work / "cache-recorded"
        plan = ["plan", "-f", str(away)]
        envs = {}  # label -> (environment, working directory); default: cli_env(), work
        cmds["plan start-up, file recorded"] = [PYTHON, "-m", "lxdplan", *plan]
        envs["plan start-up, file recorded"] = ({"LXDPLAN_CACHE_DIR": str(recorded)}, work)
        cmds["plan start-up, empty record"] = [PYTHON, "-m", "lxdplan", *plan]
        envs["plan start-up, empty record"] = ({"LXDPLAN_CACHE_DIR": ""}, work)  # fresh per run
        if args.baseline:
            cmds["baseline: python -m lxdplan --version"] = [PYTHON, "-m", "lxdplan", "--version"]
            envs["baseline: python -m lxdplan --version"] = ({}, args.baseline)
            cmds["editable: python -m lxdplan --version"] = [PYTHON, "-m", "lxdplan", "--version"]
            envs["editable: python -m lxdplan --version"] = ({}, work)
            cmds["baseline: plan start-up"] = [PYTHON, "-m", "lxdplan", *plan]
            envs["baseline: plan start-up"] = ({"LXDPLAN_CACHE_DIR": str(recorded)}, args.baseline)
        fresh = iter(range(10**6))

        def one(label: str):
            extra, cwd = envs.get(label, ({}, work))
            if extra.get("LXDPLAN_CACHE_DIR") == "":
                extra = {"LXDPLAN_CACHE_DIR": str(work / f"cache-empty-{next(fresh)}")}
            return run(cmds[label], env=cli_env(**extra), cwd=cwd)

        times = {k: [] for k in cmds}
        for label, cmd in cmds.items():  # once untimed: first runs pay for .pyc writing
            done = one(label)
            expected = 1 if "plan start-up" in label else 0
            if done.code != expected or (expected and "state is unknown" not in done.output):
                print(f"FAILED: {' '.join(cmd)} exited {done.code}:\n{done.output}", file=sys.stderr)
                return 1
        for i in range(max(args.runs, 5) if not args.smoke else 1):
            for label in rotate(list(cmds), i):
                times[label].append(one(label).seconds)
        for label, xs in times.items():
            res.row(label, xs)
        res.table()
        for name in installs:
            v = med(times[f"{name}: lxdplan --version"])
            val = med(times[f"{name}: lxdplan validate ({OBJECTS} objects)"])
            res.ratio(f"{name} --version seconds", v, target="<= 0.10", met=v <= 0.10)
            res.ratio(f"{name} validate {OBJECTS} objects seconds", val, target="<= 1.00", met=val <= 1.0)
        rec, empty = med(times["plan start-up, file recorded"]), med(times["plan start-up, empty record"])
        res.ratio("plan start-up recorded/unrecorded file", rec / empty,
                  detail=f"({rec:.3f} s / {empty:.3f} s, {OBJECTS} objects)")
        if args.baseline:
            for what in ("python -m lxdplan --version", "plan start-up"):
                mine = med(times[f"editable: {what}"] if what != "plan start-up"
                           else times["plan start-up, file recorded"])
                base = med(times[f"baseline: {what}"])
                res.ratio(f"{what} this/baseline", mine / base,
                          detail=f"({mine:.3f} s / {base:.3f} s; baseline {args.baseline})")
        print(f"wrote {res.save(args.results, 'startup')}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
