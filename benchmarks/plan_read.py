#!/usr/bin/env python3
"""How fast a no-change `lxdplan plan` reads a cluster, against two baselines in the same run.

Usage (root): python3 benchmarks/plan_read.py [--backend lxd|incus] [--runs N] [--smoke] [--keep]
                                             [--name NAME] [--baseline DIR] [--results DIR]

1. Brings up a 5-member lab (``lxdplan.lab.up``), torn down at the end unless ``--keep``.
2. Forms the cluster by hand over the unix sockets (bootstrap, joins with tokens), then creates
   12 dir pools, 8 bridge networks, 30 profiles and 5 projects (define per member, instantiate).
3. Exports the live cluster to a desired-state file and checks that `plan` on it shows no change.
4. Measures, interleaved, N times each:
   a. ``python -m lxdplan plan --detailed-exitcode -f FILE`` (a subprocess, wall time);
   b. the same state read with sequential ``lxc``/``incus`` calls;
   c. the floor: interpreter start + every GET lxdplan's `plan` needs issued at once in-process,
      each member-specific one to that member's own socket, the members' single-object reads for
      their ETags (If-Match) included (the other objects' ETags are read only for an update).
      `plan` observes at PLAN detail: a member's view of a pool or network only where the file
      declares member-specific keys for that member or the object is not Created, and one
      untargeted GET of a declared network no member view was read of.
      For reference the old floor is timed too: every member's view of every pool and network
      (what `status` and `export` read, and what `plan` read before PLAN detail).
   d. with ``--baseline DIR`` (another checkout, e.g. ``git archive HEAD | tar -x -C DIR``), the
      same plan run from there: a before/after comparison in the same run.
5. Counts the HTTP requests one `plan` makes (through a recording proxy in front of each
   member's socket; not timed) against the floor's, the minimum.
Prints medians, minimums and ``RATIO`` lines (plan / floor, target <= 1.2; lxc / plan; requests
/ minimum). ``--smoke``: 3 members, 2 pools, 2 networks, 3 profiles, 1 project, one run. Exits 0
whatever the numbers: it is a measurement, not a test (1 only when the lab cannot be set up).
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import REPO, Result, cli_env, parser, private_dirs, settle
from proxy import Proxy

from lxdplan import lab as labapi  # noqa: E402
from lxdplan.errors import LxdplanError  # noqa: E402
from lxdplan.lab.model import BACKENDS  # noqa: E402
from lxdplan.providers.client import Client  # noqa: E402

POOLS, NETWORKS, PROFILES, PROJECTS = 12, 8, 30, 5
MEMBERS = 5


def _handform():
    """tests/integration/handform.py, imported by path (it is test code, not part of the package)."""
    path = REPO / "tests" / "integration" / "handform.py"
    spec = importlib.util.spec_from_file_location("lxdplan_bench_handform", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- building the cluster by hand ---------------------------------------------------------------

def pool_names() -> list[str]:
    return [f"bpool{i:02d}" for i in range(1, POOLS + 1)]


def network_names() -> list[str]:
    return [f"bnet{i}" for i in range(1, NETWORKS + 1)]


def form(lab) -> dict[str, Client]:
    """Bootstrap node1, join the rest, create the objects; return a unix client per member."""
    hf = _handform()
    hf.form_cluster([(m.name, m.socket, m.address) for m in lab.members])
    clients = {m.name: Client(m.endpoint, member=m.name) for m in lab.members}
    leader = clients[lab.members[0].name]
    members = [m.name for m in lab.members]

    with ThreadPoolExecutor(max_workers=8) as pool:
        defines = []
        for p in pool_names():
            for m in members:
                defines.append(pool.submit(clients[m].post, "/1.0/storage-pools",
                                           {"name": p, "driver": "dir"}, {"target": m}))
        for n in network_names():
            for m in members:
                defines.append(pool.submit(clients[m].post, "/1.0/networks",
                                           {"name": n, "type": "bridge"}, {"target": m}))
        for f in defines:
            f.result()
        creates = [pool.submit(leader.post, "/1.0/storage-pools",
                               {"name": p, "driver": "dir", "description": f"bench pool {p}",
                                "config": {"user.bench": p}}) for p in pool_names()]
        creates += [pool.submit(leader.post, "/1.0/projects", {
            "name": f"bproj{i}", "description": f"bench project {i}",
            "config": {"features.images": "false", "user.bench": str(i)},
        }) for i in range(1, PROJECTS + 1)]
        # Bridges one at a time: instantiating several at once on LXD 5.0.2 left them Errored
        # and a POST hanging past the 60 s read timeout.
        for i, n in enumerate(network_names(), start=1):
            leader.post("/1.0/networks", {
                "name": n, "type": "bridge", "description": f"bench network {n}",
                "config": {"ipv4.address": f"192.168.{200 + i}.1/24", "ipv4.nat": "false",
                           "ipv6.address": "none"},
            })
        for f in creates:
            f.result()
        profiles = []
        for i in range(1, PROFILES + 1):
            p, n = pool_names()[i % POOLS], network_names()[i % NETWORKS]
            profiles.append(pool.submit(clients[members[i % len(members)]].post, "/1.0/profiles", {
                "name": f"bprof{i:02d}", "description": f"bench profile {i}",
                "config": {"limits.cpu": "1", "limits.memory": f"{128 * (1 + i % 4)}MiB",
                           "user.bench": str(i)},
                "devices": {"root": {"type": "disk", "path": "/", "pool": p},
                            "eth0": {"type": "nic", "name": "eth0", "nictype": "bridged", "parent": n}},
            }))
        for f in profiles:
            f.result()
    return clients


# -- the three measurements ---------------------------------------------------------------------

def run_plan(file: str, repo: Path = REPO) -> tuple[float, int, str]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lxdplan", "plan", "--detailed-exitcode", "-f", file],
                          cwd=repo, capture_output=True, text=True, env=cli_env())
    return time.perf_counter() - t, proc.returncode, proc.stdout + proc.stderr


def lxc_commands(lab) -> list[list[str]]:
    cli = BACKENDS[lab.backend].client
    members = [m.name for m in lab.members]
    cmds = [[cli, "query", "/1.0"], [cli, "cluster", "list"]]
    cmds += [[cli, "config", "show", "--target", m] for m in members]
    cmds += [[cli, "storage", "list"]]
    cmds += [[cli, "storage", "show", p, "--target", m] for p in pool_names() for m in members]
    cmds += [[cli, "network", "list"]]
    cmds += [[cli, "network", "show", n, "--target", m] for n in network_names() for m in members]
    cmds += [[cli, "profile", "list"]]
    cmds += [[cli, "profile", "show", "default"]]
    cmds += [[cli, "profile", "show", f"bprof{i:02d}"] for i in range(1, PROFILES + 1)]
    cmds += [[cli, "project", "list"], [cli, "cluster", "group", "list"]]
    cmds += [[cli, "storage", "volume", "list", p] for p in pool_names()]
    return cmds


def run_lxc(lab, cmds: list[list[str]]) -> float:
    b = BACKENDS[lab.backend]
    env = b.env(lab.members[0].daemon_dir)
    t = time.perf_counter()
    for cmd in cmds:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return time.perf_counter() - t


def etag_requests(lab, file: Path) -> list[tuple[str, str, dict]]:
    """The single-object GETs a no-change `plan` makes only for their ETag: one per declared
    member (member updates compare fields against it). The other objects' ETags are read after
    planning, only for the objects an update step changes (``providers/etags.py``): none here."""
    from lxdplan.loader import load
    from lxdplan.providers.client import path_of

    desired, _ = load(str(file))
    leader = lab.members[0].name
    return [(leader, path_of("cluster", "members", m.name), {}) for m in desired.members]


def common_requests(lab, clients: dict[str, Client]) -> list[tuple[str, str, dict]]:
    """(member socket owner, path, params) of the GETs both detail levels make, as the floor
    sends them: probes, listings, profiles, volumes (the ETag reads, see ``etag_requests``, and
    the member views are added by the caller)."""
    from lxdplan.providers.backend import Backend

    leader = lab.members[0].name
    members = [m.name for m in lab.members]
    backend = Backend.from_server(clients[leader].get("/1.0").metadata)
    reqs = [(m, "/1.0", {}) for m in members]
    reqs += [(leader, f"/1.0/{c}", {"recursion": 1}) for c in
             ("cluster/members", "cluster/groups", "storage-pools", "networks", "projects")]
    if backend.all_projects_profiles:
        reqs.append((leader, "/1.0/profiles", {"recursion": 1, "all-projects": "true"}))
    else:
        reqs.append((leader, "/1.0/profiles", {"recursion": 1}))
        projects = clients[leader].get("/1.0/projects", {"recursion": 1}).metadata
        reqs += [(leader, "/1.0/profiles", {"recursion": 1, "project": p["name"]}) for p in projects
                 if p["name"] != "default" and p["config"].get("features.profiles") == "true"]
    pools = [url.rsplit("/", 1)[-1] for url in clients[leader].get("/1.0/storage-pools").metadata]
    reqs += [(leader, f"/1.0/storage-pools/{p}/volumes", {"recursion": 1, "all-projects": "true"})
             for p in pools]
    return reqs


def full_member_requests(lab, clients: dict[str, Client]) -> list[tuple[str, str, dict]]:
    """Every member's view of every pool and of the bench networks (FULL detail)."""
    leader = lab.members[0].name
    members = [m.name for m in lab.members]
    pools = [url.rsplit("/", 1)[-1] for url in clients[leader].get("/1.0/storage-pools").metadata]
    reqs = [(m, f"/1.0/storage-pools/{p}", {"target": m}) for p in pools for m in members]
    reqs += [(m, f"/1.0/networks/{n}", {"target": m}) for n in network_names() for m in members]
    return reqs


