#!/usr/bin/env python3
"""How a no-change `plan` grows: with members (3, 5, 7), with objects (10, 100, 500), and with
20 ms of network between lxdplan and each member.

Usage (root): python3 benchmarks/scale.py [--backend lxd|incus] [--runs N] [--smoke]
                                         [--latency-ms 20] [--name PREFIX] [--results DIR]

1. Members: for 3, 5 and 7 members, a lab formed by hand (bootstrap, joins) holding the same
   objects (2 pools, 1 bridge, 5 profiles, 1 project, 2 volumes), exported to a file. `plan` is
   timed over the unix sockets and, to model separate machines, over HTTPS through a delaying
   proxy per member (``benchmarks/proxy.py``, bound to 127.0.0.1) that adds ``--latency-ms`` to
   every request, every TLS handshake flight and every new connection. The two are alternated.
2. Objects: on a 3-member lab, 10, then 100, then 500 objects (profiles, projects, volumes,
   pools, bridges in fixed proportions), `plan` timed over the unix sockets with its peak RSS.
Prints medians and ``RATIO`` lines: plan at 7 members / at 3 with latency (target <= 1.3), time
growth against object growth from 100 to 500 (target <= 1.0), peak RSS at 500 objects (target
<= 100 MB). ``--smoke``: 3 members and 10 objects only, one run.
"""

from __future__ import annotations

import base64
import importlib.util
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from common import REPO, Result, cli_env, lxdplan, med, need_root, parser, peak_rss, private_dirs, rotate, run, settle
from proxy import Proxy

from lxdplan import lab as labapi  # noqa: E402
from lxdplan.providers.client import Client, path_of  # noqa: E402


class Failed(Exception):
    pass