def plan_member_requests(lab, clients: dict[str, Client], file: Path) -> list[tuple[str, str, dict]]:
    """The member views `plan` reads (PLAN detail), worked out independently of lxdplan's
    observer from the file and the listings: a member's view where the file declares
    member-specific keys for it or the object is not Created; an untargeted GET for a declared
    network no member view is read of (its ETag)."""
    from lxdplan.loader import load

    desired, _ = load(str(file))
    leader = clients[lab.members[0].name]
    keyed = {("storage-pools", p.name): {m for m, c in p.members.items() if c}
             for p in desired.storage_pools}
    keyed |= {("networks", n.name): {m for m, c in n.members.items() if c} for n in desired.networks}
    declared_nets = {n.name for n in desired.networks}
    reqs: list[tuple[str, str, dict]] = []
    for coll in ("storage-pools", "networks"):
        for obj in leader.get(f"/1.0/{coll}", {"recursion": 1}).metadata:
            if coll == "networks" and not obj.get("managed"):
                continue
            name = obj["name"]
            if obj.get("type") == "ovn":
                reqs.append((lab.members[0].name, f"/1.0/{coll}/{name}", {}))
                continue
            every = obj.get("status") != "Created"
            views = [(m, f"/1.0/{coll}/{name}", {"target": m}) for m in obj.get("locations") or ()
                     if every or m in keyed.get((coll, name), ())]
            reqs += views
            if coll == "networks" and name in declared_nets and not views:
                reqs.append((lab.members[0].name, f"/1.0/{coll}/{name}", {}))
    return reqs