def _handform():
    path = REPO / "tests" / "integration" / "handform.py"
    spec = importlib.util.spec_from_file_location("lxdplan_bench_handform", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Cluster:
    """A lab formed by hand, with objects added by count (each kind numbered from 1)."""

    def __init__(self, name: str, backend: str, members: int, workdir: Path):
        self.lab = labapi.up(name=name, backend=backend, members=members)
        self.workdir = workdir
        _handform().form_cluster([(m.name, m.socket, m.address) for m in self.lab.members])
        self.clients = {m.name: Client(m.endpoint, member=m.name) for m in self.lab.members}
        self.leader = self.clients[self.lab.members[0].name]
        self.have = {"pools": 0, "networks": 0, "profiles": 0, "projects": 0, "volumes": 0}

    def close(self) -> None:
        for c in self.clients.values():
            c.close()
        labapi.down(self.lab.name, missing_ok=True)

    def grow(self, pools=0, networks=0, profiles=0, projects=0, volumes=0) -> None:
        names = [m.name for m in self.lab.members]
        with ThreadPoolExecutor(max_workers=8) as pool:
            new_pools = [f"spool{i}" for i in range(self.have["pools"] + 1, pools + 1)]
            list(pool.map(lambda a: self.clients[a[1]].post("/1.0/storage-pools", {"name": a[0], "driver": "dir"},
                                                            {"target": a[1]}),
                          [(p, m) for p in new_pools for m in names]))
            list(pool.map(lambda p: self.leader.post("/1.0/storage-pools", {
                "name": p, "driver": "dir", "config": {"user.bench": p}}), new_pools))
            for i in range(self.have["networks"] + 1, networks + 1):  # bridges one at a time
                n = f"snet{i}"
                for m in names:
                    self.clients[m].post("/1.0/networks", {"name": n, "type": "bridge"}, {"target": m})
                self.leader.post("/1.0/networks", {"name": n, "type": "bridge", "config": {
                    "ipv4.address": f"192.168.{150 + i}.1/24", "ipv4.nat": "false", "ipv6.address": "none"}})
            list(pool.map(lambda i: self.clients[names[i % len(names)]].post("/1.0/projects", {
                "name": f"sproj{i}", "description": f"project {i}",
                "config": {"features.images": "false", "user.bench": str(i)}}),
                range(self.have["projects"] + 1, projects + 1)))
            list(pool.map(lambda i: self.clients[names[i % len(names)]].post("/1.0/profiles", {
                "name": f"sprof{i}", "description": f"profile {i}",
                "config": {"limits.cpu": "1", "limits.memory": f"{128 * (1 + i % 4)}MiB"},
                "devices": {"root": {"type": "disk", "path": "/", "pool": "spool1"},
                            "eth0": {"type": "nic", "name": "eth0", "nictype": "bridged", "parent": "snet1"}}}),
                range(self.have["profiles"] + 1, profiles + 1)))
            list(pool.map(lambda i: self.clients[names[i % len(names)]].post(
                path_of("storage-pools", "spool1", "volumes", "custom"),
                {"name": f"svol{i}", "config": {"size": "1GiB"}}, {"target": names[i % len(names)]}),
                range(self.have["volumes"] + 1, volumes + 1)))
        self.have = {"pools": max(pools, self.have["pools"]), "networks": max(networks, self.have["networks"]),
                     "profiles": max(profiles, self.have["profiles"]),
                     "projects": max(projects, self.have["projects"]), "volumes": max(volumes, self.have["volumes"])}

    def export(self, tag: str) -> Path:
        out = self.workdir / f"{self.lab.name}-{tag}.yaml"
        done = run(lxdplan("export", "-f", self.lab.file, "-o", str(out)), env=cli_env())
        if done.code != 0:
            raise Failed(f"lxdplan export failed: {done.output}")
        check = run(lxdplan("plan", "--detailed-exitcode", "-f", str(out)), env=cli_env())
        if check.code != 0:
            raise Failed(f"plan on the exported file exited {check.code} (expected 0):\n{check.output}")
        return out

    def objects(self) -> int:
        return sum(self.have.values())


def split(n: int) -> dict:
    """n objects in fixed proportions (at least one pool and one bridge: profiles use them)."""
    pools, networks = max(1, n // 100), max(1, n // 250)
    projects, volumes = max(1, n // 10), max(1, n // 5)
    return {"pools": pools, "networks": networks, "projects": projects, "volumes": volumes,
            "profiles": n - pools - networks - projects - volumes}


# -- the latency model ----------------------------------------------------------------------------

def trust_client_cert(cluster: Cluster) -> None:
    """Trust lxdplan's client certificate (in this run's private config dir) cluster-wide."""
    from lxdplan.providers.certs import ensure_client_cert

    pem = Path(ensure_client_cert().cert_path).read_text()
    der_b64 = "".join(line for line in pem.splitlines() if "-----" not in line)
    base64.b64decode(der_b64)  # a sanity check of the PEM body
    try:
        cluster.leader.post("/1.0/certificates", {"type": "client", "name": "lxdplan-bench",
                                                  "certificate": der_b64})
    except Exception as exc:  # already trusted from an earlier size: fine
        if "already exists" not in str(exc):
            raise


def delayed_file(cluster: Cluster, file: Path, delay: float) -> tuple[Path, list[Proxy]]:
    """A copy of ``file`` reaching every member over HTTPS through its own delaying proxy."""
    from lxdplan.providers.parse import fingerprint

    trust_client_cert(cluster)
    cert = cluster.leader.get("/1.0").metadata["environment"]["certificate"]
    doc = yaml.safe_load(file.read_text())
    proxies = []
    by_name = {m.name: m for m in cluster.lab.members}
    for m in doc["cluster"]["members"]:
        live = by_name[m["name"]]
        p = Proxy(("tcp", live.ip, 8443), ("tcp", "127.0.0.1", 0), delay=delay, label=live.name)
        port = p.start()[2]
        proxies.append(p)
        m["endpoint"] = f"https://127.0.0.1:{port}"
        m["fingerprint"] = fingerprint(cert)
    out = file.with_name(file.stem + "-https.yaml")
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    check = run(lxdplan("plan", "--detailed-exitcode", "-f", str(out)), env=cli_env())
    if check.code != 0:
        for p in proxies:
            p.close()
        raise Failed(f"plan over HTTPS through the delaying proxies exited {check.code}:\n{check.output}")
    return out, proxies


def time_plan(file: Path) -> tuple[float, int]:
    done = peak_rss(lxdplan("plan", "--detailed-exitcode", "-f", str(file)), env=cli_env())
    if done.code != 0:
        raise Failed(f"plan exited {done.code} (expected 0):\n{done.output}")
    return done.seconds, done.maxrss_kb


# -- driver ---------------------------------------------------------------------------------------

def main() -> int:
    ap = parser(__doc__)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    args = ap.parse_args()
    settle(args)
    need_root("scale.py")
    res = Result("scale", args.backend, args.runs, args.smoke)
    sizes = [3] if args.smoke else [3, 5, 7]
    counts = [10] if args.smoke else [10, 100, 500]
    delay = args.latency_ms / 1000
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="lxdplan-scale-"))
    local, remote, grown, rss = {}, {}, {}, {}
    try:
        with private_dirs():
            for n in sizes:
                cluster = Cluster(f"{args.name}-s{args.backend[0]}{n}", args.backend, n, workdir)
                proxies: list[Proxy] = []
                try:
                    cluster.grow(pools=2, networks=1, profiles=5, projects=1, volumes=2)
                    file = cluster.export("members")
                    https, proxies = delayed_file(cluster, file, delay)
                    local[n], remote[n] = [], []
                    for i in range(args.runs):
                        for which in rotate(["local", "remote"], i):
                            t, _ = time_plan(file if which == "local" else https)
                            (local if which == "local" else remote)[n].append(t)
                    print(f"{n} members: plan {med(local[n]):.2f} s over unix sockets, "
                          f"{med(remote[n]):.2f} s over HTTPS with {args.latency_ms:g} ms per request",
                          flush=True)
                finally:
                    for p in proxies:
                        p.close()
                    cluster.close()
            cluster = Cluster(f"{args.name}-o{args.backend[0]}", args.backend, 3, workdir)
            try:
                for count in counts:
                    cluster.grow(**split(count))
                    file = cluster.export(f"objects{count}")
                    grown[count], rss[count] = [], []
                    for _ in range(args.runs):
                        t, kb = time_plan(file)
                        grown[count].append(t)
                        rss[count].append(kb / 1024)
                    print(f"{cluster.objects()} objects: plan {med(grown[count]):.2f} s, "
                          f"peak RSS {max(rss[count]):.0f} MB", flush=True)
            finally:
                cluster.close()
    except Failed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        partial = Result("scale", args.backend, args.runs, args.smoke)
        for n, xs in local.items():
            partial.row(f"plan, {n} members, unix sockets", xs)
        for n, xs in remote.items():
            if xs:
                partial.row(f"plan, {n} members, HTTPS + {args.latency_ms:g} ms/request", xs)
        for count, xs in grown.items():
            if xs:
                partial.row(f"plan, 3 members, {count} objects", xs, rss_mb=max(rss[count]))
        partial.note(f"stopped early: {str(exc).splitlines()[0]}")
        print(f"wrote {partial.save(args.results, f'scale-{args.backend}')} (partial)")
        return 1
    finally:
        for p in workdir.glob("*"):
            p.unlink()
        workdir.rmdir()

    for n in sizes:
        res.row(f"plan, {n} members, unix sockets", local[n])
        res.row(f"plan, {n} members, HTTPS + {args.latency_ms:g} ms/request", remote[n])
    for count in counts:
        res.row(f"plan, 3 members, {count} objects", grown[count], rss_mb=max(rss[count]))
    res.table()
    top, low = max(sizes), min(sizes)
    r = med(remote[top]) / med(remote[low])
    res.ratio(f"plan {top}/{low} members with latency", r, target="<= 1.30", met=r <= 1.3,
              detail=f"({med(remote[top]):.2f} s / {med(remote[low]):.2f} s)")
    res.ratio(f"plan {top}/{low} members on unix sockets", med(local[top]) / med(local[low]))
    if len(counts) > 1:
        a, b = counts[-2], counts[-1]
        growth = (med(grown[b]) / med(grown[a])) / (b / a)
        res.ratio(f"plan time growth / object growth, {a} to {b}", growth, target="<= 1.00",
                  met=growth <= 1.0, detail=f"({med(grown[a]):.2f} s -> {med(grown[b]):.2f} s for {b / a:g}x objects)")
    top_rss = max(rss[counts[-1]])
    res.ratio(f"peak RSS MB at {counts[-1]} objects", top_rss, target="<= 100", met=top_rss <= 100)
    res.extra = {"latency_ms": args.latency_ms, "sizes": sizes, "counts": counts,
                 "objects": {str(c): split(c) for c in counts}}
    print(f"wrote {res.save(args.results, f'scale-{args.backend}')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