def run_floor_gets(lab, reqs) -> float:
    import httpx

    sockets = {m.name: m.socket for m in lab.members}
    t = time.perf_counter()
    http = {name: httpx.Client(transport=httpx.HTTPTransport(uds=sock, verify=False), base_url="http://lxd",
                               timeout=60) for name, sock in sockets.items()}
    try:
        def one(req):
            member, path, params = req
            r = http[member].get(path, params=params)
            if r.status_code != 200:
                raise SystemExit(f"floor GET {path} {params} on {member}: HTTP {r.status_code} {r.text[:200]}")
            return r.json()

        with ThreadPoolExecutor(max_workers=len(reqs)) as pool:
            list(pool.map(one, reqs))
    finally:
        for c in http.values():
            c.close()
    return time.perf_counter() - t


def run_interpreter() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=cli_env())
    return time.perf_counter() - t


# -- driver -------------------------------------------------------------------------------------

def prepare_file(lab, workdir: Path) -> Path:
    out = workdir / "bench.yaml"
    proc = subprocess.run([sys.executable, "-m", "lxdplan", "export", "-f", lab.file, "-o", str(out)],
                          cwd=REPO, capture_output=True, text=True, env=cli_env())
    if proc.returncode != 0:
        raise SystemExit(f"lxdplan export failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    text = out.read_text()
    for m in lab.members:
        if f"endpoint: {m.endpoint}" not in text:
            print(f"NOTE: exported file lacks the unix endpoint of {m.name}", flush=True)
    return out


def count_plan_requests(lab, file: Path) -> int:
    """How many HTTP requests one `plan` makes: run it once through a recording proxy in front
    of every member's unix socket (not timed)."""
    sink: list = []
    lock = threading.Lock()
    proxies = [Proxy(("unix", m.socket), ("unix", str(Path(m.daemon_dir).parent / f"rec-{m.name}.sock")),
                     record=True, label=m.name, sink=sink, sink_lock=lock) for m in lab.members]
    text = file.read_text()
    try:
        for p, m in zip(proxies, lab.members):
            text = text.replace(f"endpoint: {m.endpoint}\n", f"endpoint: unix://{p.start()[1]}\n")
        counted = file.with_name("counted.yaml")
        counted.write_text(text)
        elapsed, code, output = run_plan(str(counted))
        if code != 0:
            print(f"DISCREPANCY: plan through the recording proxy exited {code}:\n{output}")
    finally:
        for p in proxies:
            p.close()
    return len(sink)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.0f}"


def main() -> int:
    global POOLS, NETWORKS, PROFILES, PROJECTS, MEMBERS
    ap = parser(__doc__)
    ap.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    ap.add_argument("--baseline", type=Path, help="also time `plan` run from this other checkout")
    args = ap.parse_args()
    settle(args)
    if args.smoke:
        POOLS, NETWORKS, PROFILES, PROJECTS, MEMBERS = 2, 2, 3, 1, 3
    if os.geteuid() != 0:
        print("plan_read.py needs root (it starts a lab in network namespaces)", file=sys.stderr)
        return 1
    with private_dirs():
        return measure(args)


def measure(args) -> int:

    workdir = Path(tempfile.mkdtemp(prefix="lxdplan-bench-"))
    args.name = f"{args.name}-p{args.backend[0]}"
    reused = labapi.find(args.name) is not None
    lab = None
    clients: dict[str, Client] = {}
    try:
        t0 = time.perf_counter()
        lab = labapi.up(name=args.name, backend=args.backend, members=MEMBERS,
                        out=workdir / "lab.yaml")
        print(f"lab {lab.name} up ({args.backend}, {MEMBERS} members) in {time.perf_counter() - t0:.1f} s",
              flush=True)
        t0 = time.perf_counter()
        clustered = Client(lab.members[0].endpoint, member="node1").get("/1.0").metadata[
            "environment"].get("server_clustered")
        if reused and clustered:
            clients = {m.name: Client(m.endpoint, member=m.name) for m in lab.members}
            print("reusing the already formed cluster", flush=True)
        else:
            clients = form(lab)
            print(f"formed by hand: {POOLS} pools, {NETWORKS} networks, {PROFILES} profiles, "
                  f"{PROJECTS} projects in {time.perf_counter() - t0:.1f} s", flush=True)
        file = prepare_file(lab, workdir)
        elapsed, code, output = run_plan(str(file))
        if code != 0:
            print(f"DISCREPANCY: plan on the exported file exited {code} (expected 0, no changes):")
            print(output)
        else:
            print(f"no-change plan confirmed (exit 0): {output.strip().splitlines()[-1] if output.strip() else ''}")

        cmds = lxc_commands(lab)
        common = common_requests(lab, clients)
        full_reqs = common + full_member_requests(lab, clients)
        reqs = common + plan_member_requests(lab, clients, file)
        etags = etag_requests(lab, file)
        print(f"lxc baseline: {len(cmds)} sequential commands; floor (what plan reads): "
              f"{len(reqs)} concurrent GETs + {len(etags)} ETag reads; old full-read floor: "
              f"{len(full_reqs)} + {len(etags)}", flush=True)
        plan_t, lxc_t, floor_t, interp_t, gets_t, base_t = [], [], [], [], [], []
        floor0_t, gets0_t = [], []
        kinds = [0, 1, 2] + ([3] if args.baseline else [])
        for i in range(args.runs):
            k = i % len(kinds)
            order = kinds[k:] + kinds[:k]  # rotate so drift hits all alike
            for which in order:
                if which == 0:
                    t, code, output = run_plan(str(file))
                    if code != 0:
                        print(f"run {i + 1}: plan exited {code}")
                    plan_t.append(t)
                elif which == 3:
                    t, code, output = run_plan(str(file), args.baseline)
                    if code != 0:
                        print(f"run {i + 1}: baseline plan exited {code}: {output.strip()[-300:]}")
                    base_t.append(t)
                elif which == 1:
                    lxc_t.append(run_lxc(lab, cmds))
                else:
                    it, gt = run_interpreter(), run_floor_gets(lab, reqs + etags)
                    g0 = run_floor_gets(lab, full_reqs + etags)
                    interp_t.append(it)
                    gets_t.append(gt)
                    floor_t.append(it + gt)
                    gets0_t.append(g0)
                    floor0_t.append(it + g0)
            print(f"run {i + 1}/{args.runs}: plan {ms(plan_t[-1])} ms, lxc {ms(lxc_t[-1])} ms, "
                  f"floor {ms(floor_t[-1])} ms"
                  + (f", baseline plan {ms(base_t[-1])} ms" if base_t else ""), flush=True)

        med = statistics.median
        requests = count_plan_requests(lab, file)
        minimum = len(reqs) + len(etags)
        res = Result("plan_read", args.backend, args.runs, args.smoke)
        res.extra = {"members": MEMBERS, "pools": POOLS, "networks": NETWORKS, "profiles": PROFILES,
                     "projects": PROJECTS, "requests": requests, "minimum_requests": minimum,
                     "lxc_commands": len(cmds)}
        rows = [("plan (subprocess)", plan_t), (f"{BACKENDS[lab.backend].client} sequential", lxc_t),
                ("floor = interpreter + plan's GETs", floor_t), ("  interpreter start", interp_t),
                ("  plan's GETs at once", gets_t), ("old floor: interp. + full-read GETs", floor0_t),
                ("  full-read GETs at once", gets0_t)]
        if base_t:
            rows.append((f"plan from {args.baseline}", base_t))
        for label, xs in rows:
            res.row(label, xs)
        res.table()
        over_floor = med(plan_t) / med(floor_t)
        res.ratio("plan/floor", over_floor, target="<= 1.20", met=over_floor <= 1.2,
                  detail=f"(floor: interpreter start + the {minimum} GETs plan needs, at once)")
        res.ratio("sequential-cli/plan", med(lxc_t) / med(plan_t),
                  detail=f"(plan is that many times faster than {len(cmds)} sequential "
                         f"{BACKENDS[lab.backend].client} calls)")
        res.ratio("plan requests/minimum", requests / minimum,
                  detail=f"({requests} HTTP requests made, {minimum} needed)")
        res.ratio("plan/old full-read floor", med(plan_t) / med(floor0_t), detail="(reference only)")
        if base_t:
            res.ratio("baseline plan/floor", med(base_t) / med(floor_t), detail=f"({args.baseline})")
        print(f"wrote {res.save(args.results, f'plan_read-{args.backend}')}")
        return 0
    except LxdplanError as exc:
        print(f"benchmark setup failed: {exc}", file=sys.stderr)
        return 1
    finally:
        for c in clients.values():
            c.close()
        if lab is not None and not args.keep:
            labapi.down(lab.name, missing_ok=True)
            print(f"lab {lab.name} torn down")
        elif lab is not None:
            print(f"lab {lab.name} kept: lxdplan lab down --name {lab.name}")
        for p in sorted(workdir.glob("*")):
            p.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    sys.exit(main())
